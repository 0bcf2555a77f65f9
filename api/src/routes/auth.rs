//! `/v1/auth/*`: login, refresh-token rotation, logout, password change.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::jwt::{self, AUDIENCE, Claims, ISSUER};
use crate::auth::{AuthUser, password};
use crate::db::{DbConnection, write_tx};
use crate::domain::Role;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;
use crate::storage::{self, db_time, tokens, users};

/// `POST /v1/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `POST /v1/auth/refresh` and `/logout` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /v1/auth/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// A token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    pub role: Role,
    pub user_id: String,
}

/// Signs an access token and stores a new refresh token of `family_id`.
fn issue(
    conn: &mut DbConnection,
    state: &AppState,
    user: &users::User,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<TokenPair, ApiError> {
    let ttl = state.config.access_token_ttl;
    let claims = Claims {
        sub: user.id.clone(),
        role: user.role,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now.timestamp(),
        exp: now.timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(900),
    };
    let access_token = state.keys.encode(&claims)?;
    let refresh_token = jwt::new_refresh_token();
    let expires_at = now + chrono::Duration::from_std(state.config.refresh_token_ttl).unwrap_or_default();
    tokens::insert(
        conn,
        &user.id,
        family_id,
        &jwt::hash_refresh_token(&refresh_token),
        db_time(now),
        db_time(expires_at),
    )?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: ttl.as_secs(),
        role: user.role,
        user_id: user.id.clone(),
    })
}

async fn verify_password(plain: String, phc: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || password::verify(&plain, &phc))
        .await
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("password check failed: {e}")))
}

/// Signs in with e-mail and password.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "wrong e-mail or password, or the account is deactivated (`unauthorized`)"))
)]
#[post("/v1/auth/login")]
pub async fn login(state: web::Data<AppState>, body: Json<LoginRequest>) -> Result<HttpResponse, ApiError> {
    let email = body.0.email.trim().to_lowercase();
    let user = state.db.run(move |conn| Ok(users::find_by_email(conn, &email)?)).await?;
    let phc = user.as_ref().map_or(password::DUMMY_HASH.to_owned(), |u| u.password_hash.clone());
    let matches = verify_password(body.0.password, phc).await?;
    let user = match user {
        Some(user) if matches && user.active => user,
        _ => return Err(ApiError::Unauthorized("wrong e-mail or password, or the account is deactivated".into())),
    };
    let now = state.now();
    let st = state.clone();
    let pair = state.db.write(move |conn| issue(conn, &st, &user, &storage::new_id(), now)).await?;
    tracing::info!(user.id = %pair.user_id, "User {} signed in", pair.user_id);
    Ok(HttpResponse::Ok().json(pair))
}

enum RefreshOutcome {
    Rotated(Box<TokenPair>),
    Refused(&'static str),
}

/// Exchanges a refresh token for a new pair; the old one stops working.
/// Presenting an already-used token revokes its whole family.
#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "unknown, expired, revoked or reused (`unauthorized`)"))
)]
#[post("/v1/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, body: Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let hash = jwt::hash_refresh_token(body.0.refresh_token.trim());
    let now = state.now();
    let st = state.clone();
    // The refusal path still commits (the family's revocation must stick),
    // so refusals are an outcome, not an error, inside the transaction.
    let outcome = state
        .db
        .run(move |conn| {
            write_tx(conn, |conn| {
                let Some(token) = tokens::find_by_hash(conn, &hash)? else {
                    return Ok(RefreshOutcome::Refused("unknown refresh token"));
                };
                if token.revoked_at.is_some() {
                    return Ok(RefreshOutcome::Refused("refresh token revoked"));
                }
                if token.used_at.is_some() || !tokens::mark_used(conn, &token.id, db_time(now))? {
                    tokens::revoke_family(conn, &token.family_id, db_time(now))?;
                    tracing::warn!(user.id = %token.user_id, "Refresh token reuse; revoked its family");
                    return Ok(RefreshOutcome::Refused("refresh token already used; the session is revoked"));
                }
                if token.expires_at < db_time(now) {
                    return Ok(RefreshOutcome::Refused("refresh token expired"));
                }
                match users::find(conn, &token.user_id)? {
                    Some(user) if user.active => {
                        Ok(RefreshOutcome::Rotated(Box::new(issue(conn, &st, &user, &token.family_id, now)?)))
                    }
                    _ => Ok(RefreshOutcome::Refused("this account is deactivated")),
                }
            })
        })
        .await?;
    match outcome {
        RefreshOutcome::Rotated(pair) => Ok(HttpResponse::Ok().json(pair)),
        RefreshOutcome::Refused(why) => Err(ApiError::Unauthorized(why.into())),
    }
}

/// Signs out: revokes the refresh token's family. Unknown tokens are ignored.
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "signed out"))
)]
#[post("/v1/auth/logout")]
pub async fn logout(state: web::Data<AppState>, body: Json<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let hash = jwt::hash_refresh_token(body.0.refresh_token.trim());
    let now = db_time(state.now());
    state
        .db
        .write(move |conn| {
            if let Some(token) = tokens::find_by_hash(conn, &hash)? {
                tokens::revoke_family(conn, &token.family_id, now)?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the caller's password; every other session is signed out and a
/// new token pair is returned (tokens issued before the change stop working).
#[utoipa::path(
    post, path = "/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, body = TokenPair), (status = 401, description = "no or bad token, or wrong current password (`unauthorized`)"),
        (status = 422, description = "the new password is not 8 to 128 characters (`invalid_value`)")),
    security(("bearer" = []))
)]
#[post("/v1/auth/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChange { current_password, new_password } = body.0;
    password::check_policy("new_password", &new_password)?;
    let id = caller.id.clone();
    let user = state.db.run(move |conn| users::find(conn, &id)?.ok_or(ApiError::NotFound)).await?;
    if !verify_password(current_password, user.password_hash.clone()).await? {
        return Err(ApiError::Unauthorized("wrong current password".into()));
    }
    let new_hash = tokio::task::spawn_blocking(move || password::hash(&new_password))
        .await
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("hashing failed: {e}")))??;
    // Tokens carry whole seconds; the change is recorded at a whole second so
    // the pair issued below (same second) stays valid and older ones do not.
    let now = state.now();
    let changed_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let st = state.clone();
    let pair = state
        .db
        .write(move |conn| {
            users::set_password(conn, &user.id, &new_hash, db_time(changed_at))?;
            tokens::revoke_user(conn, &user.id, db_time(now))?;
            issue(conn, &st, &user, &storage::new_id(), now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(pair))
}
