//! Authentication and authorisation: argon2 passwords, short-lived access
//! JWTs, rotating refresh tokens, and the caller every protected handler
//! takes ([`AuthUser`]; its request extractor is in `extract.rs`).

pub mod hashing;
pub mod jwt;
pub mod password;

use crate::domain::Role;
use crate::error::ApiError;

/// The caller, loaded fresh from the database on every request: a
/// deactivated user or a token older than the last password change is
/// refused at once, whatever the token's expiry says. The use cases know it
/// as [`Caller`](crate::domain::Caller).
pub use crate::domain::Caller as AuthUser;

impl AuthUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}
