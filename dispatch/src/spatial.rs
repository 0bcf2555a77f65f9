//! Nearest technicians by great-circle distance: an R-tree (rstar) over positions on the unit sphere.
//!
//! Positions are stored as 3D unit vectors. The straight-line (chord) distance between two unit vectors grows
//! monotonically with the great-circle distance, so the tree's Euclidean nearest-first order *is* the
//! great-circle order: exact at the poles and across the ±180° meridian, where a lon/lat tree is wrong.
//! A chord `c` converts to metres as `2·R·asin(c/2)`.
//!
//! Besides the tree of all technicians the index keeps one smaller tree per [`PartitionKey`] (an organisation's
//! subtree, a skill). A query names the keys every eligible technician must hold ([`TechIndex::nearest_in`]);
//! the index walks the smallest matching tree and leaves the dynamic conditions (shift, capacity, parts…) to a
//! predicate. At 100k technicians with 1 % eligible this is the difference between walking ~100 neighbours and
//! walking one or two (see `dispatch/README.md`, "Benchmarks").
//!
//! A position update is a removal and an insertion in the technician's trees; a tree is rebuilt with a bulk
//! load once it has seen as many changes as it holds technicians, so query speed does not decay as everybody
//! moves (amortised O(log n) per update).

use std::collections::HashMap;

use rstar::{RStarInsertionStrategy, RTree, RTreeParams};
use rstar::primitives::GeomWithData;

use crate::model::{LatLon, OrgId, SkillCode, TechnicianId};

#[cfg(test)]
mod tests;

/// Mean Earth radius in metres (IUGG), used for every distance in this crate.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A tree is rebuilt after this many changes at least, so small trees are not rebuilt on every move.
const REBUILD_MIN_CHANGES: usize = 64;

/// A static attribute that selects a smaller tree: technicians of an organisation's subtree, or with a skill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartitionKey {
    /// Technicians whose organisation is this organisation or one of its descendants.
    Org(OrgId),
    /// Technicians with this skill.
    Skill(SkillCode),
}

/// One technician as the index sees it: where it is and which partitions it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedTechnician {
    /// The technician.
    pub id: TechnicianId,
    /// Its latest position.
    pub position: LatLon,
    /// Every partition it belongs to; `decision::technician_partitions` computes them.
    pub partitions: Vec<PartitionKey>,
}

/// Why a position was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PositionError {
    /// Latitude outside -90..=90, longitude outside -180..=180, or not a finite number.
    #[error("position ({lat}, {lon}) of technician {id} is not a valid latitude/longitude")]
    Invalid {
        /// The technician whose position was refused.
        id: TechnicianId,
        /// The latitude given.
        lat: f64,
        /// The longitude given.
        lon: f64,
    },
}

/// The spatial index of technician positions.
#[derive(Debug, Default, Clone)]
pub struct TechIndex {
    entries: HashMap<TechnicianId, Entry>,
    all: Tree,
    partitions: HashMap<PartitionKey, Tree>,
}

/// A nearest-first walk over one tree of the index, yielding `(technician, distance_m)`.
pub struct Nearest<'a> {
    inner: Option<Box<dyn Iterator<Item = (&'a Node, f64)> + 'a>>,
    partition: Option<&'a PartitionKey>,
    scope: &'a [PartitionKey],
    entries: &'a HashMap<TechnicianId, Entry>,
}

type Node = GeomWithData<[f64; 3], TechnicianId>;

/// R-tree parameters: rstar's default node sizes, **without forced reinsertion**.
///
/// rstar 0.12's bulk loader leaves leaves at different depths; R* forced reinsertion then puts leaves next
/// to inner nodes and panics ("This is a bug in rstar") after some mix of removals and insertions, which
/// the property tests here hit within a few hundred moves. Splitting without reinsertion never mixes
/// levels, and the periodic rebuild keeps the tree packed instead.
#[derive(Debug, Clone, Copy)]
struct IndexParams;

