//! Nearest technicians by great-circle distance: an R-tree (rstar) over positions on the unit sphere.
//!
//! Positions are stored as 3D unit vectors. The straight-line (chord) distance between two unit vectors grows
//! monotonically with the great-circle distance, so the tree's Euclidean nearest-first order *is* the
//! great-circle order: exact at the poles and across the ±180° meridian, where a lon/lat tree is wrong.
//! A chord `c` converts to metres as `2·R·asin(c/2)`.
//!
//! Besides the tree of all technicians the index keeps smaller trees for selective [`PartitionKey`]s (an
//! organisation's subtree, a skill held by at most [`MAX_PARTITION_SHARE`] of technicians). A query names the
//! keys every eligible technician must hold ([`TechIndex::nearest_in`]); the index walks the smallest matching
//! partition and leaves the dynamic conditions (shift, capacity, parts…) to a predicate. At 100k technicians
//! with 1 % eligible this is the difference between walking ~100 neighbours and walking one or two (see
//! `dispatch/README.md`, "Benchmarks"). Widely held keys get no tree: filtering finds a holder within a few
//! steps, and each tree costs every position update one more insertion.
//!
//! Every skill key has a tree of its own. Organisation keys do not: a technician's organisation and its
//! ancestors (its *chain*) share one tree, that of the chain, so a move pays one insertion for all of them
//! (2.1 trees per technician in the benchmark fleet instead of 3.8). An organisation's partition is the union
//! of the trees of the chains it is part of; its walk merges them nearest first, opening a tree only once its
//! bounding box is the nearest thing left.
//!
//! A position update inserts a fresh entry into each of the technician's trees. In the tree of everybody and
//! the chain trees the old entry is left behind, stale (a version stamp; walks skip stale entries), and the
//! tree is rebuilt with a bulk load once it holds more than one stale entry per two live ones (amortised
//! O(log n) per update; the rebuild is a pause of O(n log n) in that one update, rare enough to stay above
//! the p99 of updates). Skill trees, the ones a selective query walks, are few, so they afford more: the
//! old entry is removed at once, and the tree is rebuilt (repacked) once an eighth of it was inserted or
//! removed one by one, so a walk after everybody moved meets no stale entries and an almost packed tree.
//! [`TechIndex::compact`] rebuilds every tree that is not packed.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use rstar::primitives::GeomWithData;
use rstar::{RStarInsertionStrategy, RTree, RTreeParams};

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

/// An eager tree (a skill's) is rebuilt once more than one entry per this many live ones was removed or
/// inserted one by one since its last bulk load (inserts split packed nodes and land wherever the allocator
/// puts them). Skill trees are few, so the rebuild rate stays far below 1 % of updates; the amortised cost is
/// 8 bulk-loaded entries (~0.3 µs each) per move of a skill holder.
const LIVE_PER_REPACK: usize = 8;

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
    /// Tracked partition keys, by key id.
    keys: Vec<KeyInfo>,
    key_of: HashMap<PartitionKey, u32>,
    /// The tree of each distinct set of organisation key ids (a technician's chain of organisations).
    chain_tree: HashMap<Vec<u32>, u32>,
    untracked: HashSet<PartitionKey>,
}

/// A tracked partition key: its holders are the union of `trees` (one tree for a skill; for an
/// organisation, the trees of every organisation chain it is part of).
#[derive(Debug, Clone)]
struct KeyInfo {
    key: PartitionKey,
    trees: Vec<u32>,
    live: usize,
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
#[derive(Debug, Clone, Default)]
struct Slot {
    id: TechnicianId,
    version: u32,
    /// The position of its current entries.
    xyz: [f64; 3],
    /// Key ids held (sorted), for scope checks.
    keys: Vec<u32>,
    /// Trees the technician is in besides the tree of everybody (sorted).
    trees: Vec<u32>,
}

/// Key ids and tree ids of one technician.
type Placement = (Vec<u32>, Vec<u32>);

#[derive(Debug, Clone)]
struct Tree {
    /// Moves remove the old entry at once (skill trees) instead of leaving it stale (the others).
    eager: bool,
    rtree: RTree<Node, IndexParams>,
    live: usize,
    stale: usize,
    /// Entries inserted or removed one by one since the last bulk load (eager trees).
    churn: usize,
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
                let s = &mut index.slots[slot as usize];
                s.version = s.version.wrapping_add(1);
                for &key in &s.keys {
                    index.keys[key as usize].live -= 1;
                }
            }
            let placement = index.placement(t.partitions);
            let slot = index.slot_for(t.id, placement);
            let s = &mut index.slots[slot as usize];
            s.xyz = xyz;
            let node = Node::new(xyz, Stamp { slot, version: s.version });
            all.push(node);
            for &tree in &s.trees {
                per_tree.resize_with(per_tree.len().max(tree as usize + 1), Vec::new);
                per_tree[tree as usize].push(node);
            }
            for &key in &s.keys {
                index.keys[key as usize].live += 1;
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
        self.key_of.get(key).map_or(0, |&k| self.keys[k as usize].live)
    }

