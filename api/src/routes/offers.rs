//! `/v1/jobs/{id}/accept|decline|subcontract|reassign|explanation` and
//! technician positions: the offer flow over HTTP (logic in `flow`).

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::{explanation as explained, network, offers, vendor_queue};
use crate::auth::AuthUser;
use crate::domain::{JobStatus, Role, validate};
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson};
use crate::routes::technicians::LatLon;
use crate::state::AppState;
use crate::storage::jobs;

/// `POST /v1/jobs/{id}/accept` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// One of the organisation's own technicians; when absent, the one dispatch chose if its day still has
    /// room, else the best available technician of the organisation (its subtree when it routes automatically).
    pub technician_id: Option<String>,
}

/// `POST /v1/jobs/{id}/decline` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    pub reason: String,
}

/// `POST /v1/jobs/{id}/subcontract` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubcontractBody {
    /// An organisation below the offered one.
    pub org_id: String,
}

/// `POST /v1/jobs/{id}/reassign` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignBody {
    pub technician_id: String,
}

/// `POST /v1/jobs/{id}/offer` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {
    /// An organisation below the vendor, in the caller's subtree.
    pub org_id: String,
}

/// `POST /v1/jobs/{id}/assign` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// An active technician of the caller's subtree with room that day.
    pub technician_id: String,
}

/// `POST /v1/jobs/{id}/redispatch` body (optional; nothing to set yet).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedispatchBody {}

/// The job's status after a step.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepResult {
    pub id: String,
    pub status: JobStatus,
    pub technician_id: Option<String>,
    /// The organisation the job is offered to now, if any.
    pub offer_org_id: Option<String>,
}

async fn respond(state: &AppState, id: String) -> Result<HttpResponse, ApiError> {
    let job =
        state.db.run(move |conn| jobs::find_scoped(conn, &id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)).await?;
    Ok(HttpResponse::Ok().json(StepResult {
        id: job.id,
        status: job.status,
        technician_id: job.technician_id,
        offer_org_id: job.offer_org_id,
    }))
}

/// Accepts the job offered to the caller's organisation; naming a technician schedules it.
#[utoipa::path(post, path = "/v1/jobs/{id}/accept", tag = "jobs", request_body = AcceptBody,
    responses((status = 200, body = StepResult), (status = 403, description = "not a dispatcher (`forbidden`)"),
        (status = 404, description = "not offered to your organisation, or the technician is not yours (`not_found`)"),
        (status = 409, description = "already answered or past the deadline (`offer_not_open`, `offer_expired`; \
            `current` carries the state as it is now), or the named technician is inactive or at capacity \
            (`technician_inactive`, `technician_at_capacity`), or nobody of the organisation eligible for the job \
            has room that day (`technician_at_capacity` with `current` and `alternatives`: technicians who \
            have room but fail another eligibility check, which may be named)")),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/accept")]
pub async fn accept(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: OptionalJson<AcceptBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher])?;
    let id = id.into_inner();
    let now = state.now();
    let (job_id, speed_kmh, cache) = (id.clone(), state.config.travel_speed_kmh, state.dispatch.clone());
    state
        .db
        .write(move |conn| {
            offers::accept(conn, &cache, &caller, &job_id, body.0.technician_id.as_deref(), now, speed_kmh)
        })
        .await?;
    respond(&state, id).await
}

/// Declines the offer: the job goes to the next nearest eligible technician outside the organisations that declined.
#[utoipa::path(post, path = "/v1/jobs/{id}/decline", tag = "jobs", request_body = DeclineBody,
    responses((status = 200, body = StepResult), (status = 403, description = "not a dispatcher (`forbidden`)"),
        (status = 404, description = "not offered to your organisation (`not_found`)"),
        (status = 409, description = "already answered or past the deadline (`offer_not_open`, `offer_expired`)")), security(("bearer" = [])))]
#[post("/v1/jobs/{id}/decline")]
pub async fn decline(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<DeclineBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher])?;
    let reason = validate::text("reason", &body.0.reason, validate::MAX_TEXT_CHARS)?;
    let id = id.into_inner();
    let now = state.now();
    let (job_id, cache) = (id.clone(), state.dispatch.clone());
    state.db.write(move |conn| offers::decline(conn, &cache, &caller, &job_id, &reason, now)).await?;
    respond(&state, id).await
}

/// Passes the offer down to an organisation below the caller's, with its own deadline.
#[utoipa::path(post, path = "/v1/jobs/{id}/subcontract", tag = "jobs", request_body = SubcontractBody,
    responses((status = 200, body = StepResult), (status = 403, description = "not a dispatcher (`forbidden`)"),
        (status = 404, description = "not offered to you, or the organisation is not below yours (`not_found`)"),
        (status = 409, description = "already answered or past the deadline (`offer_not_open`, `offer_expired`)")),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/subcontract")]
pub async fn subcontract(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<SubcontractBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher])?;
    let id = id.into_inner();
    let now = state.now();
    let job_id = id.clone();
    state.db.write(move |conn| offers::subcontract(conn, &caller, &job_id, &body.0.org_id, now)).await?;
    respond(&state, id).await
}

