//! Operations endpoints: liveness, readiness, Prometheus metrics.

use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "ready"), (status = 503, description = "database unreachable")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.db.backend();
    state.db.run(|conn| crate::db::ping(conn).map_err(|e| ApiError::Unavailable(e.to_string()))).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"status": "ready", "database": format!("{backend:?}").to_lowercase()})))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
