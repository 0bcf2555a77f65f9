//! The vendor's quality review: approve a completed job's work report, or
//! return it for rework (back to the same technician, or dispatched again);
//! the review queue; and each organisation's service-agreement outcomes for a
//! job (the SLA per hop, computed by `domain::sla`).
//!
//! A review is one row per job and visit (`reviews`, unique `(job_id,
//! visit)`): a second review of the same visit is refused by the database,
//! and the status write is guarded by `in_review` (`domain::lifecycle`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::app::dispatching::{Step, dispatch_again, dispatch_one};
use crate::app::{planning, quality};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::dispatch_cache::SharedCache;
use crate::domain::lifecycle::{self, Actor as By, Transition};
use crate::domain::sla::{self, FixHistory, OfferAnswer, SlaOutcome};
use crate::domain::{Caller, ChainRole, ChangeEntity, EventType, JobStatus, OfferStatus, Verdict, validate};
use crate::storage::change_log::{self, Change};
use crate::storage::jobs::{self, Job, JobScope};
use crate::storage::reports::{self, Report};
use crate::storage::reviews::{self, Review};
use crate::storage::{db_time, json as stored, new_id, offers, orgs, technicians, utc};

/// Longest review reason.
pub const MAX_REASON_CHARS: usize = 2000;

/// A verdict as asked for.
#[derive(Debug, Clone)]
pub struct ReviewInput {
    pub verdict: Verdict,
    pub reason: Option<String>,
    /// Return only: dispatch the job again instead of giving it back to its technician.
    pub redispatch: bool,
}

impl ReviewInput {
    /// `reason` is required (non-blank, ≤ 2,000 characters) for a return;
    /// `redispatch` only goes with a return.
    pub fn validate(self) -> Result<ReviewInput, ApiError> {
        let reason = match (&self.verdict, self.reason.as_deref()) {
            (Verdict::Returned, None) => {
                return Err(ApiError::invalid("reason", "a return needs a reason the technician will read"));
            }
            (_, Some(r)) => Some(validate::text("reason", r, MAX_REASON_CHARS)?),
            (Verdict::Approved, None) => None,
        };
        if self.redispatch && self.verdict == Verdict::Approved {
            return Err(ApiError::invalid("redispatch", "only a return can be dispatched again"));
        }
        Ok(ReviewInput { reason, ..self })
    }
}

/// What a review did.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub job: Job,
    pub review: Review,
}

fn current(job: &Job, latest: Option<&Review>) -> Value {
    json!({"current": {
        "status": job.status,
        "visits": job.visits,
        "technician_id": job.technician_id,
        "review": latest.map(|r| json!({"visit": r.visit, "verdict": r.verdict, "reason": r.reason, "at": utc(r.at)})),
    }})
}

