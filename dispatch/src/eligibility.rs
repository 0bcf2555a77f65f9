//! Who may and can take a job: every reason a technician is excluded, as data.
//!
//! Shifts arrive **already resolved to UTC intervals** by the caller ([`Technician::shifts`]): a weekly shift is
//! local "HH:MM" in the technician's IANA zone, and turning it into instants needs a time-zone database
//! (daylight-saving changes make a fixed offset wrong twice a year). `api` has chrono-tz; [`shift_intervals`]
//! does the date arithmetic given its local→UTC conversion, so this crate stays pure and database-free.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::model::{LatLon, OrgId, PartQty, SkillCode, Sku, TechnicianId, TimeWindow};
use crate::orgs::OrgTree;
use crate::territories::{CoverageCache, TerritoryIndex};

#[cfg(test)]
mod tests;

/// A technician with everything eligibility looks at (its position lives in the `TechIndex`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Technician {
    /// The technician.
    pub id: TechnicianId,
    /// Its organisation.
    pub org_id: OrgId,
    /// Inactive technicians are never offered anything.
    pub active: bool,
    /// Its skills.
    pub skills: Vec<SkillCode>,
    /// Shift intervals in UTC covering at least the days the job window touches (see [`shift_intervals`]).
    pub shifts: Vec<TimeWindow>,
    /// Absences (holiday, sick leave…) in UTC.
    pub absences: Vec<TimeWindow>,
    /// How many jobs it may have on the day of the job window.
    pub daily_capacity: u32,
    /// How many it already has that day.
    pub jobs_on_day: u32,
    /// Parts on hand.
    pub parts: Vec<PartQty>,
    /// Quality figures, when there are enough finished jobs to have them.
    pub scorecard: Option<Scorecard>,
    /// The farthest it travels to a job (its service radius), in metres from its position; `None`: no limit.
    pub max_travel_m: Option<f64>,
}

/// A technician's quality figures; either may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scorecard {
    /// Share of jobs fixed on the first visit, 0..=1.
    pub first_time_fix_rate: Option<f64>,
    /// Net promoter score, -100..=100.
    pub nps: Option<f64>,
}

/// What dispatch needs to know about a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Where the visit is.
    pub location: LatLon,
    /// The customer's window, `[start, end)` UTC.
    pub window: TimeWindow,
    /// Skills the technician must all have.
    pub required_skills: Vec<SkillCode>,
    /// Parts the visit needs.
    pub parts: Vec<PartQty>,
    /// The customer's contracted partner (partner-led networks), if any.
    pub contracted_org: Option<OrgId>,
}

/// Why a technician may not or cannot take the job; machine-readable, one per failed condition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exclusion {
    /// The index knows the technician but the caller did not pass its data.
    Unknown,
    /// Deactivated.
    Inactive,
    /// Its organisation is outside the subtree being searched.
    OutsideSubtree,
    /// Its organisation (or an ancestor of it) declined or let an offer for this job expire.
    OrgExcluded(OrgId),
    /// Its organisation does not cover the job's location.
    OrgDoesNotCover,
    /// It lacks a required skill.
    MissingSkill(SkillCode),
    /// No shift overlaps the job window.
    OffShift,
    /// Shifts overlap the window but absences cover all of that overlap.
    Absent,
    /// Its day is full.
    AtCapacity,
    /// Neither it nor its organisation's stock has enough of this part.
    MissingParts(Sku),
    /// The job lies beyond its service radius ([`Technician::max_travel_m`]).
    BeyondRadius,
}

impl Exclusion {
    /// A stable snake_case code for the wire (`missing_skill`…); the skill, SKU or organisation is the detail.
    pub fn code(&self) -> &'static str {
        match self {
            Exclusion::Unknown => "unknown",
            Exclusion::Inactive => "inactive",
            Exclusion::OutsideSubtree => "outside_subtree",
            Exclusion::OrgExcluded(_) => "org_excluded",
            Exclusion::OrgDoesNotCover => "org_does_not_cover",
            Exclusion::MissingSkill(_) => "missing_skill",
            Exclusion::OffShift => "off_shift",
            Exclusion::Absent => "absent",
            Exclusion::AtCapacity => "at_capacity",
            Exclusion::MissingParts(_) => "missing_parts",
            Exclusion::BeyondRadius => "beyond_radius",
        }
    }
}

/// Everything fixed for one job while many technicians are checked.
#[derive(Debug)]
pub struct Eligibility<'a> {
    job: &'a Job,
    subtree_root: OrgId,
    orgs: &'a OrgTree,
    excluded_orgs: &'a HashSet<OrgId>,
    org_stock: &'a HashMap<OrgId, Vec<PartQty>>,
    coverage: CoverageCache<'a>,
}

