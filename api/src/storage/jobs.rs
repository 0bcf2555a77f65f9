//! Jobs (= requests), the organisations in their chain, their append-only
//! events, and the ordered change log phones sync from.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::native::with_fixed_rows;
use crate::db::schema::{customers, job_events, job_orgs, jobs, organisations};
use crate::domain::lifecycle::Transition;
use crate::domain::{ChainRole, EventType, JobKind, JobStatus, Priority};

/// A job row.
#[derive(Debug, Clone, Queryable)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub priority: Priority,
    pub customer_id: String,
    pub created_by: String,
    pub contractor_org_id: String,
    pub lat: f64,
    pub lon: f64,
    pub address: String,
    pub problem: String,
    pub required_skills: String,
    pub parts: String,
    pub window_start: NaiveDateTime,
    pub window_end: NaiveDateTime,
    pub contact_name: String,
    pub contact_phone: String,
    pub contact_email: Option<String>,
    pub tracking_token: String,
    pub technician_id: Option<String>,
    pub offer_org_id: Option<String>,
    pub offer_deadline: Option<NaiveDateTime>,
    pub eta_start: Option<NaiveDateTime>,
    pub eta_end: Option<NaiveDateTime>,
    pub visits: i32,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub first_on_site_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
}

/// A new job.
#[derive(Debug, Insertable)]
#[diesel(table_name = jobs, treat_none_as_default_value = false)]
pub struct NewJob {
    pub id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub priority: Priority,
    pub customer_id: String,
    pub created_by: String,
    pub contractor_org_id: String,
    pub lat: f64,
    pub lon: f64,
    pub address: String,
    pub problem: String,
    pub required_skills: String,
    pub parts: String,
    pub window_start: NaiveDateTime,
    pub window_end: NaiveDateTime,
    pub contact_name: String,
    pub contact_phone: String,
    pub contact_email: Option<String>,
    pub tracking_token: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub use crate::domain::JobScope;

type BoxedJobs<'a> = jobs::BoxedQuery<'a, crate::db::MultiBackend>;

fn scoped(scope: JobScope<'_>) -> BoxedJobs<'_> {
    let query = jobs::table.into_boxed();
    match scope {
        JobScope::All => query,
        // The vendor's path ("/root/") prefixes every organisation's, and every job has a chain: all jobs,
        // without a membership test per row.
        JobScope::Subtree(prefix) if prefix.matches('/').count() == 2 => query,
        JobScope::Subtree(prefix) => query.filter(
            jobs::id.eq_any(
                job_orgs::table
                    .inner_join(organisations::table)
                    .filter(organisations::path.like(format!("{prefix}%")))
                    .select(job_orgs::job_id),
            ),
        ),
        JobScope::Customer(customer_id) => query.filter(jobs::customer_id.eq(customer_id)),
        JobScope::Technician(technician_id) => query.filter(jobs::technician_id.eq(technician_id)),
    }
}

/// Inserts a job with its contractor as the first link of its chain.
pub fn insert(conn: &mut DbConnection, job: &NewJob) -> QueryResult<Job> {
    let mut unwritten = Unwritten::default();
    let stored = insert_deferring_chain(conn, job, &mut unwritten)?;
    unwritten.write(conn, &job.id)?;
    Ok(stored)
}

/// Inserts a job; its contractor's link (the first of its chain) joins `unwritten`, for the caller to write
/// with what the next step adds.
pub fn insert_deferring_chain(conn: &mut DbConnection, job: &NewJob, unwritten: &mut Unwritten) -> QueryResult<Job> {
    // `RETURNING` (both backends): the row as stored, defaults included, without reading it again.
    let stored = crate::db::native::get_result(conn, diesel::insert_into(jobs::table).values(job))?;
    unwritten.link(&job.contractor_org_id, ChainRole::Contractor, job.created_at);
    Ok(stored)
}

/// A job's chain links and events that a step has decided but not written yet: collected so that the steps
/// of one transaction write them in one insert each (a booking's contractor link and `created` event go with
/// its dispatch's hops and `offered` event). Dropping it unwritten loses them: every path ends in
/// [`Unwritten::write`].
#[derive(Debug, Default)]
#[must_use = "links and events are written only by Unwritten::write"]
pub struct Unwritten {
    links: Vec<(String, ChainRole, NaiveDateTime)>,
    events: Vec<UnwrittenEvent>,
}

/// An event's type, actor (user, organisation), data (JSON text) and time.
type UnwrittenEvent = (EventType, Option<String>, Option<String>, String, NaiveDateTime);

impl Unwritten {
    /// An organisation joins the job's chain (idempotent when written).
    pub fn link(&mut self, org_id: &str, role: ChainRole, now: NaiveDateTime) {
        self.links.push((org_id.to_owned(), role, now));
    }

    /// An event, after those already collected.
    pub fn event(&mut self, event_type: EventType, actor: Actor<'_>, data: &serde_json::Value, now: NaiveDateTime) {
        let actor = (actor.user_id.map(str::to_owned), actor.org_id.map(str::to_owned));
        self.events.push((event_type, actor.0, actor.1, data.to_string(), now));
    }

    /// Writes the links (one insert, in order, each idempotent) and then the events (one insert, in the order
    /// they were collected: event ids follow it).
    pub fn write(self, conn: &mut DbConnection, job_id: &str) -> QueryResult<()> {
        // Owned values: a fixed-size array's statement is cached by its type, which must be `'static`.
        if !self.links.is_empty() {
            let rows: Vec<_> = self
                .links
                .into_iter()
                .map(|(org_id, role, at)| {
                    (
                        job_orgs::job_id.eq(job_id.to_owned()),
                        job_orgs::org_id.eq(org_id),
                        job_orgs::role.eq(role),
                        job_orgs::created_at.eq(at),
                    )
                })
                .collect();
            with_fixed_rows!(&rows[..], |rows| {
                crate::db::insert_or_ignore!(conn, diesel::insert_into(job_orgs::table).values(rows))
            })?;
        }
        if !self.events.is_empty() {
            let rows: Vec<_> = self
                .events
                .into_iter()
                .map(|(event_type, user_id, org_id, data, at)| {
                    (
                        job_events::job_id.eq(job_id.to_owned()),
                        job_events::at.eq(at),
                        job_events::event_type.eq(event_type),
                        job_events::actor_user_id.eq(user_id),
                        job_events::actor_org_id.eq(org_id),
                        job_events::data.eq(data),
                    )
                })
                .collect();
            with_fixed_rows!(&rows[..], |rows| {
                crate::db::native::execute(conn, diesel::insert_into(job_events::table).values(rows))
            })?;
        }
        Ok(())
    }
}

/// Records that an organisation is in a job's chain (idempotent).
pub fn add_to_chain(
    conn: &mut DbConnection,
    job_id: &str,
    org_id: &str,
    role: ChainRole,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let mut link = Unwritten::default();
    link.link(org_id, role, now);
    link.write(conn, job_id)
}

/// The job with this id if the scope may see it.
pub fn find_scoped(conn: &mut DbConnection, id: &str, scope: JobScope<'_>) -> QueryResult<Option<Job>> {
    if let JobScope::All = scope {
        // A static query: diesel caches its prepared statement (a boxed one is prepared on every call).
        return jobs::table.find(id).first(conn).optional();
    }
    scoped(scope).filter(jobs::id.eq(id.to_owned())).first(conn).optional()
}

/// The job with this tracking token.
pub fn find_by_tracking_token(conn: &mut DbConnection, token: &str) -> QueryResult<Option<Job>> {
    jobs::table.filter(jobs::tracking_token.eq(token)).first(conn).optional()
}

/// A page of jobs the scope may see, newest first, after the keyset `(created_at, id)`.
pub fn list(
    conn: &mut DbConnection,
    scope: JobScope<'_>,
    status: Option<JobStatus>,
    customer_id: Option<&str>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<Job>> {
    let mut query = scoped(scope).order((jobs::created_at.desc(), jobs::id.desc())).limit(limit);
    if let Some(status) = status {
        query = query.filter(jobs::status.eq(status));
    }
    if let Some(customer_id) = customer_id {
        query = query.filter(jobs::customer_id.eq(customer_id.to_owned()));
    }
    if let Some((created_at, id)) = after {
        query = query.filter(jobs::created_at.lt(created_at).or(jobs::created_at.eq(created_at).and(jobs::id.lt(id))));
    }
    query.load(conn)
}

/// Every job of a customer the scope may see, oldest first (the client card's history).
pub fn of_customer(conn: &mut DbConnection, customer_id: &str, scope: JobScope<'_>) -> QueryResult<Vec<Job>> {
    scoped(scope).filter(jobs::customer_id.eq(customer_id.to_owned())).order(jobs::created_at.asc()).load(conn)
}

/// The client card a caller's scope already knows by this contact: the card of
/// the latest request in scope booked with this phone (else this e-mail), else a
/// card with this phone (else e-mail) that has a request in scope. Never a card
/// the scope cannot see, so a booking on someone's behalf cannot find (or join)
/// a stranger's card.
pub fn card_in_scope(
    conn: &mut DbConnection,
    scope: JobScope<'_>,
    phone: &str,
    email: Option<&str>,
) -> QueryResult<Option<String>> {
    let by_job_phone = scoped(scope)
        .filter(jobs::contact_phone.eq(phone.to_owned()))
        .order(jobs::created_at.desc())
        .select(jobs::customer_id)
        .first::<String>(conn)
        .optional()?;
    if by_job_phone.is_some() {
        return Ok(by_job_phone);
    }
    let by_card_phone = scoped(scope)
        .filter(
            jobs::customer_id
                .eq_any(customers::table.filter(customers::phone.eq(phone.to_owned())).select(customers::id)),
        )
        .select(jobs::customer_id)
        .first::<String>(conn)
        .optional()?;
    if by_card_phone.is_some() {
        return Ok(by_card_phone);
    }
    let Some(email) = email else { return Ok(None) };
    let by_job_email = scoped(scope)
        .filter(jobs::contact_email.eq(email.to_owned()))
        .order(jobs::created_at.desc())
        .select(jobs::customer_id)
        .first::<String>(conn)
        .optional()?;
    if by_job_email.is_some() {
        return Ok(by_job_email);
    }
    scoped(scope)
        .filter(
            jobs::customer_id
                .eq_any(customers::table.filter(customers::email.eq(email.to_owned())).select(customers::id)),
        )
        .order(jobs::created_at.asc())
        .select(jobs::customer_id)
        .first::<String>(conn)
        .optional()
}

/// Moves a job to `to` if it is still in `from` (optimistic: the status is
/// the guard, so a concurrent change makes this touch no row).
pub fn set_status(conn: &mut DbConnection, id: &str, step: Transition, now: NaiveDateTime) -> QueryResult<bool> {
    let (from, to) = (step.from(), step.to());
    let closed_at = to.is_closed().then_some(now);
    let n = crate::db::native::execute(
        conn,
        diesel::update(jobs::table.find(id).filter(jobs::status.eq(from))).set((
            jobs::status.eq(to),
            jobs::updated_at.eq(now),
            jobs::closed_at.eq(closed_at),
            jobs::version.eq(jobs::version + 1),
        )),
    )?;
    Ok(n == 1)
}

/// Replaces the window if the job is still in `step`'s status and at `version`.
pub fn set_window(
    conn: &mut DbConnection,
    id: &str,
    step: Transition,
    version: i32,
    window: (NaiveDateTime, NaiveDateTime),
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(jobs::table.find(id).filter(jobs::status.eq(step.from())).filter(jobs::version.eq(version)))
        .set((
            jobs::window_start.eq(window.0),
            jobs::window_end.eq(window.1),
            jobs::updated_at.eq(now),
            jobs::version.eq(jobs::version + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// The organisations in a job's chain with their role, in the order they joined.
pub fn chain(conn: &mut DbConnection, job_id: &str) -> QueryResult<Vec<(String, ChainRole)>> {
    // Links written in one step share a timestamp; top-down within a step.
    job_orgs::table
        .inner_join(organisations::table)
        .filter(job_orgs::job_id.eq(job_id))
        .order((job_orgs::created_at.asc(), organisations::level.asc()))
        .select((job_orgs::org_id, job_orgs::role))
        .load(conn)
}

/// The chains of many jobs: `(job_id, org_id, role, joined_at)`, each job's links in the order they joined.
pub fn chains(
    conn: &mut DbConnection,
    job_ids: &[String],
) -> QueryResult<Vec<(String, String, ChainRole, NaiveDateTime)>> {
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    job_orgs::table
        .inner_join(organisations::table)
        .filter(job_orgs::job_id.eq_any(job_ids))
        .order((job_orgs::job_id.asc(), job_orgs::created_at.asc(), organisations::level.asc()))
        .select((job_orgs::job_id, job_orgs::org_id, job_orgs::role, job_orgs::created_at))
        .load(conn)
}

/// A job event row.
#[derive(Debug, Clone, Queryable)]
pub struct JobEvent {
    pub id: i64,
    pub job_id: String,
    pub at: NaiveDateTime,
    pub event_type: EventType,
    pub actor_user_id: Option<String>,
    pub actor_org_id: Option<String>,
    pub data: String,
}

/// Who did something.
#[derive(Debug, Clone, Copy, Default)]
pub struct Actor<'a> {
    pub user_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
}

/// Appends an event (never updated or deleted afterwards).
pub fn append_event(
    conn: &mut DbConnection,
    job_id: &str,
    event_type: EventType,
    actor: Actor<'_>,
    data: &serde_json::Value,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let mut event = Unwritten::default();
    event.event(event_type, actor, data, now);
    event.write(conn, job_id)
}

/// A page of a job's events in the order they happened, after event `after_id`.
pub fn events(conn: &mut DbConnection, job_id: &str, after_id: Option<i64>, limit: i64) -> QueryResult<Vec<JobEvent>> {
    let mut query = job_events::table
        .filter(job_events::job_id.eq(job_id.to_owned()))
        .order(job_events::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after_id {
        query = query.filter(job_events::id.gt(after));
    }
    query.load(conn)
}