/// Approves or returns the work of the job's latest visit.
pub fn review(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    job_id: &str,
    input: ReviewInput,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<Reviewed, ApiError> {
    let input = input.validate()?;
    jobs::find_scoped(conn, job_id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    offers::lock_job(conn, job_id)?;
    let job = jobs::find_scoped(conn, job_id, JobScope::All)?.ok_or(ApiError::NotFound)?;
    if job.status != JobStatus::InReview {
        let latest = reviews::latest(conn, job_id)?;
        return Err(ApiError::conflict(
            "not_in_review",
            format!("the job is {}, not waiting for review", job.status),
            current(&job, latest.as_ref()),
        ));
    }
    let now_db = db_time(now);
    let row = Review {
        id: new_id(),
        job_id: job.id.clone(),
        visit: job.visits,
        verdict: input.verdict,
        reason: input.reason.clone(),
        redispatch: input.redispatch,
        reviewer_user_id: caller.id.clone(),
        at: now_db,
    };
    if !reviews::insert(conn, &row)? {
        let latest = reviews::latest(conn, job_id)?;
        return Err(ApiError::conflict(
            "already_reviewed",
            format!("visit {} of this job was already reviewed", job.visits),
            current(&job, latest.as_ref()),
        ));
    }
    let to = match input.verdict {
        Verdict::Approved => JobStatus::Approved,
        Verdict::Returned => JobStatus::Returned,
    };
    let step = lifecycle::check(job.status, to, By::Reviewer)?;
    if !jobs::set_status(conn, &job.id, step, now_db)? {
        return Err(ApiError::conflict("not_in_review", "the job changed meanwhile", current(&job, None)));
    }
    let actor = jobs::Actor { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    let event = match input.verdict {
        Verdict::Approved => EventType::ReviewApproved,
        Verdict::Returned => EventType::ReviewReturned,
    };
    jobs::append_event(
        conn,
        &job.id,
        event,
        actor,
        &json!({"status": to, "from": job.status, "visit": job.visits, "reason": input.reason,
            "redispatch": input.redispatch}),
        now_db,
    )?;
    if let Some(tech) = &job.technician_id {
        // The phone sees the verdict (an approved job leaves it; a returned one comes back below).
        change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &job.id, Some(tech)), now_db)?;
    }
    match input.verdict {
        Verdict::Approved => quality::job_approved(conn, &job.id, now)?,
        Verdict::Returned if input.redispatch => {
            let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
            if let Some(old) = &job.technician_id {
                // Off the old technician's phone and day; dispatch searches without it.
                offers::assign(conn, &job.id, Transition::stay(JobStatus::Returned), None, now_db)?;
                change_log::log_change(conn, Change::delete(ChangeEntity::Job, &job.id, Some(old)), now_db)?;
                crate::app::notify::job_taken_off(conn, old, &job.id, now)?;
                planning::after_job_left(conn, &job.id, old, utc(job.window_start), now, speed_kmh)?;
            }
            dispatch_again(conn, cache, &job.id, job.technician_id.as_deref(), step, now)?;
        }
        Verdict::Returned => {
            back_to_technician(conn, &job.id, now, speed_kmh)?;
            if let Some(tech) = &job.technician_id {
                crate::app::notify::job_returned(conn, tech, &job.id, now)?;
            }
        }
    }
    let job = jobs::find_scoped(conn, job_id, JobScope::All)?.ok_or(ApiError::NotFound)?;
    Ok(Reviewed { job, review: row })
}

/// Sends a `returned` job back to scheduling with the same technician: the
/// visit keeps its window and its place in the technician's day (which is
/// re-planned), and the phone pulls it with the reviewer's reason. The job
/// stays `returned` (off the phone, in the dispatcher's `?status=returned`
/// list) when its window has ended or the technician is deactivated, until a
/// reschedule gives it a new window (see [`after_reschedule`]) or a dispatcher
/// reassigns it. Returns the job's status.
pub fn back_to_technician(
    conn: &mut DbConnection,
    job_id: &str,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<JobStatus, ApiError> {
    let job = jobs::find_scoped(conn, job_id, JobScope::All)?.ok_or(ApiError::NotFound)?;
    if job.status != JobStatus::Returned {
        return Ok(job.status);
    }
    let Some(tech_id) = job.technician_id.clone() else { return Ok(job.status) };
    let Some(tech) = technicians::find(conn, &tech_id)? else { return Ok(job.status) };
    if !tech.active || utc(job.window_end) <= now {
        return Ok(job.status);
    }
    let now_db = db_time(now);
    let step = lifecycle::check(JobStatus::Returned, JobStatus::Scheduled, By::Worker)?;
    if !offers::assign(conn, &job.id, step, Some(&tech.id), now_db)? {
        return Err(ApiError::conflict("invalid_transition", "the job changed meanwhile", json!({})));
    }
    jobs::append_event(
        conn,
        &job.id,
        EventType::Assigned,
        jobs::Actor::default(),
        &json!({"status": JobStatus::Scheduled, "from": JobStatus::Returned, "technician_id": tech.id,
            "reason": "rework"}),
        now_db,
    )?;
    change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &job.id, Some(&tech.id)), now_db)?;
    planning::replan_technician_day(conn, &tech.id, utc(job.window_start), now, speed_kmh)?;
    Ok(JobStatus::Scheduled)
}

/// After `POST /v1/requests/{id}/reschedule` (same transaction): an
/// `unassignable` job is dispatched again for its new window, a `returned`
/// one goes back to its technician (or, taken off him for want of room on the
/// new day, is dispatched again), a `new` one (also a scheduled one whose
/// technician had no room in the new window) is dispatched. Returns the job's status.
pub fn after_reschedule(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    job: &Job,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<JobStatus, ApiError> {
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    match job.status {
        JobStatus::Unassignable => dispatch_again(conn, cache, &job.id, None, step, now),
        // Taken off its technician by the move (no room on the new day, or deactivated): dispatched again.
        JobStatus::Returned if job.technician_id.is_none() => dispatch_again(conn, cache, &job.id, None, step, now),
        JobStatus::Returned => back_to_technician(conn, &job.id, now, speed_kmh),
        JobStatus::New => dispatch_one(conn, cache, &job.id, step, now),
        other => Ok(other),
    }
}

/// The rework a phone is shown: the latest review when it returned the work
/// and the job is being done again.
pub fn rework_for_phone(conn: &mut DbConnection, job: &Job) -> Result<Option<Review>, ApiError> {
    if matches!(job.status, JobStatus::InReview | JobStatus::Completed | JobStatus::Approved) {
        return Ok(None);
    }
    Ok(reviews::latest(conn, &job.id)?.filter(|r| r.verdict == Verdict::Returned))
}

/// Which page of the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueStatus {
    /// Jobs waiting in `in_review`, longest waiting first.
    #[default]
    Pending,
    /// Jobs whose latest review approved them, newest first.
    Approved,
    /// Jobs whose latest review returned them, newest first.
    Returned,
}

