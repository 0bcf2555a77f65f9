//! Personal data (issue #11): the consent texts, a person's export and
//! erasure, and the audit log.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::{consent, privacy};
use crate::auth::AuthUser;
use crate::domain::{AuditAction, Channel, JobKind, JobStatus, Language, NotifyChannel, OutboxStatus, Role};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::jobs::{TimeWindow, decode_time_cursor};
use crate::routes::pagination::{self, Page};
use crate::routes::technicians::LatLon;
use crate::state::AppState;
use crate::storage::{self, utc};

/// `GET /v1/consent-texts/current` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsentTextQuery {
    /// `ru` (default) or `en`.
    #[param(inline)]
    pub language: Option<Language>,
}

/// A consent text: what a booking's `consent` refers to by `version` and `language`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentTextView {
    pub version: String,
    pub language: Language,
    pub published_at: Option<DateTime<Utc>>,
    /// Markdown.
    pub text: String,
}

/// The current consent text (public: the booking form shows it before anyone signs in).
#[utoipa::path(get, path = "/v1/consent-texts/current", operation_id = "current_consent_text", tag = "customers",
    params(ConsentTextQuery),
    responses((status = 200, body = ConsentTextView),
        (status = 400, description = "an unknown query parameter (`unknown_parameter`)"),
        (status = 404, description = "no text in this language (`not_found`)"),
        (status = 422, description = "an unknown `language` (`invalid_value`)")))]
#[get("/v1/consent-texts/current")]
pub async fn current_consent_text(query: Query<ConsentTextQuery>) -> Result<HttpResponse, ApiError> {
    let text = consent::current(query.0.language.unwrap_or(Language::Ru)).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(ConsentTextView {
        version: text.version.to_owned(),
        language: text.language,
        published_at: consent::published_at(text),
        text: text.text.to_owned(),
    }))
}

/// The card as stored (an export shows it whole).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportCard {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub preferred_address_form: Option<String>,
    pub contracted_org_id: Option<String>,
    pub language: Language,
    pub notify_channel: NotifyChannel,
    pub notify_opt_out: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the person was erased on request.
    pub erased_at: Option<DateTime<Utc>>,
}

/// A login linked to the card.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportLogin {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// An address the card remembers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportAddress {
    pub address: String,
    pub location: LatLon,
    pub last_used_at: DateTime<Utc>,
}

/// A consent given with a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: String,
    pub job_id: Option<String>,
    /// The login that recorded it (the customer, or a dispatcher on its behalf).
    pub recorded_by: String,
    pub text_version: String,
    pub language: Language,
    pub personal_data: bool,
    pub notifications: bool,
    pub marketing: bool,
    pub given_at: DateTime<Utc>,
}

/// Who to reach on site, as the booking gave it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportContact {
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
}

/// A work-report note.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportNote {
    pub id: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// A photo of the work report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportPhoto {
    pub id: String,
    pub sha256: String,
    pub taken_at: DateTime<Utc>,
    /// Whether the image is held (`GET /v1/jobs/{id}/photos/{sha256}`).
    pub uploaded: bool,
}

/// A part used.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportPart {
    pub sku: String,
    pub qty: i32,
    pub serial: Option<String>,
    pub at: DateTime<Utc>,
}

/// One visit on site.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportVisit {
    pub visit: i32,
    pub arrived_at: DateTime<Utc>,
    pub departed_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
}

/// A checklist answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportChecklistItem {
    pub item: String,
    pub value: String,
}

/// The work report of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportReport {
    pub notes: Vec<ExportNote>,
    pub checklist: Vec<ExportChecklistItem>,
    pub parts: Vec<ExportPart>,
    pub photos: Vec<ExportPhoto>,
    /// Who signed on site.
    pub signer_name: Option<String>,
    pub visits: Vec<ExportVisit>,
}

/// The customer's survey answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportSurvey {
    pub issued_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub nps: Option<i32>,
    pub csat: Option<i32>,
    pub ces: Option<i32>,
    pub comment: Option<String>,
}

