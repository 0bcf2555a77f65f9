//! Offers of jobs to organisations, with deadlines; and the row locks and
//! counts the offer flow needs.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{job_explanations, jobs, offers, technicians};
use crate::domain::lifecycle::Transition;
use crate::domain::{JobStatus, OfferStatus};

/// An offer row.
#[derive(Debug, Clone, Queryable)]
pub struct Offer {
    pub id: String,
    pub job_id: String,
    pub org_id: String,
    pub technician_id: Option<String>,
    pub status: OfferStatus,
    pub deadline: NaiveDateTime,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub answered_at: Option<NaiveDateTime>,
    pub answered_by: Option<String>,
}

/// Opens an offer; the partial unique index refuses a second pending one for the job.
pub fn insert(
    conn: &mut DbConnection,
    job_id: &str,
    org_id: &str,
    technician_id: Option<&str>,
    deadline: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = super::new_id();
    let insert = diesel::insert_into(offers::table).values((
        offers::id.eq(&id),
        offers::job_id.eq(job_id),
        offers::org_id.eq(org_id),
        offers::technician_id.eq(technician_id),
        offers::status.eq(OfferStatus::Pending),
        offers::deadline.eq(deadline),
        offers::created_at.eq(now),
    ));
    crate::db::native::execute(conn, insert)?;
    Ok(id)
}

/// The job's open offer, if any.
pub fn pending_for_job(conn: &mut DbConnection, job_id: &str) -> QueryResult<Option<Offer>> {
    let pending = offers::table.filter(offers::job_id.eq(job_id)).filter(offers::status.eq(OfferStatus::Pending));
    crate::db::native::get_result(conn, pending.limit(1)).optional()
}

/// Every offer of a job, oldest first.
pub fn of_job(conn: &mut DbConnection, job_id: &str) -> QueryResult<Vec<Offer>> {
    offers::table.filter(offers::job_id.eq(job_id)).order(offers::created_at.asc()).load(conn)
}

/// Every offer of these jobs, oldest first.
pub fn of_jobs(conn: &mut DbConnection, job_ids: &[String]) -> QueryResult<Vec<Offer>> {
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    offers::table.filter(offers::job_id.eq_any(job_ids)).order(offers::created_at.asc()).load(conn)
}

