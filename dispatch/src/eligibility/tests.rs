#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use chrono::{FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

use super::*;
use crate::orgs::Org;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, h, m, 0).unwrap()
}

fn w(from: (u32, u32), to: (u32, u32)) -> TimeWindow {
    TimeWindow { start: at(from.0, from.1), end: at(to.0, to.1) }
}

fn orgs() -> OrgTree {
    let rows = [(1, None), (10, Some(1)), (11, Some(10)), (20, Some(1))];
    OrgTree::build(rows.map(|(id, parent): (u128, Option<u128>)| Org {
        id: OrgId(id),
        parent_id: parent.map(OrgId),
        manual_routing: false,
    }))
    .unwrap()
}

fn job() -> Job {
    Job {
        location: LatLon::new(55.75, 37.62),
        window: w((9, 0), (13, 0)),
        required_skills: vec!["pos".into(), "fiscal".into()],
        parts: vec![PartQty { sku: "fn-36".into(), qty: 2 }],
        contracted_org: None,
    }
}

fn good_tech() -> Technician {
    Technician {
        id: TechnicianId(1),
        org_id: OrgId(11),
        active: true,
        skills: vec!["fiscal".into(), "pos".into(), "printer".into()],
        shifts: vec![w((6, 0), (15, 0))],
        absences: vec![],
        daily_capacity: 4,
        jobs_on_day: 3,
        parts: vec![PartQty { sku: "fn-36".into(), qty: 1 }],
        scorecard: None,
        max_travel_m: None,
    }
}

/// The exclusions of `tech` for [`job`] in the subtree of org 10, org 11 holding one `fn-36`.
#[track_caller]
fn check(tech: Technician, excluded_orgs: &[u128], expected: &[Exclusion]) {
    let (orgs, territories) = (orgs(), TerritoryIndex::default());
    let excluded: HashSet<OrgId> = excluded_orgs.iter().map(|&o| OrgId(o)).collect();
    let stock = HashMap::from([(OrgId(11), vec![PartQty { sku: "fn-36".into(), qty: 1 }])]);
    let job = job();
    let mut eligibility = Eligibility::new(&job, OrgId(10), &orgs, &territories, &excluded, &stock);
    assert_eq!(eligibility.exclusions(&tech), expected);
}

#[test]
fn a_job_beyond_the_service_radius_excludes_the_technician_and_one_within_does_not() {
    let (orgs, territories) = (orgs(), TerritoryIndex::default());
    let (excluded, stock) =
        (HashSet::new(), HashMap::from([(OrgId(11), vec![PartQty { sku: "fn-36".into(), qty: 1 }])]));
    let job = job();
    let mut eligibility = Eligibility::new(&job, OrgId(10), &orgs, &territories, &excluded, &stock);
    let near = Technician { max_travel_m: Some(300_000.0), ..good_tech() };
    assert_eq!(eligibility.exclusions_at(&near, 299_999.0), []);
    assert_eq!(eligibility.exclusions_at(&near, 300_000.0), [], "the radius itself is within");
    // Omsk is ~2,230 km from Moscow.
    assert_eq!(eligibility.exclusions_at(&near, 2_230_000.0), [Exclusion::BeyondRadius]);
    assert_eq!(eligibility.exclusions_at(&good_tech(), 2_230_000.0), [], "no radius: no limit");
}

#[test]
fn a_technician_meeting_every_condition_is_eligible() {
    // One part on hand plus one in the organisation's stock make the two the job needs.
    check(good_tech(), &[], &[]);
}

#[test]
fn every_failed_condition_is_reported() {
    let tech = Technician {
        active: false,
        org_id: OrgId(20),
        skills: vec!["pos".into()],
        jobs_on_day: 4,
        parts: vec![],
        ..good_tech()
    };
    check(
        tech,
        &[20],
        &[
            Exclusion::Inactive,
            Exclusion::OutsideSubtree,
            Exclusion::OrgExcluded(OrgId(20)),
            Exclusion::MissingSkill("fiscal".into()),
            Exclusion::AtCapacity,
            Exclusion::MissingParts("fn-36".into()),
        ],
    );
}

#[test]
fn an_excluded_parent_excludes_its_subtree() {
    check(good_tech(), &[10], &[Exclusion::OrgExcluded(OrgId(10))]);
}

#[test]
fn shifts_and_absences_decide_availability() {
    let window = w((9, 0), (13, 0));
    assert_eq!(availability(&window, &[w((6, 0), (15, 0))], &[]), Availability::Available);
    assert_eq!(availability(&window, &[w((13, 0), (20, 0))], &[]), Availability::OffShift, "end is exclusive");
    assert_eq!(availability(&window, &[], &[]), Availability::OffShift);
    assert_eq!(availability(&window, &[w((12, 59), (20, 0))], &[]), Availability::Available);
    // Absences covering the on-shift part, in pieces and out of order.
    let shifts = [w((6, 0), (11, 0))];
    assert_eq!(availability(&window, &shifts, &[w((10, 0), (12, 0)), w((8, 0), (10, 0))]), Availability::Absent);
    assert_eq!(availability(&window, &shifts, &[w((9, 30), (12, 0))]), Availability::Available);
    check(Technician { absences: vec![w((0, 0), (23, 0))], ..good_tech() }, &[], &[Exclusion::Absent]);
    check(Technician { shifts: vec![w((14, 0), (22, 0))], ..good_tech() }, &[], &[Exclusion::OffShift]);
}

#[test]
fn shift_intervals_resolve_local_hours_including_overnight_shifts() {
    let moscow = FixedOffset::east_opt(3 * 3600).unwrap();
    let to_utc = |t: NaiveDateTime| moscow.from_local_datetime(&t).earliest().map(|d| d.to_utc());
    let d = |day: u32| NaiveDate::from_ymd_opt(2026, 5, day).unwrap();
    let hm = |h: u32, m: u32| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let day_shift = shift_intervals(hm(9, 0), hm(18, 0), [d(4)], to_utc);
    assert_eq!(day_shift, vec![w((6, 0), (15, 0))]);
    let night = shift_intervals(hm(22, 0), hm(6, 0), [d(3), d(4)], to_utc);
    assert_eq!(night[0], TimeWindow { start: Utc.with_ymd_and_hms(2026, 5, 3, 19, 0, 0).unwrap(), end: at(3, 0) });
    assert_eq!(night[1].start, at(19, 0));
    // A local time that does not exist drops that day.
    assert!(shift_intervals(hm(9, 0), hm(18, 0), [d(4)], |_| None).is_empty());
}

#[test]
fn exclusion_codes_are_snake_case() {
    assert_eq!(Exclusion::MissingSkill("pos".into()).code(), "missing_skill");
    assert_eq!(Exclusion::OrgDoesNotCover.code(), "org_does_not_cover");
}
