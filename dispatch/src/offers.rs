//! Where an offer goes and where the search goes next: pure functions over the organisation tree.
//!
//! An offer travels from the general contractor down to the chosen technician's organisation. The
//! organisations between them are hops passed automatically, unless one routes manually: the offer stops at
//! the first such organisation below the contractor, for its dispatcher to accept or subcontract.
//! When a subtree has nobody left, the search widens to the parent's subtree; at the vendor with nobody
//! left the job is unassignable.

use std::collections::HashSet;

use crate::model::OrgId;
use crate::orgs::OrgTree;

#[cfg(test)]
mod tests;

/// The path an offer takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferRoute {
    /// When the technician's organisation is not below the contractor: the contractor's ancestors the job went
    /// up through, ending at the lowest common ancestor (escalation). Empty otherwise.
    pub escalated_through: Vec<OrgId>,
    /// Organisations passed automatically, top down, excluding the contractor and `offered_to`.
    pub passed: Vec<OrgId>,
    /// Where the offer stops and waits for an answer.
    pub offered_to: OrgId,
    /// Why it stops there.
    pub stop: OfferStop,
}

/// Why an offer stops where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferStop {
    /// It reached the technician's own organisation.
    TechnicianOrg,
    /// An organisation above the technician's routes manually.
    ManualRouting,
}

/// A route could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// An organisation is not in the tree.
    #[error("organisation {0} is not in the organisation tree")]
    UnknownOrg(OrgId),
}

/// The next step when the searched subtree has no eligible technician.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escalation {
    /// Search this organisation's subtree next.
    Search(OrgId),
    /// Nobody is left anywhere: the job goes to the vendor's `unassignable` queue.
    Unassignable,
}

/// The route of an offer from the general contractor to the chosen technician's organisation.
pub fn route_offer(contractor: OrgId, technician_org: OrgId, orgs: &OrgTree) -> Result<OfferRoute, RouteError> {
    for org in [contractor, technician_org] {
        if !orgs.contains(org) {
            return Err(RouteError::UnknownOrg(org));
        }
    }
    let top = orgs.lowest_common_ancestor(contractor, technician_org).ok_or(RouteError::UnknownOrg(contractor))?;
    let escalated_through: Vec<OrgId> = if top == contractor {
        Vec::new()
    } else {
        orgs.ancestors(contractor).take_while(|&a| a != top).chain([top]).collect()
    };
    let below: Vec<OrgId> = orgs.path_down(top, technician_org).unwrap_or_default().into_iter().skip(1).collect();
    let Some(last) = below.last().copied() else {
        return Ok(OfferRoute {
            escalated_through,
            passed: Vec::new(),
            offered_to: top,
            stop: OfferStop::TechnicianOrg,
        });
    };
    let offered_to = below.iter().copied().find(|&o| orgs.manual_routing(o)).unwrap_or(last);
    let stop = if offered_to == last { OfferStop::TechnicianOrg } else { OfferStop::ManualRouting };
    let passed = below.into_iter().take_while(|&o| o != offered_to).collect();
    Ok(OfferRoute { escalated_through, passed, offered_to, stop })
}

/// Where to search after `current_root`'s subtree had nobody: the nearest ancestor not inside an excluded
/// organisation's subtree (those have nobody either); `Unassignable` at the root or when none is left.
pub fn escalate(current_root: OrgId, excluded_orgs: &HashSet<OrgId>, orgs: &OrgTree) -> Escalation {
    let is_excluded = |o: OrgId| std::iter::once(o).chain(orgs.ancestors(o)).any(|a| excluded_orgs.contains(&a));
    orgs.ancestors(current_root).find(|&a| !is_excluded(a)).map_or(Escalation::Unassignable, Escalation::Search)
}
