//! Working the vendor's `unassignable` queue: offer the job to a chosen
//! organisation, assign a chosen technician, or run dispatch again (after
//! territories, agreements or technicians changed). Also for a job stuck in
//! `new` (dispatch failed and has not been retried yet).
//!
//! Who: admins, and dispatchers managing the job's general contractor (the
//! vendor's dispatchers manage every job). A dispatcher who sees the job only
//! through a lower link of its chain gets 404, as for anything outside its scope.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::app::dispatching::{OfferTo, Step, accept_deadline, dispatch_again, open_offer};
use crate::app::offers::{assign_technician, technician_of};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::dispatch_cache::SharedCache;
use crate::domain::lifecycle::Actor as By;
use crate::domain::{Caller, EventType, JobStatus};
use crate::storage::jobs::{self, Job, JobScope};
use crate::storage::{db_time, offers, orgs};

/// The job, locked, if the caller may work it from the queue; 404 outside the
/// caller's reach, 409 with the current state when it is not in the queue.
fn queued_job(conn: &mut DbConnection, caller: &Caller, job_id: &str) -> Result<Job, ApiError> {
    jobs::find_scoped(conn, job_id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    offers::lock_job(conn, job_id)?;
    let job = jobs::find_scoped(conn, job_id, JobScope::All)?.ok_or(ApiError::NotFound)?;
    let contractor = orgs::find(conn, &job.contractor_org_id)?.ok_or(ApiError::NotFound)?;
    if !caller.manages(&contractor.path) {
        return Err(ApiError::NotFound);
    }
    let open_offer = offers::pending_for_job(conn, job_id)?;
    let queued = match job.status {
        JobStatus::Unassignable => true,
        JobStatus::New => open_offer.is_none(),
        _ => false,
    };
    if !queued {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!(
                "the job is {}; only unassignable (or undispatched new) jobs are worked from the queue",
                job.status
            ),
            json!({"current": {"status": job.status, "offer_org_id": job.offer_org_id,
                "technician_id": job.technician_id}}),
        ));
    }
    Ok(job)
}

fn step(caller: &Caller) -> Step<'_> {
    Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() }
}

/// Offers the job to a chosen organisation below the vendor, with that
/// organisation's accept deadline; organisations between the general
/// contractor and it are recorded as hops.
pub fn offer_to(
    conn: &mut DbConnection,
    caller: &Caller,
    job_id: &str,
    org_id: &str,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    let job = queued_job(conn, caller, job_id)?;
    let target = orgs::find(conn, org_id)?.filter(|o| caller.manages(&o.path)).ok_or(ApiError::NotFound)?;
    if target.parent_id.is_none() {
        return Err(ApiError::invalid(
            "org_id",
            "the job is already in the vendor's queue; offer it to an organisation below, or assign a technician",
        ));
    }
    let lineage = target.lineage();
    // Strictly between the contractor and the target (nothing when the target is the contractor).
    let between = match lineage.iter().position(|id| *id == job.contractor_org_id) {
        Some(from) => lineage.get(from + 1..lineage.len().saturating_sub(1)).unwrap_or_default(),
        None => &[],
    };
    let deadline = accept_deadline(conn, &target.id, job.priority, now)?;
    let to = OfferTo { hops: between, org_id: &target.id, technician_id: None, deadline };
    let mut unwritten = jobs::Unwritten::default();
    let by = (step(caller), By::Dispatcher);
    open_offer(conn, &job, to, by, now, &mut unwritten, json!({"chosen_by": "vendor_queue"}))?;
    unwritten.write(conn, &job.id)?;
    Ok(JobStatus::Offered)
}

/// Assigns a chosen technician of the caller's subtree directly (capacity and
/// activity checked under its row lock, as when an offer is accepted).
pub fn assign(
    conn: &mut DbConnection,
    caller: &Caller,
    job_id: &str,
    technician_id: &str,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<JobStatus, ApiError> {
    let job = queued_job(conn, caller, job_id)?;
    let org_path = caller.org_path.clone().unwrap_or_default();
    let technician = technician_of(conn, technician_id, &org_path, None)?;
    assign_technician(conn, &job, job.status, &technician, By::Dispatcher, now, speed_kmh)?;
    jobs::append_event(
        conn,
        &job.id,
        EventType::Assigned,
        step(caller).actor(),
        &json!({"status": JobStatus::Scheduled, "from": job.status, "technician_id": technician.id,
            "chosen_by": "vendor_queue"}),
        db_time(now),
    )?;
    Ok(JobStatus::Scheduled)
}

/// Runs dispatch again, considering every organisation (earlier declines and
/// expiries no longer exclude anyone). Returns `offered` or `unassignable`.
pub fn redispatch(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    let job = queued_job(conn, caller, job_id)?;
    dispatch_again(conn, cache, &job.id, None, step(caller), now)
}
