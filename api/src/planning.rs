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

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Utc};
use dispatch::plan::matrix::great_circle_m;
use dispatch::plan::{
    DenseMatrix, Instance, Location, Metric, MonotonicClock, Objective, PlanOptions, Technician, TimeWindow, Visit,
    timeline,
};
use serde_json::json;

use crate::db::DbConnection;
use crate::domain::{ChainRole, EventType, JobKind, JobStatus};
use crate::error::ApiError;
use crate::routes::technicians::Shift;
use crate::storage::routes::RouteStop;
use crate::storage::{self, db_time, jobs, offers, routes, technicians, utc};

/// Average driving speed between visits (straight-line distance), km/h.
pub const DEFAULT_SPEED_KMH: f64 = 30.0;
/// Half-width of the ETA window around the planned start (the window is shifted
/// so it never opens before the customer's own window).
pub const ETA_HALF_WIDTH_MIN: i64 = 15;

/// How long a visit of this kind takes on site.
pub fn service_secs(kind: JobKind) -> f64 {
    match kind {
        JobKind::HomeVisit => 3600.0,
        JobKind::PartsReplacement => 5400.0,
    }
}

/// The technician's local date of an instant.
pub fn local_date(t: &technicians::Technician, at: DateTime<Utc>) -> NaiveDate {
    tz_of(t).from_utc_datetime(&at.naive_utc()).date_naive()
}

fn tz_of(t: &technicians::Technician) -> chrono_tz::Tz {
    t.timezone.parse().unwrap_or(chrono_tz::UTC)
}

/// The UTC bounds of a technician's local date.
fn day_bounds(t: &technicians::Technician, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let tz = tz_of(t);
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map_or_else(|| d.and_time(NaiveTime::MIN).and_utc(), |x| x.with_timezone(&Utc))
    };
    (at(date), at(date.succ_opt().unwrap_or(date)))
}

/// The technician's shift on `date` in UTC, if it works that day.
/// A span of UTC time.
type Span = (DateTime<Utc>, DateTime<Utc>);

