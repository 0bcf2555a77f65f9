//! Every replica's dispatch cache: the organisation tree, territories, stock
//! and the technicians' R-tree, as `dispatch` wants them. It follows changes
//! made anywhere by reading the change log, applying each change once: a
//! technician change re-reads that technician; an organisation, territory or agreement
//! change re-reads the (small) organisation side only, never the technicians
//! (a technician's inherited service radius is looked up at decision time).
//!
//! Decisions read an immutable snapshot ([`DispatchCache`] behind an `Arc`):
//! the lock around the current snapshot is held only to clone or replace the
//! `Arc`, never while the database is read, so decisions never queue behind a
//! refresh or each other. A refresh (one at a time, under its own mutex) reads
//! what changed without any lock readers take, builds the next snapshot from
//! the current one (its parts are shared `Arc`s: only what changed is copied)
//! and swaps it in. What a decision needs per technician (shift in its zone,
//! the visits and reservations on that local day) is resolved lazily, for the
//! technicians the nearest-first walk reaches ([`LazyTechnicians`]). The cache
//! only proposes: what decides correctness (the offer still open, a
//! technician's capacity, whether it is still active) is re-checked under row
//! locks in the transaction.

mod lazy;

pub(crate) use lazy::{DayCounts, LazyTechnicians, LearnedDays};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
use crate::domain::agreement::{self, PerPriority};
use crate::domain::{self, ChangeEntity, LocalShift, Priority};
use crate::storage::{change_log, db_time, json, orgs, technicians};

/// How far back (by time) the background refresh re-reads the change log, so
/// a change whose transaction committed after a later one is still seen.
const CHANGE_LOOKBACK_SECS: i64 = 120;
/// The change-log entities the cache follows.
const FOLLOWED: [ChangeEntity; 2] = [ChangeEntity::Technician, ChangeEntity::Org];

/// A replica's dispatch state, shared by its workers, and the travel speed
/// its decisions assume (for ranking today's jobs by added travel).
#[derive(Clone)]
pub struct SharedCache {
    /// The current snapshot; the lock is held only to clone or replace the `Arc`.
    current: Arc<RwLock<Option<Arc<DispatchCache>>>>,
    /// One refresh at a time (readers never take it).
    refreshing: Arc<Mutex<()>>,
    /// How often the whole cache was loaded (once per replica, unless it failed).
    loads: Arc<AtomicU64>,
    /// What this replica's row-lock checks found on technicians' days (decisions read no day from the database).
    pub(crate) days: Arc<LearnedDays>,
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
            current: Arc::default(),
            refreshing: Arc::default(),
            loads: Arc::default(),
            days: Arc::default(),
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

    /// The root organisation's (the vendor's) id: from the current snapshot when loaded (the root never
    /// changes, so a snapshot of any age has it right), else read from the database.
    pub(crate) fn root_org(&self, conn: &mut DbConnection) -> Result<String, ApiError> {
        match self.snapshot()? {
            Some(current) => Ok(uuid_text(current.net.orgs.root().0)),
            None => Ok(crate::storage::orgs::root(conn)?.ok_or(ApiError::NotFound)?.id),
        }
    }

    /// An organisation's time zone: from the current snapshot when it holds the organisation (a zone edit
    /// reaches the snapshot with the next decision or background refresh), else read from the database.
    pub(crate) fn org_timezone(&self, conn: &mut DbConnection, org_id: &str) -> Result<String, ApiError> {
        if let Some(current) = self.snapshot()?
            && let Some(zone) = current.net.timezone(org_bits(org_id)?)
        {
            return Ok(zone.to_owned());
        }
        Ok(orgs::find(conn, org_id)?.ok_or(ApiError::NotFound)?.timezone)
    }

    /// The current snapshot, if loaded (the lock is held only to clone the `Arc`).
    fn snapshot(&self) -> Result<Option<Arc<DispatchCache>>, ApiError> {
        Ok(self.current.read().map_err(|_| poisoned())?.clone())
    }

    fn publish(&self, next: Arc<DispatchCache>) -> Result<(), ApiError> {
        *self.current.write().map_err(|_| poisoned())? = Some(next);
        Ok(())
    }
}

