//! The feasibility checker: every visit planned exactly once or reported unassigned,
//! skills, capacity, service starting inside each window, and return before the shift ends.

use super::{DayPlan, DenseMatrix, Instance, TravelMatrix};

/// Slack allowed for floating-point rounding when comparing times, loads and distances.
pub const TOLERANCE: f64 = 1e-6;

/// The first rule a plan breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Violation {
    /// A route names a technician that does not exist.
    #[error("route {route} names unknown technician {technician}")]
    UnknownTechnician {
        /// Index into [`DayPlan::routes`].
        route: usize,
        /// The technician index given.
        technician: usize,
    },
    /// Two routes share a technician.
    #[error("technician {technician} drives two routes")]
    TechnicianReused {
        /// Index into [`Instance::technicians`].
        technician: usize,
    },
    /// A route or the unassigned list names a visit that does not exist.
    #[error("unknown visit {visit}")]
    UnknownVisit {
        /// The visit index given.
        visit: usize,
    },
    /// A routed visit or a used technician refers to a location outside [`Instance::locations`].
    #[error("location {location} is not in the instance")]
    UnknownLocation {
        /// The location index given.
        location: usize,
    },
    /// A visit is neither routed nor unassigned.
    #[error("visit {visit} is neither planned nor unassigned")]
    VisitMissing {
        /// Index into [`Instance::visits`].
        visit: usize,
    },
    /// A visit appears more than once.
    #[error("visit {visit} appears more than once")]
    VisitRepeated {
        /// Index into [`Instance::visits`].
        visit: usize,
    },
    /// The technician lacks a skill the visit needs.
    #[error("technician {technician} lacks skill `{skill}` for visit {visit}")]
    MissingSkill {
        /// Index into [`Instance::technicians`].
        technician: usize,
        /// Index into [`Instance::visits`].
        visit: usize,
        /// The skill missing.
        skill: String,
    },
    /// The route carries more than the technician's capacity.
    #[error("technician {technician} carries {load} > capacity {capacity}")]
    OverCapacity {
        /// Index into [`Instance::technicians`].
        technician: usize,
        /// Total demand on the route.
        load: f64,
        /// The technician's capacity.
        capacity: f64,
    },
    /// Service cannot start by the end of the visit's window.
    #[error("visit {visit} starts at {start_secs} after its window ends at {due_secs}")]
    LateService {
        /// Index into [`Instance::visits`].
        visit: usize,
        /// Earliest possible service start on this route.
        start_secs: f64,
        /// End of the window.
        due_secs: f64,
    },
    /// The technician is back after the shift ends.
    #[error("technician {technician} returns at {arrival_secs} after the shift ends at {end_secs}")]
    LateReturn {
        /// Index into [`Instance::technicians`].
        technician: usize,
        /// Arrival at the end location.
        arrival_secs: f64,
        /// End of the shift.
        end_secs: f64,
    },
    /// [`DayPlan::distance`] is not the sum over the routes.
    #[error("reported distance {reported} but the routes drive {actual}")]
    DistanceMismatch {
        /// The plan's figure.
        reported: f64,
        /// Recomputed.
        actual: f64,
    },
    /// [`DayPlan::vehicles`] is not the number of non-empty routes.
    #[error("reported {reported} vehicles but {actual} routes are non-empty")]
    VehicleCountMismatch {
        /// The plan's figure.
        reported: usize,
        /// Counted.
        actual: usize,
    },
}

/// Checks `plan` against `instance` with the travel matrix given by `instance.metric`.
pub fn check(instance: &Instance, plan: &DayPlan) -> Result<(), Violation> {
    check_with_matrix(instance, &DenseMatrix::for_instance(instance), plan)
}

/// Checks `plan` against `instance` with a caller's travel matrix.
///
/// The technician leaves at the start of the shift, waits when early, and each service must
/// start no later than the window end (within [`TOLERANCE`]).
pub fn check_with_matrix(instance: &Instance, matrix: &dyn TravelMatrix, plan: &DayPlan) -> Result<(), Violation> {
    let mut seen = vec![0usize; instance.visits.len()];
    let mut used = vec![false; instance.technicians.len()];
    let mut distance = 0.0;
    let mut vehicles = 0;
    for (r, route) in plan.routes.iter().enumerate() {
        let t = route.technician;
        let tech = instance.technicians.get(t).ok_or(Violation::UnknownTechnician { route: r, technician: t })?;
        if std::mem::replace(&mut used[t], true) {
            return Err(Violation::TechnicianReused { technician: t });
        }
        if route.visits.is_empty() {
            continue;
        }
        vehicles += 1;
        let nloc = instance.locations.len();
        for location in [tech.start_location, tech.end_location] {
            if location >= nloc {
                return Err(Violation::UnknownLocation { location });
            }
        }
        let mut at = tech.start_location;
        let mut free = tech.shift.start;
        let mut load = 0.0;
        for &v in &route.visits {
            let visit = instance.visits.get(v).ok_or(Violation::UnknownVisit { visit: v })?;
            seen[v] += 1;
            if visit.location >= nloc {
                return Err(Violation::UnknownLocation { location: visit.location });
            }
            if let Some(skill) = visit.required_skills.iter().find(|s| !tech.skills.contains(s)) {
                return Err(Violation::MissingSkill { technician: t, visit: v, skill: skill.clone() });
            }
            load += visit.demand;
            distance += matrix.distance(at, visit.location);
            let start = (free + matrix.travel_secs(at, visit.location)).max(visit.window.start);
            if start > visit.window.end + TOLERANCE {
                return Err(Violation::LateService { visit: v, start_secs: start, due_secs: visit.window.end });
            }
            free = start + visit.service_secs;
            at = visit.location;
        }
        distance += matrix.distance(at, tech.end_location);
        let arrival = free + matrix.travel_secs(at, tech.end_location);
        if arrival > tech.shift.end + TOLERANCE {
            return Err(Violation::LateReturn { technician: t, arrival_secs: arrival, end_secs: tech.shift.end });
        }
        if load > tech.capacity + TOLERANCE {
            return Err(Violation::OverCapacity { technician: t, load, capacity: tech.capacity });
        }
    }
    for u in &plan.unassigned {
        *seen.get_mut(u.visit).ok_or(Violation::UnknownVisit { visit: u.visit })? += 1;
    }
    for (v, &count) in seen.iter().enumerate() {
        match count {
            0 => return Err(Violation::VisitMissing { visit: v }),
            1 => {}
            _ => return Err(Violation::VisitRepeated { visit: v }),
        }
    }
    if (plan.distance - distance).abs() > TOLERANCE * distance.max(1.0) {
        return Err(Violation::DistanceMismatch { reported: plan.distance, actual: distance });
    }
    if plan.vehicles != vehicles {
        return Err(Violation::VehicleCountMismatch { reported: plan.vehicles, actual: vehicles });
    }
    Ok(())
}
