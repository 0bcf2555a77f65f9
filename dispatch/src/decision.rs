//! One dispatch decision: which subtree, who is eligible, who is nearest, and why, as plain data.
//!
//! `api` loads the job, the technicians, the organisation tree, the territories and the index, calls
//! [`choose_technician`] (one subtree) or [`dispatch_job`] (with escalation and the offer's route), and
//! stores what comes back; the [`Explanation`] is what `GET /v1/jobs/{id}/explanation` shows.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::eligibility::{Eligibility, Exclusion, Job, Technician};
use crate::model::{OrgId, PartQty, SkillCode, TechnicianId};
use crate::offers::{Escalation, OfferRoute, RouteError, escalate, route_offer};
use crate::orgs::OrgTree;
use crate::ranking::{Candidate, RankOptions, quality_score, rank_candidates};
use crate::spatial::{PartitionKey, TechIndex};
use crate::territories::TerritoryIndex;

#[cfg(test)]
mod tests;

/// Everything one decision looks at; `api` loads it, dispatch only reads it.
#[derive(Debug, Clone, Copy)]
pub struct DispatchInput<'a> {
    /// The job.
    pub job: &'a Job,
    /// Technicians by id, looked up only for those the nearest-first walk reaches; those in the index but
    /// missing here are excluded as [`Exclusion::Unknown`].
    pub technicians: &'a dyn Technicians,
    /// Technician positions (only technicians with a position can be chosen).
    pub index: &'a TechIndex,
    /// The organisation tree.
    pub orgs: &'a OrgTree,
    /// All territories.
    pub territories: &'a TerritoryIndex,
    /// Parts stock per organisation.
    pub org_stock: &'a HashMap<OrgId, Vec<PartQty>>,
    /// Organisations that declined or let an offer for this job expire; their subtrees are excluded.
    pub excluded_orgs: &'a HashSet<OrgId>,
    /// The subtree to search; `None` chooses it with [`choose_subtree`] (set it after an escalation).
    pub search_root: Option<OrgId>,
}

/// Where a decision finds a technician's data, asked only for the technicians the walk reaches (so a caller
/// can resolve shifts, capacity and the like lazily instead of for the whole network).
pub trait Technicians: std::fmt::Debug {
    /// The technician as dispatch sees it for this job, if known.
    fn technician(&self, id: TechnicianId) -> Option<Cow<'_, Technician>>;

    /// A cheap early answer for a technician the decision will not explain: `true` only when it surely cannot
    /// take `job` (one of its exclusions holds whatever the rest of its data says), so the decision counts it
    /// as excluded without building it. `false` means "check it fully". The default knows nothing.
    fn surely_excluded(&self, _id: TechnicianId, _job: &Job) -> bool {
        false
    }
}

impl<S: std::hash::BuildHasher> Technicians for HashMap<TechnicianId, Technician, S> {
    fn technician(&self, id: TechnicianId) -> Option<Cow<'_, Technician>> {
        self.get(&id).map(Cow::Borrowed)
    }
}

/// Which subtree is searched and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubtreeChoice {
    /// Root of the searched subtree.
    pub root: OrgId,
    /// Why this one.
    pub reason: SubtreeReason,
}

/// Why a subtree was searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtreeReason {
    /// The customer has a contract with this partner.
    ContractedPartner,
    /// The job lies in this organisation's exclusive territory.
    ExclusiveTerritory,
    /// Neither: the whole network, from the vendor down.
    WholeNetwork,
    /// The caller named it ([`DispatchInput::search_root`]), e.g. after an escalation.
    Given,
}

/// One technician the decision looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Considered {
    /// The technician.
    pub technician_id: TechnicianId,
    /// Its organisation, when its data was passed.
    pub org_id: Option<OrgId>,
    /// Great-circle distance to the job.
    pub distance_m: f64,
    /// Why it was excluded; empty when eligible.
    pub exclusions: Vec<Exclusion>,
}

/// Why the chosen technician was chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChoiceReason {
    /// Strictly nearest eligible technician.
    Nearest,
    /// Equally near as another; the lower id wins.
    TieBrokenById {
        /// The other technician at the same distance.
        tied_with: TechnicianId,
    },
    /// Within the near-equal band of the nearest one, with a better quality score.
    NearEqualBetterQuality {
        /// The nearest eligible technician.
        nearest: TechnicianId,
        /// How much farther the chosen one is.
        extra_m: f64,
    },
    /// Nobody in the subtree is eligible.
    NobodyEligible,
}

