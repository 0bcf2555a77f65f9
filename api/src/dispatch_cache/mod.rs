//! Every replica's dispatch cache: the organisation tree, territories, stock
//! and the technicians' R-tree, as `dispatch` wants them. It follows changes
//! made anywhere by reading the change log, applying each change once: a
//! technician change re-reads that technician; an organisation or territory
//! change re-reads the (small) organisation side and re-derives the service
//! radii, never the technicians. Decisions share a read lock; a refresh takes
//! the write lock only when the change log has something new. What a decision
//! needs per technician (shift in its zone, the visits and reservations on
//! that local day) is resolved lazily, for the technicians the nearest-first
//! walk reaches ([`LazyTechnicians`]). The cache only proposes: what decides
//! correctness (the offer still open, a technician's capacity) is re-checked
//! under row locks in the transaction.

mod lazy;

pub(crate) use lazy::LazyTechnicians;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use dispatch::decision::technician_partitions;
use dispatch::eligibility;
use dispatch::model::{LatLon, OrgId, PartQty, SkillCode, TechnicianId, TimeWindow};
use dispatch::orgs::{Org, OrgTree};
use dispatch::spatial::{IndexedTechnician, TechIndex};
use dispatch::territories::{Territory, TerritoryIndex};

use dispatch::ranking::RankOptions;

use crate::app::scorecards::{QualityOptions, dispatch_scorecards};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::{self, ChangeEntity, LocalShift};
use crate::storage::{change_log, db_time, json, orgs, technicians};

/// How far back (by time) the cache re-reads the change log, so a change
/// whose transaction committed after a later one is still seen.
const CHANGE_LOOKBACK_SECS: i64 = 120;
/// A replica's dispatch state, shared by its workers, and the travel speed
/// its decisions assume (for ranking today's jobs by added travel).
#[derive(Clone)]
pub struct SharedCache {
    cache: Arc<RwLock<Option<DispatchCache>>>,
    /// How often the whole cache was loaded (once per replica, unless it failed).
    loads: Arc<AtomicU64>,
    /// km/h, straight line.
    pub travel_speed_kmh: f64,
    /// How ranking weighs quality (the near-equal band is the quality weight).
    pub rank: RankOptions,
    /// The technicians' quality estimates: window and prior.
    pub quality: QualityOptions,
    /// How long quality estimates are reused before they are read again.
    pub quality_refresh: chrono::Duration,
}

impl SharedCache {
    /// An empty cache (loaded at the first decision), default ranking.
    pub fn new(travel_speed_kmh: f64) -> SharedCache {
        SharedCache {
            cache: Arc::default(),
            loads: Arc::default(),
            travel_speed_kmh,
            rank: RankOptions::default(),
            quality: QualityOptions::default(),
            quality_refresh: chrono::Duration::minutes(5),
        }
    }

    /// With the quality weight (`near_equal_m`), prior and refresh period from configuration.
    pub fn with_quality(mut self, near_equal_m: f64, prior: f64, refresh: std::time::Duration) -> SharedCache {
        self.rank.near_equal_m = near_equal_m;
        self.quality.prior = prior;
        self.quality_refresh = chrono::Duration::from_std(refresh).unwrap_or(chrono::Duration::minutes(5));
        self
    }

    /// How many times this replica loaded its whole cache.
    pub fn full_loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }
}

/// Back from dispatch's id to the stored text.
pub fn uuid_text(bits: u128) -> String {
    uuid::Uuid::from_u128(bits).to_string()
}

/// What dispatch needs of a technician that does not change per job.
#[derive(Debug, Clone)]
struct TechRecord {
    org: OrgId,
    active: bool,
    skills: Vec<SkillCode>,
    shift: LocalShift,
    absences: Vec<TimeWindow>,
    daily_capacity: u32,
    parts: Vec<PartQty>,
    position: LatLon,
    /// Its own service radius (km), if set.
    own_radius_km: Option<f64>,
    /// Service radius in metres: its own, else its organisation's (or the nearest ancestor's).
    max_travel_m: Option<f64>,
}