fn shift_on(t: &technicians::Technician, date: NaiveDate) -> Result<Option<Span>, ApiError> {
    use chrono::Datelike as _;
    let shift: Shift = storage::from_json(&t.shift)?;
    let weekday = u8::try_from(date.weekday().number_from_monday()).unwrap_or(0);
    if !shift.days.contains(&weekday) {
        return Ok(None);
    }
    let time = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap_or(NaiveTime::MIN);
    let tz = tz_of(t);
    let intervals = dispatch::eligibility::shift_intervals(time(&shift.start), time(&shift.end), [date], |local| {
        tz.from_local_datetime(&local).earliest().map(|d| d.with_timezone(&Utc))
    });
    Ok(intervals.first().map(|w| (w.start, w.end)))
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

/// How many jobs book a technician on its local `date` (what daily capacity counts).
pub fn booked_on_day(
    conn: &mut DbConnection,
    tech: &technicians::Technician,
    date: NaiveDate,
) -> Result<usize, ApiError> {
    let (from, to) = day_bounds(tech, date);
    Ok(offers::booked_windows(conn, Some(&tech.id), db_time(from), db_time(to))?.len())
}

fn load_day(conn: &mut DbConnection, tech: technicians::Technician, date: NaiveDate) -> Result<Day, ApiError> {
    let (from, to) = day_bounds(&tech, date);
    let planned = routes::plannable_jobs(conn, &tech.id, db_time(from), db_time(to))?;
    let booked = booked_on_day(conn, &tech, date)?;
    let (pinned, movable): (Vec<_>, Vec<_>) =
        planned.into_iter().partition(|j| matches!(j.status, JobStatus::EnRoute | JobStatus::OnSite));
    let in_plan = pinned.len() + movable.iter().filter(|j| j.status.books_technician()).count();
    Ok(Day { tech, date, pinned, movable, other_booked: booked.saturating_sub(in_plan) })
}

/// A planned stop before it is stored.
struct Planned {
    job: jobs::Job,
    arrival: DateTime<Utc>,
    start: DateTime<Utc>,
    departure: DateTime<Utc>,
    feasible: bool,
    travel_m: f64,
}

fn secs(origin: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
    (t - origin).num_milliseconds() as f64 / 1000.0
}

fn at(origin: DateTime<Utc>, s: f64) -> DateTime<Utc> {
    origin + chrono::Duration::milliseconds((s * 1000.0).round() as i64)
}

fn loc(lat: f64, lon: f64) -> Location {
    Location { x: lon, y: lat }
}

/// Where and when a technician's plannable day begins, after the visits under way.
fn day_start(
    day: &Day,
    now: DateTime<Utc>,
    speed: f64,
    out: &mut Vec<Planned>,
) -> Result<(Location, DateTime<Utc>, DateTime<Utc>), ApiError> {
    let t = &day.tech;
    let shift = shift_on(t, day.date)?;
    let (mut start, end) = shift.unwrap_or((now, now));
    let is_today = local_date(t, now) == day.date;
    let mut here = loc(t.home_lat, t.home_lon);
    if is_today && now > start {
        start = now;
        here = loc(t.pos_lat.unwrap_or(t.home_lat), t.pos_lon.unwrap_or(t.home_lon));
    }
    for job in &day.pinned {
        let there = loc(job.lat, job.lon);
        let travel_m = great_circle_m(here, there);
        let arrival = match job.status {
            JobStatus::OnSite => job.first_on_site_at.map_or(now, utc),
            _ => start.max(now) + chrono::Duration::milliseconds((travel_m / speed * 1000.0) as i64),
        };
        let departure = (arrival + chrono::Duration::seconds(service_secs(job.kind) as i64)).max(now);
        out.push(Planned { job: job.clone(), arrival, start: arrival, departure, feasible: true, travel_m });
        here = there;
        start = departure;
    }
    Ok((here, start, if shift.is_some() { end } else { start }))
}

/// Appends visits the planner could not fit, in window order, with honest (late) times.
fn append_unplanned(
    out: &mut Vec<Planned>,
    mut visits: Vec<jobs::Job>,
    from: Location,
    after: DateTime<Utc>,
    speed: f64,
) {
    visits.sort_by_key(|j| j.window_start);
    let (mut here, mut free) = (from, after);
    for job in visits {
        let there = loc(job.lat, job.lon);
        let travel_m = great_circle_m(here, there);
        let arrival = free + chrono::Duration::milliseconds((travel_m / speed * 1000.0) as i64);
        let start = arrival.max(utc(job.window_start));
        let departure = start + chrono::Duration::seconds(service_secs(job.kind) as i64);
        let feasible = start <= utc(job.window_end);
        out.push(Planned { job, arrival, start, departure, feasible, travel_m });
        here = there;
        free = departure;
    }
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
        report.distance_after_m += stops.iter().map(|s| s.travel_m).sum::<f64>();
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
        total += routes::of_day(conn, &d.tech.id, &d.date.to_string())?.iter().map(|(s, _)| s.travel_m).sum::<f64>();
    }
    Ok(total)
}

/// A planning problem built from some technicians' days.
struct Built<'d> {
    instance: Instance,
    origin: DateTime<Utc>,
    /// Where and when each technician's plannable day starts (after visits under way).
    starts: Vec<(Location, DateTime<Utc>)>,
    /// The job behind each visit of `instance`.
    visit_jobs: Vec<&'d jobs::Job>,
    /// The visits under way, per day index, already timed.
    pinned: Vec<(usize, Vec<Planned>)>,
}

