//! Benchmark runs against best-known solutions (BKS), as data plus a plain-text table, for
//! `sortie plan` and `sortie bench plan`. No IO here: callers read the files and print.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::solomon::{self, ParseError};
use super::{Clock, DayPlan, Instance, Objective, PlanOptions, check, solve};

/// A best-known solution's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bks {
    /// Vehicles used.
    pub vehicles: usize,
    /// Total distance.
    pub distance: f64,
}

/// Reads a `instance,vehicles,distance[,...]` CSV into a map keyed by lower-case instance name.
/// Lines that do not parse (the header) are skipped.
pub fn parse_bks(csv: &str) -> HashMap<String, Bks> {
    csv.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(',');
            let name = fields.next()?.trim().to_ascii_lowercase();
            let vehicles = fields.next()?.trim().parse().ok()?;
            let distance = fields.next()?.trim().parse().ok()?;
            Some((name, Bks { vehicles, distance }))
        })
        .collect()
}

/// One instance's result.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// Instance name (file stem).
    pub instance: String,
    /// Vehicles used.
    pub vehicles: usize,
    /// Total distance.
    pub distance: f64,
    /// Visits left unassigned.
    pub unassigned: usize,
    /// The reference, when known.
    pub bks: Option<Bks>,
    /// `100 * (distance - bks) / bks`.
    pub gap_pct: Option<f64>,
    /// Whether the checker accepted the plan and nothing was left out.
    pub feasible: bool,
    /// The checker's complaint, if any.
    pub violation: Option<String>,
    /// Time the solve took on the clock given.
    pub elapsed: Duration,
}

/// Solves one Solomon-format text and compares it with `bks`.
pub fn run_instance(
    name: &str,
    text: &str,
    bks: Option<Bks>,
    options: &PlanOptions,
    clock: &dyn Clock,
) -> Result<(BenchRow, Instance, DayPlan), ParseError> {
    let instance = solomon::parse(text)?;
    let started = clock.elapsed();
    let plan = solve(&instance, options, clock);
    let elapsed = clock.elapsed().saturating_sub(started);
    let violation = check(&instance, &plan).err().map(|v| v.to_string());
    let row = BenchRow {
        instance: name.to_string(),
        vehicles: plan.vehicles,
        distance: plan.distance,
        unassigned: plan.unassigned.len(),
        bks,
        gap_pct: bks.map(|b| 100.0 * (plan.distance - b.distance) / b.distance),
        feasible: violation.is_none() && plan.unassigned.is_empty(),
        violation,
        elapsed,
    };
    Ok((row, instance, plan))
}

/// Runs [`run_instance`] on each `(name, text)` in order, looking names up in `bks`
/// (lower-cased) and calling `progress(done, total, row)` after each, for a progress line.
pub fn run_suite(
    instances: &[(String, String)],
    bks: &HashMap<String, Bks>,
    options: &PlanOptions,
    clock: &dyn Clock,
    progress: &mut dyn FnMut(usize, usize, &BenchRow),
) -> Result<Vec<BenchRow>, (String, ParseError)> {
    let mut rows = Vec::with_capacity(instances.len());
    for (i, (name, text)) in instances.iter().enumerate() {
        let reference = bks.get(&name.to_ascii_lowercase()).copied();
        let (row, _, _) = run_instance(name, text, reference, options, clock).map_err(|e| (name.clone(), e))?;
        progress(i + 1, instances.len(), &row);
        rows.push(row);
    }
    Ok(rows)
}

/// Means over a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSummary {
    /// Rows.
    pub instances: usize,
    /// Rows whose plan is feasible and complete.
    pub feasible: usize,
    /// Rows with a BKS.
    pub with_bks: usize,
    /// Mean distance gap over rows with a BKS.
    pub mean_gap_pct: Option<f64>,
    /// Rows using exactly the BKS number of vehicles.
    pub vehicles_equal_bks: usize,
    /// Rows using fewer vehicles than the BKS.
    pub vehicles_below_bks: usize,
    /// Mean distance gap over rows using the BKS number of vehicles.
    pub mean_gap_equal_vehicles_pct: Option<f64>,
    /// Sum of vehicles over all rows.
    pub total_vehicles: usize,
    /// Sum of BKS vehicles over rows with a BKS.
    pub total_bks_vehicles: usize,
    /// Mean solve time.
    pub mean_secs: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

