//! The quality loop's tables: customer surveys (`surveys`) and the daily
//! scorecard counters (`scorecard_days`, with `scorecard_jobs` remembering
//! which approvals were already counted).
//!
//! Counters are only ever *added to*, in the transaction of the change that
//! produces them (an approval, a survey answer); a scorecard is a `SUM` over
//! days, never a recount of jobs.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::DbConnection;
use crate::db::schema::{jobs, scorecard_days, scorecard_jobs, surveys, technicians};
use crate::domain::JobKind;

/// The `technician_id` of an organisation's own row in `scorecard_days`.
pub const ORG_ROW: &str = "";

/// A survey row.
#[derive(Debug, Clone, Queryable)]
pub struct Survey {
    pub job_id: String,
    pub token: String,
    pub technician_id: Option<String>,
    pub org_id: String,
    pub org_path: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub answered_at: Option<NaiveDateTime>,
    pub answered_day: Option<String>,
    pub nps: Option<i32>,
    pub csat: Option<i32>,
    pub ces: Option<i32>,
    pub comment: Option<String>,
}

/// A survey to issue.
#[derive(Debug, Insertable)]
#[diesel(table_name = surveys, treat_none_as_default_value = false)]
pub struct NewSurvey<'a> {
    pub job_id: &'a str,
    pub token: &'a str,
    pub technician_id: Option<&'a str>,
    pub org_id: &'a str,
    pub org_path: &'a str,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Issues a survey unless the job already has one; `false` when it had.
pub fn insert_survey(conn: &mut DbConnection, survey: &NewSurvey<'_>) -> QueryResult<bool> {
    // One survey per job (primary key): a second trigger (a job completed
    // again after a return) keeps the first token.
    crate::db::insert_unless_exists(conn, |conn| diesel::insert_into(surveys::table).values(survey).execute(conn))
}

/// The survey with this token.
pub fn find_by_token(conn: &mut DbConnection, token: &str) -> QueryResult<Option<Survey>> {
    surveys::table.filter(surveys::token.eq(token)).first(conn).optional()
}

/// The survey of a job, if one was issued.
pub fn find_by_job(conn: &mut DbConnection, job_id: &str) -> QueryResult<Option<Survey>> {
    surveys::table.find(job_id).first(conn).optional()
}

/// A survey answer.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    pub nps: i32,
    pub csat: i32,
    pub ces: i32,
    pub comment: Option<&'a str>,
}

