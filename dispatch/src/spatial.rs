//! Nearest technicians by great-circle distance: an R-tree (rstar) over positions on the unit sphere.
//!
//! Positions are stored as 3D unit vectors. The straight-line (chord) distance between two unit vectors grows
//! monotonically with the great-circle distance, so the tree's Euclidean nearest-first order *is* the
//! great-circle order: exact at the poles and across the ±180° meridian, where a lon/lat tree is wrong.
//! A chord `c` converts to metres as `2·R·asin(c/2)`.
//!
//! Besides the tree of all technicians the index keeps one smaller tree per selective [`PartitionKey`] (an
//! organisation's subtree, a skill held by at most [`MAX_PARTITION_SHARE`] of technicians). A query names the
//! keys every eligible technician must hold ([`TechIndex::nearest_in`]); the index walks the smallest matching
//! tree and leaves the dynamic conditions (shift, capacity, parts…) to a predicate. At 100k technicians with
//! 1 % eligible this is the difference between walking ~100 neighbours and walking one or two (see
//! `dispatch/README.md`, "Benchmarks"). Widely held keys get no tree: filtering finds a holder within a few
//! steps, and each tree costs every position update one more insertion.
//!
//! A position update inserts a fresh entry into each of the technician's trees and marks the old ones stale
//! (a version stamp; walks skip stale entries). A tree is rebuilt with a bulk load once it holds more than
//! one stale entry per two live ones, so it never grows past 1.5× its size and query speed does not decay as
//! everybody moves (amortised O(log n) per update; the rebuild itself is a pause of O(n log n) for that one update).

use std::collections::{HashMap, HashSet};

use rstar::{RStarInsertionStrategy, RTree, RTreeParams};
use rstar::primitives::GeomWithData;

use crate::model::{LatLon, OrgId, SkillCode, TechnicianId};

#[cfg(test)]
mod tests;

/// Mean Earth radius in metres (IUGG), used for every distance in this crate.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// At bulk load, a key held by more than this share of technicians (and by more than
/// [`UNTRACKED_MIN_HOLDERS`]) gets no tree: walking everybody and filtering finds one of them within a few
/// steps anyway, while every move would pay for one more tree.
pub const MAX_PARTITION_SHARE: f64 = 0.15;

/// Keys held by at most this many technicians always get a tree.
pub const UNTRACKED_MIN_HOLDERS: usize = 1_000;

/// A tree is rebuilt once it has this many stale entries at least, so small trees are not rebuilt on every move.
const REBUILD_MIN_STALE: usize = 64;

/// A tree is rebuilt once it holds more than one stale entry per this many live ones. 2 bounds a tree at
/// 1.5× its live size (walks slow down by at most that much) for an amortised rebuild cost of two bulk-loaded
/// entries per update; 4 measured barely faster queries and slower updates.
const LIVE_PER_STALE: usize = 2;

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
    by_id: HashMap<TechnicianId, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    all: Tree,
    trees: Vec<Tree>,
    tree_of: HashMap<PartitionKey, u32>,
    untracked: HashSet<PartitionKey>,
}

/// A nearest-first walk over one tree of the index, yielding `(technician, distance_m)`.
pub struct Nearest<'a> {
    inner: Option<Box<dyn Iterator<Item = (&'a Node, f64)> + 'a>>,
    partition: Option<&'a PartitionKey>,
    scope: Vec<u32>,
    slots: &'a [Slot],
}

/// A tree entry: which slot it belongs to and at which version of that slot it was inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    slot: u32,
    version: u32,
}

type Node = GeomWithData<[f64; 3], Stamp>;

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

