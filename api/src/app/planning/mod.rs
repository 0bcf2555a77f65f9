//! Day planning in the product: each technician's visits of a local date
//! become a route with planned times (the `dispatch::plan` VRPTW solver), and
//! planned starts flow to customers as ETA windows.
//!
//! A technician's day is re-planned in the transaction of every change to it
//! (assignment, reassignment, cancellation, rescheduling), on demand for a
//! whole organisation (`POST /v1/orgs/{id}/plan`, which may move visits
//! between its technicians), and on a schedule (orders and times only).
//! Visits already `en_route` or `on_site` are never moved: the day continues
//! from them.

mod build;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use dispatch::plan::DenseMatrix;
use serde_json::json;

use self::build::{Planned, build_instance, plan_group, visit_of};

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::lifecycle::Transition;
use crate::domain::shift::{self, LocalShift};
use crate::domain::{Caller, ChainRole, ChangeEntity, EventType, JobKind, JobStatus};
use crate::storage::change_log::{self, Change};
use crate::storage::routes::RouteStop;
use crate::storage::{db_time, jobs, json, offers, orgs, routes, technicians, utc};

/// Half-width of the ETA window around the planned start (see [`eta_window`]).
pub const ETA_HALF_WIDTH_MIN: i64 = 15;

/// The arrival window a customer is shown for a planned start: the start
/// ± 15 min, shifted (not cut) to lie inside the customer's window
/// `[window.0, window.1]`, or the whole window when it is shorter than that.
/// The second value says whether the start itself is inside the window; when
/// it is not, the visit is infeasible (flagged) and the ETA still clamped.
pub fn eta_window(
    start: DateTime<Utc>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> ((DateTime<Utc>, DateTime<Utc>), bool) {
    let half = chrono::Duration::minutes(ETA_HALF_WIDTH_MIN);
    let (open, close) = window;
    let (mut from, mut to) = (start - half, start + half);
    if from < open {
        to += open - from;
        from = open;
    }
    if to > close {
        from -= to - close;
        to = close;
    }
    ((from.max(open), to), open <= start && start <= close)
}

/// A sum of distances; an empty one is `0.0`, not the `-0.0` of `f64`'s `Sum`.
pub fn total_m(distances: impl IntoIterator<Item = f64>) -> f64 {
    distances.into_iter().sum::<f64>() + 0.0
}

/// How long a visit of this kind takes on site.
pub fn service_secs(kind: JobKind) -> f64 {
    match kind {
        JobKind::HomeVisit => 3600.0,
        JobKind::PartsReplacement => 5400.0,
    }
}

/// The technician's local date of an instant (an error if its stored zone is not IANA).
pub fn local_date(t: &technicians::Technician, at: DateTime<Utc>) -> Result<NaiveDate, ApiError> {
    Ok(shift::local_date(shift::zone(&t.timezone)?, at))
}

/// The technician's shift, resolved in its time zone.
fn local_shift(t: &technicians::Technician) -> Result<LocalShift, ApiError> {
    Ok(LocalShift::new(json::shift(&t.shift)?, &t.timezone)?)
}

/// A span of UTC time.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// The technician's shift on `date` in UTC, if it works that day.
fn shift_on(t: &technicians::Technician, date: NaiveDate) -> Result<Option<Span>, ApiError> {
    Ok(local_shift(t)?.on(date).map(|w| (w.start, w.end)))
}

/// One technician's day as loaded.
struct Day {
    tech: technicians::Technician,
    date: NaiveDate,
    /// Visits already under way, in order: the day continues from them.
    pinned: Vec<jobs::Job>,
    movable: Vec<jobs::Job>,
    /// Visits that day that count against capacity but are not planned (done ones).
    other_booked: usize,
}

fn load_day(conn: &mut DbConnection, tech: technicians::Technician, date: NaiveDate) -> Result<Day, ApiError> {
    let (from, to) = shift::day_bounds(shift::zone(&tech.timezone)?, date);
    let jobs = routes::day_jobs(conn, std::slice::from_ref(&tech.id), db_time(from), db_time(to))?;
    Ok(day_of(tech, date, jobs))
}

/// A technician's day from its jobs of that day ([`routes::day_jobs`], by window start): the planned ones
/// (those under way pinned first), and how many more count against its capacity (done ones).
fn day_of(tech: technicians::Technician, date: NaiveDate, jobs: Vec<jobs::Job>) -> Day {
    let booked = jobs.iter().filter(|j| j.status.books_technician()).count();
    let (pinned, movable): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .filter(|j| routes::PLANNED.contains(&j.status))
        .partition(|j| matches!(j.status, JobStatus::EnRoute | JobStatus::OnSite));
    let in_plan = pinned.len() + movable.iter().filter(|j| j.status.books_technician()).count();
    Day { tech, date, pinned, movable, other_booked: booked.saturating_sub(in_plan) }
}

/// What a re-plan did.
#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PlanReport {
    pub technicians: usize,
    pub visits: usize,
    /// Visits that changed technician (organisation plans only).
    pub moved: usize,
    /// Visits that cannot be served in their window (kept in their technician's route, flagged).
    pub infeasible: usize,
    /// Straight-line travel of the planned routes, before and after, in metres.
    pub distance_before_m: f64,
    pub distance_after_m: f64,
}