/// Closes a pending offer; `false` when it was no longer pending (someone else answered first).
pub fn close(
    conn: &mut DbConnection,
    id: &str,
    status: OfferStatus,
    reason: Option<&str>,
    by: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(offers::table.find(id).filter(offers::status.eq(OfferStatus::Pending)))
        .set((
            offers::status.eq(status),
            offers::reason.eq(reason),
            offers::answered_by.eq(by),
            offers::answered_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Organisations that declined or let an offer of this job expire (excluded from its search).
pub fn excluded_orgs(conn: &mut DbConnection, job_id: &str) -> QueryResult<Vec<String>> {
    offers::table
        .filter(offers::job_id.eq(job_id))
        .filter(offers::status.eq_any([OfferStatus::Declined, OfferStatus::Expired]))
        .select(offers::org_id)
        .load(conn)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Pending offers past their deadline, their jobs locked for this transaction. On PostgreSQL
/// `FOR NO KEY UPDATE OF j SKIP LOCKED` lets every replica sweep at once without two taking the same offer, and
/// takes the locks in the order every answer takes them (the job row, then its offer, then technicians):
/// locking the offer rows first deadlocked with a concurrent accept or decline, which holds the job and
/// then updates the offer (found by `replicas::two_replicas_on_one_postgresql_hammered_keep_every_invariant`).
/// A job answered meanwhile is skipped here and its offer, no longer pending, is left alone by `close`.
/// SQLite has one writer at a time.
pub fn claim_expired(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
    match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT o.id FROM offers o JOIN jobs j ON j.id = o.job_id \
             WHERE o.status = 'pending' AND o.deadline < $1 \
             ORDER BY o.deadline LIMIT $2 FOR NO KEY UPDATE OF j SKIP LOCKED",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load::<IdRow>(pg)
        .map(|rows| rows.into_iter().map(|r| r.id).collect()),
        DbConnection::Sqlite(_) => offers::table
            .filter(offers::status.eq(OfferStatus::Pending))
            .filter(offers::deadline.lt(now))
            .order(offers::deadline.asc())
            .limit(limit)
            .select(offers::id)
            .load(conn),
    }
}

/// Jobs still `new` (booked but not dispatched, e.g. after a crash), locked likewise.
pub fn claim_undispatched(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
    match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT id FROM jobs WHERE status = 'new' AND created_at < $1 \
             ORDER BY created_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED",
        )
        .bind::<diesel::sql_types::Timestamp, _>(before)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load::<IdRow>(pg)
        .map(|rows| rows.into_iter().map(|r| r.id).collect()),
        DbConnection::Sqlite(_) => jobs::table
            .filter(jobs::status.eq(JobStatus::New))
            .filter(jobs::created_at.lt(before))
            .order(jobs::created_at.asc())
            .limit(limit)
            .select(jobs::id)
            .load(conn),
    }
}

/// Locks a job row until the transaction ends (PostgreSQL; SQLite's
/// `BEGIN IMMEDIATE` already serialises writers). Concurrent answers to one
/// offer queue here and see each other's result.
///
/// Every row lock here is `FOR NO KEY UPDATE` (the lock an `UPDATE` that keeps the key takes): lockers still
/// queue behind each other, but an insert elsewhere whose foreign key points at the row (its `FOR KEY SHARE`
/// check) does not wait for it. With `FOR UPDATE` a sync push holding its job and inserting a note (key check
/// on its technician) deadlocked with an assignment holding that technician and re-planning the day (key
/// check on the same job); found by `replicas::two_replicas_on_one_postgresql_hammered_keep_every_invariant`.
pub fn lock_job(conn: &mut DbConnection, job_id: &str) -> QueryResult<()> {
    // The query builder's lock clause (PostgreSQL only): a prepared statement diesel caches, unlike `sql_query`.
    if let DbConnection::Postgres(pg) = conn {
        jobs::table.filter(jobs::id.eq(job_id)).select(jobs::id).for_no_key_update().load::<String>(pg)?;
    }
    Ok(())
}

/// How many visits book one technician plus its pending offers' reservations
/// (deadline after `now`), for windows starting in `[from, to)`: one
/// technician's day, in one statement (two counting subqueries, read through
/// `jobs_technician_window` and `offers_pending_technician`). The statuses that
/// book a technician are spelled out, not an `IN` list, so the statement has
/// one shape and stays in the prepared-statement cache on both backends.
pub fn taken_count(
    conn: &mut DbConnection,
    technician_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    use JobStatus::{Approved, Completed, EnRoute, InReview, OnSite, Returned, Scheduled};
    let books = jobs::status
        .eq(Scheduled)
        .or(jobs::status.eq(EnRoute))
        .or(jobs::status.eq(OnSite))
        .or(jobs::status.eq(Completed))
        .or(jobs::status.eq(InReview))
        .or(jobs::status.eq(Approved))
        .or(jobs::status.eq(Returned));
    let booked = jobs::table
        .filter(jobs::technician_id.eq(technician_id))
        .filter(jobs::window_start.ge(from))
        .filter(jobs::window_start.lt(to))
        .filter(books)
        .count()
        .single_value();
    let reserved = offers::table
        .inner_join(jobs::table)
        .filter(offers::technician_id.eq(technician_id))
        .filter(offers::status.eq(OfferStatus::Pending))
        .filter(offers::deadline.gt(now))
        .filter(jobs::window_start.ge(from))
        .filter(jobs::window_start.lt(to))
        .count()
        .single_value();
    let (booked, reserved): (Option<i64>, Option<i64>) =
        crate::db::native::get_result(conn, diesel::select((booked, reserved)))?;
    Ok(usize::try_from(booked.unwrap_or(0) + reserved.unwrap_or(0)).unwrap_or(0))
}

/// Assigns a technician and moves the job to `to` if it is still in `from`.
pub fn assign(
    conn: &mut DbConnection,
    job_id: &str,
    step: Transition,
    technician_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = crate::db::native::execute(
        conn,
        diesel::update(jobs::table.find(job_id).filter(jobs::status.eq(step.from()))).set((
            jobs::status.eq(step.to()),
            jobs::technician_id.eq(technician_id),
            jobs::offer_org_id.eq(None::<String>),
            jobs::offer_deadline.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
            jobs::version.eq(jobs::version + 1),
        )),
    )?;
    Ok(n == 1)
}

/// Records the job's current offer on the job row (for listings) and its
/// status, if the job is still in the status `step` expects.
pub fn set_current_offer(
    conn: &mut DbConnection,
    job_id: &str,
    step: Transition,
    offer: Option<(&str, NaiveDateTime)>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = crate::db::native::execute(
        conn,
        diesel::update(jobs::table.find(job_id).filter(jobs::status.eq(step.from()))).set((
            jobs::status.eq(step.to()),
            jobs::offer_org_id.eq(offer.map(|o| o.0)),
            jobs::offer_deadline.eq(offer.map(|o| o.1)),
            jobs::updated_at.eq(now),
            jobs::version.eq(jobs::version + 1),
        )),
    )?;
    Ok(n == 1)
}

/// Stores a dispatch explanation (JSON) for the job.
pub fn add_explanation(conn: &mut DbConnection, job_id: &str, data: &str, now: NaiveDateTime) -> QueryResult<()> {
    crate::db::native::execute(
        conn,
        diesel::insert_into(job_explanations::table).values((
            job_explanations::job_id.eq(job_id),
            job_explanations::at.eq(now),
            job_explanations::data.eq(data),
        )),
    )
    .map(drop)
}

/// The job's explanations, oldest first.
pub fn explanations(conn: &mut DbConnection, job_id: &str) -> QueryResult<Vec<(NaiveDateTime, String)>> {
    job_explanations::table
        .filter(job_explanations::job_id.eq(job_id))
        .order(job_explanations::id.asc())
        .select((job_explanations::at, job_explanations::data))
        .load(conn)
}

/// A technician's position update.
pub fn set_position(
    conn: &mut DbConnection,
    technician_id: &str,
    lat: f64,
    lon: f64,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(technicians::table.find(technician_id))
        .set((technicians::pos_lat.eq(lat), technicians::pos_lon.eq(lon), technicians::position_at.eq(at)))
        .execute(conn)
}

/// One offer by id.
pub fn of_job_offer(conn: &mut DbConnection, id: &str) -> QueryResult<Offer> {
    offers::table.find(id).first(conn)
}

#[cfg(test)]
mod books_technician {
    use crate::domain::JobStatus;

    /// `taken_count` spells out the statuses that book a technician: the same set as the domain's.
    #[test]
    fn taken_count_counts_exactly_the_statuses_that_book_a_technician() {
        use JobStatus::{Approved, Completed, EnRoute, InReview, OnSite, Returned, Scheduled};
        let spelled = [Scheduled, EnRoute, OnSite, Completed, InReview, Approved, Returned];
        let booking: Vec<JobStatus> = JobStatus::ALL.iter().copied().filter(|s| s.books_technician()).collect();
        assert_eq!(booking.len(), spelled.len(), "{booking:?}");
        assert!(spelled.iter().all(|s| booking.contains(s)), "{booking:?}");
    }
}
