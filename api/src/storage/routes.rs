//! Planned routes: each technician's visits of a local date, in order, with times.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{jobs, route_stops};
use crate::domain::JobStatus;

/// A planned stop.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = route_stops, treat_none_as_default_value = false)]
pub struct RouteStop {
    pub job_id: String,
    pub technician_id: String,
    pub route_date: String,
    pub position: i32,
    pub planned_arrival: NaiveDateTime,
    pub planned_start: NaiveDateTime,
    pub planned_departure: NaiveDateTime,
    pub feasible: bool,
    pub travel_m: f64,
    pub updated_at: NaiveDateTime,
}

/// Statuses a technician's day is planned from.
pub const PLANNED: [JobStatus; 5] =
    [JobStatus::Scheduled, JobStatus::Returned, JobStatus::Incomplete, JobStatus::EnRoute, JobStatus::OnSite];

/// Jobs of these technicians starting in `[from, to)` that their days' plans or capacity count: a planned
/// status ([`PLANNED`]) or one that books the technician; by window start.
pub fn day_jobs(
    conn: &mut DbConnection,
    technician_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<super::jobs::Job>> {
    let counted: Vec<JobStatus> =
        JobStatus::ALL.iter().copied().filter(|s| PLANNED.contains(s) || s.books_technician()).collect();
    jobs::table
        .filter(jobs::technician_id.eq_any(technician_ids))
        .filter(jobs::status.eq_any(counted))
        .filter(jobs::window_start.ge(from))
        .filter(jobs::window_start.lt(to))
        .order(jobs::window_start.asc())
        .load(conn)
}

/// The stored routes of these technicians on these dates, in route order: `(technician_id, route_date,
/// job_id)`.
pub fn orders(
    conn: &mut DbConnection,
    technician_ids: &[String],
    route_dates: &[String],
) -> QueryResult<Vec<(String, String, String)>> {
    route_stops::table
        .filter(route_stops::technician_id.eq_any(technician_ids))
        .filter(route_stops::route_date.eq_any(route_dates))
        .order((route_stops::technician_id.asc(), route_stops::route_date.asc(), route_stops::position.asc()))
        .select((route_stops::technician_id, route_stops::route_date, route_stops::job_id))
        .load(conn)
}

/// Replaces a technician's route for a date (and drops these jobs from any other route).
pub fn replace(conn: &mut DbConnection, technician_id: &str, route_date: &str, stops: &[RouteStop]) -> QueryResult<()> {
    diesel::delete(
        route_stops::table
            .filter(route_stops::technician_id.eq(technician_id))
            .filter(route_stops::route_date.eq(route_date)),
    )
    .execute(conn)?;
    let ids: Vec<&str> = stops.iter().map(|s| s.job_id.as_str()).collect();
    diesel::delete(route_stops::table.filter(route_stops::job_id.eq_any(ids))).execute(conn)?;
    for stop in stops {
        diesel::insert_into(route_stops::table).values(stop).execute(conn)?;
    }
    Ok(())
}

/// A technician's route for a date, in order, with each stop's job.
pub fn of_day(
    conn: &mut DbConnection,
    technician_id: &str,
    route_date: &str,
) -> QueryResult<Vec<(RouteStop, super::jobs::Job)>> {
    route_stops::table
        .inner_join(jobs::table)
        .filter(route_stops::technician_id.eq(technician_id))
        .filter(route_stops::route_date.eq(route_date))
        .order(route_stops::position.asc())
        .select((route_stops::all_columns, jobs::all_columns))
        .load(conn)
}

/// The stop of a job, if planned.
pub fn of_job(conn: &mut DbConnection, job_id: &str) -> QueryResult<Option<RouteStop>> {
    route_stops::table.find(job_id).first(conn).optional()
}

/// Sets a job's ETA window.
pub fn set_eta(
    conn: &mut DbConnection,
    job_id: &str,
    eta: Option<(NaiveDateTime, NaiveDateTime)>,
) -> QueryResult<usize> {
    diesel::update(jobs::table.find(job_id))
        .set((jobs::eta_start.eq(eta.map(|e| e.0)), jobs::eta_end.eq(eta.map(|e| e.1))))
        .execute(conn)
}

/// (technician, date) pairs with a planned stop on one of these dates (the scheduled re-plan).
pub fn days_on(conn: &mut DbConnection, dates: &[String]) -> QueryResult<Vec<(String, String)>> {
    route_stops::table
        .filter(route_stops::route_date.eq_any(dates))
        .select((route_stops::technician_id, route_stops::route_date))
        .distinct()
        .load(conn)
}
