//! Plans one Solomon-format file and prints `{"routes":[[customer numbers]],"vehicles":N,"distance":D}`,
//! as `sortie plan FILE` will. The plan goes through the checker before it is printed.
//!
//! `cargo run -p dispatch --release --example plan_file -- FILE [SECONDS] [distance|vehicles] [SEED]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, bail};
use dispatch::plan::{self, MonotonicClock, Objective, PlanOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args.first().context("usage: plan_file FILE [SECONDS] [distance|vehicles] [SEED]")?;
    let seconds: f64 = args.get(1).map_or(Ok(1.0), |s| s.trim_end_matches('s').parse())?;
    let objective = match args.get(2).map_or("vehicles", String::as_str) {
        "distance" => Objective::Distance,
        "vehicles" => Objective::Vehicles,
        other => bail!("unknown objective {other}"),
    };
    let seed = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let text = std::fs::read_to_string(file).with_context(|| format!("Failed to read {file}"))?;
    let instance = plan::solomon::parse(&text).with_context(|| format!("Failed to parse {file}"))?;
    let options = PlanOptions { objective, time_limit: Duration::from_secs_f64(seconds), iterations: None, seed };
    let day = plan::solve(&instance, &options, &MonotonicClock::new());
    plan::check(&instance, &day).context("The planner returned an infeasible plan")?;
    println!("{}", plan::bench::plan_json(&instance, &day));
    Ok(())
}