/// A parts column as dispatch's parts.
pub(crate) fn parts_of(text: &str) -> Result<Vec<PartQty>, ApiError> {
    Ok(json::parts(text)?.iter().map(PartQty::from).collect())
}

/// A stored organisation id as dispatch's.
pub(crate) fn org_bits(text: &str) -> Result<OrgId, ApiError> {
    Ok(domain::OrgId::from_stored(text)?.into())
}

impl TechRecord {
    fn from_row(
        t: &technicians::Technician,
        org_radius_km: &HashMap<OrgId, Option<f64>>,
    ) -> Result<TechRecord, ApiError> {
        let absences = json::absences(&t.absences)?;
        let org = org_bits(&t.org_id)?;
        let radius_km = t.max_travel_km.or_else(|| org_radius_km.get(&org).copied().flatten());
        Ok(TechRecord {
            own_radius_km: t.max_travel_km,
            max_travel_m: radius_km.map(|km| km * 1000.0),
            org,
            active: t.active,
            skills: json::codes(&t.skills)?.into_iter().map(SkillCode).collect(),
            shift: LocalShift::new(json::shift(&t.shift)?, &t.timezone)?,
            absences: absences.into_iter().map(|a| TimeWindow { start: a.from, end: a.to }).collect(),
            daily_capacity: u32::try_from(t.daily_capacity).unwrap_or(0),
            parts: parts_of(&t.parts)?,
            position: LatLon::new(t.pos_lat.unwrap_or(t.home_lat), t.pos_lon.unwrap_or(t.home_lon)),
        })
    }

    /// The technician as dispatch sees it for a job in `window`, with what its day already holds.
    fn for_window(
        &self,
        id: TechnicianId,
        window: &TimeWindow,
        jobs_on_day: usize,
        scorecard: Option<eligibility::Scorecard>,
    ) -> eligibility::Technician {
        let shifts = self.shift.around(window);
        eligibility::Technician {
            id,
            org_id: self.org,
            active: self.active,
            skills: self.skills.clone(),
            shifts,
            absences: self.absences.clone(),
            daily_capacity: self.daily_capacity,
            jobs_on_day: u32::try_from(jobs_on_day).unwrap_or(u32::MAX),
            parts: self.parts.clone(),
            scorecard,
            max_travel_m: self.max_travel_m,
        }
    }
}

/// One replica's view of the network for dispatch.
pub struct DispatchCache {
    pub(crate) orgs: OrgTree,
    pub(crate) territories: TerritoryIndex,
    pub(crate) org_stock: HashMap<OrgId, Vec<PartQty>>,
    pub(crate) index: TechIndex,
    techs: HashMap<TechnicianId, TechRecord>,
    /// Each organisation's effective service radius (km): its own, else the nearest ancestor's.
    org_radius_km: HashMap<OrgId, Option<f64>>,
    last_seq: i64,
    /// Change-log rows in the look-back window already applied.
    applied: HashSet<i64>,
    /// 90-day quality estimates per technician, and when they were read.
    scorecards: HashMap<TechnicianId, eligibility::Scorecard>,
    scorecards_at: Option<DateTime<Utc>>,
}

impl DispatchCache {
    /// Loads everything from the database.
    pub fn load(conn: &mut DbConnection) -> Result<DispatchCache, ApiError> {
        let last_seq = change_log::last_change_seq(conn)?;
        let Network { orgs, territories, org_stock, org_radius_km } = Network::load(conn)?;
        let mut techs = HashMap::new();
        for t in technicians::all(conn)? {
            techs.insert(domain::TechnicianId::from_stored(&t.id)?.into(), TechRecord::from_row(&t, &org_radius_km)?);
        }
        let indexed: Vec<IndexedTechnician> = techs
            .iter()
            .map(|(id, t)| IndexedTechnician {
                id: *id,
                position: t.position,
                partitions: technician_partitions(t.org, &t.skills, &orgs),
            })
            .collect();
        let index = TechIndex::bulk_load(indexed).map_err(|e| ApiError::Unexpected(anyhow::anyhow!("index: {e}")))?;
        Ok(DispatchCache {
            orgs,
            territories,
            org_stock,
            index,
            techs,
            org_radius_km,
            last_seq,
            applied: HashSet::new(),
            scorecards: HashMap::new(),
            scorecards_at: None,
        })
    }
}

