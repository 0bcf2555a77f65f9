//! The improvement phase: ruin and recreate with slack induction by string removals (SISR,
//! Christiaens & Vanden Berghe 2020) under simulated annealing, and for the vehicles
//! objective a route-elimination phase first (remove a route, then search on absence counters
//! until every job is back in the remaining routes).

use std::time::Duration;

use super::construct::regret_insertion;
use super::model::Model;
use super::rng::Rng;
use super::route::RouteState;
use super::{Clock, DayPlan, Instance, Objective, PlanOptions, Route, TravelMatrix, Unassigned, UnassignedReason};

/// `route_of` for a job in no route.
pub(crate) const NONE: u32 = u32::MAX;

/// SISR parameters (the paper's values where they fit a short run).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// Average number of jobs removed per ruin (c̄).
    pub avg_removed: f64,
    /// Longest string removed from one route (L_max).
    pub max_string: f64,
    /// Probability of the split-string variant.
    pub split_rate: f64,
    /// Probability of stopping growth of the kept part of a split string (β).
    pub split_depth: f64,
    /// Probability of skipping a feasible position during recreate.
    pub blink: f64,
    /// Start temperature as a multiple of the mean distance per job of the first solution.
    pub t_start: f64,
    /// Start temperature of the last phase of the vehicles objective, whose routes are fewer and
    /// longer and need more shaking; same unit.
    pub t_start_fewest: f64,
    /// End temperature, same unit.
    pub t_end: f64,
    /// With more routes in use than this, recreate tries only this many routes, those of a job's nearest neighbours.
    pub near_routes: usize,
    /// Share of the budget the vehicles objective first spends on distance alone.
    pub warmup_share: f64,
    /// Share of the budget the vehicles objective then spends removing routes, at most.
    pub fleet_share: f64,
    /// Route removal stops when this share of the budget passes without removing a route.
    pub fleet_stall: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            avg_removed: 10.0,
            max_string: 10.0,
            split_rate: 0.5,
            split_depth: 0.01,
            blink: 0.01,
            t_start: 1.0,
            t_start_fewest: 2.0,
            t_end: 0.01,
            near_routes: 16,
            warmup_share: 0.25,
            fleet_share: 0.45,
            fleet_stall: 0.25,
        }
    }
}

/// A set of routes, one per vehicle (most may be empty), and the jobs left out.
#[derive(Debug, Clone)]
pub(crate) struct Solution {
    pub routes: Vec<RouteState>,
    /// Job → vehicle whose route holds it, or [`NONE`].
    pub route_of: Vec<u32>,
    /// Jobs in no route.
    pub absent: Vec<usize>,
}

impl Solution {
    /// Every vehicle at home, every job absent.
    pub fn empty(model: &Model) -> Self {
        Solution {
            routes: (0..model.m).map(|v| RouteState::new(model, v)).collect(),
            route_of: vec![NONE; model.n],
            absent: (0..model.n).collect(),
        }
    }

    /// Puts `job` at `jobs[p]` of route `r`. The caller removes it from `absent`.
    pub fn insert(&mut self, model: &Model, job: usize, r: usize, p: usize) {
        self.routes[r].jobs.insert(p, job);
        self.routes[r].update(model);
        self.route_of[job] = r as u32;
    }

    /// Total travel distance.
    pub fn distance(&self) -> f64 {
        self.routes.iter().map(|r| r.dist).sum()
    }

    /// Number of non-empty routes.
    pub fn used(&self) -> usize {
        self.routes.iter().filter(|r| !r.is_empty()).count()
    }
}

/// Saved copies of the routes an iteration touched, to roll a rejected move back.
#[derive(Debug, Default)]
struct Undo {
    saved: Vec<(usize, RouteState)>,
    pool: Vec<RouteState>,
    marked: Vec<bool>,
    absent: Vec<usize>,
}