/// Moves the job to another technician of the caller's subtree (capacity checked).
#[utoipa::path(post, path = "/v1/jobs/{id}/reassign", tag = "jobs", request_body = ReassignBody,
    responses((status = 200, body = StepResult), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such job or technician in your scope (`not_found`)"),
        (status = 409, description = "wrong state (`invalid_transition`), or the technician is inactive or its day is \
            full (`technician_inactive`, `technician_at_capacity`)")),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/reassign")]
pub async fn reassign(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<ReassignBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Admin])?;
    let id = id.into_inner();
    let now = state.now();
    let (job_id, speed_kmh) = (id.clone(), state.config.travel_speed_kmh);
    state.db.write(move |conn| offers::reassign(conn, &caller, &job_id, &body.0.technician_id, now, speed_kmh)).await?;
    respond(&state, id).await
}

const QUEUE_409: &str = "the job is not in the vendor's queue: only `unassignable` jobs (and `new` ones \
    without an offer) are worked from it (`invalid_transition`; `current` carries the status)";

/// Offers a job of the vendor's queue to a chosen organisation (a normal offer with its agreement's deadline).
#[utoipa::path(post, path = "/v1/jobs/{id}/offer", operation_id = "offer_job", tag = "jobs", request_body = OfferBody,
    responses((status = 200, body = StepResult), (status = 403, description = "not a dispatcher or admin (`forbidden`)"),
        (status = 404, description = "no such job or organisation in your reach; a dispatcher must manage the job's \
            general contractor (`not_found`)"),
        (status = 409, description = QUEUE_409),
        (status = 422, description = "the organisation is the vendor itself (`invalid_value`, `field: org_id`)")),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/offer")]
pub async fn offer(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<OfferBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Admin])?;
    let id = id.into_inner();
    let now = state.now();
    let job_id = id.clone();
    state.db.write(move |conn| vendor_queue::offer_to(conn, &caller, &job_id, &body.0.org_id, now)).await?;
    respond(&state, id).await
}

/// Assigns a job of the vendor's queue to a chosen technician (capacity and activity checked as on accept).
#[utoipa::path(post, path = "/v1/jobs/{id}/assign", operation_id = "assign_job", tag = "jobs", request_body = AssignBody,
    responses((status = 200, body = StepResult), (status = 403, description = "not a dispatcher or admin (`forbidden`)"),
        (status = 404, description = "no such job or technician in your reach (`not_found`)"),
        (status = 409, description = "not in the vendor's queue (`invalid_transition`; `current` carries the \
            status), or the technician is inactive or its day is full (`technician_inactive`, `technician_at_capacity`)")),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/assign")]
pub async fn assign(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Admin])?;
    let id = id.into_inner();
    let now = state.now();
    let (job_id, speed_kmh) = (id.clone(), state.config.travel_speed_kmh);
    state
        .db
        .write(move |conn| vendor_queue::assign(conn, &caller, &job_id, &body.0.technician_id, now, speed_kmh))
        .await?;
    respond(&state, id).await
}

/// Runs dispatch again for a job of the vendor's queue, considering every organisation again (earlier declines
/// and expiries no longer exclude anyone): after territories, agreements or technicians changed.
#[utoipa::path(post, path = "/v1/jobs/{id}/redispatch", tag = "jobs", request_body = RedispatchBody,
    responses((status = 200, body = StepResult, description = "`offered`, or still `unassignable` when nobody is eligible"),
        (status = 403, description = "not a dispatcher or admin (`forbidden`)"),
        (status = 404, description = "no such job in your reach (`not_found`)"),
        (status = 409, description = QUEUE_409)),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/redispatch")]
pub async fn redispatch(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: OptionalJson<RedispatchBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Admin])?;
    let RedispatchBody {} = body.0;
    let id = id.into_inner();
    let now = state.now();
    let (job_id, cache) = (id.clone(), state.dispatch.clone());
    state.db.write(move |conn| vendor_queue::redispatch(conn, &cache, &caller, &job_id, now)).await?;
    respond(&state, id).await
}

/// Why dispatch chose whom it chose: each decision's candidates, distances, exclusions and reasons (latest last).
#[utoipa::path(get, path = "/v1/jobs/{id}/explanation", tag = "jobs",
    responses((status = 200, body = crate::openapi::views::Explanation), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such job in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/jobs/{id}/explanation")]
pub async fn explanation(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Admin])?;
    let id = id.into_inner();
    let body = state
        .db
        .run(move |conn| {
            let job = jobs::find_scoped(conn, &id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
            Ok(serde_json::json!({"job_id": job.id, "decisions": explained::explanations(conn, &job.id)?}))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Records a technician's position (the technician itself, or a dispatcher managing it).
#[utoipa::path(post, path = "/v1/technicians/{id}/position", tag = "network", request_body = LatLon,
    responses((status = 204, description = "recorded"), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such technician in your scope (`not_found`)")), security(("bearer" = [])))]
#[post("/v1/technicians/{id}/position")]
pub async fn position(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<LatLon>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Technician, Role::Dispatcher, Role::Admin])?;
    // The body is the position itself: errors name `lat` / `lon`.
    let at = body.0.position("").map_err(|mut e| {
        e.field = e.field.trim_start_matches('.').to_owned();
        e
    })?;
    let now = state.now();
    let id = id.into_inner();
    state.db.write(move |conn| network::set_position(conn, &caller, &id, at, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}
