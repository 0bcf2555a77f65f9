//! `/v1/reviews` and `POST /v1/jobs/{id}/review`: the vendor's quality review
//! of work reports; `GET /v1/photos/{sha256}`: a report's photo bytes.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::review::{self, Hop, QueueItem, QueueStatus, ReviewInput};
use crate::app::sync::{self as sync_app, checklist_template};
use crate::auth::AuthUser;
use crate::domain::sla::SlaOutcome;
use crate::domain::{ChainRole, JobKind, JobStatus, OfferStatus, Priority, Role, Verdict};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::routes::jobs::TimeWindow;
use crate::routes::pagination::{self, Page};
use crate::state::AppState;
use crate::storage::reviews::Review;
use crate::storage::utc;

/// Which reviews to list.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewQueueStatus {
    /// Waiting for review (`in_review`), longest waiting first.
    #[default]
    Pending,
    /// Latest review approved, newest first.
    Approved,
    /// Latest review returned for rework, newest first.
    Returned,
}

/// `GET /v1/reviews` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewsQuery {
    /// `pending` (default), `approved` or `returned`.
    #[param(inline)]
    pub status: Option<ReviewQueueStatus>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The verdict asked for.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictInput {
    Approve,
    Return,
}

/// `POST /v1/jobs/{id}/review` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub verdict: VerdictInput,
    /// Required for `return` (what the technician must do again; ≤ 2,000 characters); optional for `approve`.
    pub reason: Option<String>,
    /// `return` only: dispatch the job again (to another technician) instead of giving it back to its own.
    #[serde(default)]
    pub redispatch: bool,
}

/// A verdict as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    /// The visit whose work was reviewed.
    pub visit: i32,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub redispatch: bool,
    pub reviewer_user_id: String,
    pub at: DateTime<Utc>,
}

fn review_view(r: Review) -> ReviewView {
    ReviewView {
        visit: r.visit,
        verdict: r.verdict,
        reason: r.reason,
        redispatch: r.redispatch,
        reviewer_user_id: r.reviewer_user_id,
        at: utc(r.at),
    }
}

/// The answer to a review.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reviewed {
    pub job_id: String,
    /// `approved`; after a return `scheduled` (same technician), `returned` (its window has ended: waiting
    /// for a new one), or `offered` / `unassignable` with `redispatch`.
    pub status: JobStatus,
    pub technician_id: Option<String>,
    pub review: ReviewView,
}

/// Each promise of a service agreement for one organisation; `null` where it does not apply.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaView {
    /// The offer answered by its deadline; `null` when the job passed the organisation without an offer.
    pub accept: Option<SlaOutcome>,
    /// A technician on site within `arrive_within_min` of the booking (or of a later window start).
    pub arrive: Option<SlaOutcome>,
    /// Approved without a return and without an incomplete visit.
    pub first_time_fix: Option<SlaOutcome>,
}

/// One organisation of a job's chain, its offer and its SLA outcomes.
#[derive(Debug, Serialize, ToSchema)]
pub struct HopView {
    pub org_id: String,
    pub name: String,
    /// How it appears in the chain (contractor, hop, offeree, assignee).
    pub roles: Vec<ChainRole>,
    /// Its latest offer of the job, if it had one.
    pub offered_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answer: Option<OfferStatus>,
    pub sla: SlaView,
}

/// Renders a hop.
pub fn hop_view(h: Hop) -> HopView {
    HopView {
        offered_at: h.offer.as_ref().map(|o| utc(o.created_at)),
        deadline: h.offer.as_ref().map(|o| utc(o.deadline)),
        answered_at: h.offer.as_ref().and_then(|o| o.answered_at.map(utc)),
        answer: h.offer.as_ref().map(|o| o.status),
        org_id: h.org_id,
        name: h.name,
        roles: h.roles,
        sla: SlaView { accept: h.accept, arrive: h.arrive, first_time_fix: h.first_time_fix },
    }
}

/// The technician of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct TechnicianRef {
    pub id: String,
    pub name: String,
    pub org_id: String,
}

/// The job under review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewJob {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub priority: Priority,
    pub window: TimeWindow,
    pub address: String,
    pub problem: String,
    pub contractor_org_id: String,
    pub technician: Option<TechnicianRef>,
}

/// One visit on site.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitSummary {
    pub visit: i32,
    pub technician_id: String,
    pub arrived_at: DateTime<Utc>,
    pub departed_at: Option<DateTime<Utc>>,
    /// Whole minutes on site; `null` while the visit is open.
    pub minutes_on_site: Option<i64>,
    /// `completed` or `incomplete`; `null` while open.
    pub outcome: Option<String>,
    /// Why an incomplete visit ended (`customer_absent`, `part_missing`, `second_visit_needed`).
    pub reason: Option<String>,
}

