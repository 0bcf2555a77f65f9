//! The web console's sessions: a random token in an HttpOnly cookie, its
//! SHA-256 in `web_sessions`. The identity behind it is the same `Caller` a
//! bearer token yields, checked the same way on every request (the user
//! exists and is active, and no password change happened since sign-in).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app_error::ApiError;
use crate::auth::jwt;
use crate::db::DbConnection;
use crate::domain::Caller;
use crate::storage::{db_time, orgs, users, web_sessions};

/// Starts a session for a user whose password matched; returns the cookie's token.
pub fn sign_in(conn: &mut DbConnection, user_id: &str, ttl: Duration, now: DateTime<Utc>) -> Result<String, ApiError> {
    let token = jwt::new_refresh_token();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::hours(12));
    web_sessions::insert(conn, &jwt::hash_refresh_token(&token), user_id, db_time(now), db_time(expires))?;
    // Expired rows of anyone go on every sign-in: the table stays as small as the live sessions.
    web_sessions::purge_expired(conn, db_time(now))?;
    Ok(token)
}

/// The caller behind a session cookie, if the session is live and its user may still act.
pub fn caller(conn: &mut DbConnection, token: &str, now: DateTime<Utc>) -> Result<Option<Caller>, ApiError> {
    let Some(session) = web_sessions::find_live(conn, &jwt::hash_refresh_token(token), db_time(now))? else {
        return Ok(None);
    };
    let Some((user, org_path)) = users::find_with_org_path(conn, &session.user_id)? else { return Ok(None) };
    // Whole seconds, as for access tokens: a password change ends older sessions.
    if !user.active || session.created_at.and_utc().timestamp() < user.password_changed_at.and_utc().timestamp() {
        return Ok(None);
    }
    Ok(Some(user.into_caller(org_path)))
}

/// Ends the session of this cookie token (unknown tokens are ignored).
pub fn sign_out(conn: &mut DbConnection, token: &str) -> Result<(), ApiError> {
    Ok(web_sessions::delete(conn, &jwt::hash_refresh_token(token))?)
}

/// The time zone the console shows times in for this caller: its organisation's, else the vendor's (the root).
pub fn console_zone(conn: &mut DbConnection, caller: &Caller) -> Result<Option<String>, ApiError> {
    let org = match &caller.org_id {
        Some(id) => orgs::find(conn, id)?,
        None => orgs::root(conn)?,
    };
    Ok(org.map(|o| o.timezone))
}