/// Plans these technicians' days on `date` and stores routes and ETAs. With
/// `move_between` the visits may change technician (skills, shifts and
/// capacity respected); otherwise each technician is planned alone.
pub fn plan_days(
    conn: &mut DbConnection,
    techs: Vec<technicians::Technician>,
    date: NaiveDate,
    move_between: bool,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<PlanReport, ApiError> {
    let speed = (speed_kmh / 3.6).max(0.1);
    let mut days = Vec::with_capacity(techs.len());
    for t in techs {
        days.push(load_day(conn, t, date)?);
    }
    let mut report = PlanReport { technicians: days.len(), ..PlanReport::default() };
    report.distance_before_m = stored_distance(conn, &days)?;
    let groups: Vec<Vec<usize>> =
        if move_between { vec![(0..days.len()).collect()] } else { (0..days.len()).map(|i| vec![i]).collect() };
    let mut planned: HashMap<usize, Vec<Planned>> = HashMap::new();
    for group in groups {
        plan_group(&days, &group, move_between, now, speed, &mut planned)?;
    }
    for (i, day) in days.iter().enumerate() {
        let stops = planned.remove(&i).unwrap_or_default();
        report.visits += stops.len();
        report.infeasible += stops.iter().filter(|s| !s.feasible).count();
        report.distance_after_m += total_m(stops.iter().map(|s| s.travel_m));
        for s in &stops {
            if s.job.technician_id.as_deref() != Some(day.tech.id.as_str()) {
                move_visit(conn, &s.job, &day.tech, now)?;
                report.moved += 1;
            }
        }
        store_day(conn, &day.tech, day.date, &stops, now)?;
    }
    Ok(report)
}

fn stored_distance(conn: &mut DbConnection, days: &[Day]) -> Result<f64, ApiError> {
    let mut total = 0.0;
    for d in days {
        total += total_m(routes::of_day(conn, &d.tech.id, &d.date.to_string())?.iter().map(|(s, _)| s.travel_m));
    }
    Ok(total)
}

/// Moves a visit to another technician during an organisation plan.
fn move_visit(
    conn: &mut DbConnection,
    job: &jobs::Job,
    to: &technicians::Technician,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now_db = db_time(now);
    // The visit keeps its status; the status it was planned in is still the guard.
    if !offers::assign(conn, &job.id, Transition::stay(job.status), Some(&to.id), now_db)? {
        return Err(ApiError::conflict("invalid_transition", "the job changed meanwhile", json!({})));
    }
    jobs::add_to_chain(conn, &job.id, &to.org_id, ChainRole::Assignee, now_db)?;
    if let Some(old) = &job.technician_id {
        change_log::log_change(conn, Change::delete(ChangeEntity::Job, &job.id, Some(old)), now_db)?;
    }
    change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &job.id, Some(&to.id)), now_db)?;
    jobs::append_event(
        conn,
        &job.id,
        EventType::Assigned,
        jobs::Actor::default(),
        &json!({"status": job.status, "technician_id": to.id, "previous_technician_id": job.technician_id, "reason": "replanned"}),
        now_db,
    )?;
    Ok(())
}