/// A note of the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportNote {
    pub text: String,
    pub at: DateTime<Utc>,
}

/// A checklist answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportChecklistItem {
    pub item: String,
    pub label: String,
    /// `null` when not answered.
    #[schema(value_type = Option<crate::openapi::sync::ChecklistValue>, required = true)]
    pub value: serde_json::Value,
}

/// A part used, with its serial number when the phone sent one.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPart {
    pub sku: String,
    pub qty: i32,
    pub serial: Option<String>,
}

/// A photo of the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPhoto {
    pub sha256: String,
    pub taken_at: DateTime<Utc>,
    /// `GET` it with the same token (`/v1/photos/{sha256}`).
    pub url: String,
    /// Whether the bytes have reached the server yet.
    pub uploaded: bool,
}

/// The customer's signature.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportSignature {
    pub signer_name: String,
    pub image_sha256: String,
    pub url: String,
}

/// The work report as a reviewer reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewReport {
    pub notes: Vec<ReportNote>,
    pub checklist: Vec<ReportChecklistItem>,
    pub parts: Vec<ReportPart>,
    pub photos: Vec<ReportPhoto>,
    pub signature: Option<ReportSignature>,
    /// Minutes on site over the visits that ended.
    pub minutes_on_site: i64,
}

/// One job of the review queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItem {
    pub job: ReviewJob,
    pub visits_count: i32,
    pub visits: Vec<VisitSummary>,
    pub report: ReviewReport,
    /// The organisations of the chain with their SLA outcomes.
    pub chain: Vec<HopView>,
    /// Earlier verdicts, oldest first.
    pub reviews: Vec<ReviewView>,
}

fn photo_url(sha256: &str) -> String {
    format!("/v1/photos/{sha256}")
}

fn item_view(i: QueueItem) -> ReviewItem {
    let r = i.report;
    let minutes = |a: chrono::NaiveDateTime, d: chrono::NaiveDateTime| (d - a).num_minutes();
    let checklist = checklist_template(i.job.kind)
        .iter()
        .map(|(item, label)| ReportChecklistItem {
            item: (*item).to_owned(),
            label: (*label).to_owned(),
            value: r
                .checklist
                .iter()
                .find(|(it, _)| it == item)
                .and_then(|(_, v)| serde_json::from_str(v).ok())
                .unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let minutes_on_site =
        r.visits.iter().filter_map(|v| v.departed_at.map(|d| (d - v.arrived_at).num_seconds())).sum::<i64>() / 60;
    let job = i.job;
    ReviewItem {
        visits_count: job.visits,
        visits: r
            .visits
            .iter()
            .map(|v| VisitSummary {
                visit: v.visit,
                technician_id: v.technician_id.clone(),
                arrived_at: utc(v.arrived_at),
                departed_at: v.departed_at.map(utc),
                minutes_on_site: v.departed_at.map(|d| minutes(v.arrived_at, d)),
                outcome: v.outcome.clone(),
                reason: v.reason.clone(),
            })
            .collect(),
        report: ReviewReport {
            notes: r.notes.into_iter().map(|(_, text, at)| ReportNote { text, at: utc(at) }).collect(),
            checklist,
            parts: r.parts.into_iter().map(|p| ReportPart { sku: p.sku, qty: p.qty, serial: p.serial }).collect(),
            photos: r
                .photos
                .into_iter()
                .map(|(p, uploaded)| ReportPhoto {
                    url: photo_url(&p.sha256),
                    sha256: p.sha256,
                    taken_at: utc(p.taken_at),
                    uploaded,
                })
                .collect(),
            signature: r.signature.map(|(signer_name, image_sha256)| ReportSignature {
                url: photo_url(&image_sha256),
                signer_name,
                image_sha256,
            }),
            minutes_on_site,
        },
        chain: i.hops.into_iter().map(hop_view).collect(),
        reviews: i.reviews.into_iter().map(review_view).collect(),
        job: ReviewJob {
            technician: job
                .technician_id
                .clone()
                .zip(i.technician_name)
                .zip(i.technician_org_id)
                .map(|((id, name), org_id)| TechnicianRef { id, name, org_id }),
            id: job.id,
            kind: job.kind,
            status: job.status,
            priority: job.priority,
            window: TimeWindow { start: utc(job.window_start), end: utc(job.window_end) },
            address: job.address,
            problem: job.problem,
            contractor_org_id: job.contractor_org_id,
        },
    }
}

/// The vendor's review queue: jobs with their work report, chain and SLA outcomes.
#[utoipa::path(get, path = "/v1/reviews", tag = "reviews", params(ReviewsQuery),
    responses((status = 200, body = Page<ReviewItem>),
        (status = 400, description = "an unknown query parameter (`unknown_parameter`)"),
        (status = 403, description = "only reviewers and admins (`forbidden`)"),
        (status = 422, description = "an unknown `status`, a bad `limit` or `cursor` (`invalid_value`)")),
    security(("bearer" = [])))]