/// One organisation of a job's chain and what its agreement promised.
#[derive(Debug, Clone)]
pub struct Hop {
    pub org_id: String,
    pub name: String,
    pub roles: Vec<ChainRole>,
    /// Its latest offer of the job, if it had one.
    pub offer: Option<offers::Offer>,
    pub accept: Option<SlaOutcome>,
    pub arrive: Option<SlaOutcome>,
    pub first_time_fix: Option<SlaOutcome>,
}

/// One job of the review queue with everything a reviewer reads.
#[derive(Debug, Clone)]
pub struct QueueItem {
    pub job: Job,
    pub technician_name: Option<String>,
    pub technician_org_id: Option<String>,
    pub report: Report,
    pub hops: Vec<Hop>,
    pub reviews: Vec<Review>,
}

/// A keyset position of the review queue: a time and a job id.
pub type QueueKey = (NaiveDateTime, String);

/// A page of the review queue: the items, and the keyset of the next page, if any.
pub fn queue(
    conn: &mut DbConnection,
    status: QueueStatus,
    after: Option<QueueKey>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<QueueItem>, Option<QueueKey>), ApiError> {
    // One query per section for the whole page, never one per job.
    let (mut jobs_page, keys): (Vec<Job>, Vec<(NaiveDateTime, String)>) = match status {
        QueueStatus::Pending => {
            let rows = reviews::pending(conn, after, limit)?;
            let keys = rows.iter().map(|j| (j.updated_at, j.id.clone())).collect();
            (rows, keys)
        }
        QueueStatus::Approved | QueueStatus::Returned => {
            let verdict = if status == QueueStatus::Approved { Verdict::Approved } else { Verdict::Returned };
            let rows = reviews::latest_with_verdict(conn, verdict, after, limit)?;
            let keys: Vec<(NaiveDateTime, String)> = rows.iter().map(|r| (r.at, r.job_id.clone())).collect();
            let ids: Vec<String> = rows.iter().map(|r| r.job_id.clone()).collect();
            let mut by_id: HashMap<String, Job> =
                reviews::jobs_by_ids(conn, &ids)?.into_iter().map(|j| (j.id.clone(), j)).collect();
            (ids.iter().filter_map(|id| by_id.remove(id)).collect(), keys)
        }
    };
    let next = if i64::try_from(jobs_page.len()).unwrap_or(i64::MAX) >= limit {
        jobs_page.truncate(usize::try_from(limit - 1).unwrap_or(0));
        keys.get(jobs_page.len().saturating_sub(1)).cloned()
    } else {
        None
    };
    let ids: Vec<String> = jobs_page.iter().map(|j| j.id.clone()).collect();
    let mut report_of = reports::reports(conn, &ids)?;
    let mut reviews_of = reviews::of_jobs(conn, &ids)?;
    let mut hops_of = hops(conn, &jobs_page, now)?;
    let tech_ids: Vec<String> = jobs_page.iter().filter_map(|j| j.technician_id.clone()).collect();
    let techs: HashMap<String, technicians::Technician> =
        technicians::by_ids(conn, &tech_ids)?.into_iter().map(|t| (t.id.clone(), t)).collect();
    let items = jobs_page
        .into_iter()
        .map(|job| {
            let tech = job.technician_id.as_ref().and_then(|t| techs.get(t));
            QueueItem {
                technician_name: tech.map(|t| t.name.clone()),
                technician_org_id: tech.map(|t| t.org_id.clone()),
                report: report_of.remove(&job.id).unwrap_or_default(),
                hops: hops_of.remove(&job.id).unwrap_or_default(),
                reviews: reviews_of.remove(&job.id).unwrap_or_default(),
                job,
            }
        })
        .collect();
    Ok((items, next))
}

