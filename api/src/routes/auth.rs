//! `/v1/auth/*`: login, refresh-token rotation, logout, password change.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::sessions;
use crate::auth::{AuthUser, jwt, password};
use crate::domain::Role;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;
use crate::storage::{self, login_failures, users};

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

impl From<sessions::Issued> for TokenPair {
    fn from(i: sessions::Issued) -> TokenPair {
        TokenPair {
            access_token: i.access_token,
            refresh_token: i.refresh_token,
            token_type: "Bearer",
            expires_in: i.expires_in.as_secs(),
            role: i.role,
            user_id: i.user_id,
        }
    }
}

fn issuer(state: &AppState) -> sessions::Issuer<'_> {
    sessions::Issuer {
        keys: &state.keys,
        lifetimes: sessions::TokenLifetimes {
            access: state.config.access_token_ttl,
            refresh: state.config.refresh_token_ttl,
        },
    }
}

/// The client's address for the per-address limit: the peer, or (behind a
/// trusted proxy, `SORTIE_TRUST_FORWARDED`) the first forwarded address.
fn client_address(state: &AppState, req: &HttpRequest) -> String {
    let info = req.connection_info();
    let addr = if state.config.limits.trust_forwarded { info.realip_remote_addr() } else { info.peer_addr() };
    addr.unwrap_or("unknown").to_owned()
}

/// The password check of every sign-in (`POST /v1/auth/login` and the web page's `/login`): the per-address
/// and per-account limits (429 with `Retry-After`), the bounded hashing pool, and the failure's record. The
/// caller clears the account's failures (`login_failures::clear`) in the transaction that signs it in.
pub(crate) async fn check_password(
    state: &AppState,
    req: &HttpRequest,
    email: &str,
    password: String,
) -> Result<users::User, ApiError> {
    let address = client_address(state, req);
    state.limiters.login_per_address.check(&address)?;
    let now = state.now();
    let key = email.to_owned();
    let (user, locked) = state
        .db
        .run(move |conn| {
            let locked = login_failures::locked_until(conn, &key, storage::db_time(now))?;
            Ok((users::find_by_email(conn, &key)?, locked))
        })
        .await?;
    if let Some(until) = locked {
        metrics::counter!("sortie_rate_limited_total", "limit" => "failed sign-ins for this account").increment(1);
        return Err(ApiError::TooManyRequests {
            message: "too many failed sign-ins for this account; retry later".into(),
            retry_after_secs: u64::try_from((storage::utc(until) - now).num_seconds()).unwrap_or(1).max(1),
        });
    }
    let phc = user.as_ref().map_or(password::DUMMY_HASH.to_owned(), |u| u.password_hash.clone());
    let matches = state.hasher.verify(password, phc).await?;
    match user {
        Some(user) if matches && user.active => Ok(user),
        _ => {
            state.limiters.login_per_address.record(&address);
            let limits = state.config.limits.clone();
            let window = chrono::Duration::from_std(limits.login_window).unwrap_or(chrono::Duration::minutes(15));
            let email = email.to_owned();
            state
                .db
                .write(move |conn| {
                    login_failures::record_failure(
                        conn,
                        &email,
                        storage::db_time(now),
                        window,
                        limits.login_failures_per_account,
                    )?;
                    Ok(())
                })
                .await?;
            Err(ApiError::Unauthorized("wrong e-mail or password, or the account is deactivated".into()))
        }
    }
}

/// Signs in with e-mail and password. Too many failures for the account (shared by replicas) or from the
/// client's address answer 429 with `Retry-After`, even to the right password, until the window ends.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, description = "wrong e-mail or password, or the account is deactivated (`unauthorized`)"),
        (status = 429, description = "too many failed sign-ins for this account or from this address, or too many sign-ins at once (`too_many_requests`); `Retry-After` says when to retry",
            headers(("Retry-After" = u64, description = "seconds to wait"))))
)]
#[post("/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = body.0.email.trim().to_lowercase();
    let now = state.now();
    let user = check_password(&state, &req, &email, body.0.password).await?;
    let st = state.clone();
    let pair: TokenPair = state
        .db
        .write(move |conn| {
            login_failures::clear(conn, &email)?;
            sessions::sign_in(conn, issuer(&st), &user, now)
        })
        .await?
        .into();
    tracing::info!(user.id = %pair.user_id, "User {} signed in", pair.user_id);
    Ok(HttpResponse::Ok().json(pair))
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
    // A refusal is an outcome, not an error: the family's revocation must commit.
    let outcome = state.db.write(move |conn| sessions::rotate(conn, issuer(&st), &hash, now)).await?;
    match outcome {
        Ok(pair) => Ok(HttpResponse::Ok().json(TokenPair::from(pair))),
        Err(refusal) => Err(ApiError::Unauthorized(refusal.message().into())),
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
    let now = state.now();
    state.db.write(move |conn| sessions::sign_out(conn, &hash, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the caller's password; every other session is signed out and a
/// new token pair is returned (tokens issued before the change stop working).
#[utoipa::path(
    post, path = "/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 200, body = TokenPair), (status = 401, description = "no or bad token, or wrong current password (`unauthorized`)"),
        (status = 422, description = "the new password is not 8 to 128 characters (`invalid_value`)"),
        (status = 429, description = "too many password checks at once (`too_many_requests`); `Retry-After` says when to retry",
            headers(("Retry-After" = u64, description = "seconds to wait")))),
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
    if !state.hasher.verify(current_password, user.password_hash.clone()).await? {
        return Err(ApiError::Unauthorized("wrong current password".into()));
    }
    let new_hash = state.hasher.hash(new_password).await?;
    let now = state.now();
    let st = state.clone();
    let pair = state.db.write(move |conn| sessions::change_password(conn, issuer(&st), &user, &new_hash, now)).await?;
    Ok(HttpResponse::Ok().json(TokenPair::from(pair)))
}