/// A message to the person.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportMessage {
    pub id: String,
    pub channel: Channel,
    pub kind: String,
    pub recipient: String,
    pub job_id: Option<String>,
    pub status: OutboxStatus,
    /// The stored message facts, JSON text (`{}` once erased).
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A booking (job) of the person with what hangs off it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportJob {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub address: String,
    pub location: LatLon,
    pub problem: String,
    pub contact: ExportContact,
    pub window: TimeWindow,
    pub technician_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub report: ExportReport,
    pub survey: Option<ExportSurvey>,
    pub messages: Vec<ExportMessage>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user who acted.
    pub actor_user_id: Option<String>,
    pub actor_role: Role,
    pub action: AuditAction,
    /// `customer`, `user`, `org`, `technician`, `outbox`.
    pub subject_type: String,
    pub subject_id: String,
    /// The client card the entry concerns, if any.
    pub customer_id: Option<String>,
    /// What changed: field names and counts as a JSON object, never personal values.
    pub details: serde_json::Value,
}

/// Everything held about a client card: one page of its jobs (`limit`, `cursor`), and on every page
/// the card, its logins, addresses, consents, messages not about one job and the latest 1,000 audit
/// entries about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerExport {
    pub exported_at: DateTime<Utc>,
    pub card: ExportCard,
    pub logins: Vec<ExportLogin>,
    pub addresses: Vec<ExportAddress>,
    pub consents: Vec<ConsentView>,
    /// Oldest first.
    pub jobs: Vec<ExportJob>,
    pub messages: Vec<ExportMessage>,
    /// Newest first.
    pub audit: Vec<AuditItem>,
    /// Pass as `cursor` for the next page of jobs; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn message(r: storage::outbox::Row) -> ExportMessage {
    ExportMessage {
        id: r.id,
        channel: r.channel,
        kind: r.kind,
        recipient: r.recipient,
        job_id: r.job_id,
        status: r.status,
        payload: r.payload,
        created_at: utc(r.created_at),
        sent_at: r.sent_at.map(utc),
    }
}

fn audit_item(e: storage::audit::Entry) -> AuditItem {
    AuditItem {
        id: e.id,
        at: utc(e.at),
        actor_user_id: e.actor_user_id,
        actor_role: e.actor_role,
        action: e.action,
        subject_type: e.subject_type,
        subject_id: e.subject_id,
        customer_id: e.customer_id,
        details: serde_json::from_str(&e.details).unwrap_or_default(),
    }
}

fn export_job(j: privacy::ExportedJob) -> ExportJob {
    let r = j.report;
    let job = j.job;
    ExportJob {
        report: ExportReport {
            notes: r.notes.into_iter().map(|(id, text, at)| ExportNote { id, text, at: utc(at) }).collect(),
            checklist: r.checklist.into_iter().map(|(item, value)| ExportChecklistItem { item, value }).collect(),
            parts: r
                .parts
                .into_iter()
                .map(|p| ExportPart { sku: p.sku, qty: p.qty, serial: p.serial, at: utc(p.at) })
                .collect(),
            photos: r
                .photos
                .into_iter()
                .map(|(p, uploaded)| ExportPhoto { id: p.id, sha256: p.sha256, taken_at: utc(p.taken_at), uploaded })
                .collect(),
            signer_name: r.signature.map(|(name, _)| name),
            visits: r
                .visits
                .into_iter()
                .map(|v| ExportVisit {
                    visit: v.visit,
                    arrived_at: utc(v.arrived_at),
                    departed_at: v.departed_at.map(utc),
                    outcome: v.outcome,
                    reason: v.reason,
                })
                .collect(),
        },
        survey: j.survey.map(|s| ExportSurvey {
            issued_at: utc(s.issued_at),
            answered_at: s.answered_at.map(utc),
            nps: s.nps,
            csat: s.csat,
            ces: s.ces,
            comment: s.comment,
        }),
        messages: j.messages.into_iter().map(message).collect(),
        id: job.id,
        kind: job.kind,
        status: job.status,
        address: job.address,
        location: LatLon { lat: job.lat, lon: job.lon },
        problem: job.problem,
        contact: ExportContact { name: job.contact_name, phone: job.contact_phone, email: job.contact_email },
        window: TimeWindow { start: utc(job.window_start), end: utc(job.window_end) },
        technician_id: job.technician_id,
        created_at: utc(job.created_at),
        closed_at: job.closed_at.map(utc),
    }
}

