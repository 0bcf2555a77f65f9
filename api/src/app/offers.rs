//! Answering an offer: accept (with a technician: scheduled), decline (next
//! candidate), subcontract (to an organisation below), and reassigning a
//! scheduled visit. Only the offered organisation's dispatchers answer; each
//! step closes the offer with an update filtered on `pending`, so of two
//! racing answers exactly one wins.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::app::capacity::{self, Room};
use crate::app::dispatching::{OfferTo, Step, accept_deadline, dispatch_one, open_offer};
use crate::app::planning;
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::dispatch_cache::SharedCache;
use crate::domain::{Caller, ChainRole, ChangeEntity, EventType, JobStatus, OfferStatus, lifecycle};
use crate::storage::change_log::{self, Change};
use crate::storage::{db_time, jobs, offers, orgs, technicians, utc};

/// The 409 of a step that lost to another answer, with the state as it is now
/// (read again, so it never shows an offer that is already gone).
fn lost_race(conn: &mut DbConnection, job_id: &str) -> ApiError {
    let current = jobs::find_scoped(conn, job_id, jobs::JobScope::All)
        .ok()
        .flatten()
        .map(|job| {
            let offer = offers::pending_for_job(conn, job_id).ok().flatten();
            current_state(&job, offer.as_ref())
        })
        .unwrap_or_else(|| json!({}));
    ApiError::conflict("offer_not_open", "the offer was answered meanwhile", current)
}

fn current_state(job: &jobs::Job, offer: Option<&offers::Offer>) -> Value {
    json!({"current": {
        "status": job.status,
        "offer": offer.map(|o| json!({"org_id": o.org_id, "deadline": utc(o.deadline)})),
        "technician_id": job.technician_id,
    }})
}

