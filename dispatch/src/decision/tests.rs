#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use geo::{LineString, MultiPolygon, Polygon};

use super::*;
use crate::eligibility::Scorecard;
use crate::model::{LatLon, TimeWindow};
use crate::offers::OfferStop;
use crate::orgs::Org;
use crate::spatial::IndexedTechnician;
use crate::territories::Territory;

fn o(id: u128) -> OrgId {
    OrgId(id)
}

fn day() -> TimeWindow {
    TimeWindow {
        start: Utc.with_ymd_and_hms(2026, 5, 4, 5, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2026, 5, 4, 17, 0, 0).unwrap(),
    }
}

/// A small network around Moscow (55.75 N, 37.62 E): vendor 1 → partner 10 (manual routing) → 11 → 111 → 1111,
/// and partner 20. Partner 20 has an exclusive territory around the point 56.5 N 38.5 E.
struct World {
    orgs: OrgTree,
    territories: TerritoryIndex,
    technicians: HashMap<TechnicianId, Technician>,
    positions: Vec<(TechnicianId, LatLon)>,
    stock: HashMap<OrgId, Vec<PartQty>>,
}

impl World {
    fn new() -> World {
        let rows = [(1, None), (10, Some(1)), (11, Some(10)), (111, Some(11)), (1111, Some(111)), (20, Some(1))];
        let orgs = OrgTree::build(rows.map(|(id, parent): (u128, Option<u128>)| Org {
            id: o(id),
            parent_id: parent.map(o),
            manual_routing: id == 10,
        }))
        .unwrap();
        let ring = LineString::from(vec![(38.0, 56.0), (39.0, 56.0), (39.0, 57.0), (38.0, 57.0), (38.0, 56.0)]);
        let territories = TerritoryIndex::build(vec![Territory {
            org_id: o(20),
            geometry: MultiPolygon::new(vec![Polygon::new(ring, vec![])]),
            exclusive: true,
        }]);
        World { orgs, territories, technicians: HashMap::new(), positions: Vec::new(), stock: HashMap::new() }
    }

    /// Adds an eligible-by-default technician `km_north` kilometres north of the job in Moscow.
    fn tech(&mut self, id: u128, org: u128, km_north: f64) -> &mut Technician {
        self.tech_at(id, org, LatLon::new(55.75 + km_north / 111.195, 37.62))
    }

    fn tech_at(&mut self, id: u128, org: u128, position: LatLon) -> &mut Technician {
        let tech = Technician {
            id: TechnicianId(id),
            org_id: o(org),
            active: true,
            skills: vec!["pos".into()],
            shifts: vec![day()],
            daily_capacity: 5,
            ..Technician::default()
        };
        self.positions.push((tech.id, position));
        self.technicians.entry(tech.id).or_insert(tech)
    }

    fn index(&self) -> TechIndex {
        TechIndex::bulk_load(self.positions.iter().map(|&(id, position)| IndexedTechnician {
            id,
            position,
            partitions: technician_partitions(self.technicians[&id].org_id, &self.technicians[&id].skills, &self.orgs),
        }))
        .unwrap()
    }
}

fn job_at(location: LatLon) -> Job {
    Job { location, window: day(), required_skills: vec!["pos".into()], parts: vec![], contracted_org: None }
}

fn moscow_job() -> Job {
    job_at(LatLon::new(55.75, 37.62))
}

fn decide(world: &World, job: &Job, excluded: &[u128], options: &RankOptions) -> Decision {
    let index = world.index();
    let excluded: HashSet<OrgId> = excluded.iter().map(|&x| o(x)).collect();
    let input = DispatchInput {
        job,
        technicians: &world.technicians,
        index: &index,
        orgs: &world.orgs,
        territories: &world.territories,
        org_stock: &world.stock,
        excluded_orgs: &excluded,
        search_root: None,
    };
    choose_technician(&input, options)
}

