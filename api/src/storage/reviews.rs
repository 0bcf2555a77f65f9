//! The vendor's reviews of work reports, and the review queue's pages.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{jobs, reviews};
use crate::db::{DbConnection, insert_unless_exists};
use crate::domain::{JobStatus, Verdict};
use crate::storage::jobs::Job;

/// A review row.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = reviews, treat_none_as_default_value = false)]
pub struct Review {
    pub id: String,
    pub job_id: String,
    pub visit: i32,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub redispatch: bool,
    pub reviewer_user_id: String,
    pub at: NaiveDateTime,
}

/// Records a review; `false` when the visit was already reviewed (the unique
/// key `(job_id, visit)` decides, also between replicas).
pub fn insert(conn: &mut DbConnection, review: &Review) -> QueryResult<bool> {
    insert_unless_exists(conn, |conn| diesel::insert_into(reviews::table).values(review).execute(conn))
}

/// Every review of these jobs, by job and visit.
pub fn of_jobs(conn: &mut DbConnection, job_ids: &[String]) -> QueryResult<HashMap<String, Vec<Review>>> {
    let mut by_job: HashMap<String, Vec<Review>> = HashMap::new();
    if job_ids.is_empty() {
        return Ok(by_job);
    }
    let rows: Vec<Review> = reviews::table
        .filter(reviews::job_id.eq_any(job_ids))
        .order((reviews::job_id.asc(), reviews::visit.asc()))
        .load(conn)?;
    for r in rows {
        by_job.entry(r.job_id.clone()).or_default().push(r);
    }
    Ok(by_job)
}

/// The latest review of a job (the highest visit), if any.
pub fn latest(conn: &mut DbConnection, job_id: &str) -> QueryResult<Option<Review>> {
    reviews::table.filter(reviews::job_id.eq(job_id)).order(reviews::visit.desc()).first(conn).optional()
}

/// A page of jobs waiting for review (`in_review`), longest waiting first,
/// after the keyset `(updated_at, id)`.
pub fn pending(conn: &mut DbConnection, after: Option<(NaiveDateTime, String)>, limit: i64) -> QueryResult<Vec<Job>> {
    let mut query = jobs::table
        .filter(jobs::status.eq(JobStatus::InReview))
        .order((jobs::updated_at.asc(), jobs::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(jobs::updated_at.gt(at).or(jobs::updated_at.eq(at).and(jobs::id.gt(id))));
    }
    query.load(conn)
}

/// A page of reviews with this verdict that are their job's latest, newest
/// first, after the keyset `(at, job_id)`.
pub fn latest_with_verdict(
    conn: &mut DbConnection,
    verdict: Verdict,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<Review>> {
    // "Latest" = no review of the same job with a higher visit (visits only grow).
    let later = diesel::alias!(reviews as later);
    let mut query = reviews::table
        .filter(reviews::verdict.eq(verdict))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            later
                .filter(later.field(reviews::job_id).eq(reviews::job_id))
                .filter(later.field(reviews::visit).gt(reviews::visit)),
        )))
        .order((reviews::at.desc(), reviews::job_id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(reviews::at.lt(at).or(reviews::at.eq(at).and(reviews::job_id.lt(id))));
    }
    query.load(conn)
}

/// Jobs by id (any status).
pub fn jobs_by_ids(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Job>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    jobs::table.filter(jobs::id.eq_any(ids)).load(conn)
}
