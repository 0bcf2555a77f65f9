//! Mobile sync over HTTP: devices, pull, push and photo uploads. The rules
//! are in `mobile-sync` and [`crate::app::sync`]; handlers check the caller,
//! parse strictly and run one use case.

use actix_web::{HttpResponse, post, put, web};
use mobile_sync::protocol::{
    DeviceRegistered, MAX_BATCH, PullRequest, PullResponse, PushRequest, PushResponse, RegisterDevice,
};
use serde_json::json;

use crate::app::sync::{self, PHOTO_MAX_BYTES};
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

fn technician_of(caller: &AuthUser) -> Result<String, ApiError> {
    caller.require(&[Role::Technician])?;
    caller.technician_id.clone().ok_or(ApiError::Forbidden)
}

/// Registers a phone for the caller → `{device_id}`. A push token another
/// device holds moves to this one (dispatchers register for offer notifications).
#[utoipa::path(post, path = "/v1/devices", tag = "sync",
    request_body = crate::openapi::sync::RegisterDevice,
    responses((status = 201, body = crate::openapi::sync::DeviceRegistered, description = "registered"),
        (status = 403, description = "not a technician, dispatcher or customer (`forbidden`)"),
        (status = 422, description = "`app_version` blank or over 50 characters, `push_token` empty or over 4096 (`invalid_value`)")),
    security(("bearer" = [])))]
#[post("/v1/devices")]
pub async fn register_device(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<RegisterDevice>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Technician, Role::Dispatcher, Role::Customer])?;
    let now = state.now();
    let device_id = state
        .db
        .write(move |conn| sync::register_device(conn, &caller.id, caller.technician_id.as_deref(), &body.0, now))
        .await?;
    Ok(HttpResponse::Created().json(DeviceRegistered { device_id }))
}

/// Changes since the cursor: `{changes[], cursor, has_more, reset_required}`.
#[utoipa::path(post, path = "/v1/sync/pull", tag = "sync",
    request_body = crate::openapi::sync::PullRequest,
    responses((status = 200, body = crate::openapi::sync::PullResponse,
            description = "changes since the cursor; an unservable cursor answers `reset_required: true` (not an error)"),
        (status = 403, description = "not a technician (`forbidden`)"),
        (status = 429, description = "too many sync calls by this user in a minute (`too_many_requests`); `Retry-After` says when to retry",
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 404, description = "no such device of the caller (`not_found`)")),
    security(("bearer" = [])))]
#[post("/v1/sync/pull")]
pub async fn pull(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<PullRequest>,
) -> Result<web::Json<PullResponse>, ApiError> {
    let technician_id = technician_of(&caller)?;
    state.limiters.sync.hit(&caller.id)?;
    let answer = state.db.run(move |conn| sync::pull(conn, &caller.id, &technician_id, &body.0)).await?;
    Ok(web::Json(answer))
}

/// Applies a batch of mutations: `{results: [{seq, id, status, reason?, message?, current?}]}` in the order sent.
#[utoipa::path(post, path = "/v1/sync/push", tag = "sync",
    request_body = crate::openapi::sync::PushRequest,
    responses((status = 200, body = crate::openapi::sync::PushResponse,
            description = "one result per mutation, in the order sent: `applied`, `duplicate` or `rejected` with a `reason`"),
        (status = 403, description = "not a technician (`forbidden`)"),
        (status = 429, description = "too many sync calls by this user in a minute (`too_many_requests`); `Retry-After` says when to retry",
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 404, description = "no such device of the caller (`not_found`)"),
        (status = 409, description = "`seq_gap`: a `seq` is missing after the last one processed; nothing was applied; \
            `expected_seq` in the error object names where to resend from"),
        (status = 413, description = "`batch_too_large`: more than 500 mutations (`max_mutations` in the error object), \
            or `payload_too_large`: the body is over the JSON limit"),
        (status = 422, description = "`invalid_value`: `device_id` empty, a `seq` of 0 or above 2^63-1, a `name` empty \
            or over 100 characters, or a value of the wrong type; nothing was applied")),
    security(("bearer" = [])))]
#[post("/v1/sync/push")]
pub async fn push(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<PushRequest>,
) -> Result<HttpResponse, ApiError> {
    let technician_id = technician_of(&caller)?;
    state.limiters.sync.hit(&caller.id)?;
    if body.0.mutations.len() > MAX_BATCH {
        // A count, not bytes: answered here rather than as `PayloadTooLarge { limit_bytes }`.
        return Ok(HttpResponse::PayloadTooLarge().json(json!({"error": {
            "code": "batch_too_large",
            "message": format!("at most {MAX_BATCH} mutations per push; send the rest in the next one"),
            "field": "mutations",
            "max_mutations": MAX_BATCH,
        }})));
    }
    sync::validate_push(&body.0)?;
    let now = state.now();
    let speed_kmh = state.config.travel_speed_kmh;
    let answer: PushResponse =
        state.db.run(move |conn| sync::push(conn, &caller.id, &technician_id, &body.0, now, speed_kmh)).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Uploads a photo's bytes under their SHA-256 (content-addressed, idempotent, 10 MB at most).
#[utoipa::path(put, path = "/v1/photos/{sha256}", tag = "sync",
    params(("sha256" = String, Path, description = "lower-case hex SHA-256 of the body")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = crate::openapi::sync::PhotoStored, description = "stored"),
        (status = 200, body = crate::openapi::sync::PhotoStored, description = "already stored (idempotent)"),
        (status = 400, description = "the body could not be read (`malformed_body`)"),
        (status = 403, description = "not a technician (`forbidden`)"),
        (status = 409, description = "`photo_quota_exceeded`: the caller's photos attached to no job would exceed its \
            quota (`SORTIE_UNATTACHED_PHOTO_QUOTA_MB`); attach them first or wait until they expire"),
        (status = 413, description = "over 10 MB (`payload_too_large`)"),
        (status = 422, description = "`hash_mismatch`: the body's SHA-256 is not the path's; `invalid_value`: a \
            malformed hash or an empty body")),
    security(("bearer" = [])))]
#[put("/v1/photos/{sha256}")]
pub async fn put_photo(
    state: web::Data<AppState>,
    caller: AuthUser,
    sha256: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    technician_of(&caller)?;
    let sha256 = sha256.into_inner();
    if !sync::is_photo_hash(&sha256) {
        return Err(ApiError::invalid("sha256", "64 lower-case hex digits"));
    }
    let body = crate::extract::read_body(&mut payload, PHOTO_MAX_BYTES, None).await?;
    if body.is_empty() {
        return Err(ApiError::invalid("body", "the photo is empty"));
    }
    let actual = sync::sha256_hex(&body);
    if actual != sha256 {
        return Err(ApiError::Invalid {
            code: "hash_mismatch",
            field: Some("sha256".into()),
            message: "the body's SHA-256 does not match the path".into(),
        });
    }
    let now = state.now();
    let size = body.len();
    let quota = state.config.limits.unattached_photo_quota_bytes;
    let created = state.db.write(move |conn| sync::store_photo(conn, &sha256, &body, &caller.id, quota, now)).await?;
    let answer = json!({"size_bytes": size});
    Ok(if created { HttpResponse::Created().json(answer) } else { HttpResponse::Ok().json(answer) })
}