impl Undo {
    fn begin(&mut self, sol: &Solution) {
        self.marked.resize(sol.routes.len(), false);
        self.absent.clone_from(&sol.absent);
    }

    fn touch(&mut self, sol: &Solution, r: usize) {
        if !self.marked[r] {
            self.marked[r] = true;
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clone_from(&sol.routes[r]);
            self.saved.push((r, copy));
        }
    }

    fn rollback(&mut self, sol: &mut Solution) {
        for (r, copy) in self.saved.drain(..) {
            let changed = std::mem::replace(&mut sol.routes[r], copy);
            self.pool.push(changed);
            self.marked[r] = false;
            for &j in &sol.routes[r].jobs {
                sol.route_of[j] = r as u32;
            }
        }
        std::mem::swap(&mut sol.absent, &mut self.absent);
        for &j in &sol.absent {
            sol.route_of[j] = NONE;
        }
    }

    fn commit(&mut self) {
        for (r, copy) in self.saved.drain(..) {
            self.pool.push(copy);
            self.marked[r] = false;
        }
    }
}

/// Decides when to stop and how far along the budget the search is.
struct Budget<'c> {
    clock: &'c dyn Clock,
    start: Duration,
    limit: Duration,
    iterations: Option<u64>,
    done: u64,
}

impl Budget<'_> {
    /// Counts one iteration; `None` once the time or iteration budget is spent, else the
    /// fraction of the budget used (by iterations when there is an iteration budget).
    fn tick(&mut self) -> Option<f64> {
        let elapsed = self.clock.elapsed().saturating_sub(self.start);
        if elapsed >= self.limit {
            return None;
        }
        self.done += 1;
        match self.iterations {
            Some(budget) if self.done > budget => None,
            Some(budget) => Some((self.done - 1) as f64 / budget as f64),
            None => Some(elapsed.as_secs_f64() / self.limit.as_secs_f64()),
        }
    }
}

/// The search state shared by the phases.
struct Search<'a> {
    model: &'a Model,
    params: Params,
    rng: Rng,
    undo: Undo,
    removed: Vec<usize>,
    /// Distance of each job from the first vehicle's start (for the recreate orders).
    depot_dist: Vec<f64>,
    /// Most non-empty routes allowed.
    cap: usize,
    /// Whether an empty route competes with used routes in recreate, or is used only when nothing fits.
    open_freely: bool,
    /// Cost of one absent job in the annealing objective.
    penalty: f64,
    /// Per-vehicle marks for the route scan in `recreate`, valid when equal to `stamp`.
    seen: Vec<u64>,
    stamp: u64,
}

