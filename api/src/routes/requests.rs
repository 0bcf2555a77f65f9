//! `/v1/requests`: customers book, follow, cancel and reschedule visits.
//! A request and a job are one record (DESIGN.md, Decisions).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use utoipa::ToSchema;

use crate::app::booking::{self, IdempotencyKey, NewBooking, NormalContact};
use crate::app::consent::GivenConsent;
use crate::auth::AuthUser;
use crate::db::DbConnection;
use crate::domain::{JobKind, JobStatus, Language, Priority, Role, Stage, validate};
use crate::error::ApiError;
use crate::extract::{Bearer, Json, OptionalJson, Validate};
use crate::routes::jobs::{self as job_routes, CancelBody, LocalWindow, RescheduleBody, TimeWindow};
use crate::routes::orgs::{PartQty, parse_parts};
use crate::routes::technicians::LatLon;
use crate::state::AppState;
use crate::storage::{jobs, utc};

/// How to reach the customer on site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    /// Any common format; stored as E.164 (numbers without a country code are read as Russian).
    pub phone: String,
    pub email: Option<String>,
}

/// `POST /v1/requests` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub kind: JobKind,
    pub location: LatLon,
    pub address: String,
    /// What is wrong, in the customer's words.
    pub problem: String,
    #[serde(default)]
    pub required_skills: Vec<String>,
    /// Parts to bring; required for `parts_replacement`.
    #[serde(default)]
    pub parts: Vec<PartQty>,
    /// The preferred time window (RFC 3339 with offset).
    pub window: TimeWindow,
    #[serde(default = "normal")]
    pub priority: Priority,
    /// Who to reach on site. A customer whose login has a client card may leave it out: the card's name,
    /// phone and e-mail are used (422 `contact` when the card has no phone). Required otherwise.
    pub contact: Option<Contact>,
    /// The customer's consent, recorded with the booking (append-only, with the text version). Optional:
    /// the visit itself is arranged under the contract; a booking made on someone's behalf records the
    /// consent they gave (for example on the phone) by sending it.
    pub consent: Option<ConsentBody>,
}

/// What the customer consented to, to which text (`GET /v1/consent-texts/current`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// Processing of personal data for the visit; must be `true`.
    pub personal_data: bool,
    /// `version` of the consent text shown.
    pub text_version: String,
    /// The language of the text shown (`ru` or `en`).
    pub language: Language,
    /// Service notifications by e-mail and SMS.
    #[serde(default)]
    pub notifications: bool,
    /// News and offers.
    #[serde(default)]
    pub marketing: bool,
}

fn normal() -> Priority {
    Priority::Normal
}

impl BookRequest {
    /// The validated booking (errors name the field).
    pub(crate) fn parse_at(&self, now: DateTime<Utc>) -> Result<NewBooking, ApiError> {
        let location = self.location.position("location")?;
        validate::text("address", &self.address, validate::MAX_NAME_CHARS)?;
        validate::text("problem", &self.problem, validate::MAX_TEXT_CHARS)?;
        validate::codes("required_skills", &self.required_skills)?;
        let parts = parse_parts("parts", &self.parts)?;
        if self.kind == JobKind::PartsReplacement && self.parts.is_empty() {
            return Err(ApiError::invalid("parts", "a parts replacement must name the parts"));
        }
        booking::validate_window("window", self.window.start, self.window.end, now)?;
        let contact =
            self.contact.as_ref().map(|c| NormalContact::parse(&c.name, &c.phone, c.email.as_deref())).transpose()?;
        let consent = self
            .consent
            .as_ref()
            .map(|c| GivenConsent::parse(c.personal_data, &c.text_version, c.language, c.notifications, c.marketing))
            .transpose()?;
        Ok(NewBooking {
            kind: self.kind,
            location,
            address: self.address.clone(),
            problem: self.problem.clone(),
            required_skills: self.required_skills.clone(),
            parts,
            window: (self.window.start, self.window.end),
            priority: self.priority,
            contact,
            consent,
        })
    }
}

/// The answer to a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct Booked {
    pub id: String,
    pub status: JobStatus,
    pub stage: Stage,
    /// For `GET /v1/track/{tracking_token}`, shareable with whoever waits for the visit.
    pub tracking_token: String,
    pub customer_id: String,
    pub created_at: DateTime<Utc>,
}

