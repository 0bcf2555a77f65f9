//! Per-query latency percentiles (hdrhistogram) at 100k technicians, 1 % eligible.
//!
//! `cargo bench -p dispatch --bench latency` prints p50/p99/max for: the index (nearest eligible, k = 1),
//! the filtered walk over the tree of everybody, the filter-first brute-force haversine scan, position
//! updates while every technician moves once, and the index again after everybody moved (and once more
//! after `compact()`, to tell tree state from other effects).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fleet.rs"]
mod fleet;

use std::hint::black_box;
use std::time::Instant;

use dispatch::model::SkillCode;
use dispatch::spatial::{PartitionKey, TechIndex};
use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::StdRng;

use fleet::{ONE_PCT, fleet, jitter};

fn report(name: &str, h: &Histogram<u64>) {
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name:<40} n={:>7}  p50 {:>9.2} µs  p99 {:>9.2} µs  p99.9 {:>9.2} µs  max {:>10.2} µs",
        h.len(),
        us(0.5),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1000.0
    );
}

/// Records `f` once per item, in nanoseconds.
fn record<T>(items: impl IntoIterator<Item = T>, mut f: impl FnMut(T)) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for item in items {
        let start = Instant::now();
        f(item);
        h.record(start.elapsed().as_nanos().max(1) as u64).unwrap();
    }
    h
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let n = 100_000;
    let mut fleet = fleet(n, 7);
    let index = TechIndex::bulk_load(fleet.indexed()).unwrap();
    let jobs = fleet.jobs(100_000, 11);
    let scope = [PartitionKey::Skill(SkillCode("one_pct".to_owned()))];
    let eligible_share =
        fleet.techs.iter().filter(|t| t.skill_bits & ONE_PCT != 0 && t.available).count() as f64 / n as f64;
    println!("{n} technicians, {:.2} % eligible (skill held by 1 %, 90 % of them available)", eligible_share * 100.0);

    let available = |t: &fleet::FleetTech| t.available;
    let h = record(&jobs, |&at| {
        black_box(index.nearest_eligible_in(at, &scope, 1, |id| available(&fleet.techs[id.0 as usize])));
    });
    report("index nearest eligible (k=1)", &h);
    let h = record(&jobs, |&at| {
        black_box(index.nearest_eligible(at, 1, |id| {
            let t = &fleet.techs[id.0 as usize];
            t.skill_bits & ONE_PCT != 0 && t.available
        }));
    });
    report("filtered walk, no partition (k=1)", &h);
    let h = record(&jobs[..5_000], |&at| {
        black_box(fleet.brute_force(at, 1, ONE_PCT));
    });
    report("brute-force haversine scan (k=1)", &h);

    let mut single = TechIndex::bulk_load(fleet.techs.iter().map(|t| (t.id, t.position))).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let h = record(0..n, |i| {
        let t = &fleet.techs[i];
        single.upsert(t.id, jitter(t.position, 5.0, &mut rng)).unwrap();
    });
    report("position update, one tree (no partitions)", &h);

    let mut moving = index.clone();
    let mut rng = StdRng::seed_from_u64(3);
    let h = record(0..n, |i| {
        let t = &mut fleet.techs[i];
        t.position = jitter(t.position, 5.0, &mut rng);
        moving.upsert(t.id, t.position).unwrap();
    });
    report("position update (all move once)", &h);
    let h = record(&jobs, |&at| {
        black_box(moving.nearest_eligible_in(at, &scope, 1, |id| available(&fleet.techs[id.0 as usize])));
    });
    report("index after all moved (k=1)", &h);
    let mut compacted = moving.clone();
    compacted.compact();
    let h = record(&jobs, |&at| {
        black_box(compacted.nearest_eligible_in(at, &scope, 1, |id| available(&fleet.techs[id.0 as usize])));
    });
    report("index after all moved, compacted (k=1)", &h);
    for &at in &jobs[..200] {
        let got = moving.nearest_eligible_in(at, &scope, 1, |id| available(&fleet.techs[id.0 as usize]));
        let want = fleet.brute_force(at, 1, ONE_PCT);
        assert_eq!(got.first().map(|g| g.0), want.first().map(|w| w.0));
    }
}
