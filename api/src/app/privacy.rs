//! A person's data on request (issue #11; 152-FZ and GDPR alike): the export
//! of everything held about a client card, and its erasure. Erasure keeps the
//! jobs (statistics, settlement between organisations) and anonymises the
//! person everywhere: card, logins, the jobs' contact, address, location and
//! free text, photos and signatures, messages, idempotency keys. Both write an
//! audit entry in their own transaction.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use crate::app::audit::{self, Subject};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::{AuditAction, Caller, ChangeEntity, Role};
use crate::storage::change_log::{self, Change};
use crate::storage::consents::Consent;
use crate::storage::customers::{self, Address, Customer};
use crate::storage::jobs::{self, Job, JobScope};
use crate::storage::outbox::Row;
use crate::storage::quality::Survey;
use crate::storage::reports::{self, Report};
use crate::storage::users::User;
use crate::storage::{self, consents, db_time, privacy};

/// How many audit entries about the card an export carries (newest first); `GET /v1/audit?subject=` has
/// them all.
pub const EXPORT_AUDIT_ENTRIES: i64 = 1000;

/// One page of a person's data: the card-level sections whole, and one page of its jobs.
#[derive(Debug)]
pub struct Export {
    pub card: Customer,
    pub logins: Vec<User>,
    pub addresses: Vec<Address>,
    pub consents: Vec<Consent>,
    /// This page's jobs, oldest first, each with its work report, survey and messages.
    pub jobs: Vec<ExportedJob>,
    /// Messages to the person not about one job.
    pub messages: Vec<Row>,
    pub audit: Vec<storage::audit::Entry>,
    /// Where the next page of jobs starts.
    pub next: Option<(NaiveDateTime, String)>,
}

/// A job with what hangs off it.
#[derive(Debug)]
pub struct ExportedJob {
    pub job: Job,
    pub report: Report,
    pub survey: Option<Survey>,
    pub messages: Vec<Row>,
}

/// Who may export or erase a card: an admin any, a customer its own (404 otherwise; other roles 403
/// at the HTTP layer).
fn card_for(conn: &mut DbConnection, caller: &Caller, id: &str) -> Result<Customer, ApiError> {
    let allowed = match caller.role {
        Role::Admin => true,
        Role::Customer => caller.customer_id.as_deref() == Some(id),
        _ => false,
    };
    if !allowed {
        return Err(ApiError::NotFound);
    }
    customers::find(conn, id)?.ok_or(ApiError::NotFound)
}

/// The person's contacts: what messages to them were addressed to.
fn recipients(card: &Customer, logins: &[User], jobs: &[Job]) -> Vec<String> {
    let mut out: Vec<String> = card.phone.iter().chain(card.email.iter()).cloned().collect();
    out.extend(logins.iter().map(|u| u.email.clone()));
    for j in jobs {
        out.push(j.contact_phone.clone());
        out.extend(j.contact_email.iter().cloned());
    }
    out.sort();
    out.dedup();
    out
}

/// One page of the export of card `id` (jobs after `after`, `limit_plus_one - 1` of them), with its
/// audit entry (in the caller's transaction).
pub fn export(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit_plus_one: i64,
    now: DateTime<Utc>,
) -> Result<Export, ApiError> {
    let card = card_for(conn, caller, id)?;
    let logins = privacy::logins_of(conn, id)?;
    let user_ids: Vec<String> = logins.iter().map(|u| u.id.clone()).collect();
    let mut page = privacy::jobs_page(conn, id, after, limit_plus_one)?;
    let limit = usize::try_from(limit_plus_one - 1).unwrap_or(0);
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|j| (j.created_at, j.id.clone()))
    } else {
        None
    };
    let job_ids: Vec<String> = page.iter().map(|j| j.id.clone()).collect();
    let all_jobs = jobs::of_customer(conn, id, JobScope::All)?;
    let all_ids: Vec<String> = all_jobs.iter().map(|j| j.id.clone()).collect();
    let contacts = recipients(&card, &logins, &all_jobs);
    let mut by_job: HashMap<String, Vec<Row>> = HashMap::new();
    let mut messages = Vec::new();
    for row in privacy::outbox_of(conn, &all_ids, &contacts, &user_ids)? {
        match &row.job_id {
            Some(j) if job_ids.contains(j) => by_job.entry(j.clone()).or_default().push(row),
            // Another page carries it.
            Some(j) if all_ids.contains(j) => {}
            _ => messages.push(row),
        }
    }
    let mut reports = reports::reports(conn, &job_ids)?;
    let mut surveys: HashMap<String, Survey> =
        privacy::surveys_of(conn, &job_ids)?.into_iter().map(|s| (s.job_id.clone(), s)).collect();
    let jobs = page
        .into_iter()
        .map(|job| ExportedJob {
            report: reports.remove(&job.id).unwrap_or_default(),
            survey: surveys.remove(&job.id),
            messages: by_job.remove(&job.id).unwrap_or_default(),
            job,
        })
        .collect();
    let filter = storage::audit::Filter { subject: Some(id.to_owned()), ..Default::default() };
    let audit_entries = storage::audit::list(conn, &filter, None, EXPORT_AUDIT_ENTRIES)?;
    audit::record(conn, caller, AuditAction::CustomerExport, Subject::customer(id), &json!({}), db_time(now))?;
    Ok(Export {
        addresses: customers::addresses(conn, id)?,
        consents: consents::of_customer(conn, id)?,
        card,
        logins,
        jobs,
        messages,
        audit: audit_entries,
        next,
    })
}

