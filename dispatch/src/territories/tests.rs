#![allow(clippy::unwrap_used, clippy::expect_used)]

use geo::{LineString, MultiPolygon, Polygon};

use super::*;
use crate::orgs::Org;

fn o(id: u128) -> OrgId {
    OrgId(id)
}

/// A lon/lat box as a polygon, optionally with one rectangular hole.
fn boxed(lon: (f64, f64), lat: (f64, f64), hole: Option<((f64, f64), (f64, f64))>) -> Polygon<f64> {
    let ring = |(x0, x1): (f64, f64), (y0, y1): (f64, f64)| {
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
    };
    Polygon::new(ring(lon, lat), hole.map(|(x, y)| ring(x, y)).into_iter().collect())
}

fn territory(org: u128, polygons: Vec<Polygon<f64>>, exclusive: bool) -> Territory {
    Territory { org_id: o(org), geometry: MultiPolygon::new(polygons), exclusive }
}

/// vendor 1 → 10 → 11 → 111; 1 → 20.
fn orgs() -> OrgTree {
    let rows = [(1, None), (10, Some(1)), (11, Some(10)), (111, Some(11)), (20, Some(1))];
    OrgTree::build(rows.map(|(id, parent): (u128, Option<u128>)| Org {
        id: o(id),
        parent_id: parent.map(o),
        manual_routing: false,
    }))
    .unwrap()
}

fn p(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon)
}

#[test]
fn a_point_in_a_hole_is_not_covered() {
    // Org 10 covers a ring around Moscow: 36..39 E, 55..57 N minus the 37..38 × 55.5..56 hole.
    let index = TerritoryIndex::build(vec![territory(
        10,
        vec![boxed((36.0, 39.0), (55.0, 57.0), Some(((37.0, 38.0), (55.5, 56.0))))],
        false,
    )]);
    let orgs = orgs();
    assert!(index.covers(o(10), p(56.5, 36.5), &orgs));
    assert!(!index.covers(o(10), p(55.75, 37.5), &orgs), "inside the hole");
    assert!(!index.covers(o(10), p(50.0, 37.5), &orgs), "outside the shell");
    // 11 and 111 have no territories of their own: they cover what 10 covers.
    assert!(index.covers(o(111), p(56.5, 36.5), &orgs));
    assert!(!index.covers(o(111), p(55.75, 37.5), &orgs));
    // The vendor, and a partner without territories directly under it, cover everything.
    assert!(index.covers(o(1), p(55.75, 37.5), &orgs));
    assert!(index.covers(o(20), p(-33.0, 151.0), &orgs));
    assert!(!index.covers(o(999), p(56.5, 36.5), &orgs));
}

#[test]
fn the_deepest_exclusive_owner_wins() {
    let index = TerritoryIndex::build(vec![
        territory(10, vec![boxed((30.0, 40.0), (50.0, 60.0), None)], true),
        territory(111, vec![boxed((37.0, 38.0), (55.0, 56.0), None)], true),
        territory(20, vec![boxed((37.2, 37.4), (55.2, 55.4), None)], false),
    ]);
    let orgs = orgs();
    assert_eq!(index.exclusive_owner(p(55.3, 37.3), &orgs), Some(o(111)));
    assert_eq!(index.exclusive_owner(p(59.0, 31.0), &orgs), Some(o(10)));
    assert_eq!(index.exclusive_owner(p(10.0, 10.0), &orgs), None);
    assert_eq!(index.containing(p(55.3, 37.3)).count(), 3);
}

#[test]
fn a_territory_split_at_the_180th_meridian_covers_both_sides() {
    // Chukotka-like area from 170 E to 170 W, split per RFC 7946.
    let index = TerritoryIndex::build(vec![territory(
        20,
        vec![boxed((170.0, 180.0), (60.0, 70.0), None), boxed((-180.0, -170.0), (60.0, 70.0), None)],
        true,
    )]);
    let orgs = orgs();
    assert_eq!(index.exclusive_owner(p(65.0, 179.9), &orgs), Some(o(20)));
    assert_eq!(index.exclusive_owner(p(65.0, -179.9), &orgs), Some(o(20)));
    assert_eq!(index.exclusive_owner(p(65.0, 0.0), &orgs), None);
}

#[test]
fn overlapping_exclusive_territories_conflict_unless_related() {
    let existing = TerritoryIndex::build(vec![
        territory(10, vec![boxed((30.0, 40.0), (50.0, 60.0), None)], true),
        territory(20, vec![boxed((40.0, 50.0), (50.0, 60.0), None)], true),
    ]);
    let orgs = orgs();
    // Overlaps 10's area; 111 is 10's descendant, so it is allowed (and wins where they overlap).
    let nested = territory(111, vec![boxed((35.0, 36.0), (55.0, 56.0), None)], true);
    assert!(existing.exclusive_conflicts(&nested, &orgs).is_empty());
    // 20 reaching into 10's area is refused; a shared border alone is not an overlap.
    let reach = territory(20, vec![boxed((39.0, 41.0), (50.0, 60.0), None)], true);
    assert_eq!(existing.exclusive_conflicts(&reach, &orgs), vec![o(10)]);
    assert!(!overlaps(&existing.territories()[0].geometry, &existing.territories()[1].geometry));
    // Non-exclusive territories may overlap anything.
    let open = territory(20, vec![boxed((39.0, 41.0), (50.0, 60.0), None)], false);
    assert!(existing.exclusive_conflicts(&open, &orgs).is_empty());
    // A candidate placed inside another's hole does not overlap it.
    let holed = MultiPolygon::new(vec![boxed((0.0, 10.0), (0.0, 10.0), Some(((2.0, 8.0), (2.0, 8.0))))]);
    assert!(!overlaps(&holed, &MultiPolygon::new(vec![boxed((3.0, 4.0), (3.0, 4.0), None)])));
    assert!(overlaps(&holed, &MultiPolygon::new(vec![boxed((1.0, 3.0), (1.0, 3.0), None)])));
}

#[test]
fn the_coverage_cache_agrees_with_covers() {
    let index = TerritoryIndex::build(vec![
        territory(10, vec![boxed((36.0, 39.0), (55.0, 57.0), None)], false),
        territory(20, vec![boxed((0.0, 1.0), (0.0, 1.0), None)], false),
    ]);
    let orgs = orgs();
    for at in [p(56.0, 37.0), p(0.5, 0.5), p(-10.0, -10.0)] {
        let mut cache = CoverageCache::new(&index, &orgs, at);
        for org in [1, 10, 11, 111, 20, 999].map(o) {
            assert_eq!(cache.covers(org), index.covers(org, at, &orgs), "{org} at {at:?}");
            assert_eq!(cache.covers(org), index.covers(org, at, &orgs), "cached {org} at {at:?}");
        }
    }
}