/// The longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 255;

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else { return Ok(None) };
    let key = value.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be printable ASCII"))?.trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::invalid("Idempotency-Key", format!("must be 1 to {MAX_KEY_LEN} characters")));
    }
    Ok(Some(key.to_owned()))
}

/// Books a visit. With an `Idempotency-Key` a retry returns the same
/// request (also when retries race) and never creates a second one; the
/// same key with a different body answers 422 `idempotency_key_reused`.
#[utoipa::path(post, path = "/v1/requests", tag = "requests", request_body = BookRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key, kept at least 24 h, per user")),
    responses((status = 201, body = Booked, description = "booked (also the answer to a retry with the same key)"),
        (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 422, description = "an invalid value (`invalid_value`), or the key reused with another body \
            (`idempotency_key_reused`)"),
        (status = 429, description = "too many bookings by this user in a minute (`too_many_requests`); `Retry-After` says when to retry",
            headers(("Retry-After" = u64, description = "seconds to wait")))),
    security(("bearer" = [])))]
#[post("/v1/requests")]
pub async fn book(
    state: web::Data<AppState>,
    req: HttpRequest,
    bearer: Bearer,
    body: Json<BookRequest>,
) -> Result<HttpResponse, ApiError> {
    // The caller is read and checked in the booking's own blocking task (one hand-off to the blocking pool and
    // one connection instead of two, #14), then everything in the order `AuthUser` would answer it: 401, 403,
    // 429, the key header, the body's values.
    let (limiters, cache, now) = (state.limiters.clone(), state.dispatch.clone(), state.now());
    let key = idempotency_key(&req);
    let b = body.0;
    let outcome = state
        .db
        .run(move |conn| {
            let caller = bearer.caller(conn)?;
            caller.require(&[Role::Customer, Role::Dispatcher, Role::Admin])?;
            limiters.bookings.hit(&caller.id)?;
            let key = key?;
            let booking = b.parse_at(now)?;
            let request_hash = hex::encode(sha2::Sha256::digest(serde_json::to_string(&b)?.as_bytes()));
            let key = key.map(|key| IdempotencyKey { key, request_hash });
            booking::book_and_dispatch(conn, &cache, &caller, &booking, key.as_ref(), now)
        })
        .await?;
    let (job, replayed) = match outcome {
        booking::BookOutcome::Created(job) => (job, false),
        booking::BookOutcome::Replayed(job) => (job, true),
    };
    if !replayed {
        metrics::counter!("sortie_requests_booked_total").increment(1);
        tracing::info!(job.id = %job.id, "Booked request {}", job.id);
    }
    let mut response = HttpResponse::Created();
    if replayed {
        response.insert_header(("Idempotency-Replayed", "true"));
    }
    Ok(response.json(Booked {
        stage: job.status.stage(),
        id: job.id,
        status: job.status,
        tracking_token: job.tracking_token,
        customer_id: job.customer_id,
        created_at: utc(job.created_at),
    }))
}

/// One stage the request went through.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageAt {
    pub stage: Stage,
    pub at: DateTime<Utc>,
}

