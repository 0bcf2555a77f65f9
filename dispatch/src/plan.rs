//! Day planning: the vehicle routing problem with time windows (VRPTW).
//!
//! Technicians leave a start location inside their shift, serve visits whose service must
//! start inside one time window, carry a limited capacity (parts, or one unit per visit),
//! need the skills a visit asks for, and come back to their end location before the shift ends.
//! [`solve`] builds a plan in two steps:
//!
//! 1. **Construction** by regret-2 insertion (`construct`).
//! 2. **Improvement** by ruin and recreate with slack induction by string removals
//!    (SISR, Christiaens & Vanden Berghe 2020) under simulated annealing (`search`). For
//!    [`Objective::Vehicles`] a route-elimination phase driven by absence counters sits between
//!    a distance warm-up and a last annealing phase on the fewest routes found. Insertions are
//!    checked in O(1) with forward earliest-start and backward latest-start arrays per route.
//!
//! The search stops at [`PlanOptions::time_limit`] as read from the injected [`Clock`], or
//! after [`PlanOptions::iterations`]; with an iteration budget the plan depends on the seed only.
//! Visits that no technician can serve are returned in [`DayPlan::unassigned`] with a reason.
//!
//! # Layout
//! - [`matrix`]: travel distances and times ([`TravelMatrix`], great-circle or Euclidean).
//! - [`solomon`]: the Solomon text format of the VRPTW benchmarks.
//! - [`check`](mod@check): the feasibility checker every plan can be passed through.
//! - [`insertion`]: the cheapest feasible insertion of one new visit into today's routes.
//! - [`bench`]: benchmark rows against best-known solutions, and the plain-text table.
//! - [`clock`]: the [`Clock`] the time limit is measured with.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use dispatch::plan::{self, MonotonicClock, Objective, PlanOptions};
//!
//! let text = "TINY\nVEHICLE\nNUMBER CAPACITY\n 2 10\nCUSTOMER\n\
//!     0 0 0 0 0 100 0\n1 3 4 1 0 50 1\n2 -3 4 1 0 50 1\n";
//! let instance = plan::solomon::parse(text)?;
//! let options = PlanOptions {
//!     objective: Objective::Distance,
//!     time_limit: Duration::from_secs(1),
//!     iterations: Some(200),
//!     seed: 7,
//! };
//! let day = plan::solve(&instance, &options, &MonotonicClock::new());
//! plan::check(&instance, &day)?;
//! assert!(day.unassigned.is_empty());
//! assert!((day.distance - 16.0).abs() < 1e-9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bench;
pub mod check;
pub mod clock;
mod construct;
pub mod insertion;
pub mod matrix;
mod model;
mod rng;
mod route;
mod search;
pub mod solomon;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use check::{Violation, check, check_with_matrix};
pub use clock::{Clock, MonotonicClock};
pub use insertion::{Insertion, best_insertion};
pub use matrix::{DenseMatrix, Metric, TravelMatrix};

/// A point: Euclidean `x`/`y`, or longitude (`x`) and latitude (`y`) in degrees for [`Metric::GreatCircle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Easting, or longitude in degrees.
    pub x: f64,
    /// Northing, or latitude in degrees.
    pub y: f64,
}

/// A closed interval of times, in seconds from the day origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWindow {
    /// Earliest time.
    pub start: f64,
    /// Latest time.
    pub end: f64,
}

/// A job to do at one place: service must *start* inside `window`.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    /// Caller's identifier (the customer number for Solomon files).
    pub id: String,
    /// Index into [`Instance::locations`] (and into the travel matrix).
    pub location: usize,
    /// When service may start.
    pub window: TimeWindow,
    /// How long the technician stays, in seconds.
    pub service_secs: f64,
    /// Capacity used: parts, or 1.0 when technicians are limited in visits.
    pub demand: f64,
    /// Skills the technician must have, all of them.
    pub required_skills: Vec<String>,
}

/// A technician (a vehicle): where the day starts and ends, the shift and what they carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Technician {
    /// Caller's identifier.
    pub id: String,
    /// Index into [`Instance::locations`] where the day starts (home base or depot).
    pub start_location: usize,
    /// Index into [`Instance::locations`] where the day ends.
    pub end_location: usize,
    /// Leave the start no earlier than `shift.start`; be back at the end by `shift.end`.
    pub shift: TimeWindow,
    /// Largest total [`Visit::demand`] on one route.
    pub capacity: f64,
    /// Skills held.
    pub skills: Vec<String>,
}

