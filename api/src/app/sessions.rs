//! Sessions: signing in, refresh-token rotation (reuse revokes the family),
//! signing out and password changes. Passwords are checked by the caller
//! (off the async runtime); everything here runs inside one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app_error::ApiError;
use crate::auth::jwt::{self, AUDIENCE, Claims, ISSUER, JwtKeys};
use crate::db::DbConnection;
use crate::domain::Role;
use crate::storage::{self, db_time, tokens, users};

/// How long the tokens of a new pair live.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    /// The access token (a signed JWT, not revocable before it expires).
    pub access: Duration,
    /// The refresh token (stored hashed, rotated on use).
    pub refresh: Duration,
}

/// What the signing keys and lifetimes are; passed down from the app state.
#[derive(Clone, Copy)]
pub struct Issuer<'a> {
    pub keys: &'a JwtKeys,
    pub lifetimes: TokenLifetimes,
}

/// A freshly issued pair.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
    pub role: Role,
    pub user_id: String,
}

/// Why a refresh token was refused. The refusal still commits: revoking a
/// reused token's family must stick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Revoked,
    Reused,
    Expired,
    Deactivated,
}

impl Refusal {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown refresh token",
            Refusal::Revoked => "refresh token revoked",
            Refusal::Reused => "refresh token already used; the session is revoked",
            Refusal::Expired => "refresh token expired",
            Refusal::Deactivated => "this account is deactivated",
        }
    }
}

/// Signs an access token and stores a new refresh token of `family_id`.
fn issue(
    conn: &mut DbConnection,
    issuer: Issuer<'_>,
    user: &users::User,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    let access_ttl = issuer.lifetimes.access;
    let claims = Claims {
        sub: user.id.clone(),
        role: user.role,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now.timestamp(),
        exp: now.timestamp() + i64::try_from(access_ttl.as_secs()).unwrap_or(900),
        pwv: Some(user.password_changed_at.and_utc().timestamp_micros()),
    };
    let access_token = issuer.keys.encode(&claims)?;
    let refresh_token = jwt::new_refresh_token();
    let expires_at = now + chrono::Duration::from_std(issuer.lifetimes.refresh).unwrap_or_default();
    tokens::insert(
        conn,
        &user.id,
        family_id,
        &jwt::hash_refresh_token(&refresh_token),
        db_time(now),
        db_time(expires_at),
    )?;
    Ok(Issued { access_token, refresh_token, expires_in: access_ttl, role: user.role, user_id: user.id.clone() })
}

/// Starts a session (a new token family) for a user whose password matched.
pub fn sign_in(
    conn: &mut DbConnection,
    issuer: Issuer<'_>,
    user: &users::User,
    now: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    issue(conn, issuer, user, &storage::new_id(), now)
}

/// Exchanges a refresh token (by its hash) for a new pair of the same family;
/// the old one stops working. A token presented twice revokes its family.
pub fn rotate(
    conn: &mut DbConnection,
    issuer: Issuer<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Result<Issued, Refusal>, ApiError> {
    let Some(token) = tokens::find_by_hash(conn, token_hash)? else { return Ok(Err(Refusal::Unknown)) };
    if token.revoked_at.is_some() {
        return Ok(Err(Refusal::Revoked));
    }
    if token.used_at.is_some() || !tokens::mark_used(conn, &token.id, db_time(now))? {
        tokens::revoke_family(conn, &token.family_id, db_time(now))?;
        tracing::warn!(user.id = %token.user_id, "Refresh token reuse; revoked its family");
        return Ok(Err(Refusal::Reused));
    }
    if token.expires_at < db_time(now) {
        return Ok(Err(Refusal::Expired));
    }
    match users::find(conn, &token.user_id)? {
        Some(user) if user.active => Ok(Ok(issue(conn, issuer, &user, &token.family_id, now)?)),
        _ => Ok(Err(Refusal::Deactivated)),
    }
}

/// Signs out: revokes the refresh token's family and forgets the user's push
/// tokens. Unknown tokens are ignored.
pub fn sign_out(conn: &mut DbConnection, token_hash: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    if let Some(token) = tokens::find_by_hash(conn, token_hash)? {
        tokens::revoke_family(conn, &token.family_id, db_time(now))?;
        // Signed out: no more pushes to this user's phones until they register again.
        crate::storage::devices::drop_user_tokens(conn, &token.user_id)?;
    }
    Ok(())
}

/// Stores a new password hash, signs out every session of the user and
/// starts a new one. Tokens carry whole seconds, so the change is recorded at
/// a whole second: the pair issued here (same second) stays valid, older
/// ones do not.
pub fn change_password(
    conn: &mut DbConnection,
    issuer: Issuer<'_>,
    user: &users::User,
    new_hash: &str,
    now: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    // Stored to the microsecond: tokens carry it as their password version (`Claims::pwv`).
    users::set_password(conn, &user.id, new_hash, db_time(now))?;
    tokens::revoke_user(conn, &user.id, db_time(now))?;
    let changed = users::User { password_changed_at: db_time(now), ..user.clone() };
    sign_in(conn, issuer, &changed, now)
}
