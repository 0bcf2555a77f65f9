//! The web console's browser sessions: the cookie's random token is never
//! stored, only its SHA-256 (like refresh tokens).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::web_sessions;

/// A session row.
#[derive(Debug, Clone, Queryable)]
pub struct WebSession {
    pub token_hash: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Stores a new session.
pub fn insert(
    conn: &mut DbConnection,
    token_hash: &str,
    user_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(web_sessions::table)
        .values((
            web_sessions::token_hash.eq(token_hash),
            web_sessions::user_id.eq(user_id),
            web_sessions::created_at.eq(now),
            web_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// The unexpired session with this token hash.
pub fn find_live(conn: &mut DbConnection, token_hash: &str, now: NaiveDateTime) -> QueryResult<Option<WebSession>> {
    web_sessions::table
        .filter(web_sessions::token_hash.eq(token_hash))
        .filter(web_sessions::expires_at.gt(now))
        .first(conn)
        .optional()
}

/// Ends a session (signing out). Unknown tokens are ignored.
pub fn delete(conn: &mut DbConnection, token_hash: &str) -> QueryResult<()> {
    diesel::delete(web_sessions::table.find(token_hash)).execute(conn).map(drop)
}

/// Deletes sessions that expired before `now`; returns how many.
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(web_sessions::table.filter(web_sessions::expires_at.le(now))).execute(conn)
}
