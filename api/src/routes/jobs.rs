//! `/v1/jobs`: the network's view of requests, their chain and events, and
//! the state changes shared with `/v1/requests` (cancel, reschedule).

use std::collections::HashMap;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::booking;
use crate::auth::AuthUser;
use crate::db::DbConnection;
use crate::domain::{ChainRole, EventType, JobKind, JobStatus, Priority, Role};
use crate::error::ApiError;
use crate::extract::{OptionalJson, Query, Validate};
use crate::routes::orgs::{PartQty, parts_view};
use crate::routes::pagination::{self, Page};
use crate::routes::technicians::LatLon;
use crate::state::AppState;
use crate::storage::{jobs, json, technicians, utc};

/// A time window, RFC 3339 with offset on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// `POST …/cancel` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: Option<String>,
}

/// `POST /v1/requests/{id}/reschedule` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    pub window: TimeWindow,
}

/// The current offer of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub org_id: String,
    pub deadline: Option<DateTime<Utc>>,
}

/// One link of a job's chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainLink {
    pub org_id: String,
    pub role: ChainRole,
}

/// A job as the network sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub priority: Priority,
    pub customer_id: String,
    pub contractor_org_id: String,
    pub location: LatLon,
    pub address: String,
    pub problem: String,
    pub window: TimeWindow,
    pub required_skills: Vec<String>,
    pub parts: Vec<PartQty>,
    pub offer: Option<OfferView>,
    pub org_chain: Vec<ChainLink>,
    pub technician_id: Option<String>,
    pub eta: Option<TimeWindow>,
    pub visits: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The planned arrival window, if any.
pub fn eta(job: &jobs::Job) -> Option<TimeWindow> {
    job.eta_start.zip(job.eta_end).map(|(s, e)| TimeWindow { start: utc(s), end: utc(e) })
}

/// A time window in the customer's local offset (RFC 3339 with that offset).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct LocalWindow {
    pub start: DateTime<chrono::FixedOffset>,
    pub end: DateTime<chrono::FixedOffset>,
}

/// A customer's times: the zone's IANA name and the window and ETA in its offset.
pub struct CustomerTimes {
    pub timezone: String,
    pub window: LocalWindow,
    pub eta: Option<LocalWindow>,
}

/// The times a customer is shown, in the zone of the job's place. There is no
/// time-zone lookup by coordinates: the assigned technician's zone stands in
/// (it works there), else the general contractor organisation's.
pub fn customer_times(conn: &mut DbConnection, job: &jobs::Job) -> Result<CustomerTimes, ApiError> {
    let technician = match job.technician_id.as_deref() {
        Some(id) => technicians::find(conn, id)?.map(|t| t.timezone),
        None => None,
    };
    let timezone = match technician {
        Some(tz) => tz,
        None => crate::storage::orgs::find(conn, &job.contractor_org_id)?.ok_or(ApiError::NotFound)?.timezone,
    };
    let zone = crate::domain::shift::zone(&timezone)?;
    let local = |(start, end): (chrono::NaiveDateTime, chrono::NaiveDateTime)| LocalWindow {
        start: utc(start).with_timezone(&zone).fixed_offset(),
        end: utc(end).with_timezone(&zone).fixed_offset(),
    };
    Ok(CustomerTimes {
        window: local((job.window_start, job.window_end)),
        eta: job.eta_start.zip(job.eta_end).map(local),
        timezone,
    })
}

/// The first word of a technician's name (all a customer is shown).
pub fn technician_first_name(conn: &mut DbConnection, technician_id: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(technicians::first_name(conn, technician_id)?)
}

fn job_view(conn: &mut DbConnection, job: jobs::Job) -> Result<JobView, ApiError> {
    let chain = jobs::chain(conn, &job.id)?;
    job_view_with(job, chain)
}

/// A job with its chain already loaded (a page loads every chain in one query).
fn job_view_with(job: jobs::Job, chain: Vec<(String, ChainRole)>) -> Result<JobView, ApiError> {
    let org_chain = chain.into_iter().map(|(org_id, role)| ChainLink { org_id, role }).collect();
    Ok(JobView {
        eta: eta(&job),
        offer: job.offer_org_id.clone().map(|org_id| OfferView { org_id, deadline: job.offer_deadline.map(utc) }),
        required_skills: json::codes(&job.required_skills)?,
        parts: parts_view(json::parts(&job.parts)?),
        org_chain,
        id: job.id,
        kind: job.kind,
        status: job.status,
        priority: job.priority,
        customer_id: job.customer_id,
        contractor_org_id: job.contractor_org_id,
        location: LatLon { lat: job.lat, lon: job.lon },
        address: job.address,
        problem: job.problem,
        window: TimeWindow { start: utc(job.window_start), end: utc(job.window_end) },
        technician_id: job.technician_id,
        visits: job.visits,
        created_at: utc(job.created_at),
        updated_at: utc(job.updated_at),
    })
}

/// `GET /v1/jobs` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    pub status: Option<JobStatus>,
    pub customer_id: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The cursor of a `(time, id)` keyset position, read back by [`decode_time_cursor`].
pub fn encode_time_cursor(at: chrono::NaiveDateTime, id: &str) -> String {
    pagination::encode_cursor(&format!("{}|{id}", at.and_utc().timestamp_micros()))
}