fn poisoned() -> ApiError {
    ApiError::Unexpected(anyhow::anyhow!("dispatch cache lock poisoned"))
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
    /// Its own service radius (km), if set; else its organisation's applies ([`Network::radius_km`]).
    own_radius_km: Option<f64>,
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
    fn from_row(t: &technicians::Technician) -> Result<TechRecord, ApiError> {
        let absences = json::absences(&t.absences)?;
        Ok(TechRecord {
            own_radius_km: t.max_travel_km,
            org: org_bits(&t.org_id)?,
            active: t.active,
            skills: json::codes(&t.skills)?.into_iter().map(SkillCode).collect(),
            shift: LocalShift::new(json::shift(&t.shift)?, &t.timezone)?,
            absences: absences.into_iter().map(|a| TimeWindow { start: a.from, end: a.to }).collect(),
            daily_capacity: u32::try_from(t.daily_capacity).unwrap_or(0),
            parts: parts_of(&t.parts)?,
            position: LatLon::new(t.pos_lat.unwrap_or(t.home_lat), t.pos_lon.unwrap_or(t.home_lon)),
        })
    }

    /// The technician as dispatch sees it for a job, given its shifts around the job's window, with what its
    /// day already holds.
    fn for_window(
        &self,
        id: TechnicianId,
        shifts: Vec<TimeWindow>,
        net: &Network,
        jobs_on_day: usize,
        scorecard: Option<eligibility::Scorecard>,
    ) -> eligibility::Technician {
        let radius_km = self.own_radius_km.or_else(|| net.radius_km(self.org));
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
            max_travel_m: radius_km.map(|km| km * 1000.0),
        }
    }

    /// What makes two technicians' shifts the same for a decision: times, weekdays (a bit each) and zone.
    fn shift_key(&self) -> ShiftKey {
        let days = self.shift.shift.days.iter().fold(0u8, |mask, d| mask | 1u8.checked_shl(u32::from(*d)).unwrap_or(0));
        (self.shift.shift.start, self.shift.shift.end, days, self.shift.tz)
    }
}

/// Shift start and end, weekdays as bits, zone: technicians with equal keys have the same shifts in UTC.
type ShiftKey = (chrono::NaiveTime, chrono::NaiveTime, u8, chrono_tz::Tz);

/// One replica's view of the network for dispatch: an immutable snapshot whose
/// parts are shared with the snapshots before and after it (see the module).
#[derive(Clone)]
pub struct DispatchCache {
    /// Organisations, territories, stock and radii.
    pub(crate) net: Arc<Network>,
    pub(crate) index: Arc<TechIndex>,
    techs: Arc<HashMap<TechnicianId, Arc<TechRecord>>>,
    /// The highest change-log sequence number of a followed change applied.
    last_seq: i64,
    /// Change-log rows in the look-back window already applied.
    applied: Arc<HashSet<i64>>,
    /// 90-day quality estimates per technician, and when they were read.
    scorecards: Arc<HashMap<TechnicianId, eligibility::Scorecard>>,
    scorecards_at: Option<DateTime<Utc>>,
}

impl DispatchCache {
    /// Loads everything from the database.
    pub fn load(conn: &mut DbConnection) -> Result<DispatchCache, ApiError> {
        let last_seq = change_log::last_change_seq(conn)?;
        let net = Network::load(conn)?;
        let mut techs = HashMap::new();
        for t in technicians::all(conn)? {
            techs.insert(domain::TechnicianId::from_stored(&t.id)?.into(), Arc::new(TechRecord::from_row(&t)?));
        }
        let indexed: Vec<IndexedTechnician> = techs
            .iter()
            .map(|(id, t)| IndexedTechnician {
                id: *id,
                position: t.position,
                partitions: technician_partitions(t.org, &t.skills, &net.orgs),
            })
            .collect();
        let index = TechIndex::bulk_load(indexed).map_err(|e| ApiError::Unexpected(anyhow::anyhow!("index: {e}")))?;
        Ok(DispatchCache {
            net: Arc::new(net),
            index: Arc::new(index),
            techs: Arc::new(techs),
            last_seq,
            applied: Arc::default(),
            scorecards: Arc::default(),
            scorecards_at: None,
        })
    }

    fn quality_due(&self, shared: &SharedCache, now: DateTime<Utc>) -> bool {
        self.scorecards_at.is_none_or(|at| now - at >= shared.quality_refresh)
    }
}

