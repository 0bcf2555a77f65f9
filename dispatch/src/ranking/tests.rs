#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn c(id: u128, distance_m: f64, quality: Option<f64>) -> Candidate {
    Candidate { technician_id: TechnicianId(id), org_id: OrgId(1), distance_m, quality }
}

#[track_caller]
fn check(candidates: Vec<Candidate>, near_equal_m: f64, expected: &[u128]) {
    let options = RankOptions { near_equal_m, ..RankOptions::default() };
    let ranked: Vec<u128> = rank_candidates(candidates, &options).iter().map(|c| c.technician_id.0).collect();
    assert_eq!(ranked, expected);
}

#[test]
fn nearest_first_and_exact_ties_by_id() {
    check(vec![c(3, 100.0, None), c(2, 50.0, None), c(1, 100.0, None)], 0.0, &[2, 1, 3]);
}

#[test]
fn quality_reorders_near_equals_only() {
    // 2 is 300 m farther than 1 but better: within a 500 m band it goes first. 3 is 2 km away and
    // excellent, yet stays behind.
    let candidates = vec![c(1, 1000.0, Some(0.4)), c(2, 1300.0, Some(0.9)), c(3, 3000.0, Some(1.0))];
    check(candidates.clone(), 500.0, &[2, 1, 3]);
    check(candidates, 0.0, &[1, 2, 3]);
}

#[test]
fn a_missing_scorecard_counts_as_neutral() {
    check(vec![c(1, 10.0, None), c(2, 20.0, Some(0.6)), c(3, 30.0, Some(0.4))], 100.0, &[2, 1, 3]);
}

#[test]
fn quality_scores_combine_first_time_fix_and_nps() {
    let both = Scorecard { first_time_fix_rate: Some(0.8), nps: Some(20.0) };
    assert!((quality_score(&both).unwrap() - 0.7).abs() < 1e-12);
    assert_eq!(quality_score(&Scorecard { first_time_fix_rate: None, nps: Some(100.0) }), Some(1.0));
    assert_eq!(quality_score(&Scorecard::default()), None);
}

#[test]
fn at_equal_distance_a_poor_first_time_fix_record_loses_the_offer() {
    // Technician 1 would win the id tie-break, but fixes fewer jobs at the first visit.
    let poor = Scorecard { first_time_fix_rate: Some(0.4), nps: Some(40.0) };
    let good = Scorecard { first_time_fix_rate: Some(0.9), nps: Some(40.0) };
    let candidates = vec![c(1, 1000.0, quality_score(&poor)), c(2, 1000.0, quality_score(&good))];
    check(candidates, 500.0, &[2, 1]);
    // Without records the id breaks the tie.
    check(vec![c(1, 1000.0, None), c(2, 1000.0, None)], 500.0, &[1, 2]);
}