impl RTreeParams for IndexParams {
    const MIN_SIZE: usize = 3;
    const MAX_SIZE: usize = 6;
    const REINSERTION_COUNT: usize = 0;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

#[derive(Debug, Clone)]
struct Entry {
    xyz: [f64; 3],
    partitions: Vec<PartitionKey>,
}

#[derive(Debug, Clone)]
struct Tree {
    rtree: RTree<Node, IndexParams>,
    changes_since_build: usize,
}

/// Great-circle distance in metres by the haversine formula (the reference the index is tested against).
pub fn haversine_m(a: LatLon, b: LatLon) -> f64 {
    let (phi1, phi2) = (a.lat.to_radians(), b.lat.to_radians());
    let dphi = phi2 - phi1;
    let dlambda = (b.lon - a.lon).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The unit vector of a position (x towards 0°N 0°E, z towards the North Pole).
pub fn unit_vector(p: LatLon) -> [f64; 3] {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// Converts a chord between unit vectors to a great-circle distance in metres.
pub fn chord_to_m(chord: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (chord / 2.0).clamp(0.0, 1.0).asin()
}

/// True when the position is a finite latitude/longitude in range.
pub fn is_valid_position(p: LatLon) -> bool {
    p.lat.is_finite() && p.lon.is_finite() && (-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon)
}

impl From<(TechnicianId, LatLon)> for IndexedTechnician {
    fn from((id, position): (TechnicianId, LatLon)) -> IndexedTechnician {
        IndexedTechnician { id, position, partitions: Vec::new() }
    }
}

impl TechIndex {
    /// An empty index.
    pub fn new() -> TechIndex {
        TechIndex::default()
    }

    /// Builds the index in one go (much faster than inserting one by one); a repeated id keeps its last entry.
    pub fn bulk_load<T: Into<IndexedTechnician>>(
        technicians: impl IntoIterator<Item = T>,
    ) -> Result<TechIndex, PositionError> {
        let mut entries = HashMap::new();
        for t in technicians {
            let t: IndexedTechnician = t.into();
            let xyz = checked_unit_vector(t.id, t.position)?;
            entries.insert(t.id, Entry { xyz, partitions: dedup(t.partitions) });
        }
        let mut all = Vec::with_capacity(entries.len());
        let mut partitions: HashMap<PartitionKey, Vec<Node>> = HashMap::new();
        for (&id, e) in &entries {
            let node = Node::new(e.xyz, id);
            for key in &e.partitions {
                partitions.entry(key.clone()).or_default().push(node);
            }
            all.push(node);
        }
        Ok(TechIndex {
            entries,
            all: Tree::build(all),
            partitions: partitions.into_iter().map(|(k, nodes)| (k, Tree::build(nodes))).collect(),
        })
    }

    /// How many technicians the index holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the index holds no technician.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when the technician is in the index.
    pub fn contains(&self, id: TechnicianId) -> bool {
        self.entries.contains_key(&id)
    }

    /// How many technicians hold a partition key (0 when nobody does).
    pub fn partition_len(&self, key: &PartitionKey) -> usize {
        self.partitions.get(key).map_or(0, |t| t.rtree.size())
    }

    /// Moves a technician (or adds it, without partitions); its partitions stay as they were.
    pub fn upsert(&mut self, id: TechnicianId, position: LatLon) -> Result<(), PositionError> {
        let xyz = checked_unit_vector(id, position)?;
        let partitions = match self.entries.get(&id) {
            Some(e) => e.partitions.clone(),
            None => Vec::new(),
        };
        self.replace(id, Entry { xyz, partitions });
        Ok(())
    }

    /// Adds or replaces a technician with its position and partitions (e.g. after its skills or organisation changed).
    pub fn upsert_technician(&mut self, technician: IndexedTechnician) -> Result<(), PositionError> {
        let xyz = checked_unit_vector(technician.id, technician.position)?;
        self.replace(technician.id, Entry { xyz, partitions: dedup(technician.partitions) });
        Ok(())
    }

    /// Removes a technician; false when it was not there.
    pub fn remove(&mut self, id: TechnicianId) -> bool {
        match self.entries.remove(&id) {
            Some(old) => {
                self.unlink(id, &old);
                true
            }
            None => false,
        }
    }

    /// All technicians, nearest first, as `(technician, distance_m)`.
    pub fn nearest_iter(&self, point: LatLon) -> Nearest<'_> {
        self.nearest_in(point, &[])
    }

    /// Technicians holding every key in `scope`, nearest first; walks the smallest of the scope's trees.
    ///
    /// A key nobody holds yields nothing. An empty scope walks everybody.
    pub fn nearest_in<'a>(&'a self, point: LatLon, scope: &'a [PartitionKey]) -> Nearest<'a> {
        let mut chosen: Option<(&'a PartitionKey, &'a Tree)> = None;
        let mut missing = false;
        for key in scope {
            match self.partitions.get(key) {
                None => missing = true,
                Some(t) if chosen.is_none_or(|(_, c)| t.rtree.size() < c.rtree.size()) => chosen = Some((key, t)),
                Some(_) => {}
            }
        }
        let tree = match chosen {
            Some((_, t)) => &t.rtree,
            None => &self.all.rtree,
        };
        let inner = (!missing && is_valid_position(point))
            .then(|| Box::new(tree.nearest_neighbor_iter_with_distance_2(&unit_vector(point))) as Box<dyn Iterator<Item = _>>);
        Nearest { inner, partition: chosen.map(|(k, _)| k), scope, entries: &self.entries }
    }

    /// The `k` nearest technicians for which `eligible` holds, nearest first; exact ties break by id.
    pub fn nearest_eligible(
        &self,
        point: LatLon,
        k: usize,
        eligible: impl FnMut(TechnicianId) -> bool,
    ) -> Vec<(TechnicianId, f64)> {
        self.nearest_eligible_in(point, &[], k, eligible)
    }

    /// Like [`TechIndex::nearest_eligible`], among the technicians holding every key in `scope`.
    pub fn nearest_eligible_in(
        &self,
        point: LatLon,
        scope: &[PartitionKey],
        k: usize,
        mut eligible: impl FnMut(TechnicianId) -> bool,
    ) -> Vec<(TechnicianId, f64)> {
        if k == 0 {
            return Vec::new();
        }
        let mut walk = self.nearest_in(point, scope);
        let mut found: Vec<(TechnicianId, f64)> = Vec::with_capacity(k);
        while let Some((id, d2)) = walk.next_d2() {
            // The walk is nearest-first: past the k-th, only exact ties can still matter.
            if found.len() >= k && found.last().is_some_and(|&(_, last)| d2 > last) {
                break;
            }
            if eligible(id) {
                found.push((id, d2));
            }
        }
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found.truncate(k);
        found.into_iter().map(|(id, d2)| (id, chord_to_m(d2.sqrt()))).collect()
    }

    fn replace(&mut self, id: TechnicianId, entry: Entry) {
        if let Some(old) = self.entries.remove(&id) {
            self.unlink(id, &old);
        }
        let node = Node::new(entry.xyz, id);
        self.all.insert(node);
        for key in &entry.partitions {
            self.partitions.entry(key.clone()).or_default().insert(node);
        }
        self.entries.insert(id, entry);
    }

    fn unlink(&mut self, id: TechnicianId, old: &Entry) {
        let node = Node::new(old.xyz, id);
        self.all.remove(&node);
        for key in &old.partitions {
            if let Some(tree) = self.partitions.get_mut(key) {
                tree.remove(&node);
                if tree.rtree.size() == 0 {
                    self.partitions.remove(key);
                }
            }
        }
    }
}

impl Nearest<'_> {
    /// The partition whose tree is walked, or `None` for the tree of all technicians.
    pub fn walked_partition(&self) -> Option<&PartitionKey> {
        self.partition
    }

    /// The next technician holding the whole scope, with its squared chord distance.
    fn next_d2(&mut self) -> Option<(TechnicianId, f64)> {
        let (scope, entries) = (self.scope, self.entries);
        let inner = self.inner.as_mut()?;
        loop {
            let (node, d2) = inner.next()?;
            let id = node.data;
            // The tree walked holds one scope key; the others are checked here.
            if scope.len() <= 1 || entries.get(&id).is_some_and(|e| scope.iter().all(|k| e.partitions.contains(k))) {
                return Some((id, d2));
            }
        }
    }
}

impl Iterator for Nearest<'_> {
    type Item = (TechnicianId, f64);