/// The organisation side of the cache: small (organisations, not technicians), re-read whole on its changes.
pub(crate) struct Network {
    pub(crate) orgs: OrgTree,
    pub(crate) territories: TerritoryIndex,
    pub(crate) org_stock: HashMap<OrgId, Vec<PartQty>>,
    /// Each organisation's effective service radius (km): its own, else the nearest ancestor's.
    org_radius_km: HashMap<OrgId, Option<f64>>,
    /// Each organisation's minutes to accept an offer, per priority, from the agreement in effect (its own,
    /// else the nearest ancestor's): what an offer's deadline is, without reading the agreement per offer.
    accept_within_min: HashMap<OrgId, Option<PerPriority>>,
    /// Each organisation's time zone (a confirmation shows the general contractor's).
    timezones: HashMap<OrgId, String>,
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
        let mut own_accept: HashMap<OrgId, Option<PerPriority>> = HashMap::new();
        for a in orgs::all_agreements(conn)? {
            own_accept.insert(org_bits(&a.org_id)?, Some(json::per_priority(&a.accept_within_min)?));
        }
        let timezones =
            org_rows.iter().map(|o| Ok((org_bits(&o.id)?, o.timezone.clone()))).collect::<Result<_, ApiError>>()?;
        let org_radius_km = inherited(&orgs, own_radius.keys().copied(), &own_radius);
        let accept_within_min = inherited(&orgs, own_radius.keys().copied(), &own_accept);
        let mut territories = Vec::new();
        for t in orgs::all_territories(conn)? {
            let geometry: crate::geojson::Geometry = serde_json::from_str(&t.geometry)?;
            territories.push(Territory {
                org_id: org_bits(&t.org_id)?,
                geometry: crate::geojson::to_multi_polygon("stored", &geometry)?,
                exclusive: t.exclusive,
            });
        }
        Ok(Network {
            orgs,
            territories: TerritoryIndex::build(territories),
            org_stock,
            org_radius_km,
            accept_within_min,
            timezones,
        })
    }

    /// An organisation's effective service radius (km), inherited down the tree.
    fn radius_km(&self, org: OrgId) -> Option<f64> {
        self.org_radius_km.get(&org).copied().flatten()
    }

    /// When an offer to this organisation made `now` expires: the agreement in effect's minutes for the
    /// priority, else the default.
    pub(crate) fn accept_deadline(&self, org: OrgId, priority: Priority, now: DateTime<Utc>) -> DateTime<Utc> {
        agreement::accept_deadline(self.accept_within_min.get(&org).and_then(Option::as_ref), priority, now)
    }

    /// An organisation's time zone (`None`: not in this snapshot).
    pub(crate) fn timezone(&self, org: OrgId) -> Option<&str> {
        self.timezones.get(&org).map(String::as_str)
    }
}

/// What each organisation inherits: its own value, else its nearest ancestor's.
fn inherited<T: Copy>(
    orgs: &OrgTree,
    ids: impl Iterator<Item = OrgId>,
    own: &HashMap<OrgId, Option<T>>,
) -> HashMap<OrgId, Option<T>> {
    ids.map(|id| (id, std::iter::once(id).chain(orgs.ancestors(id)).find_map(|o| own.get(&o).copied().flatten())))
        .collect()
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
    let rows = change_log::changes_since(conn, &FOLLOWED, last_seq, since)?;
    let seen: HashSet<i64> = rows.iter().map(|(seq, _, _)| *seq).collect();
    Ok((rows.into_iter().filter(|(seq, _, _)| !applied.contains(seq)).collect(), seen))
}