impl Search<'_> {
    fn cost(&self, sol: &Solution) -> f64 {
        sol.distance() + self.penalty * sol.absent.len() as f64
    }

    /// SISR ruin: remove strings of consecutive jobs from routes near a random seed job.
    fn ruin(&mut self, sol: &mut Solution) {
        let model = self.model;
        let n = model.n;
        let assigned = n - sol.absent.len();
        let used = sol.used();
        if assigned == 0 || used == 0 {
            return;
        }
        let avg = assigned as f64 / used as f64;
        let ls_max = self.params.max_string.min(avg);
        let ks_max = 4.0 * self.params.avg_removed / (1.0 + ls_max) - 1.0;
        let ks = (self.rng.unit() * ks_max).floor() as usize + 1;
        let seed = if !sol.absent.is_empty() && self.rng.unit() < 0.5 {
            sol.absent[self.rng.below(sol.absent.len())]
        } else {
            let mut s = self.rng.below(n);
            while sol.route_of[s] == NONE {
                s = self.rng.below(n);
            }
            s
        };
        let mut ruined: Vec<usize> = Vec::with_capacity(ks);
        for &c in std::iter::once(&(seed as u32)).chain(&model.neighbours[seed]) {
            if ruined.len() >= ks {
                break;
            }
            let c = c as usize;
            let r = sol.route_of[c];
            if r == NONE || ruined.contains(&(r as usize)) {
                continue;
            }
            let r = r as usize;
            self.undo.touch(sol, r);
            let route = &mut sol.routes[r];
            let card = route.jobs.len();
            let l_max = (card as f64).min(ls_max);
            let l = ((self.rng.unit() * l_max).floor() as usize + 1).min(card);
            let i = route.jobs.iter().position(|&j| j == c).unwrap_or(0);
            let split = l < card && self.rng.unit() < self.params.split_rate;
            let mut kept = 0;
            if split {
                kept = 1;
                while l + kept < card && self.rng.unit() > self.params.split_depth {
                    kept += 1;
                }
            }
            let span = l + kept;
            let first = self.rng.between(i.saturating_sub(span - 1), i.min(card - span));
            let keep_from = if kept > 0 { first + self.rng.between(0, l) } else { usize::MAX };
            let mut k = 0;
            route.jobs.retain(|&j| {
                let at = k;
                k += 1;
                let remove = at >= first && at < first + span && !(at >= keep_from && at < keep_from + kept);
                if remove {
                    self.removed.push(j);
                }
                !remove
            });
            ruined.push(r);
        }
        for &j in &self.removed {
            sol.route_of[j] = NONE;
        }
        for &r in &ruined {
            sol.routes[r].update(model);
        }
    }

    /// Orders the removed jobs one of SISR's ways: random, largest demand, farthest, closest.
    fn order_removed(&mut self) {
        let removed = &mut self.removed;
        for i in (1..removed.len()).rev() {
            let j = self.rng.below(i + 1);
            removed.swap(i, j);
        }
        let model = self.model;
        let dd = &self.depot_dist;
        let pick = self.rng.below(11);
        match pick {
            0..=3 => {}
            4..=7 => removed.sort_by(|&a, &b| model.demand[b].total_cmp(&model.demand[a])),
            8..=9 => removed.sort_by(|&a, &b| dd[b].total_cmp(&dd[a])),
            _ => removed.sort_by(|&a, &b| dd[a].total_cmp(&dd[b])),
        }
    }

    /// Greedy insertion with blinks of the removed and absent jobs; what does not fit stays absent.
    fn recreate(&mut self, sol: &mut Solution) {
        let model = self.model;
        self.removed.append(&mut sol.absent);
        self.order_removed();
        let mut used = sol.used();
        let mut type_seen = vec![false; model.n_types];
        let removed = std::mem::take(&mut self.removed);
        for &job in &removed {
            let mut best = f64::INFINITY;
            let mut at = None;
            if used <= self.params.near_routes {
                for (r, route) in sol.routes.iter().enumerate() {
                    if route.is_empty() {
                        continue;
                    }
                    if let Some((cost, p)) = route.best_insert(model, job, best, self.params.blink, &mut self.rng) {
                        best = cost;
                        at = Some((r, p));
                    }
                }
            } else {
                // Many routes: try only the nearest ones that may take the job, found through
                // the routes of its nearest neighbours.
                self.stamp += 1;
                let mut tried = 0;
                for &nb in &model.neighbours[job] {
                    let r = sol.route_of[nb as usize];
                    if r == NONE || self.seen[r as usize] == self.stamp {
                        continue;
                    }
                    let r = r as usize;
                    self.seen[r] = self.stamp;
                    if !model.allowed(job, r) {
                        continue;
                    }
                    let route = &sol.routes[r];
                    if let Some((cost, p)) = route.best_insert(model, job, best, self.params.blink, &mut self.rng) {
                        best = cost;
                        at = Some((r, p));
                    }
                    tried += 1;
                    if tried >= self.params.near_routes {
                        break;
                    }
                }
            }
            if used < self.cap && (at.is_none() || self.open_freely) {
                type_seen.iter_mut().for_each(|s| *s = false);
                for (r, route) in sol.routes.iter().enumerate() {
                    if !route.is_empty() || std::mem::replace(&mut type_seen[model.vtype[r]], true) {
                        continue;
                    }
                    if let Some((cost, p)) = route.best_insert(model, job, best, 0.0, &mut self.rng) {
                        best = cost;
                        at = Some((r, p));
                    }
                }
            }
            match at {
                Some((r, p)) => {
                    self.undo.touch(sol, r);
                    if sol.routes[r].is_empty() {
                        used += 1;
                    }
                    sol.insert(model, job, r, p);
                }
                None => sol.absent.push(job),
            }
        }
        self.removed = removed;
        self.removed.clear();
    }

    /// Simulated annealing over ruin and recreate until the budget reaches `until`; returns the best.
    fn anneal(&mut self, sol: &mut Solution, budget: &mut Budget, until: f64, t_start: f64, scale: f64) -> Solution {
        let (t0, t1) = (t_start * scale, self.params.t_end * scale);
        let mut best = sol.clone();
        let mut best_cost = self.cost(sol);
        let mut current = best_cost;
        let mut from = None;
        while let Some(progress) = budget.tick() {
            if progress >= until {
                break;
            }
            let from = *from.get_or_insert(progress);
            let x = ((progress - from) / (until - from).max(1e-12)).clamp(0.0, 1.0);
            let temperature = t0 * (t1 / t0).powf(x);
            self.undo.begin(sol);
            self.ruin(sol);
            self.recreate(sol);
            let cost = self.cost(sol);
            let threshold = current - temperature * (1.0 - self.rng.unit()).ln();
            if cost < threshold {
                self.undo.commit();
                current = cost;
                if cost < best_cost - 1e-9 {
                    best_cost = cost;
                    best.clone_from(sol);
                }
            } else {
                self.undo.rollback(sol);
            }
        }
        best
    }

    /// Route elimination until the budget reaches `until` or `floor` routes remain: take a
    /// route's jobs out and ruin and recreate with no new route until all are back, accepting
    /// a move that leaves fewer jobs out or a smaller sum of their absence counters.
    fn eliminate_routes(&mut self, sol: &mut Solution, budget: &mut Budget, until: f64, floor: usize) -> Solution {
        let model = self.model;
        let mut best = sol.clone();
        let mut absences = vec![0u64; model.n];
        let mut last_success: Option<f64> = None;
        loop {
            if sol.absent.is_empty() {
                if sol.used() < best.used() || !best.absent.is_empty() {
                    best.clone_from(sol);
                    last_success = None;
                }
                if sol.used() <= floor.max(1) {
                    break;
                }
                // Remove the route with the fewest jobs (ties broken at random).
                let mut pick: Option<(usize, u64, usize)> = None;
                for (r, route) in sol.routes.iter().enumerate() {
                    if route.is_empty() {
                        continue;
                    }
                    let key = (route.jobs.len(), self.rng.next_u64());
                    if pick.is_none_or(|p| (key.0, key.1) < (p.0, p.1)) {
                        pick = Some((key.0, key.1, r));
                    }
                }
                let Some((_, _, r)) = pick else { break };
                let jobs = std::mem::take(&mut sol.routes[r].jobs);
                for &j in &jobs {
                    sol.route_of[j] = NONE;
                }
                sol.absent.extend(jobs);
                sol.routes[r].update(model);
                self.cap = sol.used();
            }
            match budget.tick() {
                Some(progress) if progress < until => {
                    if progress - *last_success.get_or_insert(progress) > self.params.fleet_stall {
                        break;
                    }
                }
                _ => break,
            }
            self.undo.begin(sol);
            self.ruin(sol);
            self.recreate(sol);
            let before: u64 = self.undo.absent.iter().map(|&j| absences[j]).sum();
            let after: u64 = sol.absent.iter().map(|&j| absences[j]).sum();
            if sol.absent.len() < self.undo.absent.len() || after < before {
                self.undo.commit();
            } else {
                self.undo.rollback(sol);
            }
            for &j in &sol.absent {
                absences[j] += 1;
            }
        }
        best
    }
}