fn build_instance<'d>(
    days: &'d [Day],
    group: &[usize],
    with_skills: bool,
    now: DateTime<Utc>,
    speed: f64,
) -> Result<Option<Built<'d>>, ApiError> {
    let Some(first) = group.first().and_then(|&i| days.get(i)) else { return Ok(None) };
    // Seconds from 14 h before the date's UTC midnight: every time zone's day is positive.
    let origin = first.date.and_time(NaiveTime::MIN).and_utc() - chrono::Duration::hours(14);
    let mut instance = Instance {
        name: first.date.to_string(),
        locations: Vec::new(),
        metric: Metric::GreatCircle { speed_m_per_s: speed },
        technicians: Vec::new(),
        visits: Vec::new(),
    };
    let (mut starts, mut visit_jobs, mut pinned_all) = (Vec::new(), Vec::new(), Vec::new());
    for &i in group {
        let day = &days[i];
        let mut pinned = Vec::new();
        let (from, start, end) = day_start(day, now, speed, &mut pinned)?;
        let capacity =
            usize::try_from(day.tech.daily_capacity).unwrap_or(0).saturating_sub(day.other_booked + pinned.len());
        pinned_all.push((i, pinned));
        starts.push((from, start));
        instance.locations.push(from);
        instance.locations.push(loc(day.tech.home_lat, day.tech.home_lon));
        let skills: Vec<String> = storage::from_json(&day.tech.skills)?;
        instance.technicians.push(Technician {
            id: day.tech.id.clone(),
            start_location: instance.locations.len() - 2,
            end_location: instance.locations.len() - 1,
            shift: TimeWindow { start: secs(origin, start), end: secs(origin, end.max(start)) },
            capacity: capacity as f64,
            skills,
        });
        for job in &day.movable {
            let visit = visit_of(&mut instance, origin, job, with_skills)?;
            instance.visits.push(visit);
            visit_jobs.push(job);
        }
    }
    Ok(Some(Built { instance, origin, starts, visit_jobs, pinned: pinned_all }))
}

/// A job as a planner visit (its location appended to the instance).
fn visit_of(
    instance: &mut Instance,
    origin: DateTime<Utc>,
    job: &jobs::Job,
    with_skills: bool,
) -> Result<Visit, ApiError> {
    instance.locations.push(loc(job.lat, job.lon));
    let required: Vec<String> = if with_skills { storage::from_json(&job.required_skills)? } else { Vec::new() };
    Ok(Visit {
        id: job.id.clone(),
        location: instance.locations.len() - 1,
        window: TimeWindow { start: secs(origin, utc(job.window_start)), end: secs(origin, utc(job.window_end)) },
        service_secs: service_secs(job.kind),
        demand: 1.0,
        required_skills: required,
    })
}

/// Plans one group of days together (one technician, or an organisation's).
fn plan_group(
    days: &[Day],
    group: &[usize],
    with_skills: bool,
    now: DateTime<Utc>,
    speed: f64,
    out: &mut HashMap<usize, Vec<Planned>>,
) -> Result<(), ApiError> {
    let Some(Built { instance, origin, starts, visit_jobs, pinned }) =
        build_instance(days, group, with_skills, now, speed)?
    else {
        return Ok(());
    };
    out.extend(pinned);
    if instance.visits.is_empty() {
        return Ok(());
    }
    let options = PlanOptions {
        objective: Objective::Distance,
        time_limit: Duration::from_millis(if group.len() > 1 { 2000 } else { 300 }),
        iterations: Some(if group.len() > 1 { 3000 } else { 300 }),
        seed: 1,
    };
    let plan = dispatch::plan::solve(&instance, &options, &MonotonicClock::new());
    let matrix = DenseMatrix::for_instance(&instance);
    let mut placed = vec![false; instance.visits.len()];
    for route in &plan.routes {
        let Some(&day_index) = group.get(route.technician) else { continue };
        let stops = timeline(&instance, &matrix, route);
        let mut prev = instance.technicians[route.technician].start_location;
        let list = out.entry(day_index).or_default();
        for stop in stops {
            let visit = &instance.visits[stop.visit];
            placed[stop.visit] = true;
            let start = at(origin, stop.start_secs);
            list.push(Planned {
                job: visit_jobs[stop.visit].clone(),
                arrival: at(origin, stop.arrival_secs),
                start,
                departure: start + chrono::Duration::milliseconds((visit.service_secs * 1000.0) as i64),
                feasible: true,
                travel_m: dispatch::plan::TravelMatrix::distance(&matrix, prev, visit.location),
            });
            prev = visit.location;
        }
    }
    // What the planner left out stays with its technician, appended and flagged.
    for (g, &day_index) in group.iter().enumerate() {
        let tech_id = &days[day_index].tech.id;
        let left: Vec<jobs::Job> = visit_jobs
            .iter()
            .enumerate()
            .filter(|(v, j)| !placed[*v] && j.technician_id.as_deref() == Some(tech_id.as_str()))
            .map(|(_, j)| (*j).clone())
            .collect();
        if left.is_empty() {
            continue;
        }
        let list = out.entry(day_index).or_default();
        let (from, after) = match list.last() {
            Some(p) => (loc(p.job.lat, p.job.lon), p.departure),
            None => starts[g],
        };
        append_unplanned(list, left, from, after, speed);
    }
    Ok(())
}