/// The decision in one line: `chosen @ km (reason) | subtree | id:exclusions …`.
fn summary(decision: &Decision) -> String {
    let e = &decision.explanation;
    let chosen = match &decision.chosen {
        Some(c) => format!("{} @ {:.1} km", c.technician_id.0, c.distance_m / 1000.0),
        None => "nobody".to_owned(),
    };
    let considered: Vec<String> =
        e.considered.iter().map(|c| format!("{}:{:?}", c.technician_id.0, c.exclusions)).collect();
    format!("{chosen} ({:?}) | {}:{:?} | {}", e.reason, e.subtree.root.0, e.subtree.reason, considered.join(" "))
}

#[track_caller]
fn check(world: &World, job: &Job, excluded: &[u128], expected: &str) {
    assert_eq!(summary(&decide(world, job, excluded, &RankOptions::default())), expected);
}

#[test]
fn the_nearest_eligible_technician_is_chosen_and_nearer_ones_are_explained() {
    let mut world = World::new();
    world.tech(1, 11, 1.0).active = false;
    world.tech(2, 111, 2.0).skills = vec![];
    world.tech(3, 1111, 3.0);
    world.tech(4, 20, 4.0);
    check(
        &world,
        &moscow_job(),
        &[],
        // 2 lacks the skill, so it is not in the partition walked and not listed.
        "3 @ 3.0 km (Nearest) | 1:WholeNetwork | 1:[Inactive] 3:[]",
    );
}

#[test]
fn the_contracted_partner_restricts_the_search_to_its_subtree() {
    let mut world = World::new();
    world.tech(1, 20, 1.0);
    world.tech(2, 1111, 5.0);
    let job = Job { contracted_org: Some(o(10)), ..moscow_job() };
    let decision = decide(&world, &job, &[], &RankOptions::default());
    assert_eq!(summary(&decision), "2 @ 5.0 km (Nearest) | 10:ContractedPartner | 2:[]");
    assert_eq!(decision.explanation.partition, Some(PartitionKey::Org(o(10))));
}

#[test]
fn an_exclusive_territory_gives_the_job_to_its_owners_subtree() {
    let mut world = World::new();
    world.tech_at(1, 11, LatLon::new(56.5, 38.5));
    world.tech_at(2, 20, LatLon::new(56.0, 37.0));
    check(&world, &job_at(LatLon::new(56.5, 38.51)), &[], "2 @ 108.6 km (Nearest) | 20:ExclusiveTerritory | 2:[]");
}

#[test]
fn equal_distances_are_broken_by_id_and_quality_weighs_in_among_near_equals() {
    let mut world = World::new();
    world.tech(7, 11, 2.0);
    world.tech(5, 11, 2.0);
    check(
        &world,
        &moscow_job(),
        &[],
        "5 @ 2.0 km (TieBrokenById { tied_with: TechnicianId(7) }) | 1:WholeNetwork | 5:[] 7:[]",
    );

    world.tech(9, 111, 2.3).scorecard = Some(Scorecard { first_time_fix_rate: Some(0.95), nps: Some(80.0) });
    let decision = decide(&world, &moscow_job(), &[], &RankOptions::default());
    assert_eq!(decision.chosen.as_ref().map(|c| c.technician_id), Some(TechnicianId(9)));
    assert!(matches!(
        decision.explanation.reason,
        ChoiceReason::NearEqualBetterQuality { nearest: TechnicianId(5), extra_m } if (extra_m - 300.0).abs() < 1.0
    ));
    let strict = RankOptions { near_equal_m: 100.0, ..RankOptions::default() };
    assert_eq!(decide(&world, &moscow_job(), &[], &strict).chosen.map(|c| c.technician_id), Some(TechnicianId(5)));
}

#[test]
fn when_everybody_is_excluded_nobody_is_chosen_and_every_reason_is_listed() {
    let mut world = World::new();
    world.tech(1, 11, 1.0).jobs_on_day = 5;
    world.tech(2, 20, 2.0);
    world.tech(3, 1111, 3.0).shifts = vec![];
    check(
        &world,
        &moscow_job(),
        &[20],
        // Partner 20 covers only its territory north-east of Moscow.
        "nobody (NobodyEligible) | 1:WholeNetwork | 1:[AtCapacity] 2:[OrgExcluded(OrgId(20)), OrgDoesNotCover] 3:[OffShift]",
    );
}