/// The open offer to the caller's organisation, or the right error: 404 when
/// the job is not the caller's to answer, 409 with the current state when it
/// was (answered already, or the deadline passed).
fn offer_for_caller(
    conn: &mut DbConnection,
    caller: &Caller,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<(jobs::Job, offers::Offer), ApiError> {
    jobs::find_scoped(conn, job_id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    offers::lock_job(conn, job_id)?;
    // Read again under the lock: a racing answer that committed meanwhile shows.
    let job = jobs::find_scoped(conn, job_id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    let org = caller.org_id.as_deref().ok_or(ApiError::NotFound)?;
    let pending = offers::pending_for_job(conn, job_id)?;
    match pending {
        Some(offer) if offer.org_id == org => {
            if utc(offer.deadline) <= now {
                return Err(ApiError::conflict(
                    "offer_expired",
                    "the offer's deadline has passed",
                    current_state(&job, Some(&offer)),
                ));
            }
            Ok((job, offer))
        }
        other => {
            let had_offer = offers::of_job(conn, job_id)?.iter().any(|o| o.org_id == org);
            if had_offer {
                Err(ApiError::conflict(
                    "offer_not_open",
                    "this organisation has no open offer for the job",
                    current_state(&job, other.as_ref()),
                ))
            } else {
                Err(ApiError::NotFound)
            }
        }
    }
}

/// Assigns a technician after checking, under a row lock, that its day has room.
pub(crate) fn assign_technician(
    conn: &mut DbConnection,
    job: &jobs::Job,
    from: JobStatus,
    technician: &technicians::Technician,
    by: lifecycle::Actor,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<(), ApiError> {
    match capacity::room_for(conn, &technician.id, utc(job.window_start), now)?.1 {
        Room::Fits => {}
        Room::Inactive => {
            return Err(ApiError::conflict(
                "technician_inactive",
                "the technician is deactivated",
                json!({"field": "technician_id"}),
            ));
        }
        Room::Full { taken, capacity } => {
            return Err(ApiError::conflict(
                "technician_at_capacity",
                format!("the technician already has {taken} visits or offers held that day (capacity {capacity})"),
                json!({"field": "technician_id"}),
            ));
        }
    }
    let now_db = db_time(now);
    let step = lifecycle::check(from, JobStatus::Scheduled, by)
        .map_err(|e| ApiError::conflict("invalid_transition", e.to_string(), json!({})))?;
    if !offers::assign(conn, &job.id, step, Some(&technician.id), now_db)? {
        return Err(ApiError::conflict("invalid_transition", "the job changed meanwhile", json!({})));
    }
    jobs::add_to_chain(conn, &job.id, &technician.org_id, ChainRole::Assignee, now_db)?;
    change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &job.id, Some(&technician.id)), now_db)?;
    crate::app::notify::job_assigned(conn, &technician.id, job, now)?;
    // The visit joins the technician's day: re-plan it, which sets the ETA.
    planning::replan_technician_day(conn, &technician.id, utc(job.window_start), now, speed_kmh)
}

/// A technician of exactly this organisation, else 404.
pub(crate) fn technician_of(
    conn: &mut DbConnection,
    technician_id: &str,
    org_path: &str,
    exact_org: Option<&str>,
) -> Result<technicians::Technician, ApiError> {
    let (t, path) = technicians::find_with_org_path(conn, technician_id)?.ok_or(ApiError::NotFound)?;
    let ok = path.starts_with(org_path) && exact_org.is_none_or(|o| o == t.org_id);
    if ok { Ok(t) } else { Err(ApiError::NotFound) }
}

/// Accepts the open offer. A named technician (of the organisation) is
/// assigned if its day has room; without one, dispatch's choice if it still
/// fits, else the best available technician of the organisation (its subtree
/// when it routes automatically), else 409 `technician_at_capacity` with the
/// alternatives. An offer that named nobody (manual routing) makes the job
/// `accepted` without a technician.
pub fn accept(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    job_id: &str,
    technician_id: Option<&str>,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<JobStatus, ApiError> {
    let (job, offer) = offer_for_caller(conn, caller, job_id, now)?;
    let org_path = caller.org_path.clone().unwrap_or_default();
    let named = match technician_id {
        Some(id) => Some(technician_of(conn, id, &org_path, Some(&offer.org_id))?),
        None => None,
    };
    let now_db = db_time(now);
    // Closing the offer releases its reservation before the day is counted.
    if !offers::close(conn, &offer.id, OfferStatus::Accepted, None, Some(&caller.id), now_db)? {
        return Err(lost_race(conn, job_id));
    }
    let technician = match (named, offer.technician_id.as_deref()) {
        (Some(t), _) => Some(t),
        (None, Some(chosen)) => Some(available_technician(conn, cache, &job, &offer, chosen, now)?),
        (None, None) => None,
    };
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    let in_time = utc(offer.deadline) >= now;
    match technician {
        Some(t) => {
            assign_technician(conn, &job, JobStatus::Offered, &t, lifecycle::Actor::Dispatcher, now, speed_kmh)?;
            jobs::append_event(
                conn,
                job_id,
                EventType::Accepted,
                step.actor(),
                &json!({"status": JobStatus::Scheduled, "org_id": offer.org_id, "sla_met": in_time}),
                now_db,
            )?;
            jobs::append_event(
                conn,
                job_id,
                EventType::Assigned,
                step.actor(),
                &json!({"status": JobStatus::Scheduled, "technician_id": t.id}),
                now_db,
            )?;
            Ok(JobStatus::Scheduled)
        }
        None => {
            let to_accepted = lifecycle::check(job.status, JobStatus::Accepted, lifecycle::Actor::Dispatcher)
                .map_err(|e| ApiError::conflict("invalid_transition", e.to_string(), current_state(&job, None)))?;
            if !offers::assign(conn, job_id, to_accepted, None, now_db)? {
                return Err(lost_race(conn, job_id));
            }
            jobs::append_event(
                conn,
                job_id,
                EventType::Accepted,
                step.actor(),
                &json!({"status": JobStatus::Accepted, "org_id": offer.org_id, "sla_met": in_time}),
                now_db,
            )?;
            Ok(JobStatus::Accepted)
        }
    }
}

/// Dispatch's technician if its day still has room, else the next best of the
/// offered organisation with room, each checked under its row lock.
fn available_technician(
    conn: &mut DbConnection,
    cache: &SharedCache,
    job: &jobs::Job,
    offer: &offers::Offer,
    chosen: &str,
    now: DateTime<Utc>,
) -> Result<technicians::Technician, ApiError> {
    let start = utc(job.window_start);
    let (tech, room) = capacity::room_for(conn, chosen, start, now)?;
    if room == Room::Fits && tech.org_id == offer.org_id {
        return Ok(tech);
    }
    let mut tried = HashSet::from([chosen.to_owned()]);
    let (ranked, alternatives) = capacity::ranked_in_org(conn, cache, job, &offer.org_id, &tried, now)?;
    for id in ranked {
        let (tech, room) = capacity::room_for(conn, &id, start, now)?;
        if room == Room::Fits {
            return Ok(tech);
        }
        tried.insert(id);
    }
    let mut details = current_state(job, Some(offer));
    details["alternatives"] = json!(alternatives);
    Err(ApiError::conflict(
        "technician_at_capacity",
        "no technician of the organisation eligible for the job has room that day: name one of the \
         alternatives, subcontract or decline",
        details,
    ))
}

/// Declines the open offer: the organisation is excluded and the job offered to the next candidate.
pub fn decline(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    job_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    let (_, offer) = offer_for_caller(conn, caller, job_id, now)?;
    let now_db = db_time(now);
    if !offers::close(conn, &offer.id, OfferStatus::Declined, Some(reason), Some(&caller.id), now_db)? {
        return Err(lost_race(conn, job_id));
    }
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    jobs::append_event(
        conn,
        job_id,
        EventType::Declined,
        step.actor(),
        &json!({"status": JobStatus::Offered, "org_id": offer.org_id, "reason": reason}),
        now_db,
    )?;
    dispatch_one(conn, cache, job_id, step, now)
}

/// Passes the open offer down to an organisation below the caller's, with its own deadline.
pub fn subcontract(
    conn: &mut DbConnection,
    caller: &Caller,
    job_id: &str,
    org_id: &str,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    let (job, offer) = offer_for_caller(conn, caller, job_id, now)?;
    let own = orgs::find(conn, &offer.org_id)?.ok_or(ApiError::NotFound)?;
    let target = orgs::find(conn, org_id)?
        .filter(|t| t.path.starts_with(&own.path) && t.id != own.id)
        .ok_or(ApiError::NotFound)?;
    let now_db = db_time(now);
    if !offers::close(conn, &offer.id, OfferStatus::Subcontracted, None, Some(&caller.id), now_db)? {
        return Err(lost_race(conn, job_id));
    }
    let mut unwritten = jobs::Unwritten::default();
    unwritten.link(&own.id, ChainRole::Hop, now_db);
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    unwritten.event(
        EventType::Subcontracted,
        step.actor(),
        &json!({"status": JobStatus::Offered, "from_org_id": own.id, "to_org_id": target.id}),
        now_db,
    );
    // Keep dispatch's technician only if the offer now reaches its organisation.
    let candidate = match offer.technician_id.as_deref() {
        Some(t) => technicians::find(conn, t)?.filter(|t| t.org_id == target.id).map(|t| t.id),
        None => None,
    };
    let deadline = accept_deadline(conn, &target.id, job.priority, now)?;
    let to = OfferTo { hops: &[], org_id: &target.id, technician_id: candidate.as_deref(), deadline };
    let by = (step, lifecycle::Actor::Dispatcher);
    open_offer(conn, &job, to, by, now, &mut unwritten, json!({"subcontracted_by": own.id}))?;
    unwritten.write(conn, job_id)?;
    Ok(JobStatus::Offered)
}

/// Moves an accepted or scheduled job to another technician of the caller's subtree.
pub fn reassign(
    conn: &mut DbConnection,
    caller: &Caller,
    job_id: &str,
    technician_id: &str,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<JobStatus, ApiError> {
    let job = jobs::find_scoped(conn, job_id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    offers::lock_job(conn, job_id)?;
    let job = jobs::find_scoped(conn, &job.id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    let org_path = caller.org_path.clone().unwrap_or_default();
    // Only the organisation answerable for the visit or an ancestor names or changes the
    // technician: another link of the chain (a sibling that declined, a hop's other branch)
    // never takes the job for its own technician.
    let answerable = answerable_org(conn, &job)?;
    if !caller.manages(&answerable.path) {
        return Err(ApiError::NotFound);
    }
    if let Some(current) = &job.technician_id {
        // Only the assignee's organisation or an ancestor may move the job.
        technician_of(conn, current, &org_path, None)?;
    }
    let new = technician_of(conn, technician_id, &org_path, None)?;
    if !lifecycle::allowed(job.status, JobStatus::Scheduled, lifecycle::Actor::Dispatcher) {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("cannot reassign a job that is {}", job.status),
            current_state(&job, None),
        ));
    }
    let same = job.technician_id.as_deref() == Some(new.id.as_str());
    if same && job.status == JobStatus::Scheduled {
        return Ok(job.status);
    }
    // The same technician schedules an incomplete (or returned) job again: a second visit.
    let now_db = db_time(now);
    assign_technician(conn, &job, job.status, &new, lifecycle::Actor::Dispatcher, now, speed_kmh)?;
    if let Some(old) = job.technician_id.as_ref().filter(|_| !same) {
        // The old phone drops the job on its next pull; its day is re-planned without it.
        change_log::log_change(conn, Change::delete(ChangeEntity::Job, job_id, Some(old)), now_db)?;
        crate::app::notify::job_taken_off(conn, old, job_id, now)?;
        planning::after_job_left(conn, job_id, old, utc(job.window_start), now, speed_kmh)?;
        planning::replan_technician_day(conn, &new.id, utc(job.window_start), now, speed_kmh)?;
    }
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    jobs::append_event(
        conn,
        job_id,
        EventType::Assigned,
        step.actor(),
        &json!({"status": JobStatus::Scheduled, "technician_id": new.id, "previous_technician_id": job.technician_id}),
        now_db,
    )?;
    Ok(JobStatus::Scheduled)
}

/// The organisation answerable for naming a job's technician: the one that
/// accepted its latest accepted offer; without one (assigned from the vendor's
/// queue) the assigned technician's organisation, else the general contractor.
fn answerable_org(conn: &mut DbConnection, job: &jobs::Job) -> Result<orgs::Org, ApiError> {
    let accepted = offers::of_job(conn, &job.id)?.into_iter().rev().find(|o| o.status == OfferStatus::Accepted);
    let id = match (accepted, &job.technician_id) {
        (Some(offer), _) => offer.org_id,
        (None, Some(tech)) => technicians::find(conn, tech)?.ok_or(ApiError::NotFound)?.org_id,
        (None, None) => job.contractor_org_id.clone(),
    };
    orgs::find(conn, &id)?.ok_or(ApiError::NotFound)
}

/// Closes a cancelled job's open offer, if any.
pub fn close_offer_on_cancel(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    if let Some(offer) = offers::pending_for_job(conn, job_id)? {
        offers::close(conn, &offer.id, OfferStatus::Cancelled, None, None, db_time(now))?;
    }
    Ok(())
}