/// The organisation side of the cache: small (organisations, not technicians), re-read whole on its changes.
struct Network {
    orgs: OrgTree,
    territories: TerritoryIndex,
    org_stock: HashMap<OrgId, Vec<PartQty>>,
    org_radius_km: HashMap<OrgId, Option<f64>>,
}

impl Network {
    fn load(conn: &mut DbConnection) -> Result<Network, ApiError> {
        let org_rows = orgs::all(conn)?;
        let mut tree_orgs = Vec::with_capacity(org_rows.len());
        let mut org_stock = HashMap::new();
        for o in &org_rows {
            let id = org_bits(&o.id)?;
            let parent_id = o.parent_id.as_deref().map(org_bits).transpose()?;
            tree_orgs.push(Org { id, parent_id, manual_routing: o.manual_routing });
            org_stock.insert(id, parts_of(&o.parts)?);
        }
        let orgs =
            OrgTree::build(tree_orgs).map_err(|e| ApiError::Unexpected(anyhow::anyhow!("organisation tree: {e}")))?;
        let own_radius: HashMap<OrgId, Option<f64>> =
            org_rows.iter().map(|o| Ok((org_bits(&o.id)?, o.max_travel_km))).collect::<Result<_, ApiError>>()?;
        let org_radius_km: HashMap<OrgId, Option<f64>> = own_radius
            .keys()
            .map(|&id| {
                let inherited =
                    std::iter::once(id).chain(orgs.ancestors(id)).find_map(|o| own_radius.get(&o).copied().flatten());
                (id, inherited)
            })
            .collect();
        let mut territories = Vec::new();
        for t in orgs::all_territories(conn)? {
            let geometry: crate::geojson::Geometry = serde_json::from_str(&t.geometry)?;
            territories.push(Territory {
                org_id: org_bits(&t.org_id)?,
                geometry: crate::geojson::to_multi_polygon("stored", &geometry)?,
                exclusive: t.exclusive,
            });
        }
        Ok(Network { orgs, territories: TerritoryIndex::build(territories), org_stock, org_radius_km })
    }
}

/// A change-log row the cache follows: sequence number, entity, id.
type ChangeRow = (i64, ChangeEntity, String);

/// Changes to apply: the change log's rows after the last sequence number
/// seen or in the look-back window, without those already applied.
fn new_changes(
    conn: &mut DbConnection,
    last_seq: i64,
    applied: &HashSet<i64>,
    now: DateTime<Utc>,
) -> Result<(Vec<ChangeRow>, HashSet<i64>), ApiError> {
    let since = db_time(now - chrono::Duration::seconds(CHANGE_LOOKBACK_SECS));
    let rows = change_log::changes_since(conn, &[ChangeEntity::Technician, ChangeEntity::Org], last_seq, since)?;
    let seen: HashSet<i64> = rows.iter().map(|(seq, _, _)| *seq).collect();
    Ok((rows.into_iter().filter(|(seq, _, _)| !applied.contains(seq)).collect(), seen))
}

