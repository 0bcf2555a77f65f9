//! The quality loop's hooks into the job lifecycle: what happens when a job
//! is completed or approved. Both run inside the caller's transaction, right
//! after the status change, so the roll-ups and the survey commit with it or
//! not at all.
//!
//! - [`job_completed`]: the phone's `completed` moved the job to `in_review`;
//!   issues the survey when the vendor chose to ask on completion.
//! - [`job_approved`]: the vendor's review approved the job; adds the job's
//!   completion figures to the daily scorecard counters (once per job) and
//!   issues the survey when the vendor asks on approval (the default).
//!
//! Attribution (ARCHITECTURE.md, Decisions): completion figures go to the
//! assignee technician and its organisation on the approval's local date in
//! that organisation's time zone; accept-SLA figures to each organisation
//! that had an offer, on the approval's local date in *its* time zone.

use chrono::{DateTime, Duration, Utc};

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::sla::{self, FixHistory, OfferAnswer, SlaOutcome};
use crate::domain::{OfferStatus, Priority};
use crate::storage::quality::{self as store, Counters, DayRow, ORG_ROW};
use crate::storage::{db_time, jobs, offers, orgs, settings, technicians, utc};

/// How long a survey link stays open.
pub const SURVEY_TTL_DAYS: i64 = 30;

/// When the customer is asked: a vendor-wide setting (`settings` row
/// `survey_trigger`; `GET/PUT /v1/settings/surveys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SurveyTrigger {
    /// When the vendor's review approves the work (the default).
    #[default]
    Approval,
    /// As soon as the technician reports the job completed.
    Completion,
}

impl SurveyTrigger {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyTrigger::Approval => "approval",
            SurveyTrigger::Completion => "completion",
        }
    }
}

/// The vendor's survey trigger (`approval` when never set).
pub fn survey_trigger(conn: &mut DbConnection) -> Result<SurveyTrigger, ApiError> {
    Ok(match settings::get(conn, store::SURVEY_TRIGGER_KEY)?.as_deref() {
        Some("completion") => SurveyTrigger::Completion,
        _ => SurveyTrigger::Approval,
    })
}

/// Stores the vendor's survey trigger.
pub fn set_survey_trigger(conn: &mut DbConnection, trigger: SurveyTrigger) -> Result<(), ApiError> {
    Ok(store::put_setting(conn, store::SURVEY_TRIGGER_KEY, trigger.as_str())?)
}

/// Called right after the phone's `completed` moved `job_id` to `in_review`,
/// in the same transaction.
pub fn job_completed(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    if survey_trigger(conn)? == SurveyTrigger::Completion {
        issue_survey(conn, job_id, now)?;
    }
    Ok(())
}

/// Called right after `job_id` became `approved`, in the same transaction.
/// Counts the job once (a second call changes nothing).
pub fn job_approved(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    roll_up_approval(conn, job_id, now)?;
    if survey_trigger(conn)? == SurveyTrigger::Approval {
        issue_survey(conn, job_id, now)?;
    }
    Ok(())
}

/// The local date (YYYY-MM-DD) of `at` in an IANA time zone (UTC if unknown).
pub fn local_day(timezone: &str, at: DateTime<Utc>) -> String {
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).date_naive().to_string(),
        Err(_) => at.date_naive().to_string(),
    }
}