    /// Moves a technician (or adds it, without partitions); its partitions stay as they were.
    pub fn upsert(&mut self, id: TechnicianId, position: LatLon) -> Result<(), PositionError> {
        let xyz = checked_unit_vector(id, position)?;
        match self.by_id.get(&id) {
            Some(&slot) => self.move_slot(slot, xyz),
            None => {
                let slot = self.slot_for(id, Placement::default());
                self.insert_slot(slot, xyz);
            }
        }
        Ok(())
    }

    /// Adds or replaces a technician with its position and partitions (e.g. after its skills or organisation changed).
    pub fn upsert_technician(&mut self, technician: IndexedTechnician) -> Result<(), PositionError> {
        let xyz = checked_unit_vector(technician.id, technician.position)?;
        self.remove(technician.id);
        let placement = self.placement(technician.partitions);
        let slot = self.slot_for(technician.id, placement);
        self.insert_slot(slot, xyz);
        Ok(())
    }

    /// Removes a technician; false when it was not there.
    pub fn remove(&mut self, id: TechnicianId) -> bool {
        let Some(slot) = self.by_id.remove(&id) else { return false };
        let s = &mut self.slots[slot as usize];
        for &key in &s.keys {
            self.keys[key as usize].live -= 1;
        }
        let old = Node::new(s.xyz, Stamp { slot, version: s.version });
        s.version = s.version.wrapping_add(1);
        let trees = std::mem::take(&mut s.trees);
        s.keys.clear();
        self.all.live -= 1;
        self.all.stale += 1;
        self.maybe_rebuild(None);
        for tree in trees {
            let t = &mut self.trees[tree as usize];
            t.live -= 1;
            t.remove(&old);
            self.maybe_rebuild(Some(tree));
        }
        self.free.push(slot);
        true
    }