/// What the decision looked at and why it ended as it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The subtree searched.
    pub subtree: SubtreeChoice,
    /// The index partition walked (`None`: all technicians).
    pub partition: Option<PartitionKey>,
    /// The first [`RankOptions::max_considered`] technicians looked at, nearest first, with their exclusions.
    ///
    /// Only the partition walked is looked at: technicians of other subtrees or without a required skill
    /// are not listed (`partition` says which).
    pub considered: Vec<Considered>,
    /// How many technicians were looked at in total.
    pub looked_at: usize,
    /// How many of those were excluded.
    pub excluded: usize,
    /// Eligible technicians found, best first (the near-equal band of the nearest, at least).
    pub ranked: Vec<Candidate>,
    /// The chosen technician, if any.
    pub chosen: Option<TechnicianId>,
    /// Why.
    pub reason: ChoiceReason,
}

/// The outcome of [`choose_technician`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The technician to offer the job to, if anybody is eligible.
    pub chosen: Option<Candidate>,
    /// Why.
    pub explanation: Explanation,
}

/// The outcome of [`dispatch_job`].
#[derive(Debug, Clone, PartialEq)]
pub enum DispatchOutcome {
    /// Offer the job along `route`.
    Offer {
        /// The decision in the subtree where somebody was found (boxed: it dwarfs the other variant).
        decision: Box<Decision>,
        /// Where the offer goes from the general contractor.
        route: OfferRoute,
        /// Explanations of the subtrees searched before, which had nobody (escalations).
        escalations: Vec<Explanation>,
    },
    /// Nobody anywhere: the vendor's `unassignable` queue.
    Unassignable {
        /// One explanation per subtree searched, the first one first.
        explanations: Vec<Explanation>,
    },
}

/// The subtree to search: the contracted partner, else the deepest exclusive-territory owner, else the vendor.
///
/// A contracted organisation that is not in the tree is ignored.
pub fn choose_subtree(job: &Job, territories: &TerritoryIndex, orgs: &OrgTree) -> SubtreeChoice {
    if let Some(org) = job.contracted_org.filter(|&o| orgs.contains(o)) {
        return SubtreeChoice { root: org, reason: SubtreeReason::ContractedPartner };
    }
    match territories.exclusive_owner(job.location, orgs) {
        Some(root) => SubtreeChoice { root, reason: SubtreeReason::ExclusiveTerritory },
        None => SubtreeChoice { root: orgs.root(), reason: SubtreeReason::WholeNetwork },
    }
}

/// The index partitions a technician belongs to: every organisation from its own up to (not including) the
/// vendor, and each of its skills. Give these to [`TechIndex`] so searches can walk small trees.
pub fn technician_partitions(org_id: OrgId, skills: &[SkillCode], orgs: &OrgTree) -> Vec<PartitionKey> {
    let root = orgs.root();
    std::iter::once(org_id)
        .chain(orgs.ancestors(org_id))
        .filter(|&o| o != root && orgs.contains(o))
        .map(PartitionKey::Org)
        .chain(skills.iter().cloned().map(PartitionKey::Skill))
        .collect()
}

/// The general contractor of a job: its contracted partner, else the vendor.
pub fn general_contractor(job: &Job, orgs: &OrgTree) -> OrgId {
    job.contracted_org.filter(|&o| orgs.contains(o)).unwrap_or_else(|| orgs.root())
}

