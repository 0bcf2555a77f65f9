//! Plans a random field-service day (technicians with home bases, shifts, skills; visits with
//! windows around a city) and prints what came out, to try the planner beyond the benchmarks.
//!
//! `cargo run -p dispatch --release --example plan_random -- [VISITS] [TECHNICIANS] [SECONDS]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use dispatch::plan::{
    self, Instance, Location, Metric, MonotonicClock, Objective, PlanOptions, Technician, TimeWindow, Visit,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<f64>());
    let visits = args.next().transpose()?.unwrap_or(300.0) as usize;
    let technicians = args.next().transpose()?.unwrap_or(30.0) as usize;
    let seconds = args.next().transpose()?.unwrap_or(2.0);
    let mut rng = StdRng::seed_from_u64(7);
    let hour = 3600.0;
    // Around Lyon, about 30 km across.
    let near =
        |rng: &mut StdRng| Location { x: 4.83 + rng.random_range(-0.2..0.2), y: 45.76 + rng.random_range(-0.13..0.13) };
    let mut locations = Vec::new();
    let technicians: Vec<Technician> = (0..technicians)
        .map(|k| {
            locations.push(near(&mut rng));
            Technician {
                id: format!("tech-{k}"),
                start_location: locations.len() - 1,
                end_location: locations.len() - 1,
                shift: TimeWindow { start: 8.0 * hour, end: 17.0 * hour },
                capacity: 12.0,
                skills: if k % 3 == 0 { vec!["gas".into()] } else { vec![] },
            }
        })
        .collect();
    let visits: Vec<Visit> = (0..visits)
        .map(|i| {
            locations.push(near(&mut rng));
            let start = (8.0 + rng.random_range(0.0..6.0_f64).floor()) * hour;
            Visit {
                id: format!("visit-{i}"),
                location: locations.len() - 1,
                window: TimeWindow { start, end: start + 2.0 * hour },
                service_secs: rng.random_range(15.0..60.0_f64).round() * 60.0,
                demand: 1.0,
                required_skills: if rng.random_bool(0.2) { vec!["gas".into()] } else { vec![] },
            }
        })
        .collect();
    let instance = Instance {
        name: "random-day".into(),
        locations,
        metric: Metric::GreatCircle { speed_m_per_s: 30.0 / 3.6 },
        technicians,
        visits,
    };
    for objective in [Objective::Distance, Objective::Vehicles] {
        let options =
            PlanOptions { objective, time_limit: Duration::from_secs_f64(seconds), iterations: None, seed: 1 };
        let started = Instant::now();
        let day = plan::solve(&instance, &options, &MonotonicClock::new());
        let took = started.elapsed();
        plan::check(&instance, &day)?;
        println!(
            "{objective:?}: {} technicians, {:.1} km, {} unassigned, {:.2} s",
            day.vehicles,
            day.distance / 1000.0,
            day.unassigned.len(),
            took.as_secs_f64()
        );
    }
    Ok(())
}
