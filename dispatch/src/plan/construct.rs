//! Construction by regret-2 insertion: repeatedly insert the job whose best position is
//! most ahead of its second best, caching each job's best position per route and
//! recomputing only the column of the route that changed.

use super::model::Model;
use super::rng::Rng;
use super::search::Solution;

/// How new routes are opened during construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opening {
    /// An empty route of each vehicle type competes with the used routes.
    Free,
    /// A route is opened only when no remaining job fits the routes already open.
    WhenNeeded,
}

/// Inserts every job of `sol.absent` it can, by regret-2; the rest stay absent.
pub(crate) fn regret_insertion(model: &Model, sol: &mut Solution, opening: Opening, rng: &mut Rng) {
    let m = model.m;
    let mut pending = std::mem::take(&mut sol.absent);
    // cost[c * m + r]: cheapest insertion of pending[c]'s job into route r, with position.
    let mut cost = vec![(f64::INFINITY, 0usize); pending.len() * m];
    let mut fresh = vec![false; m];
    loop {
        if pending.is_empty() {
            break;
        }
        // Candidate routes: used ones, plus one empty route per vehicle type.
        let mut type_seen = vec![false; model.n_types];
        let mut candidates = Vec::with_capacity(m);
        let mut empties = Vec::new();
        for (r, route) in sol.routes.iter().enumerate() {
            if route.is_empty() {
                if !type_seen[model.vtype[r]] {
                    type_seen[model.vtype[r]] = true;
                    empties.push(r);
                }
            } else {
                candidates.push(r);
            }
        }
        if opening == Opening::Free {
            candidates.extend_from_slice(&empties);
        }
        for &r in candidates.iter().chain(&empties) {
            if !fresh[r] {
                for (c, &job) in pending.iter().enumerate() {
                    cost[c * m + r] = sol.routes[r]
                        .best_insert(model, job, f64::INFINITY, 0.0, rng)
                        .unwrap_or((f64::INFINITY, 0));
                }
                fresh[r] = true;
            }
        }
        let mut choice: Option<(f64, f64, usize, usize, usize)> = None; // (regret, best, c, r, pos)
        for c in 0..pending.len() {
            let (mut b1, mut b2, mut br, mut bp) = (f64::INFINITY, f64::INFINITY, 0, 0);
            for &r in &candidates {
                let (k, p) = cost[c * m + r];
                if k < b1 {
                    b2 = b1;
                    (b1, br, bp) = (k, r, p);
                } else if k < b2 {
                    b2 = k;
                }
            }
            if b1.is_infinite() {
                continue;
            }
            // A job with one option left goes first; among those, the costliest.
            let regret = if b2.is_infinite() { 1e12 + b1 } else { b2 - b1 };
            if choice.is_none_or(|ch| regret > ch.0) {
                choice = Some((regret, b1, c, br, bp));
            }
        }
        let (c, r, p) = match choice {
            Some((_, _, c, r, p)) => (c, r, p),
            None => {
                // Nothing fits an open route: seed an empty one with the job that is hardest
                // to place later (the farthest from the depot among those that fit).
                let mut seed: Option<(f64, usize, usize, usize)> = None;
                for &r in &empties {
                    for c in 0..pending.len() {
                        let (k, p) = cost[c * m + r];
                        if k.is_finite() && seed.is_none_or(|s| k > s.0) {
                            seed = Some((k, c, r, p));
                        }
                    }
                }
                match seed {
                    Some((_, c, r, p)) => (c, r, p),
                    None => break,
                }
            }
        };
        let job = pending.swap_remove(c);
        // Keep the cache aligned with swap_remove.
        let last = pending.len();
        if c != last {
            for r in 0..m {
                cost[c * m + r] = cost[last * m + r];
            }
        }
        cost.truncate(last * m);
        sol.insert(model, job, r, p);
        fresh[r] = false;
    }
    sol.absent = pending;
}
