//! One vehicle's route with the arrays that make an insertion check O(1): per node position
//! (0 = start, `len + 1` = end) the earliest service start `es` given the nodes before it and
//! the latest service start `ls` that keeps every node after it feasible.

use super::model::Model;
use super::rng::Rng;

#[derive(Debug, Clone, Default)]
pub(crate) struct RouteState {
    pub vehicle: usize,
    /// Jobs in order.
    pub jobs: Vec<usize>,
    /// Location per node position (`len + 2` entries).
    locs: Vec<usize>,
    /// Service duration per node position.
    svc: Vec<f64>,
    /// Earliest service start per node position.
    pub es: Vec<f64>,
    /// Latest service start per node position.
    pub ls: Vec<f64>,
    /// Distance from node position `p` to `p + 1`.
    arc: Vec<f64>,
    pub load: f64,
    /// Travel distance; 0 for an empty route (the vehicle stays home).
    pub dist: f64,
}

impl RouteState {
    pub fn new(model: &Model, vehicle: usize) -> Self {
        let mut r = RouteState { vehicle, ..Default::default() };
        r.update(model);
        r
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Recomputes every derived array from `jobs`.
    pub fn update(&mut self, model: &Model) {
        let v = self.vehicle;
        let len = self.jobs.len();
        self.locs.clear();
        self.svc.clear();
        self.locs.push(model.start_loc[v]);
        self.svc.push(0.0);
        let mut load = 0.0;
        for &j in &self.jobs {
            self.locs.push(model.loc[j]);
            self.svc.push(model.service[j]);
            load += model.demand[j];
        }
        self.locs.push(model.end_loc[v]);
        self.svc.push(0.0);
        self.load = load;
        self.es.resize(len + 2, 0.0);
        self.ls.resize(len + 2, 0.0);
        self.es[0] = model.shift_start[v];
        let mut dist = 0.0;
        self.arc.clear();
        for p in 1..len + 2 {
            let (a, b) = (self.locs[p - 1], self.locs[p]);
            let d = model.d(a, b);
            self.arc.push(if len == 0 { 0.0 } else { d });
            dist += d;
            let arrive = self.es[p - 1] + self.svc[p - 1] + model.t(a, b);
            let ready = if p <= len { model.ready[self.jobs[p - 1]] } else { model.shift_start[v] };
            self.es[p] = arrive.max(ready);
        }
        self.dist = if len == 0 { 0.0 } else { dist };
        self.ls[len + 1] = model.shift_end[v];
        for p in (0..=len).rev() {
            let due = if p == 0 { model.shift_end[v] } else { model.due[self.jobs[p - 1]] };
            let latest = self.ls[p + 1] - model.t(self.locs[p], self.locs[p + 1]) - self.svc[p];
            self.ls[p] = due.min(latest);
        }
    }

    /// Whether every service starts in its window and the vehicle is home in time and not overloaded.
    #[cfg(test)]
    pub fn feasible(&self, model: &Model) -> bool {
        let len = self.jobs.len();
        self.load <= model.capacity[self.vehicle]
            && self.jobs.iter().enumerate().all(|(i, &j)| self.es[i + 1] <= model.due[j])
            && self.es[len + 1] <= model.shift_end[self.vehicle]
    }

    /// Added distance of inserting `job` between node positions `p` and `p + 1`
    /// (so it becomes `jobs[p]`), or `None` if that breaks a window or the shift.
    /// Capacity and skills are checked by the caller.
    #[cfg(test)]
    pub fn insert_cost(&self, model: &Model, job: usize, p: usize) -> Option<f64> {
        let lj = model.loc[job];
        let (a, b) = (self.locs[p], self.locs[p + 1]);
        let start = (self.es[p] + self.svc[p] + model.t(a, lj)).max(model.ready[job]);
        if start > model.due[job] || start + model.service[job] + model.t(lj, b) > self.ls[p + 1] {
            return None;
        }
        let removed = if self.jobs.is_empty() { 0.0 } else { model.d(a, b) };
        Some(model.d(a, lj) + model.d(lj, b) - removed)
    }

    /// Cheapest feasible position for `job` costing less than `bound`, skipping each feasible
    /// position with probability `blink` (SISR's blinks).
    #[inline]
    pub fn best_insert(
        &self,
        model: &Model,
        job: usize,
        bound: f64,
        blink: f64,
        rng: &mut Rng,
    ) -> Option<(f64, usize)> {
        if self.load + model.demand[job] > model.capacity[self.vehicle] || !model.allowed(job, self.vehicle) {
            return None;
        }
        let lj = model.loc[job];
        let (ready, due, service) = (model.ready[job], model.due[job], model.service[job]);
        let mut best = bound;
        let mut at = None;
        for p in 0..=self.jobs.len() {
            if self.es[p] > due {
                break;
            }
            let (a, b) = (self.locs[p], self.locs[p + 1]);
            let cost = model.d(a, lj) + model.d(lj, b) - self.arc[p];
            if cost >= best {
                continue;
            }
            let start = (self.es[p] + self.svc[p] + model.t(a, lj)).max(ready);
            if start > due || start + service + model.t(lj, b) > self.ls[p + 1] {
                continue;
            }
            if blink > 0.0 && rng.unit() < blink {
                continue;
            }
            best = cost;
            at = Some(p);
        }
        at.map(|p| (best, p))
    }
}
