//! Authentication and authorisation: argon2 passwords, short-lived access
//! JWTs, rotating refresh tokens, and the [`AuthUser`] extractor that every
//! protected handler takes.

pub mod jwt;
pub mod password;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::domain::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage;

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

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header =
            req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no app state")))?;
            let header = header.ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .ok_or_else(|| ApiError::Unauthorized("expected `Authorization: Bearer <token>`".into()))?;
            let claims = state.keys.decode(token.trim())?;
            let user_id = claims.sub.clone();
            let found = state.db.run(move |conn| Ok(storage::users::find_with_org_path(conn, &user_id)?)).await?;
            let (user, org_path) = found.ok_or_else(|| ApiError::Unauthorized("unknown user".into()))?;
            if !user.active {
                return Err(ApiError::Unauthorized("this account is deactivated".into()));
            }
            if claims.iat < user.password_changed_at.and_utc().timestamp() {
                return Err(ApiError::Unauthorized("token issued before the last password change".into()));
            }
            Ok(AuthUser {
                id: user.id,
                role: user.role,
                org_id: user.org_id,
                org_path,
                technician_id: user.technician_id,
                customer_id: user.customer_id,
            })
        })
    }
}