/// One technician's place in the index. A move bumps `version` and inserts a fresh tree entry; entries
/// with an older version are stale and skipped by walks until the next rebuild drops them. So an update
/// costs one R-tree insertion per tree, never a removal (rstar's removal walks and reshuffles nodes and
/// costs several times an insertion).
#[derive(Debug, Clone)]
struct Slot {
    id: TechnicianId,
    version: u32,
    trees: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Tree {
    key: Option<PartitionKey>,
    rtree: RTree<Node, IndexParams>,
    live: usize,
    stale: usize,
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
        let technicians: Vec<IndexedTechnician> = technicians.into_iter().map(Into::into).collect();
        let mut holders: HashMap<&PartitionKey, usize> = HashMap::new();
        for key in technicians.iter().flat_map(|t| &t.partitions) {
            *holders.entry(key).or_default() += 1;
        }
        let limit = (technicians.len() as f64 * MAX_PARTITION_SHARE) as usize;
        let mut index = TechIndex {
            untracked: holders
                .into_iter()
                .filter(|&(_, n)| n > limit && n > UNTRACKED_MIN_HOLDERS)
                .map(|(k, _)| k.clone())
                .collect(),
            ..TechIndex::default()
        };
        let mut all = Vec::new();
        let mut per_tree: Vec<Vec<Node>> = Vec::new();
        for t in technicians {
            let xyz = checked_unit_vector(t.id, t.position)?;
            if let Some(&slot) = index.by_id.get(&t.id) {
                // A repeated id: its earlier nodes go stale and are filtered out below.
                index.slots[slot as usize].version = index.slots[slot as usize].version.wrapping_add(1);
            }
            let trees = index.tree_ids(t.partitions);
            let slot = index.slot_for(t.id, trees.clone());
            let node = Node::new(xyz, Stamp { slot, version: index.slots[slot as usize].version });
            all.push(node);
            for &tree in &trees {
                per_tree.resize_with(per_tree.len().max(tree as usize + 1), Vec::new);
                per_tree[tree as usize].push(node);
            }
        }
        let slots = &index.slots;
        let is_live = |n: &Node| slots[n.data.slot as usize].version == n.data.version;
        all.retain(is_live);
        index.all.rebuild_from(all);
        for (tree, mut nodes) in per_tree.into_iter().enumerate() {
            nodes.retain(is_live);
            index.trees[tree].rebuild_from(nodes);
        }
        Ok(index)
    }

    /// How many technicians the index holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when the index holds no technician.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// True when the technician is in the index.
    pub fn contains(&self, id: TechnicianId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// How many technicians hold a partition key that has a tree (0 when nobody does or the key has no tree).
    pub fn partition_len(&self, key: &PartitionKey) -> usize {
        self.tree_of.get(key).map_or(0, |&t| self.trees[t as usize].live)
    }

    /// Moves a technician (or adds it, without partitions); its partitions stay as they were.
    pub fn upsert(&mut self, id: TechnicianId, position: LatLon) -> Result<(), PositionError> {
        let xyz = checked_unit_vector(id, position)?;
        match self.by_id.get(&id) {
            Some(&slot) => self.move_slot(slot, xyz),
            None => {
                let slot = self.slot_for(id, Vec::new());
                self.insert_slot(slot, xyz);
            }
        }
        Ok(())
    }

    /// Adds or replaces a technician with its position and partitions (e.g. after its skills or organisation changed).
    pub fn upsert_technician(&mut self, technician: IndexedTechnician) -> Result<(), PositionError> {
        let xyz = checked_unit_vector(technician.id, technician.position)?;
        self.remove(technician.id);
        let trees = self.tree_ids(technician.partitions);
        let slot = self.slot_for(technician.id, trees);
        self.insert_slot(slot, xyz);
        Ok(())
    }

    /// Removes a technician; false when it was not there.
    pub fn remove(&mut self, id: TechnicianId) -> bool {
        let Some(slot) = self.by_id.remove(&id) else { return false };
        let s = &mut self.slots[slot as usize];
        s.version = s.version.wrapping_add(1);
        let trees = std::mem::take(&mut s.trees);
        for tree in std::iter::once(None).chain(trees.into_iter().map(Some)) {
            let t = self.tree_mut(tree);
            t.live -= 1;
            t.stale += 1;
            self.maybe_rebuild(tree);
        }
        self.free.push(slot);
        true
    }

    /// All technicians, nearest first, as `(technician, distance_m)`.
    pub fn nearest_iter(&self, point: LatLon) -> Nearest<'_> {
        self.nearest_in(point, &[])
    }

    /// Technicians holding every key in `scope`, nearest first; walks the smallest of the scope's trees.
    ///
    /// `scope` lists keys that every technician the caller wants holds. Keys held too widely to get a tree
    /// (see [`MAX_PARTITION_SHARE`]) are not checked here: the caller's own eligibility test must check
    /// them (`decision` checks everything anyway). A key nobody holds yields nothing; an empty scope walks
    /// everybody.
    pub fn nearest_in(&self, point: LatLon, scope: &[PartitionKey]) -> Nearest<'_> {
        let ids: Option<Vec<u32>> = scope
            .iter()
            .filter(|k| !self.untracked.contains(*k))
            .map(|k| self.tree_of.get(k).copied().filter(|&t| self.trees[t as usize].live > 0))
            .collect();
        let Some(ids) = ids.filter(|_| is_valid_position(point)) else {
            return Nearest { inner: None, partition: None, scope: Vec::new(), slots: &self.slots };
        };
        let smallest = ids.iter().copied().min_by_key(|&t| self.trees[t as usize].live);
        let tree = match smallest {
            Some(t) => &self.trees[t as usize],
            None => &self.all,
        };
        let walk = tree.rtree.nearest_neighbor_iter_with_distance_2(&unit_vector(point));
        Nearest {
            inner: Some(Box::new(walk)),
            partition: tree.key.as_ref(),
            scope: if ids.len() > 1 { ids } else { Vec::new() },
            slots: &self.slots,
        }
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