/// What an erasure did.
#[derive(Debug, Clone)]
pub struct Erased {
    pub customer_id: String,
    pub erased_at: DateTime<Utc>,
    /// The card had been erased before: nothing was changed.
    pub already_erased: bool,
    pub jobs: usize,
    pub logins: usize,
    pub messages: usize,
    pub images: usize,
}

/// How far an erased job's location is coarsened: 0.1° (about 11 km of latitude), enough for regional
/// statistics, far from any one house.
const COARSE_DEGREES: f64 = 0.1;

fn coarse(v: f64) -> f64 {
    (v / COARSE_DEGREES).round() * COARSE_DEGREES
}

/// Erases the person behind card `id` (admin), in the caller's transaction. 409 `open_requests` while a
/// job of the card is still open (cancel or finish it first: a technician may still need the address).
/// A second erase changes nothing and says so.
pub fn erase(conn: &mut DbConnection, caller: &Caller, id: &str, now: DateTime<Utc>) -> Result<Erased, ApiError> {
    let card = card_for(conn, caller, id)?;
    let now_db = db_time(now);
    let none = |at: NaiveDateTime| Erased {
        customer_id: id.to_owned(),
        erased_at: storage::utc(at),
        already_erased: true,
        jobs: 0,
        logins: 0,
        messages: 0,
        images: 0,
    };
    if let Some(at) = card.erased_at {
        return Ok(none(at));
    }
    let all_jobs = jobs::of_customer(conn, id, JobScope::All)?;
    let open: Vec<&str> = all_jobs.iter().filter(|j| !j.status.is_closed()).map(|j| j.id.as_str()).collect();
    if !open.is_empty() {
        return Err(ApiError::conflict(
            "open_requests",
            "the customer has open requests: cancel or finish them before erasing",
            json!({"job_ids": open}),
        ));
    }
    let logins = privacy::logins_of(conn, id)?;
    let user_ids: Vec<String> = logins.iter().map(|u| u.id.clone()).collect();
    let contacts = recipients(&card, &logins, &all_jobs);
    if !privacy::erase_card(conn, id, now_db)? {
        // A concurrent erase got there first.
        let at = customers::find(conn, id)?.and_then(|c| c.erased_at).unwrap_or(now_db);
        return Ok(none(at));
    }
    let job_ids: Vec<String> = all_jobs.iter().map(|j| j.id.clone()).collect();
    for job in &all_jobs {
        let token = crate::app::booking::new_tracking_token();
        privacy::erase_job(conn, &job.id, coarse(job.lat), coarse(job.lon), &token, now_db)?;
        if let Some(tech) = &job.technician_id {
            // A phone that still holds the job gets the anonymised copy on its next pull.
            change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &job.id, Some(tech)), now_db)?;
        }
    }
    privacy::erase_job_texts(conn, &job_ids)?;
    let images = privacy::erase_images(conn, &job_ids)?;
    let messages = privacy::erase_outbox(conn, &job_ids, &contacts, &user_ids, now_db)?;
    privacy::erase_idempotency(conn, &job_ids, &user_ids)?;
    for login in &logins {
        privacy::erase_login(conn, login, now_db)?;
    }
    let erased = Erased {
        customer_id: id.to_owned(),
        erased_at: storage::utc(now_db),
        already_erased: false,
        jobs: all_jobs.len(),
        logins: logins.len(),
        messages,
        images,
    };
    let details = json!({"jobs": erased.jobs, "logins": erased.logins, "messages": messages, "images": images});
    audit::record(conn, caller, AuditAction::CustomerErase, Subject::customer(id), &details, now_db)?;
    Ok(erased)
}
