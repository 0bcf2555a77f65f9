//! The planner's compiled view of an instance: dense matrices, per-job arrays, skill
//! compatibility, vehicle types and neighbour lists. Jobs are the visits some technician
//! could serve alone; the others are set aside with a reason before the search starts.

use super::{Instance, TravelMatrix, Unassigned, UnassignedReason};

/// Neighbour lists are cut at this length on large instances.
const MAX_NEIGHBOURS: usize = 200;

#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Number of jobs.
    pub n: usize,
    /// Number of vehicles.
    pub m: usize,
    /// Job → index into `Instance::visits`.
    pub visit_of: Vec<usize>,
    /// Job → location index.
    pub loc: Vec<usize>,
    pub ready: Vec<f64>,
    pub due: Vec<f64>,
    pub service: Vec<f64>,
    pub demand: Vec<f64>,
    /// `allowed[job * m + vehicle]`; empty when every vehicle may serve every job.
    allowed: Vec<bool>,
    pub start_loc: Vec<usize>,
    pub end_loc: Vec<usize>,
    pub shift_start: Vec<f64>,
    pub shift_end: Vec<f64>,
    pub capacity: Vec<f64>,
    /// Vehicles with equal attributes share a type; one empty route per type is tried.
    pub vtype: Vec<usize>,
    pub n_types: usize,
    /// Number of locations.
    pub nloc: usize,
    dist: Vec<f64>,
    time: Vec<f64>,
    /// Job → other jobs by increasing distance.
    pub neighbours: Vec<Vec<u32>>,
    /// Visits that no vehicle can serve even alone.
    pub rejected: Vec<Unassigned>,
}

impl Model {
    pub fn build(instance: &Instance, matrix: &dyn TravelMatrix) -> Model {
        let nloc = instance.locations.len();
        let mut dist = Vec::with_capacity(nloc * nloc);
        let mut time = Vec::with_capacity(nloc * nloc);
        for a in 0..nloc {
            for b in 0..nloc {
                dist.push(matrix.distance(a, b));
                time.push(matrix.travel_secs(a, b));
            }
        }
        let techs = &instance.technicians;
        // Without any location there is nowhere to start from: no vehicle is usable.
        let m = if nloc == 0 { 0 } else { techs.len() };
        let techs = &techs[..m];
        // A technician with a location outside the instance is kept (indices stay aligned)
        // but may serve nothing; its route points at location 0 so its arrays stay valid.
        let usable: Vec<bool> = techs.iter().map(|t| t.start_location < nloc && t.end_location < nloc).collect();
        let known = |l: usize| if l < nloc { l } else { 0 };
        let mut model = Model {
            n: 0,
            m,
            visit_of: Vec::new(),
            loc: Vec::new(),
            ready: Vec::new(),
            due: Vec::new(),
            service: Vec::new(),
            demand: Vec::new(),
            allowed: Vec::new(),
            start_loc: techs.iter().map(|t| known(t.start_location)).collect(),
            end_loc: techs.iter().map(|t| known(t.end_location)).collect(),
            shift_start: techs.iter().map(|t| t.shift.start).collect(),
            shift_end: techs.iter().map(|t| t.shift.end).collect(),
            capacity: techs.iter().map(|t| t.capacity).collect(),
            vtype: Vec::with_capacity(m),
            n_types: 0,
            nloc,
            dist,
            time,
            neighbours: Vec::new(),
            rejected: Vec::new(),
        };
        for (k, t) in techs.iter().enumerate() {
            let same = (0..k).find(|&j| {
                let o = &techs[j];
                o.start_location == t.start_location
                    && o.end_location == t.end_location
                    && o.shift == t.shift
                    && o.capacity == t.capacity
                    && o.skills == t.skills
            });
            let ty = match same {
                Some(j) => model.vtype[j],
                None => {
                    model.n_types += 1;
                    model.n_types - 1
                }
            };
            model.vtype.push(ty);
        }
        let any_skills = instance.visits.iter().any(|v| !v.required_skills.is_empty()) || usable.contains(&false);
        let mut allowed = Vec::new();
        for (vi, visit) in instance.visits.iter().enumerate() {
            let skilled: Vec<bool> = techs
                .iter()
                .zip(&usable)
                .map(|(t, &ok)| ok && visit.required_skills.iter().all(|s| t.skills.contains(s)))
                .collect();
            let reason = if visit.location >= nloc {
                Some(UnassignedReason::UnknownLocation)
            } else if !skilled.iter().any(|&b| b) {
                Some(UnassignedReason::NoTechnicianWithSkills)
            } else if !(0..m).any(|k| skilled[k] && visit.demand <= techs[k].capacity) {
                Some(UnassignedReason::DemandExceedsCapacity)
            } else if !(0..m).any(|k| skilled[k] && visit.demand <= techs[k].capacity && model.alone_ok(k, visit)) {
                Some(UnassignedReason::WindowUnreachable)
            } else {
                None
            };
            if let Some(reason) = reason {
                model.rejected.push(Unassigned { visit: vi, reason });
                continue;
            }
            model.visit_of.push(vi);
            model.loc.push(visit.location);
            model.ready.push(visit.window.start);
            model.due.push(visit.window.end);
            model.service.push(visit.service_secs);
            model.demand.push(visit.demand);
            if any_skills {
                allowed.extend(skilled);
            }
        }
        model.allowed = allowed;
        model.n = model.visit_of.len();
        let n = model.n;
        let keep = (n.saturating_sub(1)).min(if n > 1000 { MAX_NEIGHBOURS } else { n });
        model.neighbours = (0..n)
            .map(|i| {
                let mut others: Vec<u32> = (0..n as u32).filter(|&j| j as usize != i).collect();
                others.sort_by(|&a, &b| {
                    model
                        .d(model.loc[i], model.loc[a as usize])
                        .total_cmp(&model.d(model.loc[i], model.loc[b as usize]))
                });
                others.truncate(keep);
                others
            })
            .collect();
        model
    }

    /// Whether vehicle `k` can serve `visit` as its only stop.
    fn alone_ok(&self, k: usize, visit: &super::Visit) -> bool {
        let arrive = self.shift_start[k] + self.t(self.start_loc[k], visit.location);
        let start = arrive.max(visit.window.start);
        start <= visit.window.end
            && start + visit.service_secs + self.t(visit.location, self.end_loc[k]) <= self.shift_end[k]
    }

    /// Distance between two locations.
    #[inline]
    pub fn d(&self, a: usize, b: usize) -> f64 {
        self.dist[a * self.nloc + b]
    }

    /// The longest distance in the matrix.
    pub fn max_distance(&self) -> f64 {
        self.dist.iter().copied().filter(|d| d.is_finite()).fold(0.0, f64::max)
    }

    /// Travel time between two locations.
    #[inline]
    pub fn t(&self, a: usize, b: usize) -> f64 {
        self.time[a * self.nloc + b]
    }

    /// Whether vehicle `v` may serve job `j` (skills).
    #[inline]
    pub fn allowed(&self, j: usize, v: usize) -> bool {
        self.allowed.is_empty() || self.allowed[j * self.m + v]
    }
}