#[test]
fn the_explanation_is_bounded_but_counts_everyone_looked_at() {
    let mut world = World::new();
    for i in 0..50 {
        world.tech(i, 11, 1.0 + i as f64).active = false;
    }
    let options = RankOptions { max_considered: 20, ..RankOptions::default() };
    let decision = decide(&world, &moscow_job(), &[], &options);
    assert_eq!(decision.explanation.considered.len(), 20);
    assert_eq!((decision.explanation.looked_at, decision.explanation.excluded), (50, 50));
}

#[test]
fn an_index_without_partitions_gives_the_same_answer() {
    let mut world = World::new();
    world.tech(1, 20, 1.0);
    world.tech(2, 1111, 5.0);
    let job = Job { contracted_org: Some(o(10)), ..moscow_job() };
    let index = TechIndex::bulk_load(world.positions.clone()).unwrap();
    let decision = choose_with(&world, &job, &world.technicians, &index, &RankOptions::default());
    assert_eq!(decision.chosen.map(|c| c.technician_id), Some(TechnicianId(2)));
    assert_eq!(decision.explanation.partition, None);
    assert_eq!(
        decision.explanation.considered[0].exclusions,
        vec![Exclusion::OutsideSubtree, Exclusion::OrgDoesNotCover]
    );
}

fn dispatch(world: &World, job: &Job, excluded: &[u128]) -> DispatchOutcome {
    let index = world.index();
    let excluded: HashSet<OrgId> = excluded.iter().map(|&x| o(x)).collect();
    let input = DispatchInput {
        job,
        technicians: &world.technicians,
        index: &index,
        orgs: &world.orgs,
        territories: &world.territories,
        org_stock: &world.stock,
        excluded_orgs: &excluded,
        search_root: None,
    };
    dispatch_job(&input, &RankOptions::default()).unwrap()
}

#[test]
fn an_empty_subtree_escalates_to_the_parent_and_the_offer_stops_at_manual_routing() {
    let mut world = World::new();
    world.tech(1, 1111, 1.0).active = false;
    world.tech(2, 11, 2.0);
    // The contracted partner is 111: its subtree has only the inactive technician 1.
    let job = Job { contracted_org: Some(o(111)), ..moscow_job() };
    let DispatchOutcome::Offer { decision, route, escalations } = dispatch(&world, &job, &[]) else {
        panic!("expected an offer");
    };
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0].subtree.root, o(111));
    assert_eq!(decision.explanation.subtree, SubtreeChoice { root: o(11), reason: SubtreeReason::Given });
    assert_eq!(decision.chosen.map(|c| c.technician_id), Some(TechnicianId(2)));
    assert_eq!((route.escalated_through, route.offered_to, route.stop), (vec![o(11)], o(11), OfferStop::TechnicianOrg));

    // Vendor-led: the route from the vendor to 1111 stops at partner 10, which routes manually.
    world.technicians.get_mut(&TechnicianId(1)).unwrap().active = true;
    let DispatchOutcome::Offer { route, .. } = dispatch(&world, &moscow_job(), &[]) else {
        panic!("expected an offer");
    };
    assert_eq!((route.passed, route.offered_to, route.stop), (vec![], o(10), OfferStop::ManualRouting));
}

#[test]
fn with_nobody_left_anywhere_the_job_is_unassignable() {
    let mut world = World::new();
    world.tech(1, 1111, 1.0);
    world.tech(2, 20, 2.0).active = false;
    let job = Job { contracted_org: Some(o(1111)), ..moscow_job() };
    // 1111 declined: its subtree (just itself) is excluded; the search climbs to the vendor and finds nobody.
    let DispatchOutcome::Unassignable { explanations } = dispatch(&world, &job, &[1111]) else {
        panic!("expected unassignable");
    };
    let roots: Vec<u128> = explanations.iter().map(|e| e.subtree.root.0).collect();
    assert_eq!(roots, vec![1111, 111, 11, 10, 1]);
    assert!(explanations.iter().all(|e| e.reason == ChoiceReason::NobodyEligible));
}