impl DispatchCache {
    /// The next snapshot: this one with what changed since it applied, each
    /// change once. Technicians are re-read one by one (the index and the
    /// records are copied only when one changed); an organisation or territory
    /// change re-reads the organisation side once (the tree's shape never
    /// changes: organisations are not moved). Reads the database; the caller
    /// holds no lock a decision takes. `None`: nothing new.
    fn next(
        &self,
        shared: &SharedCache,
        conn: &mut DbConnection,
        now: DateTime<Utc>,
    ) -> Result<Option<DispatchCache>, ApiError> {
        let (changes, seen) = new_changes(conn, self.last_seq, &self.applied, now)?;
        let quality_due = self.quality_due(shared, now);
        if changes.is_empty() && !quality_due {
            return Ok(None);
        }
        let mut next = self.clone();
        // Seqs that left the look-back window cannot come back: forget them.
        next.applied = Arc::new(seen);
        if let Some(max) = changes.iter().map(|(seq, _, _)| *seq).max() {
            next.last_seq = next.last_seq.max(max);
        }
        if changes.iter().any(|(_, entity, _)| *entity == ChangeEntity::Org) {
            next.net = Arc::new(Network::load(conn)?);
        }
        let ids: Vec<String> = changes
            .iter()
            .filter(|(_, entity, _)| *entity == ChangeEntity::Technician)
            .map(|(_, _, id)| id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let rows = if ids.is_empty() { Vec::new() } else { technicians::by_ids(conn, &ids)? };
        if !rows.is_empty() {
            let (index, techs) = (Arc::make_mut(&mut next.index), Arc::make_mut(&mut next.techs));
            for t in rows {
                let id = domain::TechnicianId::from_stored(&t.id)?.into();
                let record = TechRecord::from_row(&t)?;
                let partitions = technician_partitions(record.org, &record.skills, &next.net.orgs);
                index
                    .upsert_technician(IndexedTechnician { id, position: record.position, partitions })
                    .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("index: {e}")))?;
                techs.insert(id, Arc::new(record));
            }
        }
        // Quality moves slowly: re-read the estimates every few minutes, not per decision.
        if quality_due {
            let mut scorecards = HashMap::new();
            for (id, card) in dispatch_scorecards(conn, now, shared.quality)? {
                scorecards.insert(domain::TechnicianId::from_stored(&id)?.into(), card);
            }
            next.scorecards = Arc::new(scorecards);
            next.scorecards_at = Some(now);
        }
        Ok(Some(next))
    }
}

/// Brings the replica's snapshot up to date (loading it the first time) and
/// returns it. One refresh runs at a time; decisions that find the cache
/// stale meanwhile wait for it and use its result rather than reading the
/// same changes again. Readers of the current snapshot never wait.
fn refreshed(
    shared: &SharedCache,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
) -> Result<Arc<DispatchCache>, ApiError> {
    let _one_at_a_time = shared.refreshing.lock().map_err(|_| poisoned())?;
    let Some(current) = shared.snapshot()? else {
        let loaded = Arc::new(DispatchCache::load(conn)?);
        shared.loads.fetch_add(1, Ordering::Relaxed);
        let loaded = match loaded.next(shared, conn, now)? {
            Some(next) => Arc::new(next),
            None => loaded,
        };
        shared.publish(loaded.clone())?;
        return Ok(loaded);
    };
    match current.next(shared, conn, now)? {
        Some(next) => {
            let next = Arc::new(next);
            shared.publish(next.clone())?;
            Ok(next)
        }
        None => Ok(current),
    }
}

/// The snapshot a decision reads: the current one, unless a followed change
/// committed after it (one indexed look at the change log) or the quality
/// estimates are due, then the refreshed one. A change committed out of
/// sequence-number order is picked up by the background refresh's look-back.
fn for_decision(
    shared: &SharedCache,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
) -> Result<Arc<DispatchCache>, ApiError> {
    if let Some(current) = shared.snapshot()?
        && !current.quality_due(shared, now)
        && !change_log::any_after(conn, &FOLLOWED, current.last_seq)?
    {
        return Ok(current);
    }
    refreshed(shared, conn, now)
}

/// Runs `f` on an up-to-date snapshot of the replica's cache (and the
/// connection). No lock is held while `f` runs.
pub(crate) fn with_cache<T>(
    shared: &SharedCache,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    f: impl FnOnce(&DispatchCache, &mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let cache = for_decision(shared, conn, now)?;
    f(&cache, conn)
}

/// Loads the whole cache now (at start-up, so the first booking does not load
/// 100,000 technicians inside its write transaction; and after a bulk load
/// that bypassed the change log).
pub fn warm(shared: &SharedCache, conn: &mut DbConnection) -> Result<(), ApiError> {
    let _one_at_a_time = shared.refreshing.lock().map_err(|_| poisoned())?;
    // Quality estimates are read by the first decision, as before: they are roll-ups, not technicians, and
    // may be written up to then.
    shared.publish(Arc::new(DispatchCache::load(conn)?))?;
    shared.loads.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Refreshes the cache with the change log's look-back (the background poller
/// calls this, so positions moved by other replicas, and changes committed
/// out of order, arrive).
pub fn refresh_cache(shared: &SharedCache, conn: &mut DbConnection, now: DateTime<Utc>) -> Result<(), ApiError> {
    refreshed(shared, conn, now).map(drop)
}