/// Chooses the technician for a job within one subtree and explains the choice.
///
/// Walks technicians nearest first (in the smallest index partition the subtree and the required skills
/// allow), checks each for eligibility, and stops once the near-equal band of the nearest eligible one is
/// complete; with nobody eligible it gives up after [`RankOptions::max_looked_at`] technicians.
pub fn choose_technician(input: &DispatchInput<'_>, options: &RankOptions) -> Decision {
    let subtree = match input.search_root {
        Some(root) => SubtreeChoice { root, reason: SubtreeReason::Given },
        None => choose_subtree(input.job, input.territories, input.orgs),
    };
    let scope = search_scope(subtree.root, input);
    let walk = input.index.nearest_in(input.job.location, &scope);
    let partition = walk.walked_partition().cloned();
    let mut eligibility =
        Eligibility::new(input.job, subtree.root, input.orgs, input.territories, input.excluded_orgs, input.org_stock);
    let tolerance_m = options.tolerance_m();
    let (mut considered, mut looked_at, mut excluded) = (Vec::new(), 0, 0);
    let mut eligible = Vec::new();
    let mut band_end_m: Option<f64> = None;
    for (id, distance_m) in walk {
        if band_end_m.is_some_and(|end| distance_m > end) || (eligible.is_empty() && looked_at >= options.max_looked_at)
        {
            break;
        }
        looked_at += 1;
        // Past the explained ones only eligible-or-not matters: let the caller reject the obvious cheaply.
        if considered.len() >= options.max_considered && input.technicians.surely_excluded(id, input.job) {
            excluded += 1;
            continue;
        }
        let tech = input.technicians.technician(id);
        let tech = tech.as_deref();
        let exclusions = match tech {
            Some(t) => eligibility.exclusions_at(t, distance_m),
            None => vec![Exclusion::Unknown],
        };
        match tech {
            Some(t) if exclusions.is_empty() => {
                eligible.push(Candidate {
                    technician_id: id,
                    org_id: t.org_id,
                    distance_m,
                    quality: t.scorecard.as_ref().and_then(quality_score),
                });
                band_end_m.get_or_insert(distance_m + tolerance_m);
            }
            _ => excluded += 1,
        }
        if considered.len() < options.max_considered {
            considered.push(Considered { technician_id: id, org_id: tech.map(|t| t.org_id), distance_m, exclusions });
        }
    }
    // The walk yields equal distances in tree order; list them by id like everything else.
    considered.sort_by(|a: &Considered, b: &Considered| {
        a.distance_m.total_cmp(&b.distance_m).then(a.technician_id.cmp(&b.technician_id))
    });
    let ranked = rank_candidates(eligible, options);
    let chosen = ranked.first().cloned();
    let reason = choice_reason(chosen.as_ref(), &ranked);
    Decision {
        explanation: Explanation {
            subtree,
            partition,
            considered,
            looked_at,
            excluded,
            chosen: chosen.as_ref().map(|c| c.technician_id),
            ranked,
            reason,
        },
        chosen,
    }
}

/// Chooses a technician, widening the search to parent subtrees while nobody is eligible, and routes the offer
/// from the general contractor ([`general_contractor`]).
pub fn dispatch_job(input: &DispatchInput<'_>, options: &RankOptions) -> Result<DispatchOutcome, RouteError> {
    let mut explanations = Vec::new();
    let mut step = *input;
    loop {
        let decision = choose_technician(&step, options);
        if let Some(chosen) = &decision.chosen {
            let route = route_offer(general_contractor(input.job, input.orgs), chosen.org_id, input.orgs)?;
            return Ok(DispatchOutcome::Offer { decision: Box::new(decision), route, escalations: explanations });
        }
        let searched = decision.explanation.subtree.root;
        explanations.push(decision.explanation);
        match escalate(searched, input.excluded_orgs, input.orgs) {
            Escalation::Search(next) => step.search_root = Some(next),
            Escalation::Unassignable => return Ok(DispatchOutcome::Unassignable { explanations }),
        }
    }
}

/// Partition keys every eligible technician holds: the subtree (unless it is the whole network) and the
/// required skills. Keys the index has no tree for are left out, so an index built without partitions is
/// walked whole and still answers correctly.
fn search_scope(subtree_root: OrgId, input: &DispatchInput<'_>) -> Vec<PartitionKey> {
    let org = (subtree_root != input.orgs.root()).then_some(PartitionKey::Org(subtree_root));
    org.into_iter()
        .chain(input.job.required_skills.iter().cloned().map(PartitionKey::Skill))
        .filter(|k| input.index.partition_len(k) > 0)
        .collect()
}

fn choice_reason(chosen: Option<&Candidate>, ranked: &[Candidate]) -> ChoiceReason {
    let Some(chosen) = chosen else { return ChoiceReason::NobodyEligible };
    let nearest =
        ranked.iter().min_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then(a.technician_id.cmp(&b.technician_id)));
    match nearest {
        Some(n) if n.technician_id != chosen.technician_id => {
            ChoiceReason::NearEqualBetterQuality { nearest: n.technician_id, extra_m: chosen.distance_m - n.distance_m }
        }
        _ => match ranked.iter().find(|c| c.technician_id != chosen.technician_id && c.distance_m == chosen.distance_m)
        {
            Some(t) => ChoiceReason::TieBrokenById { tied_with: t.technician_id },
            None => ChoiceReason::Nearest,
        },
    }
}
