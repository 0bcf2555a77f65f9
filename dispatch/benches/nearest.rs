//! Criterion benches of the technician index against the filter-first brute-force haversine scan.
//!
//! `cargo bench -p dispatch --bench nearest` (about 3 minutes under `chrt -f 20`). Fleets of 10k, 100k and 1M
//! technicians spread like the demo data (see `support/fleet.rs`). "1 %" means the required skill is held by
//! 1 % of technicians and 90 % of those are available (the predicate); likewise "10 %".

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fleet.rs"]
mod fleet;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dispatch::model::{LatLon, SkillCode};
use dispatch::spatial::{PartitionKey, TechIndex};
use rand::SeedableRng;
use rand::rngs::StdRng;

use fleet::{Fleet, ONE_PCT, TEN_PCT, fleet, jitter};

const CASES: [(&str, u8, &str); 2] = [("1pct", ONE_PCT, "one_pct"), ("10pct", TEN_PCT, "ten_pct")];

/// The index answers like the brute-force scan (same technician, same distance) for every job location.
fn assert_same_answers(fleet: &Fleet, index: &TechIndex, jobs: &[LatLon]) {
    for &(_, bit, skill) in &CASES {
        let scope = [PartitionKey::Skill(SkillCode(skill.to_owned()))];
        for &at in jobs {
            for k in [1, 5] {
                let got = index.nearest_eligible_in(at, &scope, k, |id| fleet.techs[id.0 as usize].available);
                let want = fleet.brute_force(at, k, bit);
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!((g.1 - w.1).abs() < 1e-3 && (g.0 == w.0 || (g.1 - w.1).abs() < 1e-6), "{g:?} vs {w:?}");
                }
            }
        }
    }
}

fn bench_fleet(c: &mut Criterion, n: usize) {
    let mut fleet = fleet(n, 7);
    let indexed = fleet.indexed();
    let index = TechIndex::bulk_load(indexed.clone()).unwrap();
    let jobs = fleet.jobs(1000, 11);
    assert_same_answers(&fleet, &index, &jobs[..if n >= 1_000_000 { 50 } else { 200 }]);

    let mut g = c.benchmark_group(format!("n{}k", n / 1000));
    let big = n >= 1_000_000;
    g.sample_size(if big { 10 } else { 20 });
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));

    for &(share, bit, skill) in &CASES {
        let scope = [PartitionKey::Skill(SkillCode(skill.to_owned()))];
        for k in [1, 5] {
            let mut i = 0;
            g.bench_function(format!("index/{share}/k{k}"), |b| {
                b.iter(|| {
                    i += 1;
                    let at = jobs[i % jobs.len()];
                    black_box(index.nearest_eligible_in(at, &scope, k, |id| fleet.techs[id.0 as usize].available))
                })
            });
            let mut i = 0;
            g.bench_function(format!("brute_force/{share}/k{k}"), |b| {
                b.iter(|| {
                    i += 1;
                    black_box(fleet.brute_force(jobs[i % jobs.len()], k, bit))
                })
            });
        }
    }
    // The fallback when no partition applies: walk the tree of everybody and filter.
    let mut i = 0;
    g.bench_function("filtered_walk/1pct/k1", |b| {
        b.iter(|| {
            i += 1;
            black_box(index.nearest_eligible(jobs[i % jobs.len()], 1, |id| {
                let t = &fleet.techs[id.0 as usize];
                t.skill_bits & ONE_PCT != 0 && t.available
            }))
        })
    });

    // Position updates: a random technician moves up to 1 km (each of its ~2.1 trees gets an insertion, skill
    // trees also a removal; periodic rebuilds are inside the measurement).
    let mut moving = index.clone();
    let mut rng = StdRng::seed_from_u64(3);
    let mut next = 0usize;
    g.bench_function("update", |b| {
        b.iter(|| {
            next = (next + 7919) % n;
            let t = &mut fleet.techs[next];
            t.position = jitter(t.position, 1.0, &mut rng);
            moving.upsert(t.id, t.position).unwrap();
        })
    });

    g.bench_function("bulk_load", |b| {
        b.iter_batched(|| indexed.clone(), |v| black_box(TechIndex::bulk_load(v).unwrap()), BatchSize::LargeInput)
    });

    // Everybody moves once more (a new city-jittered spot nearby), then the same query again.
    for t in &mut fleet.techs {
        t.position = jitter(t.position, 5.0, &mut rng);
        moving.upsert(t.id, t.position).unwrap();
    }
    assert_same_answers(&fleet, &moving, &jobs[..50]);
    let scope = [PartitionKey::Skill(SkillCode("one_pct".to_owned()))];
    let mut i = 0;
    g.bench_function("index_after_all_moved/1pct/k1", |b| {
        b.iter(|| {
            i += 1;
            let at = jobs[i % jobs.len()];
            black_box(moving.nearest_eligible_in(at, &scope, 1, |id| fleet.techs[id.0 as usize].available))
        })
    });
    // The same once every tree is rebuilt (what a fresh bulk load would give).
    moving.compact();
    let mut i = 0;
    g.bench_function("index_after_all_moved_compacted/1pct/k1", |b| {
        b.iter(|| {
            i += 1;
            let at = jobs[i % jobs.len()];
            black_box(moving.nearest_eligible_in(at, &scope, 1, |id| fleet.techs[id.0 as usize].available))
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    for n in [10_000, 100_000, 1_000_000] {
        bench_fleet(c, n);
    }
}

criterion_group!(nearest, benches);
criterion_main!(nearest);