/// One day's planning problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// A name for reports (the first line of a Solomon file).
    pub name: String,
    /// Every place; visits and technicians refer to these by index.
    pub locations: Vec<Location>,
    /// How the default travel matrix is computed from `locations`.
    pub metric: Metric,
    /// The fleet; at most one route per technician.
    pub technicians: Vec<Technician>,
    /// The visits to plan.
    pub visits: Vec<Visit>,
}

/// What the planner minimises first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Total travel distance; any number of technicians may be used.
    Distance,
    /// Number of technicians used, then total travel distance.
    Vehicles,
}

/// How hard and how long to search.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// What to minimise.
    pub objective: Objective,
    /// Stop when the injected [`Clock`] has advanced this much since the start.
    pub time_limit: Duration,
    /// Stop after this many ruin-and-recreate iterations (the time limit still applies).
    ///
    /// With a budget the annealing schedule follows iterations instead of time, so the plan
    /// depends only on the input and `seed` as long as the time limit is not reached.
    pub iterations: Option<u64>,
    /// Seed of the pseudo-random stream.
    pub seed: u64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { objective: Objective::Vehicles, time_limit: Duration::from_secs(1), iterations: None, seed: 1 }
    }
}

/// One technician's visits in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Index into [`Instance::technicians`].
    pub technician: usize,
    /// Indices into [`Instance::visits`], in the order served.
    pub visits: Vec<usize>,
}

/// Why a visit is left out of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnassignedReason {
    /// No technician has every required skill.
    NoTechnicianWithSkills,
    /// The demand exceeds the capacity of every technician that has the skills.
    DemandExceedsCapacity,
    /// No technician with the skills can start service inside the window and still get home in time,
    /// even with this as their only visit.
    WindowUnreachable,
    /// The visit could be served alone, but the planner found no room for it in the fleet.
    NoRoom,
    /// [`Visit::location`] is not an index into [`Instance::locations`].
    UnknownLocation,
}

/// A visit left out of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unassigned {
    /// Index into [`Instance::visits`].
    pub visit: usize,
    /// Why.
    pub reason: UnassignedReason,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DayPlan {
    /// Non-empty routes, at most one per technician.
    pub routes: Vec<Route>,
    /// Visits not planned, each with a reason; never silently dropped.
    pub unassigned: Vec<Unassigned>,
    /// Total travel distance of `routes` (metres, or Euclidean units).
    pub distance: f64,
    /// Number of technicians used (`routes.len()`).
    pub vehicles: usize,
}

/// A stop of a route with its times, as [`timeline`] computes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    /// Index into [`Instance::visits`].
    pub visit: usize,
    /// When the technician arrives, in seconds from the day origin.
    pub arrival_secs: f64,
    /// When service starts (after any wait for the window).
    pub start_secs: f64,
}

/// Plans the day with the travel matrix given by `instance.metric`.
///
/// Never fails: a technician whose locations are not in `instance.locations` is not used, and a
/// visit that cannot be planned is in [`DayPlan::unassigned`] with the reason.
pub fn solve(instance: &Instance, options: &PlanOptions, clock: &dyn Clock) -> DayPlan {
    let matrix = DenseMatrix::for_instance(instance);
    solve_with_matrix(instance, &matrix, options, clock)
}

/// Plans the day with a caller's travel matrix (a road router), indexed like `instance.locations`.
pub fn solve_with_matrix(
    instance: &Instance,
    matrix: &dyn TravelMatrix,
    options: &PlanOptions,
    clock: &dyn Clock,
) -> DayPlan {
    search::solve(instance, matrix, options, clock)
}

/// Arrival and service-start times along `route`, leaving the start at the beginning of the shift.
pub fn timeline(instance: &Instance, matrix: &dyn TravelMatrix, route: &Route) -> Vec<Stop> {
    let Some(tech) = instance.technicians.get(route.technician) else {
        return Vec::new();
    };
    let known = |l: usize| l < instance.locations.len();
    if !known(tech.start_location) {
        return Vec::new();
    }
    let mut stops = Vec::with_capacity(route.visits.len());
    let mut at = tech.start_location;
    let mut free_secs = tech.shift.start;
    for &v in &route.visits {
        let Some(visit) = instance.visits.get(v).filter(|x| known(x.location)) else {
            continue;
        };
        let arrival_secs = free_secs + matrix.travel_secs(at, visit.location);
        let start_secs = arrival_secs.max(visit.window.start);
        stops.push(Stop { visit: v, arrival_secs, start_secs });
        free_secs = start_secs + visit.service_secs;
        at = visit.location;
    }
    stops
}