async fn export_response(
    state: &AppState,
    caller: AuthUser,
    id: String,
    page: pagination::PageQuery,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit_plus_one(page.limit)?;
    let after = decode_time_cursor(page.cursor.as_deref())?;
    let now = state.now();
    let e = state.db.write(move |conn| privacy::export(conn, &caller, &id, after.clone(), limit, now)).await?;
    let c = e.card;
    Ok(HttpResponse::Ok().json(CustomerExport {
        exported_at: now,
        card: ExportCard {
            id: c.id,
            name: c.name,
            phone: c.phone,
            email: c.email,
            preferred_address_form: c.preferred_address_form,
            contracted_org_id: c.contracted_org_id,
            language: c.language,
            notify_channel: c.notify_channel,
            notify_opt_out: c.notify_opt_out,
            created_at: utc(c.created_at),
            updated_at: utc(c.updated_at),
            erased_at: c.erased_at.map(utc),
        },
        logins: e
            .logins
            .into_iter()
            .map(|u| ExportLogin {
                id: u.id,
                email: u.email,
                role: u.role,
                name: u.name,
                active: u.active,
                created_at: utc(u.created_at),
            })
            .collect(),
        addresses: e
            .addresses
            .into_iter()
            .map(|a| ExportAddress {
                address: a.address,
                location: LatLon { lat: a.lat, lon: a.lon },
                last_used_at: utc(a.last_used_at),
            })
            .collect(),
        consents: e
            .consents
            .into_iter()
            .map(|c| ConsentView {
                id: c.id,
                job_id: c.job_id,
                recorded_by: c.recorded_by,
                text_version: c.text_version,
                language: c.language,
                personal_data: c.personal_data,
                notifications: c.notifications,
                marketing: c.marketing,
                given_at: utc(c.given_at),
            })
            .collect(),
        jobs: e.jobs.into_iter().map(export_job).collect(),
        messages: e.messages.into_iter().map(message).collect(),
        audit: e.audit.into_iter().map(audit_item).collect(),
        next_cursor: e.next.map(|(at, id)| crate::routes::jobs::encode_time_cursor(at, &id)),
    }))
}

/// Exports everything held about a client card (admin): card, logins, addresses, consents, bookings with
/// their work reports, survey answers and messages, and the audit entries about it. Jobs are paged
/// (`limit` 1–200, default 50); the export is itself audited.
#[utoipa::path(get, path = "/v1/customers/{id}/export", operation_id = "export_customer", tag = "customers",
    params(pagination::PageQuery),
    responses((status = 200, body = CustomerExport),
        (status = 400, description = "an unknown query parameter (`unknown_parameter`)"),
        (status = 403, description = "admins, and customers for their own card (`forbidden`)"),
        (status = 404, description = "no such card, or not the caller's own (`not_found`)"),
        (status = 422, description = "a bad `limit` or `cursor` (`invalid_value`)")),
    security(("bearer" = [])))]
#[get("/v1/customers/{id}/export")]
pub async fn export(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    query: Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Customer])?;
    export_response(&state, caller, id.into_inner(), query.0).await
}

/// The calling customer's own export (as `GET /v1/customers/{id}/export`).
#[utoipa::path(get, path = "/v1/customers/me/export", operation_id = "export_own_card", tag = "customers",
    params(pagination::PageQuery),
    responses((status = 200, body = CustomerExport),
        (status = 400, description = "an unknown query parameter (`unknown_parameter`)"),
        (status = 403, description = "not a customer (`forbidden`)"),
        (status = 404, description = "this login has no card yet (`not_found`)"),
        (status = 422, description = "a bad `limit` or `cursor` (`invalid_value`)")),
    security(("bearer" = [])))]