/// Stores a day's stops and their ETA windows; phones see the route change.
fn store_day(
    conn: &mut DbConnection,
    tech: &technicians::Technician,
    date: NaiveDate,
    stops: &[Planned],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now_db = db_time(now);
    let mut rows = Vec::with_capacity(stops.len());
    for (i, s) in stops.iter().enumerate() {
        let ((from, to), inside) = eta_window(s.start, (utc(s.job.window_start), utc(s.job.window_end)));
        let eta = Some((db_time(from), db_time(to)));
        if s.job.eta_start.zip(s.job.eta_end) != eta {
            routes::set_eta(conn, &s.job.id, eta)?;
        }
        rows.push(RouteStop {
            job_id: s.job.id.clone(),
            technician_id: tech.id.clone(),
            route_date: date.to_string(),
            position: i32::try_from(i).unwrap_or(i32::MAX),
            planned_arrival: db_time(s.arrival),
            planned_start: db_time(s.start),
            planned_departure: db_time(s.departure),
            feasible: s.feasible && inside,
            travel_m: s.travel_m,
            updated_at: now_db,
        });
    }
    routes::replace(conn, &tech.id, &date.to_string(), &rows)?;
    let route_id = format!("{}:{date}", tech.id);
    change_log::log_change(conn, Change::upsert(ChangeEntity::Route, &route_id, Some(&tech.id)), now_db)?;
    Ok(())
}

