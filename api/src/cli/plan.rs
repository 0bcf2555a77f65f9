//! `sortie plan FILE` and `sortie bench plan DIR`: the day planner on
//! Solomon-format instances, checked, against best-known solutions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use dispatch::plan::bench::{self, BenchRow};
use dispatch::plan::{MonotonicClock, Objective, PlanOptions, check};

/// Options shared by both commands.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Wall-clock budget per instance, e.g. `1s`, `500ms`, `10s`.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// `vehicles`: fewest technicians first, then travel (the Solomon convention); `distance`: least travel.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Vehicles)]
    pub objective: ObjectiveArg,
    /// Seed of the search; with `--iterations` the result is deterministic for a seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many ruin-and-recreate iterations instead of at the time limit (deterministic).
    #[arg(long)]
    pub iterations: Option<u64>,
}

/// `--objective`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    Vehicles,
    Distance,
}

impl PlanArgs {
    fn options(&self) -> PlanOptions {
        PlanOptions {
            objective: match self.objective {
                ObjectiveArg::Vehicles => Objective::Vehicles,
                ObjectiveArg::Distance => Objective::Distance,
            },
            time_limit: self.time_limit,
            iterations: self.iterations,
            seed: self.seed,
        }
    }
}

/// Parses `1s`, `250ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("`{s}` is not a duration like 1s or 500ms"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit `{unit}` (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err("the time limit must be positive".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Solves one instance, checks the plan, prints it as JSON.
pub fn plan(file: &Path, args: &PlanArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("Failed to read {}", file.display()))?;
    let instance = dispatch::plan::solomon::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let plan = dispatch::plan::solve(&instance, &args.options(), &MonotonicClock::new());
    check(&instance, &plan).map_err(|v| anyhow::anyhow!("the planner produced an infeasible plan: {v}"))?;
    println!("{}", bench::plan_json(&instance, &plan));
    Ok(())
}

/// Runs every `*.txt` instance of a directory and prints a table against `bks.csv`
/// (`bks_distance_only.csv` for `--objective distance`, when present).
pub fn bench_plan(dir: &Path, args: &PlanArgs, only: Option<&str>) -> anyhow::Result<()> {
    let options = args.options();
    let distance_only = dir.join("bks_distance_only.csv");
    let bks_file = if options.objective == Objective::Distance && distance_only.exists() {
        distance_only
    } else {
        dir.join("bks.csv")
    };
    let bks = std::fs::read_to_string(&bks_file).map(|s| bench::parse_bks(&s)).unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("Failed to read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt")))
        .collect();
    files.sort();
    let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some(prefix) = only {
        files.retain(|p| stem(p).to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()));
    }
    anyhow::ensure!(!files.is_empty(), "no *.txt instances in {}", dir.display());
    let mut instances = Vec::with_capacity(files.len());
    for path in &files {
        let text = std::fs::read_to_string(path).with_context(|| format!("Failed to read {}", path.display()))?;
        instances.push((stem(path), text));
    }
    let bar = indicatif::ProgressBar::new(instances.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut progress = |_done: usize, _total: usize, row: &BenchRow| {
        bar.set_message(format!("{} {:+.2} %", row.instance, row.gap_pct.unwrap_or(0.0)));
        bar.inc(1);
    };
    let rows = bench::run_suite(&instances, &bks, &options, &MonotonicClock::new(), &mut progress)
        .map_err(|(name, e)| anyhow::anyhow!("Failed to parse {name}: {e}"))?;
    bar.finish_and_clear();
    println!("reference: {}", bks_file.display());
    print!("{}", bench::format_table(&rows, options.objective));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