fn answer_of(offer: &offers::Offer) -> OfferAnswer {
    match offer.status {
        OfferStatus::Pending => OfferAnswer::Pending,
        OfferStatus::Accepted | OfferStatus::Subcontracted => {
            OfferAnswer::Taken { at: utc(offer.answered_at.unwrap_or(offer.created_at)) }
        }
        OfferStatus::Declined => OfferAnswer::Declined,
        OfferStatus::Expired => OfferAnswer::Expired,
        OfferStatus::Cancelled => OfferAnswer::Withdrawn,
    }
}

/// Each job's chain with every organisation's SLA outcomes (`domain::sla`),
/// loaded for all the jobs at once. `accept` is the organisation's latest
/// offer against its deadline (`None` when it was passed automatically);
/// `arrive` and `first_time_fix` apply to the organisations answerable for
/// the visit (the contractor, hops, the assignee, and an offeree that took
/// or holds the offer) against their effective agreement, never to one that
/// only declined or let its offer expire.
pub fn hops(
    conn: &mut DbConnection,
    jobs_list: &[Job],
    now: DateTime<Utc>,
) -> Result<HashMap<String, Vec<Hop>>, ApiError> {
    let ids: Vec<String> = jobs_list.iter().map(|j| j.id.clone()).collect();
    let links = jobs::chains(conn, &ids)?;
    let all_offers = offers::of_jobs(conn, &ids)?;
    let returns: HashMap<String, u32> = reviews::of_jobs(conn, &ids)?
        .into_iter()
        .map(|(job, rs)| {
            (job, u32::try_from(rs.iter().filter(|r| r.verdict == Verdict::Returned).count()).unwrap_or(0))
        })
        .collect();
    let incomplete = reports::incomplete_visits(conn, &ids)?;
    let org_ids: Vec<String> = links.iter().map(|l| l.1.clone()).collect::<HashSet<_>>().into_iter().collect();
    let org_rows = orgs::by_ids(conn, &org_ids)?;
    // One agreement lookup per distinct organisation of the page.
    let mut arrive_min: HashMap<String, Option<crate::domain::agreement::PerPriority>> = HashMap::new();
    for org in &org_rows {
        let a =
            orgs::effective_agreement(conn, org)?.map(|a| stored::per_priority(&a.arrive_within_min)).transpose()?;
        arrive_min.insert(org.id.clone(), a);
    }
    let names: HashMap<&str, &str> = org_rows.iter().map(|o| (o.id.as_str(), o.name.as_str())).collect();
    let mut out: HashMap<String, Vec<Hop>> = HashMap::new();
    for job in jobs_list {
        let history = FixHistory {
            approved: job.status == JobStatus::Approved,
            cancelled: job.status == JobStatus::Cancelled,
            returns: returns.get(&job.id).copied().unwrap_or(0),
            incomplete_visits: incomplete.get(&job.id).copied().unwrap_or(0),
        };
        let mut hops: Vec<Hop> = Vec::new();
        for (_, org_id, role, _) in links.iter().filter(|l| l.0 == job.id) {
            if let Some(h) = hops.iter_mut().find(|h| &h.org_id == org_id) {
                h.roles.push(*role);
                continue;
            }
            hops.push(Hop {
                org_id: org_id.clone(),
                name: names.get(org_id.as_str()).copied().unwrap_or_default().to_owned(),
                roles: vec![*role],
                offer: all_offers.iter().rev().find(|o| o.job_id == job.id && &o.org_id == org_id).cloned(),
                accept: None,
                arrive: None,
                first_time_fix: None,
            });
        }
        for h in &mut hops {
            let answer = h.offer.as_ref().map(answer_of);
            h.accept = match (&h.offer, answer) {
                (Some(o), Some(a)) => sla::accept_outcome(a, utc(o.deadline), now),
                _ => None,
            };
            let answerable =
                h.roles.iter().any(|r| matches!(r, ChainRole::Contractor | ChainRole::Hop | ChainRole::Assignee))
                    || matches!(answer, Some(OfferAnswer::Taken { .. } | OfferAnswer::Pending));
            if answerable {
                h.arrive = arrive_min.get(&h.org_id).copied().flatten().and_then(|per| {
                    let due = sla::arrive_due(utc(job.created_at), utc(job.window_start), per.get(job.priority));
                    sla::arrive_outcome(job.first_on_site_at.map(utc), due, history.cancelled, now)
                });
                h.first_time_fix = sla::first_time_fix_outcome(history);
            }
        }
        out.insert(job.id.clone(), hops);
    }
    Ok(out)
}