/// A stop of a route timed for leaving every place as late as the plan allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedStop {
    /// Index into [`Instance::visits`].
    pub visit: usize,
    /// When the technician arrives: just in time for `start_secs` when there is slack.
    pub arrival_secs: f64,
    /// When service starts: the earliest start of [`timeline`], unchanged.
    pub start_secs: f64,
    /// When the technician leaves: the end of service, or later, to arrive at the next stop just in time.
    pub departure_secs: f64,
    /// The latest start that still keeps this and every later visit inside its window and the
    /// return inside the shift (the backward pass); `start_secs <= latest_start_secs` when feasible.
    pub latest_start_secs: f64,
}

/// A route's times with the waiting moved to before each departure.
#[derive(Debug, Clone, PartialEq)]
pub struct LateSchedule {
    /// When the technician leaves the start location (never before the shift starts).
    pub leave_secs: f64,
    /// The stops in route order.
    pub stops: Vec<TimedStop>,
}

/// The times of `route` when the technician leaves each place as late as possible without
/// moving any service start: a wait for a window is spent before setting off (at home, or at the
/// previous stop), not at the door, so arrival equals start wherever there is slack.
///
/// Service starts stay at their earliest ([`timeline`]): that is what customers are told, and
/// starting later would spend slack that absorbs delays. A backward pass computes each stop's
/// latest feasible start ([`TimedStop::latest_start_secs`]); the departure from the previous
/// place is then the start minus the travel. A route that is infeasible keeps its earliest
/// times (its latest starts show where it breaks).
pub fn latest_departures(instance: &Instance, matrix: &dyn TravelMatrix, route: &Route) -> LateSchedule {
    let early = timeline(instance, matrix, route);
    let Some(tech) = instance.technicians.get(route.technician) else {
        return LateSchedule { leave_secs: 0.0, stops: Vec::new() };
    };
    let visit = |s: &Stop| &instance.visits[s.visit];
    // Backward pass: the latest start of each stop that keeps every later one feasible.
    let mut latest = vec![0.0; early.len()];
    let mut next: Option<(usize, f64)> = None;
    for (i, s) in early.iter().enumerate().rev() {
        let v = visit(s);
        let by_next = match next {
            Some((loc, start)) => start - matrix.travel_secs(v.location, loc) - v.service_secs,
            None if tech.end_location < instance.locations.len() => {
                tech.shift.end - matrix.travel_secs(v.location, tech.end_location) - v.service_secs
            }
            None => f64::INFINITY,
        };
        latest[i] = v.window.end.min(by_next);
        next = Some((v.location, latest[i]));
    }
    let mut stops: Vec<TimedStop> = early
        .iter()
        .zip(&latest)
        .map(|(s, &l)| TimedStop {
            visit: s.visit,
            arrival_secs: s.arrival_secs,
            start_secs: s.start_secs,
            departure_secs: s.start_secs + visit(s).service_secs,
            latest_start_secs: l,
        })
        .collect();
    let mut leave_secs = tech.shift.start;
    // Forward: leave each place so as to arrive exactly at the next start (never before the
    // service there ends, nor before the shift starts).
    let mut from = (tech.start_location, None::<usize>);
    for i in 0..stops.len() {
        let loc = visit(&early[i]).location;
        let travel = matrix.travel_secs(from.0, loc);
        let start = stops[i].start_secs;
        match from.1 {
            None => {
                leave_secs = (start - travel).max(tech.shift.start);
                stops[i].arrival_secs = (leave_secs + travel).min(start);
            }
            Some(p) => {
                let departure = (start - travel).max(stops[p].departure_secs);
                stops[p].departure_secs = departure;
                stops[i].arrival_secs = (departure + travel).min(start);
            }
        }
        from = (loc, Some(i));
    }
    LateSchedule { leave_secs, stops }
}
