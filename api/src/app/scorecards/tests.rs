#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn a_small_sample_is_pulled_toward_the_mean_and_a_large_one_keeps_its_rate() {
    // 0 of 1 first-time fixes with a prior of 10 at a network mean of 0.8: barely below the mean.
    assert!((shrink(0, 1, 0.8, 10.0) - 8.0 / 11.0).abs() < 1e-12);
    // 0 of 100 is close to what was observed.
    assert!(shrink(0, 100, 0.8, 10.0) < 0.08);
    assert_eq!(shrink(0, 0, 0.8, 10.0), 0.8);
    assert_eq!(shrink(3, 4, 0.8, 0.0), 0.75);
}

#[test]
fn a_technician_without_history_gets_its_organisations_estimate() {
    let org = QualityEstimate { first_time_fix: 0.7, promoters: 0.5, detractors: 0.1 };
    let estimate = QualityEstimate::from_counters(&Counters::default(), org, 10.0);
    assert_eq!(estimate, org);
    let card = estimate.scorecard();
    assert_eq!(card.first_time_fix_rate, Some(0.7));
    assert!((card.nps.unwrap() - 40.0).abs() < 1e-9);
}

#[test]
fn periods_are_half_open_local_dates_with_defaults_and_limits() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T20:00:00Z").unwrap().with_timezone(&Utc);
    let p = Period::parse(None, None, now).unwrap();
    // 20:00 UTC is already 3 December in UTC+14: "today so far" everywhere is included.
    assert_eq!((p.from.to_string(), p.to.to_string()), ("2026-11-04".to_owned(), "2026-12-04".to_owned()));
    assert!(Period::parse(Some("2026-12-01"), Some("2026-12-01"), now).is_err());
    assert!(Period::parse(Some("2026-02-30"), None, now).is_err());
    assert!(Period::parse(Some("2020-01-01"), Some("2026-01-01"), now).is_err());
}
