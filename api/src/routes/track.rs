//! `/v1/track/{token}`: the public, minimal view of a request.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Stage;
use crate::error::ApiError;
use crate::routes::jobs::{self as job_routes, LocalWindow};
use crate::state::AppState;
use crate::storage::{jobs, utc};

/// What anyone holding the tracking link sees.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingView {
    pub stage: Stage,
    /// The customer's window, in the local offset of `timezone`.
    pub window: LocalWindow,
    pub technician_first_name: Option<String>,
    /// The expected arrival (planned start ± 15 min, always inside `window`), in the local offset of `timezone`.
    pub eta: Option<LocalWindow>,
    /// IANA zone the times are shown in: the technician's once assigned, else the general contractor's.
    pub timezone: String,
    pub updated_at: DateTime<Utc>,
    /// The survey page (`/survey/{token}`) once the survey is issued and while it is open.
    pub survey_url: Option<String>,
}

/// The request's stage, window, technician's first name and ETA. The link
/// stops working a while after the job closes (`SORTIE_TRACKING_TTL_HOURS`).
#[utoipa::path(get, path = "/v1/track/{token}", tag = "requests",
    responses((status = 200, body = TrackingView), (status = 404, description = "unknown or expired (`not_found`)")))]
#[get("/v1/track/{token}")]
pub async fn track(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let token = token.into_inner();
    if token.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let now = state.now();
    let ttl = chrono::Duration::from_std(state.config.tracking_ttl_after_close).unwrap_or_default();
    let view = state
        .db
        .run(move |conn| {
            let job = jobs::find_by_tracking_token(conn, &token)?.ok_or(ApiError::NotFound)?;
            if job.closed_at.is_some_and(|closed| utc(closed) + ttl < now) {
                return Err(ApiError::NotFound);
            }
            let times = job_routes::customer_times(conn, &job)?;
            Ok(TrackingView {
                technician_first_name: job_routes::technician_first_name(conn, job.technician_id.as_deref())?,
                eta: times.eta,
                timezone: times.timezone,
                stage: job.status.stage(),
                window: times.window,
                updated_at: utc(job.updated_at),
                survey_url: crate::app::surveys::survey_url(conn, &job.id, now)?,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(view))
}
