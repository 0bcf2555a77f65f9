#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use super::*;
use crate::orgs::Org;

fn o(id: u128) -> OrgId {
    OrgId(id)
}

/// vendor 1 → 10 → 11 → 111 → 1111, and 1 → 20; `manual` lists the orgs routing manually.
fn tree(manual: &[u128]) -> OrgTree {
    let rows = [(1, None), (10, Some(1)), (20, Some(1)), (11, Some(10)), (111, Some(11)), (1111, Some(111))];
    OrgTree::build(rows.map(|(id, parent): (u128, Option<u128>)| Org {
        id: o(id),
        parent_id: parent.map(o),
        manual_routing: manual.contains(&id),
    }))
    .unwrap()
}

#[track_caller]
fn check(route: OfferRoute, passed: &[u128], offered_to: u128, stop: OfferStop) {
    assert_eq!(route.passed, passed.iter().map(|&i| o(i)).collect::<Vec<_>>());
    assert_eq!(route.offered_to, o(offered_to));
    assert_eq!(route.stop, stop);
}

#[test]
fn without_manual_routing_the_offer_passes_every_hop_to_the_technicians_org() -> anyhow::Result<()> {
    let orgs = tree(&[]);
    check(route_offer(o(1), o(1111), &orgs)?, &[10, 11, 111], 1111, OfferStop::TechnicianOrg);
    check(route_offer(o(10), o(1111), &orgs)?, &[11, 111], 1111, OfferStop::TechnicianOrg);
    check(route_offer(o(1111), o(1111), &orgs)?, &[], 1111, OfferStop::TechnicianOrg);
    Ok(())
}

#[test]
fn manual_routing_stops_the_offer_at_the_first_such_org_below_the_contractor() -> anyhow::Result<()> {
    let orgs = tree(&[11, 111]);
    check(route_offer(o(1), o(1111), &orgs)?, &[10], 11, OfferStop::ManualRouting);
    // The contractor's own flag does not stop its own offer.
    check(route_offer(o(11), o(1111), &orgs)?, &[], 111, OfferStop::ManualRouting);
    // A manual technician org is simply where the offer goes.
    check(route_offer(o(111), o(1111), &tree(&[1111]))?, &[], 1111, OfferStop::TechnicianOrg);
    Ok(())
}

#[test]
fn a_technician_outside_the_contractors_subtree_is_reached_through_the_common_ancestor() -> anyhow::Result<()> {
    let route = route_offer(o(111), o(20), &tree(&[]))?;
    assert_eq!(route.escalated_through, vec![o(11), o(10), o(1)]);
    check(route, &[], 20, OfferStop::TechnicianOrg);
    assert_eq!(route_offer(o(1), o(99), &tree(&[])).unwrap_err(), RouteError::UnknownOrg(o(99)));
    Ok(())
}

#[test]
fn escalation_climbs_to_the_parent_and_ends_unassignable_at_the_root() {
    let orgs = tree(&[]);
    let none = HashSet::new();
    assert_eq!(escalate(o(1111), &none, &orgs), Escalation::Search(o(111)));
    assert_eq!(escalate(o(10), &none, &orgs), Escalation::Search(o(1)));
    assert_eq!(escalate(o(1), &none, &orgs), Escalation::Unassignable);
    // Excluded orgs (and everything under them) have nobody: skip past them.
    assert_eq!(escalate(o(1111), &HashSet::from([o(11)]), &orgs), Escalation::Search(o(10)));
    assert_eq!(escalate(o(1111), &HashSet::from([o(1)]), &orgs), Escalation::Unassignable);
    assert_eq!(escalate(o(999), &none, &orgs), Escalation::Unassignable);
}
