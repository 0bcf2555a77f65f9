//! Sortie's dispatch decisions: who gets a job and in what order.
//!
//! A pure library: it never reads the wall clock, the database or the
//! network. "Now", the technicians and the organisation tree are arguments;
//! `api` loads them, calls in here, and stores what comes back.
//!
//! # Layout
//! - [`model`]: ids (`u128`, a UUID's bits), positions, skills, parts, time windows.
//! - [`spatial`]: `TechIndex`, nearest technicians by great-circle distance (rstar over unit vectors), with
//!   per-organisation-subtree and per-skill partitions so "nearest eligible" walks a small tree.
//! - [`orgs`]: `OrgTree`, the vendor → partner → sub-partner tree with O(1) subtree tests.
//! - [`territories`]: `TerritoryIndex`, coverage and exclusive ownership of points (geo polygons with holes).
//! - [`eligibility`]: `Technician`, `Job`, and every reason (`Exclusion`) a technician may not take a job.
//! - [`ranking`]: nearest first, quality among near-equals (`RankOptions`), ties by id.
//! - [`decision`]: `choose_technician` / `dispatch_job`: subtree, eligibility, ranking, `Explanation`.
//! - [`offers`]: `route_offer` (hops passed automatically, manual routing) and `escalate`.
//! - [`plan`]: day planning, the vehicle routing problem with time windows
//!   (VRPTW): construction, improvement, insertion of one visit, Solomon I/O.
//!
//! # Example
//! ```
//! use std::collections::{HashMap, HashSet};
//! use chrono::{TimeZone, Utc};
//! use dispatch::decision::{DispatchInput, choose_technician, technician_partitions};
//! use dispatch::eligibility::{Job, Technician};
//! use dispatch::model::{LatLon, OrgId, TechnicianId, TimeWindow};
//! use dispatch::orgs::{Org, OrgTree};
//! use dispatch::ranking::RankOptions;
//! use dispatch::spatial::{IndexedTechnician, TechIndex};
//! use dispatch::territories::TerritoryIndex;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let vendor = OrgId(1);
//! let orgs = OrgTree::build([Org { id: vendor, parent_id: None, manual_routing: false }])?;
//! let day = TimeWindow { start: Utc.with_ymd_and_hms(2026, 5, 4, 6, 0, 0).unwrap(), end: Utc.with_ymd_and_hms(2026, 5, 4, 15, 0, 0).unwrap() };
//! let tech = |id: u128| Technician {
//!     id: TechnicianId(id), org_id: vendor, active: true, shifts: vec![day], daily_capacity: 5, ..Technician::default()
//! };
//! let technicians = HashMap::from([(TechnicianId(1), tech(1)), (TechnicianId(2), tech(2))]);
//! let index = TechIndex::bulk_load([
//!     IndexedTechnician { id: TechnicianId(1), position: LatLon::new(55.75, 37.62), partitions: technician_partitions(vendor, &[], &orgs) },
//!     IndexedTechnician { id: TechnicianId(2), position: LatLon::new(59.94, 30.31), partitions: technician_partitions(vendor, &[], &orgs) },
//! ])?;
//! let job = Job { location: LatLon::new(59.9, 30.3), window: day, required_skills: vec![], parts: vec![], contracted_org: None };
//! let (territories, stock, excluded) = (TerritoryIndex::default(), HashMap::new(), HashSet::new());
//! let input = DispatchInput {
//!     job: &job, technicians: &technicians, index: &index, orgs: &orgs, territories: &territories,
//!     org_stock: &stock, excluded_orgs: &excluded, search_root: None,
//! };
//! let decision = choose_technician(&input, &RankOptions::default());
//! assert_eq!(decision.chosen.map(|c| c.technician_id), Some(TechnicianId(2)));
//! # Ok(())
//! # }
//! ```

pub mod decision;
pub mod eligibility;
pub mod model;
pub mod offers;
pub mod orgs;
pub mod plan;
pub mod ranking;
pub mod spatial;
pub mod territories;