    fn next(&mut self) -> Option<(TechnicianId, f64)> {
        self.next_d2().map(|(id, d2)| (id, chord_to_m(d2.sqrt())))
    }
}

impl Default for Tree {
    fn default() -> Tree {
        Tree::build(Vec::new())
    }
}

impl Tree {
    fn build(nodes: Vec<Node>) -> Tree {
        Tree { rtree: RTree::bulk_load_with_params(nodes), changes_since_build: 0 }
    }

    fn insert(&mut self, node: Node) {
        self.rtree.insert(node);
        self.changed();
    }

    fn remove(&mut self, node: &Node) {
        if self.rtree.remove(node).is_some() {
            self.changed();
        }
    }

    /// Removals leave under-full nodes behind and insertions split greedily; a periodic bulk load restores
    /// a packed tree. Rebuilding after `size` changes costs O(log n) per change, amortised.
    fn changed(&mut self) {
        self.changes_since_build += 1;
        if self.changes_since_build > self.rtree.size().max(REBUILD_MIN_CHANGES) {
            let nodes: Vec<Node> = self.rtree.drain().collect();
            *self = Tree::build(nodes);
        }
    }
}

fn checked_unit_vector(id: TechnicianId, p: LatLon) -> Result<[f64; 3], PositionError> {
    if is_valid_position(p) {
        Ok(unit_vector(p))
    } else {
        Err(PositionError::Invalid { id, lat: p.lat, lon: p.lon })
    }
}

fn dedup(mut keys: Vec<PartitionKey>) -> Vec<PartitionKey> {
    keys.sort();
    keys.dedup();
    keys
}