/// Summarises rows.
pub fn summarise(rows: &[BenchRow]) -> BenchSummary {
    let equal = |r: &&BenchRow| r.bks.is_some_and(|b| b.vehicles == r.vehicles);
    BenchSummary {
        instances: rows.len(),
        feasible: rows.iter().filter(|r| r.feasible).count(),
        with_bks: rows.iter().filter(|r| r.bks.is_some()).count(),
        mean_gap_pct: mean(rows.iter().filter_map(|r| r.gap_pct)),
        vehicles_equal_bks: rows.iter().filter(equal).count(),
        vehicles_below_bks: rows.iter().filter(|r| r.bks.is_some_and(|b| r.vehicles < b.vehicles)).count(),
        mean_gap_equal_vehicles_pct: mean(rows.iter().filter(equal).filter_map(|r| r.gap_pct)),
        total_vehicles: rows.iter().map(|r| r.vehicles).sum(),
        total_bks_vehicles: rows.iter().filter_map(|r| r.bks.map(|b| b.vehicles)).sum(),
        mean_secs: mean(rows.iter().map(|r| r.elapsed.as_secs_f64())).unwrap_or(0.0),
    }
}

/// The plain-text table: one line per row, then the summary lines.
pub fn format_table(rows: &[BenchRow], objective: Objective) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>4} {:>10} {:>4} {:>10} {:>8} {:>8} {:>7}",
        "instance", "veh", "distance", "bksV", "bksD", "gap%", "feasible", "secs"
    );
    for r in rows {
        let (bv, bd) = match r.bks {
            Some(b) => (b.vehicles.to_string(), format!("{:.2}", b.distance)),
            None => ("-".into(), "-".into()),
        };
        let gap = r.gap_pct.map_or("-".into(), |g| format!("{g:.2}"));
        let _ = writeln!(
            out,
            "{:<10} {:>4} {:>10.2} {:>4} {:>10} {:>8} {:>8} {:>7.2}",
            r.instance,
            r.vehicles,
            r.distance,
            bv,
            bd,
            gap,
            if r.feasible { "yes" } else { "NO" },
            r.elapsed.as_secs_f64()
        );
        if let Some(v) = &r.violation {
            let _ = writeln!(out, "    violation: {v}");
        }
    }
    let s = summarise(rows);
    let fmt = |g: Option<f64>| g.map_or("-".to_string(), |g| format!("{g:.3} %"));
    let _ = writeln!(out, "instances: {}, feasible: {}/{}", s.instances, s.feasible, s.instances);
    let _ = writeln!(out, "mean gap: {} (over {} with a BKS)", fmt(s.mean_gap_pct), s.with_bks);
    if objective == Objective::Vehicles || s.vehicles_equal_bks != s.with_bks {
        let _ = writeln!(
            out,
            "vehicles = BKS: {}/{} (below: {}), total vehicles {} vs BKS {}; mean gap where vehicles = BKS: {}",
            s.vehicles_equal_bks,
            s.with_bks,
            s.vehicles_below_bks,
            s.total_vehicles,
            s.total_bks_vehicles,
            fmt(s.mean_gap_equal_vehicles_pct)
        );
    }
    let _ = writeln!(out, "mean time: {:.3} s", s.mean_secs);
    out
}

/// `{"routes":[[customer numbers]],"vehicles":N,"distance":D}` for a plan of a Solomon instance;
/// visit ids that are not integers are written as JSON strings.
pub fn plan_json(instance: &Instance, plan: &DayPlan) -> String {
    let id = |v: usize| {
        let raw = instance.visits.get(v).map_or("", |x| x.id.as_str());
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            raw.to_string()
        } else {
            let escaped: String = raw
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32).chars().collect(),
                    c => vec![c],
                })
                .collect();
            format!("\"{escaped}\"")
        }
    };
    let routes: Vec<String> = plan
        .routes
        .iter()
        .map(|r| format!("[{}]", r.visits.iter().map(|&v| id(v)).collect::<Vec<_>>().join(",")))
        .collect();
    format!("{{\"routes\":[{}],\"vehicles\":{},\"distance\":{:.4}}}", routes.join(","), plan.vehicles, plan.distance)
}