    /// Tree ids for partition keys, creating trees for new keys; sorted, without duplicates.
    fn tree_ids(&mut self, keys: Vec<PartitionKey>) -> Vec<u32> {
        let mut ids: Vec<u32> = keys
            .into_iter()
            .filter(|key| !self.untracked.contains(key))
            .map(|key| match self.tree_of.get(&key) {
                Some(&t) => t,
                None => {
                    let t = self.trees.len() as u32;
                    self.trees.push(Tree { key: Some(key.clone()), ..Tree::default() });
                    self.tree_of.insert(key, t);
                    t
                }
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// A slot for a technician not in the index (reusing a free one), registered under its id.
    fn slot_for(&mut self, id: TechnicianId, trees: Vec<u32>) -> u32 {
        if let Some(&slot) = self.by_id.get(&id) {
            self.slots[slot as usize].trees = trees;
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                (s.id, s.trees) = (id, trees);
                slot
            }
            None => {
                self.slots.push(Slot { id, version: 0, trees });
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    /// Inserts a fresh slot's node into its trees.
    fn insert_slot(&mut self, slot: u32, xyz: [f64; 3]) {
        let node = Node::new(xyz, Stamp { slot, version: self.slots[slot as usize].version });
        let trees = std::mem::take(&mut self.slots[slot as usize].trees);
        for tree in std::iter::once(None).chain(trees.iter().copied().map(Some)) {
            let t = self.tree_mut(tree);
            t.rtree.insert(node);
            t.live += 1;
        }
        self.slots[slot as usize].trees = trees;
    }

    /// Moves a slot: its old nodes go stale, a new node goes into each of its trees.
    fn move_slot(&mut self, slot: u32, xyz: [f64; 3]) {
        let s = &mut self.slots[slot as usize];
        s.version = s.version.wrapping_add(1);
        let node = Node::new(xyz, Stamp { slot, version: s.version });
        let trees = std::mem::take(&mut s.trees);
        for tree in std::iter::once(None).chain(trees.iter().copied().map(Some)) {
            let t = self.tree_mut(tree);
            t.rtree.insert(node);
            t.stale += 1;
            self.maybe_rebuild(tree);
        }
        self.slots[slot as usize].trees = trees;
    }

    fn tree_mut(&mut self, tree: Option<u32>) -> &mut Tree {
        match tree {
            Some(t) => &mut self.trees[t as usize],
            None => &mut self.all,
        }
    }

    /// Rebuilds a tree once it holds too many stale entries (amortised O(log n) per update).
    fn maybe_rebuild(&mut self, tree: Option<u32>) {
        let t = match tree {
            Some(t) => &mut self.trees[t as usize],
            None => &mut self.all,
        };
        if t.stale <= (t.live / LIVE_PER_STALE).max(REBUILD_MIN_STALE) {
            return;
        }
        let slots = &self.slots;
        let live: Vec<Node> =
            t.rtree.iter().filter(|n| slots[n.data.slot as usize].version == n.data.version).copied().collect();
        t.rebuild_from(live);
    }
}

impl Nearest<'_> {
    /// The partition whose tree is walked, or `None` for the tree of all technicians.
    pub fn walked_partition(&self) -> Option<&PartitionKey> {
        self.partition
    }

    /// The next live technician holding the whole scope, with its squared chord distance.
    fn next_d2(&mut self) -> Option<(TechnicianId, f64)> {
        let inner = self.inner.as_mut()?;
        loop {
            let (node, d2) = inner.next()?;
            let slot = &self.slots[node.data.slot as usize];
            if slot.version != node.data.version {
                continue;
            }
            // The tree walked is one scope key's; the others are checked here.
            if self.scope.iter().all(|t| slot.trees.binary_search(t).is_ok()) {
                return Some((slot.id, d2));
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
        Tree { key: None, rtree: RTree::new_with_params(), live: 0, stale: 0 }
    }
}

impl Tree {
    /// Replaces the tree's content with these live nodes, packed by a bulk load.
    fn rebuild_from(&mut self, live: Vec<Node>) {
        self.live = live.len();
        self.stale = 0;
        self.rtree = RTree::bulk_load_with_params(live);
    }
}

fn checked_unit_vector(id: TechnicianId, p: LatLon) -> Result<[f64; 3], PositionError> {
    if is_valid_position(p) {
        Ok(unit_vector(p))
    } else {
        Err(PositionError::Invalid { id, lat: p.lat, lon: p.lon })
    }
}
