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

/// Registers a phone for the caller → `{device_id}`.
#[utoipa::path(post, path = "/v1/devices", tag = "sync",
    request_body(content = Object, description = "`{platform: android|ios|web, push_token?, app_version}`"),
    responses((status = 201, description = "`{device_id}`"), (status = 400), (status = 403), (status = 422)),
    security(("bearer" = [])))]
#[post("/v1/devices")]
pub async fn register_device(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<RegisterDevice>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Technician, Role::Customer])?;
    let now = state.now();
    let device_id = state
        .db
        .write(move |conn| sync::register_device(conn, &caller.id, caller.technician_id.as_deref(), &body.0, now))
        .await?;
    Ok(HttpResponse::Created().json(DeviceRegistered { device_id }))
}

/// Changes since the cursor: `{changes[], cursor, has_more, reset_required}`.
#[utoipa::path(post, path = "/v1/sync/pull", tag = "sync",
    request_body(content = Object, description = "`{device_id, cursor?: string|null, limit?}`"),
    responses((status = 200, description = "`{changes: [{entity, id, op, data?}], cursor, has_more, reset_required}`"),
        (status = 400), (status = 403), (status = 404)),
    security(("bearer" = [])))]
#[post("/v1/sync/pull")]
pub async fn pull(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<PullRequest>,
) -> Result<web::Json<PullResponse>, ApiError> {
    let technician_id = technician_of(&caller)?;
    let answer = state.db.run(move |conn| sync::pull(conn, &caller.id, &technician_id, &body.0)).await?;
    Ok(web::Json(answer))
}

/// Applies a batch of mutations: `{results: [{seq, id, status, reason?, message?, current?}]}` in the order sent.
#[utoipa::path(post, path = "/v1/sync/push", tag = "sync",
    request_body(content = Object, description = "`{device_id, mutations: [{seq, id, name, args}], sent_at?}`"),
    responses((status = 200, description = "`{results: [...], clock_offset_ms?}`"), (status = 400), (status = 403),
        (status = 404), (status = 409, description = "a gap in `seq`: `expected_seq` in the error object"),
        (status = 413, description = "more than 500 mutations"), (status = 422)),
    security(("bearer" = [])))]
#[post("/v1/sync/push")]
pub async fn push(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<PushRequest>,
) -> Result<HttpResponse, ApiError> {
    let technician_id = technician_of(&caller)?;
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
    responses((status = 201, description = "stored"), (status = 200, description = "already stored"),
        (status = 413), (status = 422, description = "`hash_mismatch` or a malformed hash")),
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
    let created = state.db.write(move |conn| sync::store_photo(conn, &sha256, &body, &caller.id, now)).await?;
    let answer = json!({"size_bytes": size});
    Ok(if created { HttpResponse::Created().json(answer) } else { HttpResponse::Ok().json(answer) })
}