    /// All technicians, nearest first, as `(technician, distance_m)`.
    pub fn nearest_iter(&self, point: LatLon) -> Nearest<'_> {
        self.nearest_in(point, &[])
    }

    /// Technicians holding every key in `scope`, nearest first; walks the smallest of the scope's partitions.
    ///
    /// `scope` lists keys that every technician the caller wants holds. Keys held too widely to get a tree
    /// (see [`MAX_PARTITION_SHARE`]) are not checked here: the caller's own eligibility test must check
    /// them (`decision` checks everything anyway). A key nobody holds yields nothing; an empty scope walks
    /// everybody. An organisation's partition is walked by merging the trees of the organisation chains
    /// under it, nearest first.
    pub fn nearest_in(&self, point: LatLon, scope: &[PartitionKey]) -> Nearest<'_> {
        let ids: Option<Vec<u32>> = scope
            .iter()
            .filter(|k| !self.untracked.contains(*k))
            .map(|k| self.key_of.get(k).copied().filter(|&k| self.keys[k as usize].live > 0))
            .collect();
        let Some(mut ids) = ids.filter(|_| is_valid_position(point)) else {
            return Nearest { inner: None, partition: None, scope: Vec::new(), slots: &self.slots };
        };
        ids.sort_unstable();
        ids.dedup();
        let xyz = unit_vector(point);
        let smallest = ids.iter().copied().min_by_key(|&k| self.keys[k as usize].live);
        let (inner, partition): (Box<dyn Iterator<Item = (&Node, f64)> + '_>, _) = match smallest {
            None => (Box::new(self.all.rtree.nearest_neighbor_iter_with_distance_2(&xyz)), None),
            Some(k) => {
                let info = &self.keys[k as usize];
                let trees: Vec<&RTree<Node, IndexParams>> =
                    info.trees.iter().map(|&t| &self.trees[t as usize].rtree).filter(|t| t.size() > 0).collect();
                let walk: Box<dyn Iterator<Item = (&Node, f64)> + '_> = match trees[..] {
                    [one] => Box::new(one.nearest_neighbor_iter_with_distance_2(&xyz)),
                    _ => Box::new(MergedWalk::new(xyz, trees)),
                };
                // A key's trees hold only its holders; the other keys are checked per technician.
                ids.retain(|&o| o != k);
                (walk, Some(&info.key))
            }
        };
        Nearest { inner: Some(inner), partition, scope: ids, slots: &self.slots }
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

    /// Rebuilds every tree holding stale entries (packed by a bulk load), e.g. in a quiet hour.
    pub fn compact(&mut self) {
        for tree in std::iter::once(None).chain((0..self.trees.len() as u32).map(Some)) {
            if self.tree_mut(tree).stale > 0 {
                self.rebuild(tree);
            }
        }
    }

    /// Key ids and trees for partition keys, creating keys and trees for new ones; both sorted.
    ///
    /// A skill key has a tree of its own; the organisation keys a technician holds (its organisation and
    /// ancestors) share one tree, that of this chain, so a move pays one insertion for all of them.
    fn placement(&mut self, keys: Vec<PartitionKey>) -> Placement {
        let mut key_ids = Vec::new();
        let mut trees = Vec::new();
        let mut chain = Vec::new();
        for key in keys {
            if self.untracked.contains(&key) {
                continue;
            }
            let is_org = matches!(key, PartitionKey::Org(_));
            let k = match self.key_of.get(&key) {
                Some(&k) => k,
                None => {
                    let k = self.keys.len() as u32;
                    let mut info = KeyInfo { key: key.clone(), trees: Vec::new(), live: 0 };
                    if !is_org {
                        let t = self.new_tree();
                        self.trees[t as usize].eager = true;
                        info.trees.push(t);
                    }
                    self.keys.push(info);
                    self.key_of.insert(key, k);
                    k
                }
            };
            key_ids.push(k);
            if is_org {
                chain.push(k);
            } else {
                trees.push(self.keys[k as usize].trees[0]);
            }
        }
        chain.sort_unstable();
        chain.dedup();
        if !chain.is_empty() {
            let tree = match self.chain_tree.get(&chain) {
                Some(&t) => t,
                None => {
                    let t = self.new_tree();
                    for &k in &chain {
                        self.keys[k as usize].trees.push(t);
                    }
                    self.chain_tree.insert(chain, t);
                    t
                }
            };
            trees.push(tree);
        }
        key_ids.sort_unstable();
        key_ids.dedup();
        trees.sort_unstable();
        trees.dedup();
        (key_ids, trees)
    }

    fn new_tree(&mut self) -> u32 {
        self.trees.push(Tree::default());
        (self.trees.len() - 1) as u32
    }

    /// A slot for a technician not in the index (reusing a free one), registered under its id.
    fn slot_for(&mut self, id: TechnicianId, (keys, trees): Placement) -> u32 {
        if let Some(&slot) = self.by_id.get(&id) {
            let s = &mut self.slots[slot as usize];
            (s.keys, s.trees) = (keys, trees);
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                (s.id, s.keys, s.trees) = (id, keys, trees);
                slot
            }
            None => {
                self.slots.push(Slot { id, version: 0, xyz: [0.0; 3], keys, trees });
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    /// Inserts a fresh slot's node into its trees.
    fn insert_slot(&mut self, slot: u32, xyz: [f64; 3]) {
        let s = &mut self.slots[slot as usize];
        s.xyz = xyz;
        let node = Node::new(xyz, Stamp { slot, version: s.version });
        for &key in &s.keys {
            self.keys[key as usize].live += 1;
        }
        let trees = std::mem::take(&mut s.trees);
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
        let old = Node::new(s.xyz, Stamp { slot, version: s.version });
        s.version = s.version.wrapping_add(1);
        s.xyz = xyz;
        let node = Node::new(xyz, Stamp { slot, version: s.version });
        let trees = std::mem::take(&mut s.trees);
        self.all.rtree.insert(node);
        self.all.stale += 1;
        self.maybe_rebuild(None);
        for &tree in &trees {
            let t = &mut self.trees[tree as usize];
            t.remove(&old);
            t.rtree.insert(node);
            self.maybe_rebuild(Some(tree));
        }
        self.slots[slot as usize].trees = trees;
    }

    fn tree_mut(&mut self, tree: Option<u32>) -> &mut Tree {
        match tree {
            Some(t) => &mut self.trees[t as usize],
            None => &mut self.all,
        }
    }

    /// Rebuilds a tree once it holds too many stale entries, or (eager trees) too many one-by-one changes.
    fn maybe_rebuild(&mut self, tree: Option<u32>) {
        let t = self.tree_mut(tree);
        if t.stale > (t.live / LIVE_PER_STALE).max(REBUILD_MIN_STALE)
            || (t.eager && t.churn > (t.live / LIVE_PER_REPACK).max(REBUILD_MIN_STALE))
        {
            self.rebuild(tree);
        }
    }

    /// Rebuilds a tree from its live entries.
    fn rebuild(&mut self, tree: Option<u32>) {
        let t = match tree {
            Some(t) => &mut self.trees[t as usize],
            None => &mut self.all,
        };
        let slots = &self.slots;
        let live: Vec<Node> =
            t.rtree.iter().filter(|n| slots[n.data.slot as usize].version == n.data.version).copied().collect();
        t.rebuild_from(live);
    }
}

/// A nearest-first walk over several trees at once: a tree is opened only once its bounding box is the
/// nearest thing left, so trees far from the point cost one box distance.
struct MergedWalk<'a> {
    point: [f64; 3],
    trees: Vec<&'a RTree<Node, IndexParams>>,
    walks: Vec<Option<NearestIter<'a>>>,
    heap: BinaryHeap<Pending<'a>>,
}