/// A request as its customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub stage: Stage,
    pub priority: Priority,
    pub address: String,
    pub location: LatLon,
    pub problem: String,
    /// The customer's window, in the local offset of `timezone`.
    pub window: LocalWindow,
    /// The technician's first name, once one is named.
    pub technician_first_name: Option<String>,
    /// Planned arrival window once the visit is planned (planned start ± 15 min, always inside `window`),
    /// in the local offset of `timezone`.
    pub eta: Option<LocalWindow>,
    /// IANA zone the times are shown in: the technician's once assigned, else the general contractor's.
    pub timezone: String,
    pub tracking_token: String,
    /// Stages in the order they were reached.
    pub history: Vec<StageAt>,
    /// The survey page (`/survey/{token}`) once the survey is issued and while it is open; the customer's view only.
    pub survey_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A request with its stage history (the customer's own; dispatchers and admins in scope).
#[utoipa::path(get, path = "/v1/requests/{id}", operation_id = "get_request", tag = "requests",
    responses((status = 200, body = RequestView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such request in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/requests/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Customer, Role::Dispatcher, Role::Admin, Role::Reviewer])?;
    let id = id.into_inner();
    let now = state.now();
    let view = state
        .db
        .run(move |conn| {
            let job = jobs::find_scoped(conn, &id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
            let mut view = request_view(conn, job)?;
            if caller.role == Role::Customer {
                view.survey_url = crate::app::surveys::survey_url(conn, &view.id, now)?;
            }
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

pub(crate) fn request_view(conn: &mut DbConnection, job: jobs::Job) -> Result<RequestView, ApiError> {
    let events = jobs::events(conn, &job.id, None, 10_000)?;
    let mut history: Vec<StageAt> = Vec::new();
    for e in events {
        let data: serde_json::Value = serde_json::from_str(&e.data)?;
        let Some(status) = data.get("status").and_then(|s| s.as_str()).and_then(JobStatus::parse) else { continue };
        if history.last().map(|h| h.stage) != Some(status.stage()) {
            history.push(StageAt { stage: status.stage(), at: utc(e.at) });
        }
    }
    let times = job_routes::customer_times(conn, &job)?;
    Ok(RequestView {
        technician_first_name: job_routes::technician_first_name(conn, job.technician_id.as_deref())?,
        stage: job.status.stage(),
        eta: times.eta,
        window: times.window,
        timezone: times.timezone,
        id: job.id,
        kind: job.kind,
        status: job.status,
        priority: job.priority,
        address: job.address,
        location: LatLon { lat: job.lat, lon: job.lon },
        problem: job.problem,
        tracking_token: job.tracking_token,
        history,
        survey_url: None,
        created_at: utc(job.created_at),
        updated_at: utc(job.updated_at),
    })
}

/// Cancels a request (the customer before the technician is on the way; dispatchers in the chain and admins before completion).
#[utoipa::path(post, path = "/v1/requests/{id}/cancel", operation_id = "cancel_request", tag = "requests", request_body = CancelBody,
    responses((status = 200, body = RequestView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such request in your scope (`not_found`)"),
        (status = 409, description = "too late to cancel (`invalid_transition`; `current` carries the status)")),
    security(("bearer" = [])))]
#[post("/v1/requests/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: OptionalJson<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Customer, Role::Dispatcher, Role::Admin])?;
    let now = state.now();
    let speed_kmh = state.config.travel_speed_kmh;
    let id = id.into_inner();
    let view = state
        .db
        .write(move |conn| {
            let job = booking::cancel(conn, &caller, &id, body.0.reason.as_deref(), now, speed_kmh)?;
            request_view(conn, job)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Moves a request to a new window (same rules as cancelling).
#[utoipa::path(post, path = "/v1/requests/{id}/reschedule", tag = "requests", request_body = RescheduleBody,
    responses((status = 200, body = RequestView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such request in your scope (`not_found`)"),
        (status = 409, description = "too late to reschedule (`invalid_transition`; `current` carries the status)")),
    security(("bearer" = [])))]
#[post("/v1/requests/{id}/reschedule")]
pub async fn reschedule(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<RescheduleBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Customer, Role::Dispatcher, Role::Admin])?;
    let now = state.now();
    body.0.validate_at(now)?;
    let speed_kmh = state.config.travel_speed_kmh;
    let cache = state.dispatch.clone();
    let id = id.into_inner();
    let view = state
        .db
        .write(move |conn| {
            let window = (body.0.window.start, body.0.window.end);
            let job = booking::reschedule(conn, &caller, &id, window, now, speed_kmh)?;
            // An unassignable job is dispatched again for its new window; a returned one goes back to its technician.
            if crate::app::review::after_reschedule(conn, &cache, &caller, &job, now, speed_kmh)? != job.status {
                let job = jobs::find_scoped(conn, &job.id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
                return request_view(conn, job);
            }
            request_view(conn, job)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

impl RescheduleBody {
    fn validate_at(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        Ok(booking::validate_window("window", self.window.start, self.window.end, now)?)
    }
}

impl Validate for CancelBody {
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(r) = &self.reason {
            validate::text("reason", r, validate::MAX_TEXT_CHARS)?;
        }
        Ok(())
    }
}