/// Records the answer if the survey is still open (unanswered, not expired);
/// `false` otherwise. The filter makes a second, racing answer touch no row.
pub fn answer(
    conn: &mut DbConnection,
    token: &str,
    answer: &Answer<'_>,
    day: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        surveys::table
            .filter(surveys::token.eq(token))
            .filter(surveys::answered_at.is_null())
            .filter(surveys::expires_at.gt(now)),
    )
    .set((
        surveys::answered_at.eq(now),
        surveys::answered_day.eq(day),
        surveys::nps.eq(answer.nps),
        surveys::csat.eq(answer.csat),
        surveys::ces.eq(answer.ces),
        surveys::comment.eq(answer.comment),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A comment for the Service section: the answer, its job and technician.
#[derive(Debug, Clone, Queryable)]
pub struct Comment {
    pub job_id: String,
    pub answered_at: Option<NaiveDateTime>,
    pub nps: Option<i32>,
    pub csat: Option<i32>,
    pub ces: Option<i32>,
    pub comment: Option<String>,
    pub org_id: String,
    pub technician_id: Option<String>,
    pub kind: JobKind,
    pub technician_name: Option<String>,
}

/// Answers with a comment in the subtree `prefix`, answered on local days
/// `[from, to)`, newest first, after the keyset `(answered_at, job_id)`.
pub fn comments(
    conn: &mut DbConnection,
    prefix: &str,
    from: &str,
    to: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<Comment>> {
    let mut query = surveys::table
        .inner_join(jobs::table)
        .left_join(technicians::table.on(technicians::id.nullable().eq(surveys::technician_id)))
        .filter(surveys::org_path.like(format!("{prefix}%")))
        .filter(surveys::answered_at.is_not_null())
        .filter(surveys::comment.is_not_null())
        .filter(surveys::answered_day.ge(from.to_owned()))
        .filter(surveys::answered_day.lt(to.to_owned()))
        .select((
            surveys::job_id,
            surveys::answered_at,
            surveys::nps,
            surveys::csat,
            surveys::ces,
            surveys::comment,
            surveys::org_id,
            surveys::technician_id,
            jobs::kind,
            technicians::name.nullable(),
        ))
        .order((surveys::answered_at.desc(), surveys::job_id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, job_id)) = after {
        query =
            query.filter(surveys::answered_at.lt(at).or(surveys::answered_at.eq(at).and(surveys::job_id.lt(job_id))));
    }
    query.load(conn)
}

/// Marks a job's approval as counted; `false` when it already was (the
/// counters must not be added twice).
pub fn claim_job(
    conn: &mut DbConnection,
    job_id: &str,
    org_id: &str,
    technician_id: &str,
    day: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::insert_unless_exists(conn, |conn| {
        diesel::insert_into(scorecard_jobs::table)
            .values((
                scorecard_jobs::job_id.eq(job_id),
                scorecard_jobs::org_id.eq(org_id),
                scorecard_jobs::technician_id.eq(technician_id),
                scorecard_jobs::day.eq(day),
                scorecard_jobs::rolled_up_at.eq(now),
            ))
            .execute(conn)
    })
}

/// Counters of one (organisation, technician or [`ORG_ROW`], day): the
/// amounts to add, or the sums read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Queryable)]
pub struct Counters {
    pub jobs_completed: i64,
    pub visits: i64,
    pub first_time_fixed: i64,
    pub reworked: i64,
    pub incomplete: i64,
    pub accept_met: i64,
    pub accept_total: i64,
    pub arrive_met: i64,
    pub arrive_total: i64,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    pub csat_satisfied: i64,
    pub csat_responses: i64,
    pub ces_sum: i64,
    pub ces_responses: i64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.jobs_completed += o.jobs_completed;
        self.visits += o.visits;
        self.first_time_fixed += o.first_time_fixed;
        self.reworked += o.reworked;
        self.incomplete += o.incomplete;
        self.accept_met += o.accept_met;
        self.accept_total += o.accept_total;
        self.arrive_met += o.arrive_met;
        self.arrive_total += o.arrive_total;
        self.promoters += o.promoters;
        self.passives += o.passives;
        self.detractors += o.detractors;
        self.csat_satisfied += o.csat_satisfied;
        self.csat_responses += o.csat_responses;
        self.ces_sum += o.ces_sum;
        self.ces_responses += o.ces_responses;
    }
}

/// One row of additions.
#[derive(Debug, Clone)]
pub struct DayRow {
    pub org_id: String,
    pub org_path: String,
    /// A technician, or [`ORG_ROW`].
    pub technician_id: String,
    /// Local date, YYYY-MM-DD.
    pub day: String,
    pub add: Counters,
}

#[derive(Insertable)]
#[diesel(table_name = scorecard_days, treat_none_as_default_value = false)]
struct DayInsert<'a> {
    org_id: &'a str,
    technician_id: &'a str,
    day: &'a str,
    org_path: &'a str,
    jobs_completed: i64,
    visits: i64,
    first_time_fixed: i64,
    reworked: i64,
    incomplete: i64,
    accept_met: i64,
    accept_total: i64,
    arrive_met: i64,
    arrive_total: i64,
    promoters: i64,
    passives: i64,
    detractors: i64,
    csat_satisfied: i64,
    csat_responses: i64,
    ces_sum: i64,
    ces_responses: i64,
}

impl<'a> From<&'a DayRow> for DayInsert<'a> {
    fn from(r: &'a DayRow) -> DayInsert<'a> {
        let c = r.add;
        DayInsert {
            org_id: &r.org_id,
            technician_id: &r.technician_id,
            day: &r.day,
            org_path: &r.org_path,
            jobs_completed: c.jobs_completed,
            visits: c.visits,
            first_time_fixed: c.first_time_fixed,
            reworked: c.reworked,
            incomplete: c.incomplete,
            accept_met: c.accept_met,
            accept_total: c.accept_total,
            arrive_met: c.arrive_met,
            arrive_total: c.arrive_total,
            promoters: c.promoters,
            passives: c.passives,
            detractors: c.detractors,
            csat_satisfied: c.csat_satisfied,
            csat_responses: c.csat_responses,
            ces_sum: c.ces_sum,
            ces_responses: c.ces_responses,
        }
    }
}

/// `INSERT … ON CONFLICT (org_id, technician_id, day) DO UPDATE SET n = n + excluded.n`
/// on one concrete connection. The multi-backend connection cannot express
/// `ON CONFLICT`, but both backends can, so this is written once and run on
/// whichever connection is inside.
macro_rules! upsert_add {
    ($conn:expr, $rows:expr) => {{
        use diesel::upsert::excluded;
        use scorecard_days::dsl as d;
        diesel::insert_into(scorecard_days::table)
            .values($rows)
            .on_conflict((d::org_id, d::technician_id, d::day))
            .do_update()
            .set((
                d::jobs_completed.eq(d::jobs_completed + excluded(d::jobs_completed)),
                d::visits.eq(d::visits + excluded(d::visits)),
                d::first_time_fixed.eq(d::first_time_fixed + excluded(d::first_time_fixed)),
                d::reworked.eq(d::reworked + excluded(d::reworked)),
                d::incomplete.eq(d::incomplete + excluded(d::incomplete)),
                d::accept_met.eq(d::accept_met + excluded(d::accept_met)),
                d::accept_total.eq(d::accept_total + excluded(d::accept_total)),
                d::arrive_met.eq(d::arrive_met + excluded(d::arrive_met)),
                d::arrive_total.eq(d::arrive_total + excluded(d::arrive_total)),
                d::promoters.eq(d::promoters + excluded(d::promoters)),
                d::passives.eq(d::passives + excluded(d::passives)),
                d::detractors.eq(d::detractors + excluded(d::detractors)),
                d::csat_satisfied.eq(d::csat_satisfied + excluded(d::csat_satisfied)),
                d::csat_responses.eq(d::csat_responses + excluded(d::csat_responses)),
                d::ces_sum.eq(d::ces_sum + excluded(d::ces_sum)),
                d::ces_responses.eq(d::ces_responses + excluded(d::ces_responses)),
            ))
            .execute($conn)
    }};
}

/// Adds counters to their days (insert-or-add). Rows with the same key in
/// one call are fine on PostgreSQL only if they are in different calls, so
/// callers pass distinct keys (one approval touches each key once).
pub fn add(conn: &mut DbConnection, rows: &[DayRow]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // One statement per row: PostgreSQL refuses a multi-row upsert that
    // touches the same key twice, and an approval writes only a few rows.
    for row in rows {
        let insert = DayInsert::from(row);
        match conn {
            DbConnection::Postgres(c) => upsert_add!(c, &insert)?,
            DbConnection::Sqlite(c) => upsert_add!(c, &insert)?,
        };
    }
    Ok(())
}

/// Inserts many rows of distinct keys in one statement (bulk seeding of
/// an empty table; keys already present are added to).
pub fn add_bulk(conn: &mut DbConnection, rows: &[DayRow]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let inserts: Vec<DayInsert<'_>> = rows.iter().map(DayInsert::from).collect();
    match conn {
        DbConnection::Postgres(c) => upsert_add!(c, &inserts)?,
        DbConnection::Sqlite(c) => upsert_add!(c, &inserts)?,
    };
    Ok(())
}

/// `SUM` of every counter (0 when no row matches) as BIGINT on both
/// backends: PostgreSQL sums BIGINT into NUMERIC, which we do not map.
macro_rules! sums {
    () => {
        (
            sql::<BigInt>("CAST(COALESCE(SUM(jobs_completed), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(visits), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(first_time_fixed), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(reworked), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(incomplete), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(accept_met), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(accept_total), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(arrive_met), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(arrive_total), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(promoters), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(passives), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(detractors), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(csat_satisfied), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(csat_responses), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(ces_sum), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(ces_responses), 0) AS BIGINT)"),
        )
    };
}

/// The subtree `prefix`'s totals over local days `[from, to)`: organisation
/// rows only (each already holds its technicians' figures), so a vendor's
/// year reads organisations × days rows, not technicians × days.
pub fn sum_subtree(conn: &mut DbConnection, prefix: &str, from: &str, to: &str) -> QueryResult<Counters> {
    scorecard_days::table
        .filter(scorecard_days::technician_id.eq(ORG_ROW))
        .filter(scorecard_days::day.ge(from))
        .filter(scorecard_days::day.lt(to))
        .filter(scorecard_days::org_path.like(format!("{prefix}%")))
        .select(sums!())
        .first(conn)
}

/// Per organisation of the subtree `prefix` (its own rows, not its
/// descendants'), keyed by the organisation's path.
pub fn sum_per_org(
    conn: &mut DbConnection,
    prefix: &str,
    from: &str,
    to: &str,
) -> QueryResult<Vec<(String, Counters)>> {
    scorecard_days::table
        .filter(scorecard_days::technician_id.eq(ORG_ROW))
        .filter(scorecard_days::day.ge(from))
        .filter(scorecard_days::day.lt(to))
        .filter(scorecard_days::org_path.like(format!("{prefix}%")))
        .group_by(scorecard_days::org_path)
        .select((scorecard_days::org_path, sums!()))
        .load(conn)
}

/// One technician's totals over local days `[from, to)`.
pub fn sum_technician(conn: &mut DbConnection, technician_id: &str, from: &str, to: &str) -> QueryResult<Counters> {
    scorecard_days::table
        .filter(scorecard_days::technician_id.eq(technician_id))
        .filter(scorecard_days::day.ge(from))
        .filter(scorecard_days::day.lt(to))
        .select(sums!())
        .first(conn)
}

/// Per technician of the subtree `prefix` over local days `[from, to)`.
pub fn sum_per_technician(
    conn: &mut DbConnection,
    prefix: &str,
    from: &str,
    to: &str,
) -> QueryResult<Vec<(String, Counters)>> {
    scorecard_days::table
        .filter(scorecard_days::technician_id.ne(ORG_ROW))
        .filter(scorecard_days::day.ge(from))
        .filter(scorecard_days::day.lt(to))
        .filter(scorecard_days::org_path.like(format!("{prefix}%")))
        .group_by(scorecard_days::technician_id)
        .select((scorecard_days::technician_id, sums!()))
        .load(conn)
}

/// How many times the vendor's review returned a job for rework.
pub fn returns_of(conn: &mut DbConnection, job_id: &str) -> QueryResult<i64> {
    use crate::db::schema::job_events;
    job_events::table
        .filter(job_events::job_id.eq(job_id))
        .filter(job_events::event_type.eq(crate::domain::EventType::ReviewReturned))
        .count()
        .get_result(conn)
}

/// How many of a job's visits ended `incomplete`.
pub fn incomplete_visits_of(conn: &mut DbConnection, job_id: &str) -> QueryResult<i64> {
    use crate::db::schema::report_visits;
    report_visits::table
        .filter(report_visits::job_id.eq(job_id))
        .filter(report_visits::outcome.eq("incomplete"))
        .count()
        .get_result(conn)
}

/// The settings key of the survey trigger (`approval` or `completion`).
pub const SURVEY_TRIGGER_KEY: &str = "survey_trigger";

/// Stores a setting, replacing any value (update, else insert; a racing
/// insert of the same key makes ours an update).
pub fn put_setting(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<()> {
    use crate::db::schema::settings;
    let updated = diesel::update(settings::table.find(key)).set(settings::value.eq(value)).execute(conn)?;
    if updated == 0 {
        let inserted = crate::db::insert_unless_exists(conn, |conn| {
            diesel::insert_into(settings::table)
                .values((settings::key.eq(key), settings::value.eq(value)))
                .execute(conn)
        })?;
        if !inserted {
            diesel::update(settings::table.find(key)).set(settings::value.eq(value)).execute(conn)?;
        }
    }
    Ok(())
}