type NearestIter<'a> = Box<dyn Iterator<Item = (&'a Node, f64)> + 'a>;

/// An entry of a merged walk: the next node of an open tree, or (`node: None`) a tree not opened yet,
/// at the distance of its bounding box. Ordered nearest first.
struct Pending<'a> {
    d2: f64,
    tree: usize,
    node: Option<&'a Node>,
}

impl PartialEq for Pending<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending<'_> {}

impl PartialOrd for Pending<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: the nearest compares greatest; at equal distance an unopened tree first.
        other.d2.total_cmp(&self.d2).then(other.node.is_some().cmp(&self.node.is_some()))
    }
}

impl<'a> MergedWalk<'a> {
    fn new(point: [f64; 3], trees: Vec<&'a RTree<Node, IndexParams>>) -> MergedWalk<'a> {
        let heap = trees
            .iter()
            .enumerate()
            .map(|(tree, t)| Pending { d2: t.root().envelope().distance_2(&point), tree, node: None })
            .collect();
        let walks = trees.iter().map(|_| None).collect();
        MergedWalk { point, trees, walks, heap }
    }
}

impl<'a> Iterator for MergedWalk<'a> {
    type Item = (&'a Node, f64);

    fn next(&mut self) -> Option<(&'a Node, f64)> {
        loop {
            let Pending { d2, tree, node } = self.heap.pop()?;
            let walk = self.walks[tree]
                .get_or_insert_with(|| Box::new(self.trees[tree].nearest_neighbor_iter_with_distance_2(&self.point)));
            if let Some((next, next_d2)) = walk.next() {
                self.heap.push(Pending { d2: next_d2, tree, node: Some(next) });
            }
            if let Some(node) = node {
                return Some((node, d2));
            }
        }
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
            // The trees walked are one scope key's; the others are checked here.
            if self.scope.iter().all(|k| slot.keys.binary_search(k).is_ok()) {
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
        Tree { eager: false, rtree: RTree::new_with_params(), live: 0, stale: 0, churn: 0 }
    }
}

impl Tree {
    /// Removes an entry now in an eager tree, else counts it stale (also if it is not found, which does not happen).
    fn remove(&mut self, node: &Node) {
        self.churn += 1;
        if !self.eager || self.rtree.remove(node).is_none() {
            self.stale += 1;
        }
    }

    /// Replaces the tree's content with these live nodes, packed by a bulk load.
    fn rebuild_from(&mut self, live: Vec<Node>) {
        self.live = live.len();
        self.stale = 0;
        self.churn = 0;
        self.rtree = RTree::bulk_load_with_params(live);
    }
}

fn checked_unit_vector(id: TechnicianId, p: LatLon) -> Result<[f64; 3], PositionError> {
    if is_valid_position(p) { Ok(unit_vector(p)) } else { Err(PositionError::Invalid { id, lat: p.lat, lon: p.lon }) }
}