/// Moves a visit to another technician during an organisation plan.
fn move_visit(
    conn: &mut DbConnection,
    job: &jobs::Job,
    to: &technicians::Technician,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now_db = db_time(now);
    offers::assign(conn, &job.id, job.status, job.status, Some(&to.id), now_db)?;
    jobs::add_to_chain(conn, &job.id, &to.org_id, ChainRole::Assignee, now_db)?;
    if let Some(old) = &job.technician_id {
        jobs::log_change(conn, "job", &job.id, Some(old), true, now_db)?;
    }
    jobs::log_change(conn, "job", &job.id, Some(&to.id), false, now_db)?;
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
    let rows: Vec<RouteStop> = stops
        .iter()
        .enumerate()
        .map(|(i, s)| RouteStop {
            job_id: s.job.id.clone(),
            technician_id: tech.id.clone(),
            route_date: date.to_string(),
            position: i32::try_from(i).unwrap_or(i32::MAX),
            planned_arrival: db_time(s.arrival),
            planned_start: db_time(s.start),
            planned_departure: db_time(s.departure),
            feasible: s.feasible,
            travel_m: s.travel_m,
            updated_at: now_db,
        })
        .collect();
    routes::replace(conn, &tech.id, &date.to_string(), &rows)?;
    let half = chrono::Duration::minutes(ETA_HALF_WIDTH_MIN);
    for s in stops {
        // Planned start ± 15 min, shifted so it never opens before the customer's window.
        let from = (s.start - half).max(utc(s.job.window_start).min(s.start));
        let eta = Some((db_time(from), db_time(from + half + half)));
        if s.job.eta_start.zip(s.job.eta_end) != eta {
            routes::set_eta(conn, &s.job.id, eta)?;
        }
    }
    jobs::log_change(conn, "route", &format!("{}:{date}", tech.id), Some(&tech.id), false, now_db)?;
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
    let Some((tech, _)) = technicians::find_with_org_path(conn, technician_id)? else { return Ok(()) };
    let date = local_date(&tech, at);
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

/// The travel (metres) a job would add to a technician's planned day at the
/// cheapest feasible place in its current route; `None` when it does not fit.
/// Dispatch ranks near-equal candidates by it for jobs due within a day.
pub fn added_travel_m(
    conn: &mut DbConnection,
    technician_id: &str,
    job: &jobs::Job,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<Option<f64>, ApiError> {
    let Some((tech, _)) = technicians::find_with_org_path(conn, technician_id)? else { return Ok(None) };
    let date = local_date(&tech, utc(job.window_start));
    let order: Vec<String> =
        routes::of_day(conn, &tech.id, &date.to_string())?.into_iter().map(|(s, _)| s.job_id).collect();
    let days = vec![load_day(conn, tech, date)?];
    let speed = (speed_kmh / 3.6).max(0.1);
    let Some(mut built) = build_instance(&days, &[0], false, now, speed)? else { return Ok(None) };
    // The current route in its stored order (visits not yet in it go last).
    let position = |id: &str| order.iter().position(|o| o == id).unwrap_or(usize::MAX);
    let mut visits: Vec<usize> = (0..built.instance.visits.len()).collect();
    visits.sort_by_key(|&v| position(&built.instance.visits[v].id));
    let route = dispatch::plan::Route { technician: 0, visits };
    let visit = visit_of(&mut built.instance, built.origin, job, false)?;
    let matrix = DenseMatrix::for_instance(&built.instance);
    Ok(dispatch::plan::best_insertion(&built.instance, &[route], &visit, &matrix).map(|i| i.added_distance))
}