#[get("/v1/customers/me/export")]
pub async fn export_own(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<pagination::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Customer])?;
    let id = caller.customer_id.clone().ok_or(ApiError::NotFound)?;
    export_response(&state, caller, id, query.0).await
}

/// What an erasure did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    pub customer_id: String,
    pub erased_at: DateTime<Utc>,
    /// `true`: the card had been erased before and nothing changed now.
    pub already_erased: bool,
    /// Jobs anonymised (kept for statistics and settlement).
    pub jobs: usize,
    /// Logins deactivated.
    pub logins: usize,
    /// Messages scrubbed (pending ones cancelled).
    pub messages: usize,
    /// Photo and signature images deleted.
    pub images: usize,
}

/// Erases the person behind a client card (admin): the jobs stay, anonymised (contact, address, problem,
/// notes, signer, survey comment, cancellation reasons replaced; location coarsened to 0.1°; new tracking
/// tokens); the card loses name, phone and e-mail; its logins are deactivated with their e-mail replaced;
/// photos and signatures of its jobs are deleted; messages to the person are scrubbed and pending ones
/// cancelled; idempotency keys are forgotten. A second erase changes nothing.
#[utoipa::path(post, path = "/v1/customers/{id}/erase", operation_id = "erase_customer", tag = "customers",
    responses((status = 200, body = ErasureView),
        (status = 403, description = "admins only (`forbidden`)"),
        (status = 404, description = "no such card (`not_found`)"),
        (status = 409, description = "the customer has open requests (`open_requests`; `job_ids` lists them): cancel or finish them first")),
    security(("bearer" = [])))]
#[post("/v1/customers/{id}/erase")]
pub async fn erase(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let (id, now) = (id.into_inner(), state.now());
    let e = state.db.write(move |conn| privacy::erase(conn, &caller, &id, now)).await?;
    if !e.already_erased {
        tracing::info!(customer.id = %e.customer_id, jobs = e.jobs, "Erased client card {} on request", e.customer_id);
    }
    Ok(HttpResponse::Ok().json(ErasureView {
        customer_id: e.customer_id,
        erased_at: e.erased_at,
        already_erased: e.already_erased,
        jobs: e.jobs,
        logins: e.logins,
        messages: e.messages,
        images: e.images,
    }))
}

/// `GET /v1/audit` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The acting user's id.
    pub actor: Option<String>,
    /// The subject's id, or a client card's id (entries about the card, whatever their subject).
    pub subject: Option<String>,
    #[param(inline)]
    pub action: Option<AuditAction>,
    /// From this time (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The audit log, newest first (admin): admin actions and who read which client card.
#[utoipa::path(get, path = "/v1/audit", operation_id = "list_audit", tag = "customers", params(AuditQuery),
    responses((status = 200, body = Page<AuditItem>),
        (status = 400, description = "an unknown query parameter (`unknown_parameter`)"),
        (status = 403, description = "admins only (`forbidden`)"),
        (status = 422, description = "an unknown `action`, a bad time, `limit` or `cursor` (`invalid_value`)")),
    security(("bearer" = [])))]
#[get("/v1/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let q = query.0;
    let limit = pagination::limit_plus_one(q.limit)?;
    let before = pagination::decode_cursor(q.cursor.as_deref())?
        .map(|c| c.parse::<i64>().map_err(|_| ApiError::invalid("cursor", "is not a cursor this server issued")))
        .transpose()?;
    let filter = storage::audit::Filter {
        actor: q.actor,
        subject: q.subject,
        action: q.action,
        since: q.since.map(storage::db_time),
        until: q.until.map(storage::db_time),
    };
    let rows = state.db.run(move |conn| Ok(storage::audit::list(conn, &filter, before, limit)?)).await?;
    let page = pagination::page(rows, limit, |e| e.id.to_string(), |e| Ok(audit_item(e)))?;
    Ok(HttpResponse::Ok().json(page))
}