impl DispatchCache {
    /// Applies what changed since the last look, each change once: technicians
    /// are re-read one by one; an organisation or territory change re-reads the
    /// organisation side and re-derives the technicians' inherited radii (the
    /// tree's shape never changes: organisations are not moved). Returns
    /// whether anything changed.
    pub fn refresh(&mut self, conn: &mut DbConnection, now: DateTime<Utc>) -> Result<bool, ApiError> {
        let (changes, seen) = new_changes(conn, self.last_seq, &self.applied, now)?;
        // Seqs that left the look-back window cannot come back: forget them.
        self.applied = seen;
        if changes.is_empty() {
            return Ok(false);
        }
        if let Some(max) = changes.iter().map(|(seq, _, _)| *seq).max() {
            self.last_seq = self.last_seq.max(max);
        }
        if changes.iter().any(|(_, entity, _)| *entity == ChangeEntity::Org) {
            let Network { orgs, territories, org_stock, org_radius_km } = Network::load(conn)?;
            for t in self.techs.values_mut() {
                let radius_km = t.own_radius_km.or_else(|| org_radius_km.get(&t.org).copied().flatten());
                t.max_travel_m = radius_km.map(|km| km * 1000.0);
            }
            (self.orgs, self.territories, self.org_stock, self.org_radius_km) =
                (orgs, territories, org_stock, org_radius_km);
        }
        let ids: Vec<String> = changes
            .iter()
            .filter(|(_, entity, _)| *entity == ChangeEntity::Technician)
            .map(|(_, _, id)| id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for t in technicians::by_ids(conn, &ids)? {
            let id = domain::TechnicianId::from_stored(&t.id)?.into();
            let record = TechRecord::from_row(&t, &self.org_radius_km)?;
            let partitions = technician_partitions(record.org, &record.skills, &self.orgs);
            self.index
                .upsert_technician(IndexedTechnician { id, position: record.position, partitions })
                .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("index: {e}")))?;
            self.techs.insert(id, record);
        }
        Ok(true)
    }
}

/// Runs `f` on the replica's cache (and the connection), loading or
/// refreshing it first. `f` runs under the shared read lock: decisions run side
/// by side; a refresh takes the write lock only to apply what is new.
pub(crate) fn with_cache<T>(
    shared: &SharedCache,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    f: impl FnOnce(&DispatchCache, &mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let poisoned = || ApiError::Unexpected(anyhow::anyhow!("dispatch cache poisoned"));
    // Look for news under the read lock; most decisions find none.
    let stale = {
        let guard = shared.cache.read().map_err(|_| poisoned())?;
        match guard.as_ref() {
            None => true,
            Some(cache) => {
                cache.scorecards_at.is_none_or(|at| now - at >= shared.quality_refresh)
                    || !new_changes(conn, cache.last_seq, &cache.applied, now)?.0.is_empty()
            }
        }
    };
    if stale {
        let mut guard = shared.cache.write().map_err(|_| poisoned())?;
        match guard.as_mut() {
            Some(cache) => {
                cache.refresh(conn, now)?;
            }
            None => {
                *guard = Some(DispatchCache::load(conn)?);
                shared.loads.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Quality moves slowly: re-read the estimates every few minutes, not per decision.
        if let Some(cache) = guard.as_mut()
            && cache.scorecards_at.is_none_or(|at| now - at >= shared.quality_refresh)
        {
            let mut scorecards = HashMap::new();
            for (id, card) in dispatch_scorecards(conn, now, shared.quality)? {
                scorecards.insert(domain::TechnicianId::from_stored(&id)?.into(), card);
            }
            cache.scorecards = scorecards;
            cache.scorecards_at = Some(now);
        }
    }
    let guard = shared.cache.read().map_err(|_| poisoned())?;
    let cache = guard.as_ref().ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("dispatch cache missing")))?;
    f(cache, conn)
}

/// Loads the whole cache now (at start-up, so the first booking does not load
/// 100,000 technicians inside its write transaction; and after a bulk load
/// that bypassed the change log).
pub fn warm(shared: &SharedCache, conn: &mut DbConnection) -> Result<(), ApiError> {
    let cache = DispatchCache::load(conn)?;
    {
        let mut guard =
            shared.cache.write().map_err(|_| ApiError::Unexpected(anyhow::anyhow!("dispatch cache poisoned")))?;
        *guard = Some(cache);
    }
    shared.loads.fetch_add(1, Ordering::Relaxed);
    // Quality estimates are read by the first decision (`with_cache`), as before: they are roll-ups, not
    // technicians, and may be written up to then.
    Ok(())
}

/// Refreshes the cache (the background poller calls this so positions moved by other replicas arrive).
pub fn refresh_cache(shared: &SharedCache, conn: &mut DbConnection, now: DateTime<Utc>) -> Result<(), ApiError> {
    with_cache(shared, conn, now, |_, _| Ok(()))
}
