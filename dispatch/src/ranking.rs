//! Ordering eligible technicians: nearest first, quality among near-equals, then id.
//!
//! Candidates are cut into bands: the nearest remaining candidate and everyone within
//! [`RankOptions::near_equal_m`] of it. Inside a band a better quality score goes first, then distance,
//! then id; the next band starts at the nearest candidate left. So quality can reorder technicians only
//! when they are about equally far: it never puts someone more than `near_equal_m` behind the nearest.

use crate::eligibility::Scorecard;
use crate::model::{OrgId, TechnicianId};

#[cfg(test)]
mod tests;

/// How to rank and how much to explain.
#[derive(Debug, Clone, PartialEq)]
pub struct RankOptions {
    /// Candidates this close to the nearest one count as equally near (metres).
    pub near_equal_m: f64,
    /// How many of the candidates looked at the explanation lists (nearest first).
    pub max_considered: usize,
    /// Quality score given to technicians without a scorecard, 0..=1.
    pub neutral_quality: f64,
    /// How many technicians one subtree's walk looks at without finding anybody eligible before it gives up
    /// (nobody eligible there: the search escalates). Bounds a decision in a network of 100k technicians.
    pub max_looked_at: usize,
}

impl Default for RankOptions {
    /// 500 m near-equal band, 20 candidates explained, neutral quality 0.5, 2,000 looked at without a hit.
    fn default() -> RankOptions {
        RankOptions { near_equal_m: 500.0, max_considered: 20, neutral_quality: 0.5, max_looked_at: 2_000 }
    }
}

impl RankOptions {
    /// The near-equal band width actually used: `near_equal_m`, with negative or non-finite values as 0.
    pub fn tolerance_m(&self) -> f64 {
        if self.near_equal_m.is_finite() { self.near_equal_m.max(0.0) } else { 0.0 }
    }
}

/// An eligible technician with what ranking looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The technician.
    pub technician_id: TechnicianId,
    /// Its organisation (the offer goes there).
    pub org_id: OrgId,
    /// Great-circle distance to the job.
    pub distance_m: f64,
    /// Quality score 0..=1 from its scorecard, `None` without one.
    pub quality: Option<f64>,
}

/// A scorecard as one number in 0..=1: the mean of the first-time-fix rate and NPS mapped from -100..=100.
pub fn quality_score(scorecard: &Scorecard) -> Option<f64> {
    let parts = [
        scorecard.first_time_fix_rate.map(|r| r.clamp(0.0, 1.0)),
        scorecard.nps.map(|n| ((n + 100.0) / 200.0).clamp(0.0, 1.0)),
    ];
    let known: Vec<f64> = parts.into_iter().flatten().filter(|v| v.is_finite()).collect();
    (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
}

/// Sorts candidates best first (see the module doc); deterministic for any input order.
pub fn rank_candidates(mut candidates: Vec<Candidate>, options: &RankOptions) -> Vec<Candidate> {
    candidates.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then(a.technician_id.cmp(&b.technician_id)));
    let tolerance_m = options.tolerance_m();
    let score = |c: &Candidate| c.quality.unwrap_or(options.neutral_quality);
    let mut ranked = Vec::with_capacity(candidates.len());
    let mut rest = candidates.as_slice();
    while let Some(first) = rest.first() {
        let band_len = rest.partition_point(|c| c.distance_m <= first.distance_m + tolerance_m);
        let mut band = rest[..band_len].to_vec();
        band.sort_by(|a, b| {
            score(b)
                .total_cmp(&score(a))
                .then(a.distance_m.total_cmp(&b.distance_m))
                .then(a.technician_id.cmp(&b.technician_id))
        });
        ranked.extend(band);
        rest = &rest[band_len..];
    }
    ranked
}