impl<'a> Eligibility<'a> {
    /// Prepares checks of one job inside the subtree of `subtree_root`.
    pub fn new(
        job: &'a Job,
        subtree_root: OrgId,
        orgs: &'a OrgTree,
        territories: &'a TerritoryIndex,
        excluded_orgs: &'a HashSet<OrgId>,
        org_stock: &'a HashMap<OrgId, Vec<PartQty>>,
    ) -> Eligibility<'a> {
        Eligibility {
            job,
            subtree_root,
            orgs,
            excluded_orgs,
            org_stock,
            coverage: CoverageCache::new(territories, orgs, job.location),
        }
    }

    /// Every reason the technician is excluded, in the order of [`Exclusion`]; empty means eligible.
    pub fn exclusions(&mut self, tech: &Technician) -> Vec<Exclusion> {
        let mut out = Vec::new();
        if !tech.active {
            out.push(Exclusion::Inactive);
        }
        if !self.orgs.is_descendant_or_self(tech.org_id, self.subtree_root) {
            out.push(Exclusion::OutsideSubtree);
        }
        if let Some(org) = self.excluded_ancestor_or_self(tech.org_id) {
            out.push(Exclusion::OrgExcluded(org));
        }
        if !self.coverage.covers(tech.org_id) {
            out.push(Exclusion::OrgDoesNotCover);
        }
        for skill in &self.job.required_skills {
            if !tech.skills.contains(skill) {
                out.push(Exclusion::MissingSkill(skill.clone()));
            }
        }
        match availability(&self.job.window, &tech.shifts, &tech.absences) {
            Availability::Available => {}
            Availability::OffShift => out.push(Exclusion::OffShift),
            Availability::Absent => out.push(Exclusion::Absent),
        }
        if tech.jobs_on_day >= tech.daily_capacity {
            out.push(Exclusion::AtCapacity);
        }
        let stock = self.org_stock.get(&tech.org_id).map(Vec::as_slice).unwrap_or_default();
        for need in &self.job.parts {
            if qty_of(&tech.parts, &need.sku) + qty_of(stock, &need.sku) < u64::from(need.qty) {
                out.push(Exclusion::MissingParts(need.sku.clone()));
            }
        }
        out
    }

    /// [`Eligibility::exclusions`] for a technician `distance_m` away from the job, with its service radius.
    pub fn exclusions_at(&mut self, tech: &Technician, distance_m: f64) -> Vec<Exclusion> {
        let mut out = self.exclusions(tech);
        if tech.max_travel_m.is_some_and(|radius| distance_m > radius) {
            out.push(Exclusion::BeyondRadius);
        }
        out
    }

    /// True when the technician is eligible.
    pub fn is_eligible(&mut self, tech: &Technician) -> bool {
        self.exclusions(tech).is_empty()
    }

    fn excluded_ancestor_or_self(&self, org: OrgId) -> Option<OrgId> {
        if self.excluded_orgs.is_empty() {
            return None;
        }
        std::iter::once(org).chain(self.orgs.ancestors(org)).find(|o| self.excluded_orgs.contains(o))
    }
}

/// Whether a technician can work some of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Some part of the window is on shift and not absent.
    Available,
    /// No shift overlaps the window.
    OffShift,
    /// Shifts overlap the window, but absences cover all of it.
    Absent,
}

/// Whether some instant of `window` is inside a shift and outside every absence.
pub fn availability(window: &TimeWindow, shifts: &[TimeWindow], absences: &[TimeWindow]) -> Availability {
    let mut on_shift = false;
    for piece in shifts.iter().filter_map(|s| s.intersection(window)) {
        on_shift = true;
        if !covered_by(&piece, absences) {
            return Availability::Available;
        }
    }
    if on_shift { Availability::Absent } else { Availability::OffShift }
}

/// The UTC intervals of a daily shift `start..end` (local time) on each of `local_dates`.
///
/// A shift whose end is not after its start runs overnight into the next day. `to_utc` converts a local time
/// in the technician's zone (with chrono-tz: `|t| tz.from_local_datetime(&t).earliest().map(|d| d.to_utc())`);
/// a local time that does not exist (skipped by a daylight-saving change) drops that day's interval. Pass the
/// dates from the day before the window starts to the day it ends, so overnight shifts are seen.
pub fn shift_intervals(
    start: NaiveTime,
    end: NaiveTime,
    local_dates: impl IntoIterator<Item = NaiveDate>,
    to_utc: impl Fn(NaiveDateTime) -> Option<DateTime<Utc>>,
) -> Vec<TimeWindow> {
    local_dates
        .into_iter()
        .filter_map(|date| {
            let end_date = if end <= start { date.checked_add_days(Days::new(1))? } else { date };
            let window = TimeWindow { start: to_utc(date.and_time(start))?, end: to_utc(end_date.and_time(end))? };
            (!window.is_empty()).then_some(window)
        })
        .collect()
}

/// True when the union of `covers` contains all of `piece`.
fn covered_by(piece: &TimeWindow, covers: &[TimeWindow]) -> bool {
    let mut relevant: Vec<&TimeWindow> = covers.iter().filter(|c| c.intersection(piece).is_some()).collect();
    relevant.sort();
    let mut reached = piece.start;
    for c in relevant {
        if c.start > reached {
            return false;
        }
        reached = reached.max(c.end);
        if reached >= piece.end {
            return true;
        }
    }
    reached >= piece.end
}

fn qty_of(parts: &[PartQty], sku: &Sku) -> u64 {
    parts.iter().filter(|p| &p.sku == sku).map(|p| u64::from(p.qty)).sum()
}
