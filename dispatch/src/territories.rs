//! Service territories: which organisations cover a point, and who owns it exclusively.
//!
//! Geometry is lon/lat degrees (x = longitude, y = latitude) as in GeoJSON; a shape crossing 180° arrives split
//! into a MultiPolygon (RFC 7946), so planar point-in-polygon tests are right. Holes are honoured. A point on
//! a boundary counts as inside. Candidate territories come from an R-tree of bounding boxes, not a scan.
//!
//! Coverage: an organisation with territories of its own covers exactly their union (exclusive or not); one
//! without covers what its parent covers; the vendor (the root) covers everything.

use std::collections::{HashMap, HashSet};

use geo::{BoundingRect, Intersects, MultiPolygon, Point, Relate};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::model::{LatLon, OrgId};
use crate::orgs::OrgTree;

#[cfg(test)]
mod tests;

/// One territory of one organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Territory {
    /// The owner.
    pub org_id: OrgId,
    /// The area, in lon/lat degrees; a single Polygon is a MultiPolygon of one.
    pub geometry: MultiPolygon<f64>,
    /// Requests inside an exclusive territory belong to the owner's subtree.
    pub exclusive: bool,
}

/// All territories with an R-tree of their bounding boxes.
#[derive(Debug, Clone, Default)]
pub struct TerritoryIndex {
    territories: Vec<Territory>,
    boxes: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    owners: HashSet<OrgId>,
}

impl TerritoryIndex {
    /// Indexes the territories; empty geometries are kept but never contain a point.
    pub fn build(territories: Vec<Territory>) -> TerritoryIndex {
        let boxes = territories
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let r = t.geometry.bounding_rect()?;
                let rect = Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                Some(GeomWithData::new(rect, i))
            })
            .collect();
        let owners = territories.iter().map(|t| t.org_id).collect();
        TerritoryIndex { boxes: RTree::bulk_load(boxes), territories, owners }
    }

    /// The territories, in the order given.
    pub fn territories(&self) -> &[Territory] {
        &self.territories
    }

    /// True when the organisation has territories of its own.
    pub fn has_territories(&self, org: OrgId) -> bool {
        self.owners.contains(&org)
    }

    /// The territories containing the point (boundary included).
    pub fn containing(&self, point: LatLon) -> impl Iterator<Item = &Territory> + '_ {
        let p = Point::new(point.lon, point.lat);
        self.boxes
            .locate_in_envelope_intersecting(&AABB::from_point([point.lon, point.lat]))
            .map(|b| &self.territories[b.data])
            .filter(move |t| t.geometry.intersects(&p))
    }

    /// The deepest organisation owning an exclusive territory that contains the point; equal depths break by id.
    pub fn exclusive_owner(&self, point: LatLon, orgs: &OrgTree) -> Option<OrgId> {
        self.containing(point)
            .filter(|t| t.exclusive)
            .filter_map(|t| Some((orgs.depth(t.org_id)?, t.org_id)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, id)| id)
    }

    /// True when the organisation covers the point: its own territories, else its nearest ancestor's with
    /// territories; the root covers everything. Unknown organisations cover nothing.
    pub fn covers(&self, org: OrgId, point: LatLon, orgs: &OrgTree) -> bool {
        match self.coverage_owner(org, orgs) {
            Coverage::Everywhere => true,
            Coverage::Nowhere => false,
            Coverage::TerritoriesOf(owner) => self.containing(point).any(|t| t.org_id == owner),
        }
    }

    /// Existing exclusive territories that overlap `candidate` and belong to an organisation that is neither
    /// the candidate's owner nor its ancestor or descendant: DESIGN.md refuses these (409).
    pub fn exclusive_conflicts(&self, candidate: &Territory, orgs: &OrgTree) -> Vec<OrgId> {
        let Some(r) = candidate.geometry.bounding_rect() else { return Vec::new() };
        let envelope = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
        let mut conflicts: Vec<OrgId> = self
            .boxes
            .locate_in_envelope_intersecting(&envelope)
            .map(|b| &self.territories[b.data])
            .filter(|t| t.exclusive && candidate.exclusive)
            .filter(|t| {
                !orgs.is_descendant_or_self(t.org_id, candidate.org_id)
                    && !orgs.is_descendant_or_self(candidate.org_id, t.org_id)
            })
            .filter(|t| overlaps(&t.geometry, &candidate.geometry))
            .map(|t| t.org_id)
            .collect();
        conflicts.sort();
        conflicts.dedup();
        conflicts
    }

    /// Which organisation's territories decide whether `org` covers a point.
    fn coverage_owner(&self, org: OrgId, orgs: &OrgTree) -> Coverage {
        if !orgs.contains(org) {
            return Coverage::Nowhere;
        }
        if org == orgs.root() {
            return Coverage::Everywhere;
        }
        match std::iter::once(org).chain(orgs.ancestors(org)).find(|&o| o == orgs.root() || self.has_territories(o)) {
            Some(o) if o != orgs.root() => Coverage::TerritoriesOf(o),
            _ => Coverage::Everywhere,
        }
    }
}

/// Caches coverage per organisation for one point, so walking many technicians of one organisation is cheap.
#[derive(Debug)]
pub struct CoverageCache<'a> {
    territories: &'a TerritoryIndex,
    orgs: &'a OrgTree,
    point: LatLon,
    owners_at_point: Option<HashSet<OrgId>>,
    by_org: HashMap<OrgId, bool>,
}

enum Coverage {
    Everywhere,
    Nowhere,
    TerritoriesOf(OrgId),
}

impl<'a> CoverageCache<'a> {
    /// A cache for one point.
    pub fn new(territories: &'a TerritoryIndex, orgs: &'a OrgTree, point: LatLon) -> CoverageCache<'a> {
        CoverageCache { territories, orgs, point, owners_at_point: None, by_org: HashMap::new() }
    }

    /// Same answer as [`TerritoryIndex::covers`] for this cache's point.
    pub fn covers(&mut self, org: OrgId) -> bool {
        if let Some(&c) = self.by_org.get(&org) {
            return c;
        }
        let c = match self.territories.coverage_owner(org, self.orgs) {
            Coverage::Everywhere => true,
            Coverage::Nowhere => false,
            Coverage::TerritoriesOf(owner) => {
                let (t, p) = (self.territories, self.point);
                self.owners_at_point.get_or_insert_with(|| t.containing(p).map(|t| t.org_id).collect()).contains(&owner)
            }
        };
        self.by_org.insert(org, c);
        c
    }
}

/// True when two areas share interior (more than a boundary): adjacent territories do not overlap.
pub fn overlaps(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> bool {
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) if ra.intersects(&rb) => {
            let m = a.relate(b);
            m.is_intersects() && !m.is_touches()
        }
        _ => false,
    }
}
