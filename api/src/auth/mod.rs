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
use crate::storage::{self, jobs::JobScope};

/// The caller, loaded fresh from the database on every request: a
/// deactivated user or a token older than the last password change is
/// refused at once, whatever the token's expiry says.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: String,
    pub role: Role,
    pub org_id: Option<String>,
    /// Materialised path of the user's organisation ("/root/…/org/").
    pub org_path: Option<String>,
    pub technician_id: Option<String>,
    pub customer_id: Option<String>,
}

impl AuthUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) { Ok(()) } else { Err(ApiError::Forbidden) }
    }

    /// The subtree path a dispatcher works in; `None` for roles that see the whole network.
    pub fn subtree(&self) -> Option<&str> {
        match self.role {
            Role::Admin | Role::Reviewer => None,
            _ => Some(self.org_path.as_deref().unwrap_or("/nothing/")),
        }
    }

    /// Whether the caller manages the organisation at `path` (admin: all; dispatcher: own subtree).
    pub fn manages(&self, path: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Dispatcher => self.org_path.as_deref().is_some_and(|own| path.starts_with(own)),
            _ => false,
        }
    }

    /// Which jobs the caller may see.
    pub fn job_scope(&self) -> JobScope<'_> {
        match self.role {
            Role::Admin | Role::Reviewer => JobScope::All,
            Role::Dispatcher => JobScope::Subtree(self.org_path.as_deref().unwrap_or("/nothing/")),
            Role::Customer => JobScope::Customer(self.customer_id.as_deref().unwrap_or("")),
            Role::Technician => JobScope::Technician(self.technician_id.as_deref().unwrap_or("")),
        }
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