/// Decodes a `(time, id)` keyset cursor (`micros|id`).
pub fn decode_time_cursor(cursor: Option<&str>) -> Result<Option<(chrono::NaiveDateTime, String)>, ApiError> {
    pagination::decode_cursor(cursor)?
        .map(|c| {
            let (micros, id) =
                c.split_once('|').ok_or_else(|| ApiError::invalid("cursor", "is not a cursor this server issued"))?;
            let micros: i64 =
                micros.parse().map_err(|_| ApiError::invalid("cursor", "is not a cursor this server issued"))?;
            let at = DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| ApiError::invalid("cursor", "is out of range"))?;
            Ok::<_, ApiError>((at.naive_utc(), id.to_owned()))
        })
        .transpose()
}

/// Jobs in the caller's scope, newest first.
#[utoipa::path(get, path = "/v1/jobs", operation_id = "list_jobs", tag = "jobs", params(JobsQuery),
    responses((status = 200, body = Page<JobView>), (status = 403, description = "this role may not use this endpoint (`forbidden`)")), security(("bearer" = [])))]
#[get("/v1/jobs")]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Reviewer, Role::Admin])?;
    let q = query.0;
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = decode_time_cursor(q.cursor.as_deref())?;
    let page = state
        .db
        .run(move |conn| {
            let rows = jobs::list(conn, caller.job_scope(), q.status, q.customer_id.as_deref(), after, limit)?;
            // Two queries per page, whatever its size: the jobs, then all their chains.
            let ids: Vec<String> = rows.iter().map(|j| j.id.clone()).collect();
            let mut chains: HashMap<String, Vec<(String, ChainRole)>> = HashMap::new();
            for (job_id, org_id, role, _) in jobs::chains(conn, &ids)? {
                chains.entry(job_id).or_default().push((org_id, role));
            }
            pagination::page(
                rows,
                limit,
                |j| format!("{}|{}", j.created_at.and_utc().timestamp_micros(), j.id),
                |j| {
                    let chain = chains.remove(&j.id).unwrap_or_default();
                    job_view_with(j, chain)
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One job with its chain and current offer.
#[utoipa::path(get, path = "/v1/jobs/{id}", operation_id = "get_job", tag = "jobs", responses((status = 200, body = JobView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
    (status = 404, description = "no such job in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/jobs/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Reviewer, Role::Admin])?;
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let job = jobs::find_scoped(conn, &id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
            job_view(conn, job)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One job event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<String>,
    pub actor_org_id: Option<String>,
    /// Details by `type` (free-form; ignore members you do not know): usually `status` (the job's status
    /// after the event) and `from`; offers carry `org_id`, `technician_id`, `deadline`; technician steps
    /// carry `at` (corrected phone time), `visit_secs`, `reason`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// `GET /v1/jobs/{id}/events` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A page of a job's events, with the chain's organisations and their SLA outcomes.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsPage {
    pub items: Vec<EventView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Every organisation of the job's chain (in the order it joined) with its latest offer and
    /// `sla: {accept, arrive, first_time_fix}` as of now: `met`, `missed`, `open`, or `null` where the
    /// promise does not apply (no offer: passed automatically; arrival and first-time fix only for the
    /// organisations answerable for the visit, not one that only declined or let its offer expire).
    pub hops: Vec<crate::routes::reviews::HopView>,
}

/// A job's events in the order they happened: the chain, every hop, who and when, and each hop's SLA outcomes.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs", params(EventsQuery),
    responses((status = 200, body = EventsPage), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such job in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/jobs/{id}/events")]
pub async fn events(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    query: Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Reviewer, Role::Admin])?;
    let q = query.0;
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = pagination::decode_cursor(q.cursor.as_deref())?
        .map(|c| c.parse::<i64>().map_err(|_| ApiError::invalid("cursor", "is not a cursor this server issued")))
        .transpose()?;
    let id = id.into_inner();
    let now = state.now();
    let page = state
        .db
        .run(move |conn| {
            let job = jobs::find_scoped(conn, &id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
            let rows = jobs::events(conn, &job.id, after, limit)?;
            let hops = crate::app::review::hops(conn, std::slice::from_ref(&job), now)?
                .remove(&job.id)
                .unwrap_or_default()
                .into_iter()
                .map(crate::routes::reviews::hop_view)
                .collect();
            let page = pagination::page(
                rows,
                limit,
                |e| e.id.to_string(),
                |e| {
                    Ok(EventView {
                        data: serde_json::from_str(&e.data)?,
                        id: e.id,
                        event_type: e.event_type,
                        at: utc(e.at),
                        actor_user_id: e.actor_user_id,
                        actor_org_id: e.actor_org_id,
                    })
                },
            )?;
            Ok::<_, ApiError>(EventsPage { items: page.items, next_cursor: page.next_cursor, hops })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Cancels a job (dispatchers in the chain, admins), before completion.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", operation_id = "cancel_job", tag = "jobs", request_body = CancelBody,
    responses((status = 200, body = JobView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such job in your scope (`not_found`)"),
        (status = 409, description = "already completed or cancelled (`invalid_transition`; `current` carries the status)")),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: OptionalJson<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Admin])?;
    body.0.validate()?;
    let now = state.now();
    let speed_kmh = state.config.travel_speed_kmh;
    let id = id.into_inner();
    let view = state
        .db
        .write(move |conn| {
            let job = booking::cancel(conn, &caller, &id, body.0.reason.as_deref(), now, speed_kmh)?;
            job_view(conn, job)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
