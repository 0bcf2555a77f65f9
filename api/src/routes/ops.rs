//! Operations endpoints: liveness, readiness, Prometheus metrics.

use actix_web::{HttpResponse, get, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = crate::openapi::views::Health, description = "alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// How long `/readyz` waits for the database: a load balancer's probe gets "not ready", never a timeout.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(800);

/// Readiness: the database answers (within a second; 503 with `Retry-After` otherwise, the cause logged).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, body = crate::openapi::views::Ready, description = "ready"),
    (status = 503, description = "database unreachable or not answering within a second (`unavailable`); `Retry-After` says when to look again",
        headers(("Retry-After" = u64, description = "seconds to wait")))))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.db.backend();
    state.db.ready(READY_WITHIN).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"status": "ready", "database": format!("{backend:?}").to_lowercase()})))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, body = String, content_type = "text/plain", description = "Prometheus text format")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