/// A new survey token: 18 random bytes, URL-safe base64 (like tracking tokens).
fn new_survey_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 18];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Issues the job's survey unless it has one; tied to the assignee and its organisation.
pub fn issue_survey(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let job = jobs::find_scoped(conn, job_id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    let assignee = match job.technician_id.as_deref() {
        Some(t) => technicians::find_with_org_path(conn, t)?,
        None => None,
    };
    // A job always has an assignee by completion; without one the survey
    // belongs to the general contractor.
    let (technician_id, org_id, org_path) = match assignee {
        Some((t, path)) => (Some(t.id), t.org_id, path),
        None => {
            let org = orgs::find(conn, &job.contractor_org_id)?.ok_or(ApiError::NotFound)?;
            (None, org.id, org.path)
        }
    };
    let token = new_survey_token();
    let issued = store::insert_survey(
        conn,
        &store::NewSurvey {
            job_id,
            token: &token,
            technician_id: technician_id.as_deref(),
            org_id: &org_id,
            org_path: &org_path,
            issued_at: db_time(now),
            expires_at: db_time(now + Duration::days(SURVEY_TTL_DAYS)),
        },
    )?;
    if issued {
        tracing::info!(job.id = %job_id, "Issued the customer survey of job {job_id}");
        crate::app::notify::survey_issued(conn, &job, &token, now)?;
    }
    Ok(())
}

fn offer_answer(offer: &offers::Offer) -> OfferAnswer {
    match offer.status {
        OfferStatus::Accepted | OfferStatus::Subcontracted => {
            OfferAnswer::Taken { at: utc(offer.answered_at.unwrap_or(offer.created_at)) }
        }
        OfferStatus::Declined => OfferAnswer::Declined,
        OfferStatus::Expired => OfferAnswer::Expired,
        OfferStatus::Pending => OfferAnswer::Pending,
        OfferStatus::Cancelled => OfferAnswer::Withdrawn,
    }
}

/// Adds 1 to `met` and `total` per decided outcome (open or none: nothing).
fn tally(outcome: Option<SlaOutcome>, met: &mut i64, total: &mut i64) {
    match outcome {
        Some(SlaOutcome::Met) => {
            *met += 1;
            *total += 1;
        }
        Some(SlaOutcome::Missed) => *total += 1,
        Some(SlaOutcome::Open) | None => {}
    }
}

/// Minutes per priority from an agreement's JSON map.
fn minutes_for(json: &str, priority: Priority) -> Option<u32> {
    let map: serde_json::Value = serde_json::from_str(json).ok()?;
    map.get(priority.as_str())?.as_u64().and_then(|m| u32::try_from(m).ok())
}

fn roll_up_approval(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let job = jobs::find_scoped(conn, job_id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    let Some(technician_id) = job.technician_id.clone() else {
        tracing::warn!(job.id = %job_id, "Approved job {job_id} has no technician; nothing to roll up");
        return Ok(());
    };
    let (technician, org_path) = technicians::find_with_org_path(conn, &technician_id)?.ok_or(ApiError::NotFound)?;
    let org = orgs::find(conn, &technician.org_id)?.ok_or(ApiError::NotFound)?;
    let day = local_day(&org.timezone, now);
    if !store::claim_job(conn, job_id, &org.id, &technician_id, &day, db_time(now))? {
        return Ok(());
    }

    let returns = store::returns_of(conn, job_id)?;
    let incomplete_visits = store::incomplete_visits_of(conn, job_id)?;
    let history = FixHistory {
        approved: true,
        cancelled: false,
        returns: u32::try_from(returns).unwrap_or(u32::MAX),
        incomplete_visits: u32::try_from(incomplete_visits).unwrap_or(u32::MAX),
    };
    let mut done = Counters {
        jobs_completed: 1,
        visits: i64::from(job.visits),
        first_time_fixed: i64::from(sla::first_time_fix_outcome(history) == Some(SlaOutcome::Met)),
        reworked: i64::from(returns > 0),
        incomplete: i64::from(incomplete_visits > 0),
        ..Counters::default()
    };
    if let Some(agreement) = orgs::effective_agreement(conn, &org)?
        && let Some(minutes) = minutes_for(&agreement.arrive_within_min, job.priority)
    {
        let due = sla::arrive_due(utc(job.created_at), utc(job.window_start), minutes);
        let outcome = sla::arrive_outcome(job.first_on_site_at.map(utc), due, false, now);
        tally(outcome, &mut done.arrive_met, &mut done.arrive_total);
    }

    let mut rows = vec![
        DayRow {
            org_id: org.id.clone(),
            org_path: org_path.clone(),
            technician_id: technician_id.clone(),
            day: day.clone(),
            add: done,
        },
        DayRow { org_id: org.id.clone(), org_path, technician_id: ORG_ROW.to_owned(), day, add: done },
    ];
    // Accept SLA: one outcome per offer, to the organisation that had it.
    let mut per_org: std::collections::BTreeMap<String, Counters> = Default::default();
    for offer in offers::of_job(conn, job_id)? {
        let outcome = sla::accept_outcome(offer_answer(&offer), utc(offer.deadline), now);
        let c = per_org.entry(offer.org_id.clone()).or_default();
        tally(outcome, &mut c.accept_met, &mut c.accept_total);
    }
    for (org_id, add) in per_org {
        if add.accept_total == 0 {
            continue;
        }
        let Some(offered) = orgs::find(conn, &org_id)? else { continue };
        rows.push(DayRow {
            day: local_day(&offered.timezone, now),
            org_id: offered.id,
            org_path: offered.path,
            technician_id: ORG_ROW.to_owned(),
            add,
        });
    }
    store::add(conn, &rows)?;
    Ok(())
}
