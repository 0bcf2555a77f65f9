//! Runs the day planner over a directory of Solomon-format instances and prints a table
//! against the best-known solutions beside them, as `sortie bench plan` will.
//!
//! `cargo run -p dispatch --release --example plan_bench -- DIR --time-limit 1 --objective distance
//! [--seed N] [--iterations N] [--only PREFIX] [--bks FILE]`
//!
//! With `--objective distance` the reference is `bks_distance_only.csv` when present, else `bks.csv`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use dispatch::plan::bench::{BenchRow, format_table, parse_bks, run_suite};
use dispatch::plan::{MonotonicClock, Objective, PlanOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut options = PlanOptions { objective: Objective::Distance, ..PlanOptions::default() };
    let mut only: Option<String> = None;
    let mut bks_file: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--time-limit" => {
                let v = value()?;
                let secs: f64 = v.trim_end_matches('s').parse().context("Failed to parse --time-limit")?;
                options.time_limit = Duration::from_secs_f64(secs);
            }
            "--objective" => {
                options.objective = match value()?.as_str() {
                    "distance" => Objective::Distance,
                    "vehicles" => Objective::Vehicles,
                    other => bail!("unknown objective {other}"),
                }
            }
            "--seed" => options.seed = value()?.parse().context("Failed to parse --seed")?,
            "--iterations" => options.iterations = Some(value()?.parse().context("Failed to parse --iterations")?),
            "--only" => only = Some(value()?.to_ascii_lowercase()),
            "--bks" => bks_file = Some(value()?.into()),
            _ if dir.is_none() => dir = Some(arg.into()),
            _ => bail!("unexpected argument {arg}"),
        }
    }
    let dir = dir.context("usage: plan_bench DIR [--time-limit SECS] [--objective distance|vehicles]")?;
    let bks_file = bks_file.unwrap_or_else(|| {
        let distance_only = dir.join("bks_distance_only.csv");
        if options.objective == Objective::Distance && distance_only.exists() {
            distance_only
        } else {
            dir.join("bks.csv")
        }
    });
    let bks = std::fs::read_to_string(&bks_file).map(|s| parse_bks(&s)).unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("Failed to read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")))
        .collect();
    files.sort();
    let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    files.retain(|p| only.as_ref().is_none_or(|o| stem(p).to_ascii_lowercase().starts_with(o.as_str())));
    let mut instances = Vec::with_capacity(files.len());
    for path in &files {
        let text = std::fs::read_to_string(path).with_context(|| format!("Failed to read {}", path.display()))?;
        instances.push((stem(path), text));
    }
    let mut progress = |done: usize, total: usize, row: &BenchRow| {
        eprintln!(
            "[{done}/{total}] {}: {} vehicles, {:.2}{}{}",
            row.instance,
            row.vehicles,
            row.distance,
            row.gap_pct.map_or(String::new(), |g| format!(" ({g:+.2} %)")),
            if row.feasible { "" } else { " INFEASIBLE" }
        );
    };
    let rows = run_suite(&instances, &bks, &options, &MonotonicClock::new(), &mut progress)
        .map_err(|(name, e)| anyhow::anyhow!("Failed to parse {name}: {e}"))?;
    print!("{}", format_table(&rows, options.objective));
    Ok(())
}
