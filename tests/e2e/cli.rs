//! The `sortie` command line beyond `serve`.

use std::process::Command;

fn sortie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sortie-under-test"))
}

/// A small Solomon-format instance: depot at (40, 50), capacity 200, six customers.
const INSTANCE: &str = "TINY\r\n\r\nVEHICLE\r\nNUMBER     CAPACITY\r\n  3         200\r\n\r\nCUSTOMER\r\n\
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\r\n\r\n\
    0      40         50          0          0       1236          0\r\n\
    1      45         68         10        912        967         90\r\n\
    2      45         70         30        825        870         90\r\n\
    3      42         66         10         65        146         90\r\n\
    4      42         68         10        727        782         90\r\n\
    5      42         65         10         15         67         90\r\n\
    6      40         69         20        621        702         90\r\n";

#[test]
fn plan_prints_a_checked_plan_that_visits_every_customer_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("tiny.txt");
    std::fs::write(&file, INSTANCE)?;
    let out = sortie().args(["plan", "--iterations", "200", "--seed", "7"]).arg(&file).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut visited: Vec<u64> = plan["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_u64())
        .collect();
    visited.sort_unstable();
    assert_eq!(visited, [1, 2, 3, 4, 5, 6]);
    assert!(plan["distance"].as_f64().is_some_and(|d| d > 0.0));
    assert_eq!(plan["vehicles"].as_u64(), Some(plan["routes"].as_array().map_or(0, |r| r.len() as u64)));
    // Deterministic under an iteration budget.
    let again = sortie().args(["plan", "--iterations", "200", "--seed", "7"]).arg(&file).output()?;
    assert_eq!(out.stdout, again.stdout);
    Ok(())
}

#[test]
fn bad_arguments_are_refused_with_a_message() -> anyhow::Result<()> {
    let out = sortie().args(["plan", "/nonexistent/file.txt"]).output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Failed to read"));
    let out = sortie().args(["bench", "plan", ".", "--time-limit", "fast"]).output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duration"));
    let help = sortie().arg("--help").output()?;
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "migrate", "init", "plan", "bench"] {
        assert!(text.contains(command), "{command} missing from --help");
    }
    Ok(())
}

#[test]
fn bench_dispatch_books_through_the_server_and_ends_with_one_json_line_of_figures() -> anyhow::Result<()> {
    let out = sortie()
        .args(["bench", "dispatch", "--technicians", "400", "--bookings", "30", "--clients", "4", "--reads", "5"])
        .args(["--backend", "sqlite", "--json"])
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let figures: serde_json::Value = serde_json::from_str(last)?;
    for key in [
        "technicians",
        "bookings",
        "bookings_per_s",
        "booking_p50_ms",
        "booking_p99_ms",
        "decision_p50_us",
        "decision_p99_us",
        "offered_share",
        "cpu_ms_per_booking",
        "client_cpu_ms_per_booking",
        "db_cpu_ms_per_booking",
        "commits_per_booking",
        "rss_mb",
    ] {
        assert!(figures.get(key).is_some(), "{key} missing: {last}");
    }
    assert_eq!(figures["technicians"], 400);
    assert_eq!(figures["bookings"], 30);
    assert!(figures["offered_share"].as_f64().is_some_and(|s| s > 0.5), "most bookings find someone: {last}");
    assert!(figures["decision_p50_us"].as_f64().is_some_and(|us| us > 0.0), "{last}");
    // The clients run in a child process: their CPU is reported apart from the server's.
    assert!(figures["client_cpu_ms_per_booking"].as_f64().is_some(), "{last}");
    assert!(figures["read_page_100_p50_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{last}");
    Ok(())
}
