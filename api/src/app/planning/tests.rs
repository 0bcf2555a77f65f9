use chrono::{DateTime, Utc};

use super::{eta_window, total_m};

fn at(hh_mm: &str) -> DateTime<Utc> {
    format!("2030-01-10T{hh_mm}:00Z").parse().unwrap_or_default()
}

#[track_caller]
fn check(start: &str, window: (&str, &str), expect: (&str, &str), inside: bool) {
    let ((from, to), ok) = eta_window(at(start), (at(window.0), at(window.1)));
    assert_eq!((from, to, ok), (at(expect.0), at(expect.1), inside), "start {start} in {window:?}");
}

#[test]
fn the_eta_window_surrounds_the_start_and_stays_inside_the_customers_window() {
    check("11:00", ("10:00", "12:00"), ("10:45", "11:15"), true);
    // Shifted, not cut, at either edge.
    check("10:05", ("10:00", "12:00"), ("10:00", "10:30"), true);
    check("11:55", ("10:00", "12:00"), ("11:30", "12:00"), true);
    // A window shorter than 30 minutes: the whole window.
    check("10:10", ("10:00", "10:20"), ("10:00", "10:20"), true);
    // A start outside the window is infeasible; the ETA is still clamped inside.
    check("08:02", ("10:00", "12:00"), ("10:00", "10:30"), false);
    check("13:00", ("10:00", "12:00"), ("11:30", "12:00"), false);
}

#[test]
fn an_empty_sum_of_distances_is_positive_zero() {
    let empty = total_m(std::iter::empty());
    assert_eq!(empty.to_bits(), 0.0f64.to_bits());
    assert_eq!(total_m([1.5, 2.0]), 3.5);
}
