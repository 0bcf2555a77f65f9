//! Construction by regret-2 insertion: repeatedly insert the job whose best position is
//! most ahead of its second best, caching each job's best position per route and
//! recomputing only the column of the route that changed.

use super::model::Model;
use super::rng::Rng;
use super::search::Solution;

/// Inserts every job of `sol.absent` it can, by regret-2; the rest stay absent.
pub(crate) fn regret_insertion(model: &Model, sol: &mut Solution, rng: &mut Rng) {
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
        for (r, route) in sol.routes.iter().enumerate() {
            if !route.is_empty() || !std::mem::replace(&mut type_seen[model.vtype[r]], true) {
                candidates.push(r);
            }
        }
        for &r in &candidates {
            if !fresh[r] {
                for (c, &job) in pending.iter().enumerate() {
                    cost[c * m + r] =
                        sol.routes[r].best_insert(model, job, f64::INFINITY, 0.0, rng).unwrap_or((f64::INFINITY, 0));
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
        let Some((_, _, c, r, p)) = choice else { break };
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