#[get("/v1/reviews")]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<ReviewsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    let q = query.0;
    let status = match q.status.unwrap_or_default() {
        ReviewQueueStatus::Pending => QueueStatus::Pending,
        ReviewQueueStatus::Approved => QueueStatus::Approved,
        ReviewQueueStatus::Returned => QueueStatus::Returned,
    };
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = crate::routes::jobs::decode_time_cursor(q.cursor.as_deref())?;
    let now = state.now();
    let page = state
        .db
        .run(move |conn| {
            let (items, next) = review::queue(conn, status, after, limit, now)?;
            Ok::<_, ApiError>(Page {
                items: items.into_iter().map(item_view).collect(),
                next_cursor: next.map(|(at, id)| crate::routes::jobs::encode_time_cursor(at, &id)),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Approves the work (the job is closed; its tracking link expires 72 h later) or returns it for rework.
#[utoipa::path(post, path = "/v1/jobs/{id}/review", tag = "reviews", request_body = ReviewBody,
    responses((status = 200, body = Reviewed),
        (status = 400, description = "malformed JSON, an unknown or missing field (`malformed_json`, `unknown_field`, \
            `missing_field`)"),
        (status = 403, description = "only reviewers and admins (`forbidden`)"),
        (status = 404, description = "no such job (`not_found`)"),
        (status = 409, description = "the job is not waiting for review (`not_in_review`), or this visit was \
            already reviewed (`already_reviewed`); `current` carries the status, visits and latest review"),
        (status = 422, description = "an unknown verdict, a return without a reason, a reason too long, or \
            `redispatch` with an approval (`invalid_value`, `field`)")),
    security(("bearer" = [])))]
#[post("/v1/jobs/{id}/review")]
pub async fn review_job(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<ReviewBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin])?;
    let body = body.0;
    let input = ReviewInput {
        verdict: match body.verdict {
            VerdictInput::Approve => Verdict::Approved,
            VerdictInput::Return => Verdict::Returned,
        },
        reason: body.reason,
        redispatch: body.redispatch,
    }
    .validate()?;
    let now = state.now();
    let (speed_kmh, cache) = (state.config.travel_speed_kmh, state.dispatch.clone());
    let id = id.into_inner();
    let done =
        state.db.write(move |conn| review::review(conn, &cache, &caller, &id, input.clone(), now, speed_kmh)).await?;
    metrics::counter!("sortie_reviews_total", "verdict" => done.review.verdict.as_str()).increment(1);
    Ok(HttpResponse::Ok().json(Reviewed {
        job_id: done.job.id,
        status: done.job.status,
        technician_id: done.job.technician_id,
        review: review_view(done.review),
    }))
}

/// The content type of photo bytes, from their first bytes (`application/octet-stream` when unknown).
pub(crate) fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [_, _, _, _, b'f', b't', b'y', b'p', b'h', b'e', b'i', b'c', ..] => "image/heic",
        _ => "application/octet-stream",
    }
}

/// A report photo's bytes (reviewers and admins; dispatchers for a photo of a job in their scope; a technician
/// for its own uploads and the photos of its jobs).
#[utoipa::path(get, path = "/v1/photos/{sha256}", operation_id = "get_photo", tag = "reviews",
    params(("sha256" = String, Path, description = "lower-case hex SHA-256 of the bytes")),
    responses((status = 200, body = Vec<u8>, content_type = "application/octet-stream",
            description = "the bytes; `Content-Type` sniffed (`image/jpeg`, `image/png`, …) or `application/octet-stream`"),
        (status = 403, description = "customers (`forbidden`)"),
        (status = 404, description = "no such photo, or not one you may see (`not_found`)"),
        (status = 422, description = "a malformed hash (`invalid_value`)")),
    security(("bearer" = [])))]
#[get("/v1/photos/{sha256}")]
pub async fn get_photo(
    state: web::Data<AppState>,
    caller: AuthUser,
    sha256: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Reviewer, Role::Admin, Role::Dispatcher, Role::Technician])?;
    let sha256 = sha256.into_inner();
    if !sync_app::is_photo_hash(&sha256) {
        return Err(ApiError::invalid("sha256", "64 lower-case hex digits"));
    }
    let bytes = state.db.run(move |conn| sync_app::photo_for(conn, &caller, &sha256)).await?;
    Ok(HttpResponse::Ok()
        .content_type(sniff(&bytes))
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn photo_types_are_sniffed_from_their_first_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), "image/png");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff(b"hello"), "application/octet-stream");
    }
}