#[test]
fn a_technician_beyond_its_service_radius_is_passed_over_and_beyond_every_radius_the_job_escalates() {
    let mut world = World::new();
    // 111's technician is nearest but travels at most 2 km; 11's, 5 km away, has no limit.
    world.tech(1, 111, 3.0).max_travel_m = Some(2_000.0);
    world.tech(2, 11, 5.0);
    check(&world, &moscow_job(), &[], "2 @ 5.0 km (Nearest) | 1:WholeNetwork | 1:[BeyondRadius] 2:[]");

    // Contracted to 111, whose only technician is out of reach: the search climbs to 11.
    let job = Job { contracted_org: Some(o(111)), ..moscow_job() };
    let DispatchOutcome::Offer { decision, escalations, .. } = dispatch(&world, &job, &[]) else {
        panic!("expected an offer");
    };
    assert_eq!(escalations[0].considered[0].exclusions, vec![Exclusion::BeyondRadius]);
    assert_eq!(decision.chosen.map(|c| c.technician_id), Some(TechnicianId(2)));

    // Within the radius, the nearest is chosen again.
    world.technicians.get_mut(&TechnicianId(1)).unwrap().max_travel_m = Some(3_500.0);
    check(&world, &moscow_job(), &[], "1 @ 3.0 km (Nearest) | 1:WholeNetwork | 1:[]");
}

#[test]
fn a_walk_without_anybody_eligible_gives_up_after_max_looked_at() {
    let mut world = World::new();
    for i in 0..10 {
        world.tech(100 + i, 11, 1.0 + i as f64).active = false;
    }
    world.tech(200, 11, 20.0);
    let options = RankOptions { max_looked_at: 5, ..RankOptions::default() };
    let decision = decide(&world, &moscow_job(), &[], &options);
    assert_eq!((decision.chosen, decision.explanation.looked_at), (None, 5), "nobody among the 5 nearest");
    let decision = decide(&world, &moscow_job(), &[], &RankOptions::default());
    assert_eq!(decision.chosen.map(|c| c.technician_id), Some(TechnicianId(200)), "found within the default");
}

/// Technicians whose cheap screen rejects the inactive ones without building them, counting what was built.
#[derive(Debug)]
struct Screened<'a> {
    techs: &'a HashMap<TechnicianId, Technician>,
    built: std::cell::Cell<usize>,
}

impl Technicians for Screened<'_> {
    fn technician(&self, id: TechnicianId) -> Option<Cow<'_, Technician>> {
        self.built.set(self.built.get() + 1);
        self.techs.get(&id).map(Cow::Borrowed)
    }

    fn surely_excluded(&self, id: TechnicianId, _job: &Job) -> bool {
        self.techs.get(&id).is_none_or(|t| !t.active)
    }
}

#[test]
fn technicians_screened_out_past_the_explained_ones_count_as_excluded_and_the_decision_is_the_same() {
    let mut world = World::new();
    for i in 0..50 {
        world.tech(i, 11, 1.0 + i as f64 / 10.0).active = false;
    }
    world.tech(100, 11, 8.0);
    world.tech(101, 11, 8.2);
    let options = RankOptions::default();
    let plain = decide(&world, &moscow_job(), &[], &options);
    let screened = Screened { techs: &world.technicians, built: std::cell::Cell::new(0) };
    let decision = choose_with(&world, &moscow_job(), &screened, &world.index(), &options);
    assert_eq!(decision, plain);
    assert_eq!((plain.explanation.looked_at, plain.explanation.excluded), (52, 50));
    assert_eq!(plain.chosen.map(|c| c.technician_id), Some(TechnicianId(100)));
    assert_eq!(screened.built.get(), 22, "the 20 explained and the 2 eligible, not the 30 screened out");
}

/// `choose_technician` in the world's network with these technicians and index, nobody excluded, no stock.
fn choose_with(
    world: &World,
    job: &Job,
    technicians: &dyn Technicians,
    index: &TechIndex,
    options: &RankOptions,
) -> Decision {
    let (excluded, stock) = (HashSet::new(), HashMap::new());
    let input = DispatchInput {
        job,
        technicians,
        index,
        orgs: &world.orgs,
        territories: &world.territories,
        org_stock: &stock,
        excluded_orgs: &excluded,
        search_root: None,
    };
    choose_technician(&input, options)
}
