#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

fn t(id: u128) -> TechnicianId {
    TechnicianId(id)
}

fn p(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon)
}

/// The nearest `k` ids, by the index.
#[track_caller]
fn check_nearest(index: &TechIndex, at: LatLon, k: usize, expected: &[u128]) {
    let got: Vec<u128> = index.nearest_eligible(at, k, |_| true).into_iter().map(|(id, _)| id.0).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_technician_across_the_180th_meridian_is_nearer_than_one_on_the_same_side() -> anyhow::Result<()> {
    // Arrange: the job at lon -179.9 (Chukotka side); one technician at 179.9, ~11 km away across the
    // meridian, one at 170 on the job's "side" in a lon/lat plane but ~1100 km away.
    let index = TechIndex::bulk_load([(t(1), p(65.0, 179.9)), (t(2), p(65.0, 170.0))])?;
    // Act
    let nearest = index.nearest_eligible(p(65.0, -179.9), 2, |_| true);
    // Assert
    assert_eq!(nearest[0].0, t(1));
    assert!((nearest[0].1 - haversine_m(p(65.0, 179.9), p(65.0, -179.9))).abs() < 1e-3);
    assert!(nearest[0].1 < 10_000.0, "{:?}", nearest);
    assert_eq!(nearest[1].0, t(2));
    Ok(())
}

#[test]
fn near_the_north_pole_longitude_differences_shrink_to_nothing() -> anyhow::Result<()> {
    // At 89.99° N a technician 180° of longitude away is ~2.2 km across the pole; one at the same
    // longitude 0.1° of latitude south is ~11 km away. A lon/lat distance would get this backwards.
    let index = TechIndex::bulk_load([(t(1), p(89.99, 180.0)), (t(2), p(89.89, 0.0)), (t(3), p(90.0, 0.0))])?;
    check_nearest(&index, p(89.99, 0.0), 3, &[3, 1, 2]);
    let d = index.nearest_eligible(p(89.99, 0.0), 1, |id| id == t(1));
    assert!((d[0].1 - haversine_m(p(89.99, 0.0), p(89.99, 180.0))).abs() < 1e-3);
    Ok(())
}

#[test]
fn near_the_south_pole_the_order_is_by_great_circle_distance() -> anyhow::Result<()> {
    let index = TechIndex::bulk_load([(t(1), p(-89.5, 90.0)), (t(2), p(-88.0, -10.0)), (t(3), p(-89.9, -90.0))])?;
    check_nearest(&index, p(-89.8, -10.0), 3, &[3, 1, 2]);
    Ok(())
}

#[test]
fn an_empty_index_finds_nobody() {
    let index = TechIndex::new();
    assert!(index.is_empty());
    assert_eq!(index.nearest_iter(p(55.0, 37.0)).count(), 0);
    assert!(index.nearest_eligible(p(55.0, 37.0), 3, |_| true).is_empty());
}

#[test]
fn equal_distances_break_by_technician_id() -> anyhow::Result<()> {
    // Same position three times: only the id can order them.
    let here = p(55.75, 37.62);
    let index = TechIndex::bulk_load([(t(30), here), (t(10), here), (t(20), here), (t(5), p(56.0, 38.0))])?;
    check_nearest(&index, p(55.7, 37.6), 2, &[10, 20]);
    check_nearest(&index, p(55.7, 37.6), 4, &[10, 20, 30, 5]);
    Ok(())
}

#[test]
fn nobody_eligible_returns_nothing() -> anyhow::Result<()> {
    let index = TechIndex::bulk_load((0..100).map(|i| (t(i), p(50.0 + i as f64 * 0.01, 40.0))))?;
    assert!(index.nearest_eligible(p(50.0, 40.0), 1, |_| false).is_empty());
    Ok(())
}

#[test]
fn upsert_moves_and_remove_forgets() -> anyhow::Result<()> {
    let mut index = TechIndex::bulk_load([(t(1), p(55.0, 37.0)), (t(2), p(60.0, 30.0))])?;
    index.upsert(t(1), p(59.9, 30.1))?;
    check_nearest(&index, p(59.95, 30.2), 2, &[1, 2]);
    assert!(index.remove(t(1)));
    assert!(!index.remove(t(1)));
    check_nearest(&index, p(59.95, 30.2), 2, &[2]);
    index.upsert(t(3), p(59.95, 30.2))?;
    check_nearest(&index, p(59.95, 30.2), 2, &[3, 2]);
    assert_eq!(index.len(), 2);
    Ok(())
}

#[test]
fn invalid_positions_are_refused_and_leave_the_index_as_it_was() -> anyhow::Result<()> {
    let mut index = TechIndex::bulk_load([(t(1), p(55.0, 37.0))])?;
    let err = index.upsert(t(1), p(f64::NAN, 37.0)).unwrap_err();
    assert!(matches!(err, PositionError::Invalid { id, .. } if id == t(1)));
    assert!(index.upsert(t(1), p(91.0, 0.0)).is_err());
    assert!(index.upsert(t(1), p(0.0, 180.5)).is_err());
    check_nearest(&index, p(55.0, 37.0), 1, &[1]);
    assert!(TechIndex::bulk_load([(t(1), p(0.0, f64::INFINITY))]).is_err());
    // A query at an invalid point finds nobody rather than panicking inside the tree.
    assert_eq!(index.nearest_iter(p(f64::NAN, 0.0)).count(), 0);
    Ok(())
}

#[test]
fn a_scope_walks_the_smallest_partition_and_requires_every_key() -> anyhow::Result<()> {
    let (org, rare, common) =
        (PartitionKey::Org(OrgId(7)), PartitionKey::Skill("rare".into()), PartitionKey::Skill("common".into()));
    let tech = |id: u128, lat: f64, keys: &[&PartitionKey]| IndexedTechnician {
        id: t(id),
        position: p(lat, 37.0),
        partitions: keys.iter().map(|&k| k.clone()).collect(),
    };
    let index = TechIndex::bulk_load([
        tech(1, 55.00, &[&org, &common]),
        tech(2, 55.01, &[&org, &rare, &common]),
        tech(3, 55.02, &[&rare, &common]),
        tech(4, 55.03, &[&org, &rare]),
        tech(5, 55.04, &[&common]),
    ])?;
    assert_eq!(index.partition_len(&rare), 3);
    let scope = [org.clone(), rare.clone(), common.clone()];
    let walk = index.nearest_in(p(55.0, 37.0), &scope);
    assert_eq!(walk.walked_partition(), Some(&org));
    assert_eq!(walk.map(|(id, _)| id.0).collect::<Vec<_>>(), vec![2]);
    let found = index.nearest_eligible_in(p(55.0, 37.0), std::slice::from_ref(&rare), 5, |id| id != t(3));
    assert_eq!(found.iter().map(|(id, _)| id.0).collect::<Vec<_>>(), vec![2, 4]);
    // A key nobody holds: nobody.
    assert!(index.nearest_eligible_in(p(55.0, 37.0), &[PartitionKey::Skill("none".into())], 1, |_| true).is_empty());
    Ok(())
}

#[test]
fn partitions_follow_moves_and_replacements() -> anyhow::Result<()> {
    let key = PartitionKey::Skill("x".into());
    let mut index = TechIndex::new();
    index.upsert_technician(IndexedTechnician { id: t(1), position: p(10.0, 10.0), partitions: vec![key.clone()] })?;
    index.upsert(t(1), p(20.0, 20.0))?;
    let found = index.nearest_eligible_in(p(20.0, 20.0), std::slice::from_ref(&key), 1, |_| true);
    assert_eq!(found[0].0, t(1));
    assert!(found[0].1 < 1.0);
    index.upsert_technician(IndexedTechnician { id: t(1), position: p(20.0, 20.0), partitions: vec![] })?;
    assert_eq!(index.partition_len(&key), 0);
    Ok(())
}

fn random_position(rng: &mut StdRng) -> LatLon {
    // Uniform on the sphere, plus a share of points crowded at the poles and the 180° meridian.
    match rng.random_range(0..4) {
        0 => p(rng.random_range(85.0..=90.0), rng.random_range(-180.0..=180.0)),
        1 => {
            let side = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            p(rng.random_range(-90.0..=90.0), side * (180.0 - rng.random_range(0.0..2.0)))
        }
        _ => p((rng.random_range(-1.0..=1.0_f64)).asin().to_degrees(), rng.random_range(-180.0..=180.0)),
    }
}

#[test]
fn nearest_eligible_equals_a_brute_force_haversine_scan() -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(0x0050_471e);
    for round in 0..40 {
        // Arrange: random technicians, some moved after loading, a random eligible subset.
        let n = rng.random_range(0..400);
        let mut positions: Vec<(TechnicianId, LatLon)> = (0..n).map(|i| (t(i), random_position(&mut rng))).collect();
        let mut index = TechIndex::bulk_load(positions.clone())?;
        for (id, pos) in positions.iter_mut() {
            if rng.random_bool(0.3) {
                *pos = random_position(&mut rng);
                index.upsert(*id, *pos)?;
            }
        }
        let share = [1.0, 0.5, 0.1, 0.01][round % 4];
        let eligible: Vec<bool> = (0..n).map(|_| rng.random_bool(share)).collect();
        for _ in 0..20 {
            let at = random_position(&mut rng);
            let k = rng.random_range(1..6);
            // Act
            let got = index.nearest_eligible(at, k, |id| eligible[id.0 as usize]);
            // Assert
            let mut want: Vec<(f64, TechnicianId)> = positions
                .iter()
                .filter(|(id, _)| eligible[id.0 as usize])
                .map(|&(id, pos)| (haversine_m(at, pos), id))
                .collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            want.truncate(k);
            assert_eq!(got.len(), want.len());
            for ((got_id, got_m), (want_m, want_id)) in got.iter().zip(&want) {
                assert!((got_m - want_m).abs() < 1e-3, "round {round}: {got_m} vs {want_m}");
                // Two formulas may order candidates a millimetre apart differently; none are that close here.
                assert_eq!(got_id, want_id, "round {round} at {at:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn queries_stay_right_after_every_technician_moved_several_times() -> anyhow::Result<()> {
    // Enough moves to trigger several rebuilds of the tree.
    let mut rng = StdRng::seed_from_u64(42);
    let n = 500;
    let mut positions: Vec<LatLon> = (0..n).map(|_| random_position(&mut rng)).collect();
    let mut index = TechIndex::bulk_load(positions.iter().enumerate().map(|(i, &pos)| (t(i as u128), pos)))?;
    for _ in 0..5 {
        for (i, pos) in positions.iter_mut().enumerate() {
            *pos = random_position(&mut rng);
            index.upsert(t(i as u128), *pos)?;
        }
    }
    assert_eq!(index.len(), n);
    assert_eq!(index.nearest_iter(p(0.0, 0.0)).count(), n);
    let at = p(10.0, 10.0);
    let best = positions
        .iter()
        .enumerate()
        .map(|(i, &pos)| (haversine_m(at, pos), i as u128))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    check_nearest(&index, at, 1, &[best.1]);
    Ok(())
}

#[test]
fn chord_and_haversine_agree() {
    let (a, b) = (p(55.75, 37.62), p(59.94, 30.31));
    let (u, v) = (unit_vector(a), unit_vector(b));
    let chord = ((u[0] - v[0]).powi(2) + (u[1] - v[1]).powi(2) + (u[2] - v[2]).powi(2)).sqrt();
    assert!((chord_to_m(chord) - haversine_m(a, b)).abs() < 1e-3);
    // Moscow – Saint Petersburg is about 634 km.
    assert!((haversine_m(a, b) - 634_000.0).abs() < 5_000.0);
}

#[test]
fn scoped_queries_match_a_model_through_moves_removals_and_re_additions() -> anyhow::Result<()> {
    // A model map beside the index; random operations; every query compared with a scan of the model.
    // Several organisation keys, so technicians form different organisation chains (one tree each) and an
    // organisation's walk merges several trees.
    let keys = [
        PartitionKey::Skill("a".into()),
        PartitionKey::Skill("b".into()),
        PartitionKey::Org(OrgId(9)),
        PartitionKey::Org(OrgId(10)),
        PartitionKey::Org(OrgId(11)),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let mut model: std::collections::HashMap<TechnicianId, (LatLon, Vec<PartitionKey>)> = Default::default();
    let mut index = TechIndex::new();
    for step in 0..6_000 {
        let id = t(rng.random_range(0..300));
        match rng.random_range(0..10) {
            0 => assert_eq!(index.remove(id), model.remove(&id).is_some()),
            1 | 2 => {
                let partitions: Vec<PartitionKey> = keys.iter().filter(|_| rng.random_bool(0.4)).cloned().collect();
                let position = random_position(&mut rng);
                index.upsert_technician(IndexedTechnician { id, position, partitions: partitions.clone() })?;
                model.insert(id, (position, partitions));
            }
            _ => {
                let position = random_position(&mut rng);
                index.upsert(id, position)?;
                model.entry(id).or_insert_with(|| (position, Vec::new())).0 = position;
            }
        }
        if step % 50 == 0 {
            let scope: Vec<PartitionKey> = keys.iter().filter(|_| rng.random_bool(0.4)).cloned().collect();
            let at = random_position(&mut rng);
            let got: Vec<TechnicianId> =
                index.nearest_eligible_in(at, &scope, 3, |_| true).into_iter().map(|x| x.0).collect();
            let mut want: Vec<(f64, TechnicianId)> = model
                .iter()
                .filter(|(_, (_, p))| scope.iter().all(|k| p.contains(k)))
                .map(|(&id, &(pos, _))| (haversine_m(at, pos), id))
                .collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<TechnicianId> = want.into_iter().take(3).map(|x| x.1).collect();
            assert_eq!(got, want, "step {step}, scope {scope:?}");
            assert_eq!(index.len(), model.len());
            for key in &keys {
                assert_eq!(index.partition_len(key), model.values().filter(|(_, p)| p.contains(key)).count());
            }
        }
    }
    Ok(())
}