/// Plans `instance`: construction, then improvement within the budget of `options`.
pub(crate) fn solve(
    instance: &Instance,
    matrix: &dyn TravelMatrix,
    options: &PlanOptions,
    clock: &dyn Clock,
) -> DayPlan {
    solve_with_params(instance, matrix, options, clock, Params::default())
}

/// [`solve`] with explicit search parameters.
pub(crate) fn solve_with_params(
    instance: &Instance,
    matrix: &dyn TravelMatrix,
    options: &PlanOptions,
    clock: &dyn Clock,
    params: Params,
) -> DayPlan {
    let mut budget =
        Budget { clock, start: clock.elapsed(), limit: options.time_limit, iterations: options.iterations, done: 0 };
    let model = Model::build(instance, matrix);
    let mut rng = Rng::new(options.seed);
    let mut sol = Solution::empty(&model);
    // Both objectives start from the same construction: the vehicles objective anneals on
    // distance first anyway, and opening routes only when nothing fits seeds badly when
    // technicians start from different homes.
    regret_insertion(&model, &mut sol, &mut rng);
    if model.n > 0 {
        let assigned = (model.n - sol.absent.len()).max(1);
        let scale = (sol.distance() / assigned as f64).max(1e-9);
        let max_d = model.max_distance();
        let mut search = Search {
            model: &model,
            params,
            rng,
            undo: Undo::default(),
            removed: Vec::new(),
            depot_dist: (0..model.n).map(|j| model.d(model.start_loc[0], model.loc[j])).collect(),
            cap: model.m,
            open_freely: true,
            // Larger than any saving a left-out job could buy, so annealing is lexicographic in practice.
            penalty: 1000.0 * (2.0 * max_d).max(scale),
            seen: vec![0; model.m],
            stamp: 0,
        };
        sol = match options.objective {
            Objective::Distance => search.anneal(&mut sol, &mut budget, 1.0, params.t_start, scale),
            Objective::Vehicles => {
                // A good distance first often has few routes already (and gives the last phase a
                // better start); then remove routes; then polish with no more routes than that.
                let mut sol = search.anneal(&mut sol, &mut budget, params.warmup_share, params.t_start, scale);
                search.open_freely = false;
                let floor = fleet_lower_bound(&model);
                let until = params.warmup_share + params.fleet_share;
                let mut fewest = search.eliminate_routes(&mut sol, &mut budget, until, floor);
                search.cap = fewest.used();
                search.anneal(&mut fewest, &mut budget, 1.0, params.t_start_fewest, scale)
            }
        };
    }
    to_plan(&model, instance, &sol)
}

/// Routes needed by capacity alone, when every vehicle has the same capacity; else 1.
fn fleet_lower_bound(model: &Model) -> usize {
    let Some(&cap) = model.capacity.first() else { return 1 };
    if cap <= 0.0 || model.capacity.iter().any(|&c| c != cap) {
        return 1;
    }
    let total: f64 = model.demand.iter().sum();
    ((total / cap) - 1e-9).ceil().max(1.0) as usize
}

fn to_plan(model: &Model, instance: &Instance, sol: &Solution) -> DayPlan {
    let routes: Vec<Route> = sol
        .routes
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| Route { technician: r.vehicle, visits: r.jobs.iter().map(|&j| model.visit_of[j]).collect() })
        .collect();
    let mut unassigned = model.rejected.clone();
    unassigned
        .extend(sol.absent.iter().map(|&j| Unassigned { visit: model.visit_of[j], reason: UnassignedReason::NoRoom }));
    unassigned.sort_by_key(|u| u.visit);
    debug_assert!(instance.visits.len() >= unassigned.len());
    DayPlan { vehicles: routes.len(), distance: sol.distance(), routes, unassigned }
}