/// Re-plans the day (alone) of a job's technician; call after the job changed.
pub fn replan_job_day(
    conn: &mut DbConnection,
    job_id: &str,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<(), ApiError> {
    let Some(job) = jobs::find_scoped(conn, job_id, jobs::JobScope::All)? else { return Ok(()) };
    let Some(tech_id) = job.technician_id.clone() else { return Ok(()) };
    replan_technician_day(conn, &tech_id, utc(job.window_start), now, speed_kmh)
}

/// Re-plans one technician's local day containing `at`.
pub fn replan_technician_day(
    conn: &mut DbConnection,
    technician_id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<(), ApiError> {
    let Some(tech) = technicians::find(conn, technician_id)? else { return Ok(()) };
    let date = local_date(&tech, at)?;
    plan_days(conn, vec![tech], date, false, now, speed_kmh).map(drop)
}

/// When a job leaves a technician's day (cancelled, moved to another technician
/// or date): clear its ETA and re-plan the day it was on (which drops its stop).
pub fn after_job_left(
    conn: &mut DbConnection,
    job_id: &str,
    technician_id: &str,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<(), ApiError> {
    routes::set_eta(conn, job_id, None)?;
    replan_technician_day(conn, technician_id, window_start, now, speed_kmh)
}

/// The travel (metres) a job would add to each of these technicians' planned days at the cheapest feasible
/// place in its current route, in the order given; `None` for a technician who is not found or where it does
/// not fit. Dispatch ranks near-equal candidates by it for jobs due within a day. Three statements whatever
/// the number of technicians: them, their stored routes and their days' jobs.
pub fn added_travel_m(
    conn: &mut DbConnection,
    technician_ids: &[String],
    job: &jobs::Job,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<Vec<Option<f64>>, ApiError> {
    let mut days = Vec::new();
    for tech in technicians::by_ids(conn, technician_ids)? {
        let date = local_date(&tech, utc(job.window_start))?;
        let (from, to) = shift::day_bounds(shift::zone(&tech.timezone)?, date);
        days.push((tech, date, db_time(from), db_time(to)));
    }
    let (Some(from), Some(to)) = (days.iter().map(|d| d.2).min(), days.iter().map(|d| d.3).max()) else {
        return Ok(vec![None; technician_ids.len()]);
    };
    let ids: Vec<String> = days.iter().map(|d| d.0.id.clone()).collect();
    let mut dates: Vec<String> = days.iter().map(|d| d.1.to_string()).collect();
    dates.sort();
    dates.dedup();
    let stops = routes::orders(conn, &ids, &dates)?;
    let day_jobs = routes::day_jobs(conn, &ids, from, to)?;
    let speed = (speed_kmh / 3.6).max(0.1);
    let mut added = HashMap::new();
    for (tech, date, from, to) in days {
        let route_date = date.to_string();
        let order: Vec<&str> = stops
            .iter()
            .filter(|(t, d, _)| *t == tech.id && *d == route_date)
            .map(|(_, _, job_id)| job_id.as_str())
            .collect();
        let its = day_jobs
            .iter()
            .filter(|j| j.technician_id.as_deref() == Some(tech.id.as_str()))
            .filter(|j| j.window_start >= from && j.window_start < to)
            .cloned()
            .collect();
        let id = tech.id.clone();
        added.insert(id, added_to_day(day_of(tech, date, its), &order, job, now, speed)?);
    }
    Ok(technician_ids.iter().map(|id| added.get(id).copied().flatten()).collect())
}

/// The travel (metres) `job` adds to `day` at the cheapest feasible place in its route (`order`: the stored
/// route's job ids; visits not in it go last); `None` when it does not fit.
fn added_to_day(
    day: Day,
    order: &[&str],
    job: &jobs::Job,
    now: DateTime<Utc>,
    speed: f64,
) -> Result<Option<f64>, ApiError> {
    let days = [day];
    let Some(mut built) = build_instance(&days, &[0], false, now, speed)? else { return Ok(None) };
    let position = |id: &str| order.iter().position(|o| *o == id).unwrap_or(usize::MAX);
    let mut visits: Vec<usize> = (0..built.instance.visits.len()).collect();
    visits.sort_by_key(|&v| position(&built.instance.visits[v].id));
    let route = dispatch::plan::Route { technician: 0, visits };
    let visit = visit_of(&mut built.instance, built.origin, job, false)?;
    let matrix = DenseMatrix::for_instance(&built.instance);
    Ok(dispatch::plan::best_insertion(&built.instance, &[route], &visit, &matrix).map(|i| i.added_distance))
}

/// The scheduled re-plan: every technician day with a stored route from
/// yesterday to tomorrow (UTC dates), each in its own transaction; a day that
/// fails is logged and the others are still planned. Returns how many days.
pub fn replan_stored_days(conn: &mut DbConnection, now: DateTime<Utc>, speed_kmh: f64) -> Result<usize, ApiError> {
    let today = now.date_naive();
    let dates: Vec<String> =
        [today.pred_opt(), Some(today), today.succ_opt()].into_iter().flatten().map(|d| d.to_string()).collect();
    let days = routes::days_on(conn, &dates)?;
    for (tech, date) in &days {
        let Ok(date) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else { continue };
        let planned = crate::db::write_tx(conn, |conn| {
            let Some(t) = technicians::find(conn, tech)? else { return Ok(()) };
            plan_days(conn, vec![t], date, false, now, speed_kmh).map(drop)
        });
        if let Err(e) = planned {
            tracing::error!(technician.id = %tech, %date, error = %e, "Scheduled re-plan of a day failed");
        }
    }
    Ok(days.len())
}

/// `POST /v1/orgs/{id}/plan`: plans the active technicians of an organisation
/// the caller manages together on `date` (default: the local today of its
/// first technician), letting visits move between them.
pub fn plan_org(
    conn: &mut DbConnection,
    caller: &Caller,
    org_id: &str,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<PlanReport, ApiError> {
    let org = orgs::find(conn, org_id)?.filter(|o| caller.manages(&o.path)).ok_or(ApiError::NotFound)?;
    let techs: Vec<technicians::Technician> =
        technicians::list(conn, &org.path, Some(&org.id), None, 10_000)?.into_iter().filter(|t| t.active).collect();
    let date = match (date, techs.first()) {
        (Some(d), _) => d,
        (None, Some(t)) => local_date(t, now)?,
        (None, None) => now.date_naive(),
    };
    plan_days(conn, techs, date, true, now, speed_kmh)
}

/// A technician's planned day as stored.
pub struct DayRoute {
    pub technician: technicians::Technician,
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// The stops in order, each with its job.
    pub stops: Vec<(RouteStop, jobs::Job)>,
}

/// A technician's planned day (for the technician itself, or a dispatcher
/// managing it) on `date`, by default its local today.
pub fn day_route(
    conn: &mut DbConnection,
    caller: &Caller,
    technician_id: &str,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<DayRoute, ApiError> {
    let (t, path) = technicians::find_with_org_path(conn, technician_id)?.ok_or(ApiError::NotFound)?;
    if !(caller.manages(&path) || caller.technician_id.as_deref() == Some(t.id.as_str())) {
        return Err(ApiError::NotFound);
    }
    let date = match date {
        Some(d) => d,
        None => local_date(&t, now)?,
    }
    .to_string();
    let stops = routes::of_day(conn, &t.id, &date)?;
    Ok(DayRoute { technician: t, date, stops })
}
