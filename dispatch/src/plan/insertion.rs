//! The cheapest feasible insertion of one new visit into today's routes, for ranking
//! candidates by added travel. Linear in the number of planned visits; no search.

use super::{Instance, Route, TravelMatrix, Visit};

/// Where a visit fits best.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Insertion {
    /// Index into the `routes` slice given.
    pub route: usize,
    /// The technician of that route.
    pub technician: usize,
    /// Index in [`Route::visits`] the new visit takes (0 = first).
    pub position: usize,
    /// Travel distance added.
    pub added_distance: f64,
    /// Travel time added, in seconds.
    pub added_travel_secs: f64,
}

/// The feasible insertion of `visit` that adds the least distance, over every route given.
///
/// Each technician who may take the visit needs an entry in `routes` (with no visits if idle;
/// an idle technician's cost is the whole trip from start to end through the visit). Routes
/// are assumed feasible; `visit.location` indexes `matrix` like the instance's locations.
/// Returns `None` when no technician has the skills, the capacity and the time.
pub fn best_insertion(
    instance: &Instance,
    routes: &[Route],
    visit: &Visit,
    matrix: &dyn TravelMatrix,
) -> Option<Insertion> {
    let nloc = instance.locations.len();
    if visit.location >= nloc {
        return None;
    }
    let mut best: Option<Insertion> = None;
    let mut nodes: Vec<Node> = Vec::new();
    let mut latest: Vec<f64> = Vec::new();
    for (r, route) in routes.iter().enumerate() {
        let Some(tech) = instance.technicians.get(route.technician) else { continue };
        if tech.start_location >= nloc || tech.end_location >= nloc {
            continue;
        }
        if !visit.required_skills.iter().all(|s| tech.skills.contains(s)) {
            continue;
        }
        // Nodes: start, the route's visits, end; with forward earliest service starts.
        nodes.clear();
        nodes.push(Node { loc: tech.start_location, service: 0.0, due: tech.shift.end, start: tech.shift.start });
        let mut load = visit.demand;
        for &v in &route.visits {
            let Some(stop) = instance.visits.get(v).filter(|x| x.location < nloc) else { continue };
            load += stop.demand;
            let Some(prev) = nodes.last() else { continue };
            let arrive = prev.start + prev.service + matrix.travel_secs(prev.loc, stop.location);
            nodes.push(Node {
                loc: stop.location,
                service: stop.service_secs,
                due: stop.window.end,
                start: arrive.max(stop.window.start),
            });
        }
        if load > tech.capacity {
            continue;
        }
        nodes.push(Node { loc: tech.end_location, service: 0.0, due: tech.shift.end, start: 0.0 });
        // Backward latest service starts.
        let len = nodes.len();
        latest.clear();
        latest.resize(len, tech.shift.end);
        for p in (0..len - 1).rev() {
            let (a, b) = (&nodes[p], &nodes[p + 1]);
            latest[p] = a.due.min(latest[p + 1] - matrix.travel_secs(a.loc, b.loc) - a.service);
        }
        let empty = len == 2;
        for p in 0..len - 1 {
            let (a, b) = (&nodes[p], &nodes[p + 1]);
            let start = (a.start + a.service + matrix.travel_secs(a.loc, visit.location)).max(visit.window.start);
            if start > visit.window.end
                || start + visit.service_secs + matrix.travel_secs(visit.location, b.loc) > latest[p + 1]
            {
                continue;
            }
            let (kept_d, kept_t) =
                if empty { (0.0, 0.0) } else { (matrix.distance(a.loc, b.loc), matrix.travel_secs(a.loc, b.loc)) };
            let added_distance =
                matrix.distance(a.loc, visit.location) + matrix.distance(visit.location, b.loc) - kept_d;
            if best.is_none_or(|b| added_distance < b.added_distance) {
                best = Some(Insertion {
                    route: r,
                    technician: route.technician,
                    position: p,
                    added_distance,
                    added_travel_secs: matrix.travel_secs(a.loc, visit.location)
                        + matrix.travel_secs(visit.location, b.loc)
                        - kept_t,
                });
            }
        }
    }
    best
}

struct Node {
    loc: usize,
    service: f64,
    due: f64,
    /// Earliest service start.
    start: f64,
}
