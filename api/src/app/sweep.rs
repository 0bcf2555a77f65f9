//! The deadline worker's pass: offers past their deadline expire and their
//! jobs go to the next candidate; jobs left `new` are dispatched.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::app::dispatching::{Step, dispatch_one};
use crate::app_error::ApiError;
use crate::db::{DbConnection, write_tx};
use crate::dispatch_cache::SharedCache;
use crate::domain::{EventType, JobStatus, OfferStatus};
use crate::storage::{db_time, jobs, offers, utc};

/// One pass of the deadline worker: every offer past its deadline expires
/// (its organisation is excluded) and its job goes to the next candidate;
/// jobs left `new` (booked, then the process died) are dispatched. Each job
/// in its own transaction. Safe in every replica at once. Returns how many
/// jobs moved.
pub fn sweep(db_conn: &mut DbConnection, cache: &SharedCache, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let expired = sweep_batches(
        db_conn,
        "expired offer",
        |conn| Ok(offers::claim_expired(conn, db_time(now), SWEEP_BATCH)?),
        |conn, offer_id| {
            let offer = offers::of_job_offer(conn, offer_id)?;
            // Job before offer, the order accept and decline lock in (the
            // claim's lock ended with its own transaction).
            offers::lock_job(conn, &offer.job_id)?;
            if !offers::close(conn, &offer.id, OfferStatus::Expired, None, None, db_time(now))? {
                return Ok(());
            }
            jobs::append_event(
                conn,
                &offer.job_id,
                EventType::OfferExpired,
                jobs::Actor::default(),
                &json!({"status": JobStatus::Offered, "org_id": offer.org_id, "deadline": utc(offer.deadline)}),
                db_time(now),
            )?;
            dispatch_one(conn, cache, &offer.job_id, Step::default(), now).map(drop)
        },
    )?;
    let stale = db_time(now - chrono::Duration::seconds(10));
    let undispatched = sweep_batches(
        db_conn,
        "undispatched job",
        |conn| Ok(offers::claim_undispatched(conn, stale, SWEEP_BATCH)?),
        |conn, job_id| dispatch_one(conn, cache, job_id, Step::default(), now).map(drop),
    )?;
    Ok(expired + undispatched)
}

/// How many items one sweep transaction claims.
const SWEEP_BATCH: i64 = 50;

/// Claims batches of items and handles each in its own transaction: an item
/// that fails is logged and left for the next pass while the others still
/// move, and a transaction holds only the row locks of its one item's
/// dispatch (a batch in one transaction would take several technicians' locks
/// in no stable order, which can deadlock on PostgreSQL against bookings or
/// another replica's sweep). The claim's locks end with its short transaction;
/// every handler re-checks its item under the item's own lock (an offer closes
/// only while pending, a job is dispatched only without an open offer), so two
/// replicas handling the same item move it once. Returns how many were handled.
fn sweep_batches(
    db_conn: &mut DbConnection,
    what: &str,
    claim: impl Fn(&mut DbConnection) -> Result<Vec<String>, ApiError>,
    handle: impl Fn(&mut DbConnection, &str) -> Result<(), ApiError>,
) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let ids = write_tx(db_conn, &claim)?;
        let mut handled = 0;
        for id in &ids {
            match write_tx(db_conn, |conn| handle(conn, id)) {
                Ok(()) => handled += 1,
                Err(e) => tracing::error!(item = %id, error = %e, "Deadline sweep could not handle {what} {id}"),
            }
        }
        total += handled;
        if ids.len() < usize::try_from(SWEEP_BATCH).unwrap_or(0) || handled == 0 {
            return Ok(total);
        }
    }
}
