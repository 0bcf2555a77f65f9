//! A planning problem built from technicians' days, solved by
//! `dispatch::plan`, and read back as timed stops. No queries here.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use dispatch::plan::matrix::great_circle_m;
use dispatch::plan::{
    DenseMatrix, Instance, Location, Metric, MonotonicClock, Objective, PlanOptions, Technician, TimeWindow, Visit,
    latest_departures,
};

use super::{Day, local_date, service_secs, shift_on};
use crate::app_error::ApiError;
use crate::domain::JobStatus;
use crate::storage::{jobs, json, utc};

/// A planned stop before it is stored.
pub(super) struct Planned {
    pub(super) job: jobs::Job,
    pub(super) arrival: DateTime<Utc>,
    pub(super) start: DateTime<Utc>,
    pub(super) departure: DateTime<Utc>,
    pub(super) feasible: bool,
    pub(super) travel_m: f64,
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
    let is_today = local_date(t, now)? == day.date;
    let mut here = loc(t.home_lat, t.home_lon);
    // A day under way (a visit en route or on site) continues from where the technician is, now.
    if !day.pinned.is_empty() || (is_today && now > start) {
        start = now;
        here = loc(t.pos_lat.unwrap_or(t.home_lat), t.pos_lon.unwrap_or(t.home_lon));
    }
    for job in &day.pinned {
        let there = loc(job.lat, job.lon);
        let travel_m = great_circle_m(here, there);
        let (arrival, begin) = match job.status {
            JobStatus::OnSite => {
                let arrived = job.first_on_site_at.map_or(now, utc);
                (arrived, arrived)
            }
            // On the way: from here, now; service waits for the customer's window.
            _ => {
                let arrival = start.max(now) + chrono::Duration::milliseconds((travel_m / speed * 1000.0) as i64);
                (arrival, arrival.max(utc(job.window_start)))
            }
        };
        let departure = (begin + chrono::Duration::seconds(service_secs(job.kind) as i64)).max(now);
        let feasible = job.status == JobStatus::OnSite || begin <= utc(job.window_end);
        out.push(Planned { job: job.clone(), arrival, start: begin, departure, feasible, travel_m });
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

/// A planning problem built from some technicians' days.
pub(super) struct Built<'d> {
    pub(super) instance: Instance,
    pub(super) origin: DateTime<Utc>,
    /// Where and when each technician's plannable day starts (after visits under way).
    pub(super) starts: Vec<(Location, DateTime<Utc>)>,
    /// The job behind each visit of `instance`.
    pub(super) visit_jobs: Vec<&'d jobs::Job>,
    /// The visits under way, per day index, already timed.
    pub(super) pinned: Vec<(usize, Vec<Planned>)>,
}

pub(super) fn build_instance<'d>(
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
        let skills = json::codes(&day.tech.skills)?;
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
pub(super) fn visit_of(
    instance: &mut Instance,
    origin: DateTime<Utc>,
    job: &jobs::Job,
    with_skills: bool,
) -> Result<Visit, ApiError> {
    instance.locations.push(loc(job.lat, job.lon));
    let required = if with_skills { json::codes(&job.required_skills)? } else { Vec::new() };
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
pub(super) fn plan_group(
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
        // Leave each place as late as the plan allows: no hours of waiting at the first door.
        let late = latest_departures(&instance, &matrix, route);
        let mut prev = instance.technicians[route.technician].start_location;
        let list = out.entry(day_index).or_default();
        for stop in late.stops {
            let visit = &instance.visits[stop.visit];
            placed[stop.visit] = true;
            list.push(Planned {
                job: visit_jobs[stop.visit].clone(),
                arrival: at(origin, stop.arrival_secs),
                start: at(origin, stop.start_secs),
                departure: at(origin, stop.departure_secs),
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
