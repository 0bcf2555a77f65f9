//! The offer flow: who is offered a job, and what accept, decline,
//! subcontract, reassign and a missed deadline do. Decisions come from the
//! `dispatch` crate; this module loads their inputs, stores their outcome and
//! writes the job events, each step in the caller's transaction.
//!
//! Every replica keeps a [`DispatchCache`] (organisation tree, territories,
//! the technicians' R-tree). It follows changes made anywhere by reading the
//! change log; what decides correctness (the offer still open, the
//! technician's capacity) is re-checked under row locks in the transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, TimeZone as _, Utc};
use dispatch::decision::{
    ChoiceReason, DispatchInput, DispatchOutcome, Explanation, SubtreeReason, dispatch_job, technician_partitions,
};
use dispatch::eligibility::{self, Exclusion};
use dispatch::model::{LatLon, OrgId, PartQty, SkillCode, Sku, TechnicianId, TimeWindow};
use dispatch::offers::OfferStop;
use dispatch::orgs::{Org, OrgTree};
use dispatch::ranking::RankOptions;
use dispatch::spatial::{IndexedTechnician, TechIndex};
use dispatch::territories::{Territory, TerritoryIndex};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::db::DbConnection;
use crate::domain::{ChainRole, EventType, JobStatus, OfferStatus, Priority};
use crate::error::ApiError;
use crate::routes::orgs::PerPriority;
use crate::routes::technicians::Shift;
use crate::storage::{self, db_time, jobs, offers, orgs, technicians, utc};

/// How far back (by time) the cache re-reads the change log, so a change
/// whose transaction committed after a later one is still seen.
const CHANGE_LOOKBACK_SECS: i64 = 120;
/// Accept deadline when no agreement applies.
const DEFAULT_ACCEPT_MIN: u32 = 60;

/// A replica's dispatch state, shared by its workers, and the travel speed
/// its decisions assume (for ranking today's jobs by added travel).
#[derive(Clone)]
pub struct SharedCache {
    cache: Arc<RwLock<Option<DispatchCache>>>,
    travel_speed_kmh: f64,
}

impl SharedCache {
    /// An empty cache (loaded at the first decision).
    pub fn new(travel_speed_kmh: f64) -> SharedCache {
        SharedCache { cache: Arc::default(), travel_speed_kmh }
    }
}

/// Parses a stored UUID into dispatch's 128-bit id.
fn bits(id: &str) -> Result<u128, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.as_u128())
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored id `{id}` is not a UUID: {e}")))
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
    shift_start: NaiveTime,
    shift_end: NaiveTime,
    days: Vec<u8>,
    tz: chrono_tz::Tz,
    absences: Vec<TimeWindow>,
    daily_capacity: u32,
    parts: Vec<PartQty>,
    position: LatLon,
}

fn parts_of(json_text: &str) -> Result<Vec<PartQty>, ApiError> {
    let parts: Vec<crate::routes::orgs::PartQty> = storage::from_json(json_text)?;
    Ok(parts.into_iter().map(|p| PartQty { sku: Sku(p.sku), qty: p.qty }).collect())
}

impl TechRecord {
    fn from_row(t: &technicians::Technician) -> Result<TechRecord, ApiError> {
        let shift: Shift = storage::from_json(&t.shift)?;
        let absences: Vec<crate::routes::technicians::Absence> = storage::from_json(&t.absences)?;
        let skills: Vec<String> = storage::from_json(&t.skills)?;
        let time = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap_or(NaiveTime::MIN);
        Ok(TechRecord {
            org: OrgId(bits(&t.org_id)?),
            active: t.active,
            skills: skills.into_iter().map(SkillCode).collect(),
            shift_start: time(&shift.start),
            shift_end: time(&shift.end),
            days: shift.days,
            tz: t.timezone.parse().unwrap_or(chrono_tz::UTC),
            absences: absences.into_iter().map(|a| TimeWindow { start: a.from, end: a.to }).collect(),
            daily_capacity: u32::try_from(t.daily_capacity).unwrap_or(0),
            parts: parts_of(&t.parts)?,
            position: LatLon::new(t.pos_lat.unwrap_or(t.home_lat), t.pos_lon.unwrap_or(t.home_lon)),
        })
    }

    /// Local calendar date of an instant for this technician.
    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The technician as dispatch sees it for a job in `window`.
    fn for_window(&self, id: TechnicianId, window: &TimeWindow, booked: &[DateTime<Utc>]) -> eligibility::Technician {
        let first = self.local_date(window.start).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(window.end);
        let dates = first.iter_days().take_while(|d| *d <= last).filter(|d| {
            let weekday = u8::try_from(d.weekday().number_from_monday()).unwrap_or(0);
            self.days.contains(&weekday)
        });
        let tz = self.tz;
        let shifts = eligibility::shift_intervals(self.shift_start, self.shift_end, dates, |local| {
            tz.from_local_datetime(&local).earliest().map(|d| d.with_timezone(&Utc))
        });
        let day = self.local_date(window.start);
        let jobs_on_day = booked.iter().filter(|b| self.local_date(**b) == day).count();
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
            scorecard: None,
        }
    }
}

/// One replica's view of the network for dispatch.
pub struct DispatchCache {
    orgs: OrgTree,
    territories: TerritoryIndex,
    org_stock: HashMap<OrgId, Vec<PartQty>>,
    index: TechIndex,
    techs: HashMap<TechnicianId, TechRecord>,
    last_seq: i64,
}

impl DispatchCache {
    /// Loads everything from the database.
    pub fn load(conn: &mut DbConnection) -> Result<DispatchCache, ApiError> {
        let last_seq = jobs::last_change_seq(conn)?;
        let org_rows = orgs::all(conn)?;
        let mut tree_orgs = Vec::with_capacity(org_rows.len());
        let mut org_stock = HashMap::new();
        for o in &org_rows {
            let id = OrgId(bits(&o.id)?);
            let parent_id = o.parent_id.as_deref().map(bits).transpose()?.map(OrgId);
            tree_orgs.push(Org { id, parent_id, manual_routing: o.manual_routing });
            org_stock.insert(id, parts_of(&o.parts)?);
        }
        let orgs =
            OrgTree::build(tree_orgs).map_err(|e| ApiError::Unexpected(anyhow::anyhow!("organisation tree: {e}")))?;
        let mut territories = Vec::new();
        for t in orgs::all_territories(conn)? {
            let geometry: crate::geojson::Geometry = storage::from_json(&t.geometry)?;
            territories.push(Territory {
                org_id: OrgId(bits(&t.org_id)?),
                geometry: crate::geojson::to_multi_polygon("stored", &geometry)?,
                exclusive: t.exclusive,
            });
        }
        let mut techs = HashMap::new();
        for t in technicians::all(conn)? {
            techs.insert(TechnicianId(bits(&t.id)?), TechRecord::from_row(&t)?);
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
        Ok(DispatchCache { orgs, territories: TerritoryIndex::build(territories), org_stock, index, techs, last_seq })
    }

    /// Applies what changed since the last look: technicians are re-read one by
    /// one; an organisation or territory change reloads everything (rare).
    pub fn refresh(&mut self, conn: &mut DbConnection, now: DateTime<Utc>) -> Result<(), ApiError> {
        let since = db_time(now - chrono::Duration::seconds(CHANGE_LOOKBACK_SECS));
        let changes = jobs::changes_since(conn, &["technician", "org"], self.last_seq, since)?;
        if changes.iter().any(|(_, entity, _)| entity == "org") {
            *self = DispatchCache::load(conn)?;
            return Ok(());
        }
        let ids: Vec<String> =
            changes.iter().map(|(_, _, id)| id.clone()).collect::<HashSet<_>>().into_iter().collect();
        if let Some((seq, _, _)) = changes.last() {
            self.last_seq = self.last_seq.max(*seq);
        }
        for t in technicians::by_ids(conn, &ids)? {
            let id = TechnicianId(bits(&t.id)?);
            let record = TechRecord::from_row(&t)?;
            let partitions = technician_partitions(record.org, &record.skills, &self.orgs);
            self.index
                .upsert_technician(IndexedTechnician { id, position: record.position, partitions })
                .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("index: {e}")))?;
            self.techs.insert(id, record);
        }
        Ok(())
    }
}

/// Runs `f` on the replica's cache, loading or refreshing it first.
fn with_cache<T>(
    shared: &SharedCache,
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    f: impl FnOnce(&DispatchCache) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut guard =
        shared.cache.write().map_err(|_| ApiError::Unexpected(anyhow::anyhow!("dispatch cache poisoned")))?;
    match guard.as_mut() {
        Some(cache) => cache.refresh(conn, now)?,
        None => *guard = Some(DispatchCache::load(conn)?),
    }
    let cache = guard.as_ref().ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("dispatch cache missing")))?;
    f(cache)
}

/// Refreshes the cache (the background poller calls this so positions moved by other replicas arrive).
pub fn refresh_cache(shared: &SharedCache, conn: &mut DbConnection, now: DateTime<Utc>) -> Result<(), ApiError> {
    with_cache(shared, conn, now, |_| Ok(()))
}

/// An exclusion reason: dispatch's stable code plus the id it names, if any.
fn exclusion_json(e: &Exclusion) -> Value {
    let mut v = json!({"code": e.code()});
    match e {
        Exclusion::OrgExcluded(org) => v["org_id"] = json!(uuid_text(org.0)),
        Exclusion::MissingSkill(s) => v["skill"] = json!(s.0),
        Exclusion::MissingParts(sku) => v["sku"] = json!(sku.0),
        _ => {}
    }
    v
}

/// The explanation as JSON (dispatch's types carry no serde by design).
fn explanation_json(e: &Explanation) -> Value {
    let subtree_reason = match e.subtree.reason {
        SubtreeReason::ContractedPartner => "contracted_partner",
        SubtreeReason::ExclusiveTerritory => "exclusive_territory",
        SubtreeReason::WholeNetwork => "whole_network",
        SubtreeReason::Given => "escalation",
    };
    let reason = match e.reason {
        ChoiceReason::Nearest => json!({"code": "nearest"}),
        ChoiceReason::TieBrokenById { tied_with } => {
            json!({"code": "tie_broken_by_id", "tied_with": uuid_text(tied_with.0)})
        }
        ChoiceReason::NearEqualBetterQuality { nearest, extra_m } => {
            json!({"code": "near_equal_better_quality", "nearest": uuid_text(nearest.0), "extra_m": extra_m.round()})
        }
        ChoiceReason::NobodyEligible => json!({"code": "nobody_eligible"}),
    };
    json!({
        "subtree": {"root": uuid_text(e.subtree.root.0), "reason": subtree_reason},
        "looked_at": e.looked_at,
        "excluded": e.excluded,
        "considered": e.considered.iter().map(|c| json!({
            "technician_id": uuid_text(c.technician_id.0),
            "org_id": c.org_id.map(|o| uuid_text(o.0)),
            "distance_m": c.distance_m.round(),
            "eligible": c.exclusions.is_empty(),
            "exclusions": c.exclusions.iter().map(exclusion_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ranked": e.ranked.iter().map(|c| json!({
            "technician_id": uuid_text(c.technician_id.0),
            "org_id": uuid_text(c.org_id.0),
            "distance_m": c.distance_m.round(),
            "quality": c.quality,
        })).collect::<Vec<_>>(),
        "chosen": e.chosen.map(|t| uuid_text(t.0)),
        "reason": reason,
    })
}

/// Minutes an organisation has to accept a job of this priority (its agreement, else its ancestors').
fn accept_deadline(
    conn: &mut DbConnection,
    org_id: &str,
    priority: Priority,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ApiError> {
    let org = orgs::find(conn, org_id)?.ok_or(ApiError::NotFound)?;
    let minutes = match orgs::effective_agreement(conn, &org)? {
        Some(a) => storage::from_json::<PerPriority>(&a.accept_within_min)?.get(priority),
        None => DEFAULT_ACCEPT_MIN,
    };
    Ok(now + chrono::Duration::minutes(i64::from(minutes)))
}

/// Who did a step: a user, or the system (deadline worker, automatic routing).
#[derive(Debug, Clone, Copy, Default)]
pub struct Step<'a> {
    pub user_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
}

impl<'a> Step<'a> {
    fn actor(self) -> jobs::Actor<'a> {
        jobs::Actor { user_id: self.user_id, org_id: self.org_id }
    }
}

/// Offers a job that has no open offer to the nearest eligible technician's
/// organisation outside the organisations that declined or missed a deadline,
/// widening the search up the tree; with nobody left the job is `unassignable`.
/// Returns the job's new status.
pub fn dispatch_inner(
    conn: &mut DbConnection,
    cache: &SharedCache,
    job_id: &str,
    step: Step<'_>,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    offers::lock_job(conn, job_id)?;
    let job = jobs::find_scoped(conn, job_id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    if !matches!(job.status, JobStatus::New | JobStatus::Offered) || offers::pending_for_job(conn, job_id)?.is_some() {
        return Ok(job.status);
    }
    let excluded: HashSet<OrgId> =
        offers::excluded_orgs(conn, job_id)?.iter().map(|o| bits(o).map(OrgId)).collect::<Result<_, _>>()?;
    let window = TimeWindow { start: utc(job.window_start), end: utc(job.window_end) };
    let mut booked: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    let margin = chrono::Duration::days(2);
    for (tech, start) in
        offers::booked_windows(conn, None, db_time(window.start - margin), db_time(window.end + margin))?
    {
        booked.entry(tech).or_default().push(utc(start));
    }
    let skills: Vec<String> = storage::from_json(&job.required_skills)?;
    let root_id = orgs::root(conn)?.ok_or(ApiError::NotFound)?.id;
    let dispatch_job_input = eligibility::Job {
        location: LatLon::new(job.lat, job.lon),
        window,
        required_skills: skills.into_iter().map(SkillCode).collect(),
        parts: parts_of(&job.parts)?,
        contracted_org: (job.contractor_org_id != root_id)
            .then(|| bits(&job.contractor_org_id).map(OrgId))
            .transpose()?,
    };
    let outcome = with_cache(cache, conn, now, |c| {
        let techs: HashMap<TechnicianId, eligibility::Technician> = c
            .techs
            .iter()
            .map(|(id, r)| {
                let b = booked.get(&uuid_text(id.0)).map(Vec::as_slice).unwrap_or(&[]);
                (*id, r.for_window(*id, &window, b))
            })
            .collect();
        let input = DispatchInput {
            job: &dispatch_job_input,
            technicians: &techs,
            index: &c.index,
            orgs: &c.orgs,
            territories: &c.territories,
            org_stock: &c.org_stock,
            excluded_orgs: &excluded,
            search_root: None,
        };
        dispatch_job(&input, &RankOptions::default())
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("dispatch: {e}")))
    })?;
    let now_db = db_time(now);
    match outcome {
        DispatchOutcome::Offer { decision, route, escalations } => {
            let contractor = dispatch_job_input.contracted_org.map_or(root_id.clone(), |o| uuid_text(o.0));
            let (decision, route, by_travel) =
                prefer_least_added_travel(conn, cache, &job, *decision, route, &contractor, now)?;
            for e in &escalations {
                offers::add_explanation(conn, job_id, &explanation_json(e).to_string(), now_db)?;
                jobs::append_event(
                    conn,
                    job_id,
                    EventType::Escalated,
                    step.actor(),
                    &json!({"status": JobStatus::Offered, "from_subtree": uuid_text(e.subtree.root.0), "reason": "nobody_eligible"}),
                    now_db,
                )?;
            }
            let mut explained = explanation_json(&decision.explanation);
            if let (Some(extra), Some(o)) = (by_travel, explained.as_object_mut()) {
                o.insert("added_travel".into(), extra);
                o.insert("reason".into(), json!({"code": "least_added_travel"}));
            }
            offers::add_explanation(conn, job_id, &explained.to_string(), now_db)?;
            let chosen =
                decision.chosen.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("offer without a technician")))?;
            for org in route.escalated_through.iter().chain(&route.passed) {
                jobs::add_to_chain(conn, job_id, &uuid_text(org.0), ChainRole::Hop, now_db)?;
            }
            let offered_to = uuid_text(route.offered_to.0);
            let technician = (route.stop == OfferStop::TechnicianOrg).then(|| uuid_text(chosen.technician_id.0));
            open_offer(
                conn,
                &job,
                &offered_to,
                technician.as_deref(),
                step,
                now,
                json!({
                    "passed": route.passed.iter().map(|o| uuid_text(o.0)).collect::<Vec<_>>(),
                    "escalated_through": route.escalated_through.iter().map(|o| uuid_text(o.0)).collect::<Vec<_>>(),
                    "stop": if route.stop == OfferStop::ManualRouting { "manual_routing" } else { "technician_org" },
                    "distance_m": chosen.distance_m.round(),
                }),
            )?;
            Ok(JobStatus::Offered)
        }
        DispatchOutcome::Unassignable { explanations } => {
            for e in &explanations {
                offers::add_explanation(conn, job_id, &explanation_json(e).to_string(), now_db)?;
            }
            offers::set_current_offer(conn, job_id, JobStatus::Unassignable, None, now_db)?;
            jobs::append_event(
                conn,
                job_id,
                EventType::Unassignable,
                step.actor(),
                &json!({"status": JobStatus::Unassignable, "excluded_orgs": excluded.iter().map(|o| uuid_text(o.0)).collect::<Vec<_>>()}),
                now_db,
            )?;
            Ok(JobStatus::Unassignable)
        }
    }
}

/// For a job due within a day, re-ranks dispatch's near-equal candidates by the
/// travel each would add to its planned day (the cheapest feasible insertion),
/// rather than straight-line distance; returns the (possibly new) choice, its
/// offer route and what was compared.
fn prefer_least_added_travel(
    conn: &mut DbConnection,
    cache: &SharedCache,
    job: &jobs::Job,
    mut decision: dispatch::decision::Decision,
    route: dispatch::offers::OfferRoute,
    contractor: &str,
    now: DateTime<Utc>,
) -> Result<(dispatch::decision::Decision, dispatch::offers::OfferRoute, Option<Value>), ApiError> {
    let due_soon = utc(job.window_start) < now + chrono::Duration::hours(24);
    if !due_soon || decision.explanation.ranked.len() < 2 {
        return Ok((decision, route, None));
    }
    let mut costs = Vec::new();
    for candidate in decision.explanation.ranked.iter().take(5) {
        let id = uuid_text(candidate.technician_id.0);
        if let Some(added_m) = crate::planning::added_travel_m(conn, &id, job, now, cache.travel_speed_kmh)? {
            costs.push((candidate.clone(), added_m));
        }
    }
    let compared = json!(
        costs
            .iter()
            .map(|(c, m)| json!({"technician_id": uuid_text(c.technician_id.0), "added_m": m.round()}))
            .collect::<Vec<_>>()
    );
    let best = costs.into_iter().min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.technician_id.cmp(&b.0.technician_id)));
    let Some((best, _)) = best else { return Ok((decision, route, None)) };
    if decision.chosen.as_ref().is_some_and(|c| c.technician_id == best.technician_id) {
        return Ok((decision, route, Some(compared)));
    }
    let contractor = OrgId(bits(contractor)?);
    let route = with_cache(cache, conn, now, |c| {
        dispatch::offers::route_offer(contractor, best.org_id, &c.orgs)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("route: {e}")))
    })?;
    decision.explanation.chosen = Some(best.technician_id);
    decision.chosen = Some(best);
    Ok((decision, route, Some(compared)))
}

/// Opens an offer to `org_id` with its agreement's deadline and records it.
fn open_offer(
    conn: &mut DbConnection,
    job: &jobs::Job,
    org_id: &str,
    technician_id: Option<&str>,
    step: Step<'_>,
    now: DateTime<Utc>,
    extra: Value,
) -> Result<(), ApiError> {
    let now_db = db_time(now);
    let deadline = accept_deadline(conn, org_id, job.priority, now)?;
    offers::insert(conn, &job.id, org_id, technician_id, db_time(deadline), now_db)?;
    offers::set_current_offer(conn, &job.id, JobStatus::Offered, Some((org_id, db_time(deadline))), now_db)?;
    jobs::add_to_chain(conn, &job.id, org_id, ChainRole::Offeree, now_db)?;
    let mut data =
        json!({"status": JobStatus::Offered, "org_id": org_id, "technician_id": technician_id, "deadline": deadline});
    if let (Some(d), Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    jobs::append_event(conn, &job.id, EventType::Offered, step.actor(), &data, now_db)?;
    Ok(())
}

fn current_state(job: &jobs::Job, offer: Option<&offers::Offer>) -> Value {
    json!({"current": {
        "status": job.status,
        "offer": offer.map(|o| json!({"org_id": o.org_id, "deadline": utc(o.deadline)})),
        "technician_id": job.technician_id,
    }})
}

/// The open offer to the caller's organisation, or the right error: 404 when
/// the job is not the caller's to answer, 409 with the current state when it
/// was (answered already, or the deadline passed).
fn offer_for_caller(
    conn: &mut DbConnection,
    caller: &AuthUser,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<(jobs::Job, offers::Offer), ApiError> {
    let job = jobs::find_scoped(conn, job_id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    offers::lock_job(conn, job_id)?;
    let org = caller.org_id.as_deref().ok_or(ApiError::NotFound)?;
    let pending = offers::pending_for_job(conn, job_id)?;
    match pending {
        Some(offer) if offer.org_id == org => {
            if utc(offer.deadline) <= now {
                return Err(ApiError::conflict(
                    "offer_expired",
                    "the offer's deadline has passed",
                    current_state(&job, Some(&offer)),
                ));
            }
            Ok((job, offer))
        }
        other => {
            let had_offer = offers::of_job(conn, job_id)?.iter().any(|o| o.org_id == org);
            if had_offer {
                Err(ApiError::conflict(
                    "offer_not_open",
                    "this organisation has no open offer for the job",
                    current_state(&job, other.as_ref()),
                ))
            } else {
                Err(ApiError::NotFound)
            }
        }
    }
}

/// Assigns a technician after checking, under a row lock, that its day has room.
fn assign_technician(
    conn: &mut DbConnection,
    job: &jobs::Job,
    from: JobStatus,
    technician: &technicians::Technician,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<(), ApiError> {
    offers::lock_technician(conn, &technician.id)?;
    if !technician.active {
        return Err(ApiError::conflict(
            "technician_inactive",
            "the technician is deactivated",
            json!({"field": "technician_id"}),
        ));
    }
    let day = crate::planning::local_date(technician, utc(job.window_start));
    let booked = crate::planning::booked_on_day(conn, technician, day)?;
    if booked >= usize::try_from(technician.daily_capacity).unwrap_or(0) {
        return Err(ApiError::conflict(
            "technician_at_capacity",
            format!("the technician already has {booked} visits that day (capacity {})", technician.daily_capacity),
            json!({"field": "technician_id"}),
        ));
    }
    let now_db = db_time(now);
    if !offers::assign(conn, &job.id, from, JobStatus::Scheduled, Some(&technician.id), now_db)? {
        return Err(ApiError::conflict("invalid_transition", "the job changed meanwhile", json!({})));
    }
    jobs::add_to_chain(conn, &job.id, &technician.org_id, ChainRole::Assignee, now_db)?;
    jobs::log_change(conn, "job", &job.id, Some(&technician.id), false, now_db)?;
    // The visit joins the technician's day: re-plan it, which sets the ETA.
    crate::planning::replan_technician_day(conn, &technician.id, utc(job.window_start), now, speed_kmh)
}

/// A technician of exactly this organisation, else 404.
fn technician_of(
    conn: &mut DbConnection,
    technician_id: &str,
    org_path: &str,
    exact_org: Option<&str>,
) -> Result<technicians::Technician, ApiError> {
    let (t, path) = technicians::find_with_org_path(conn, technician_id)?.ok_or(ApiError::NotFound)?;
    let ok = path.starts_with(org_path) && exact_org.is_none_or(|o| o == t.org_id);
    if ok { Ok(t) } else { Err(ApiError::NotFound) }
}

/// Accepts the open offer; naming a technician (or the one dispatch chose) schedules the job.
pub fn accept_inner(
    conn: &mut DbConnection,
    caller: &AuthUser,
    job_id: &str,
    technician_id: Option<&str>,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<JobStatus, ApiError> {
    let (job, offer) = offer_for_caller(conn, caller, job_id, now)?;
    let org_path = caller.org_path.clone().unwrap_or_default();
    let technician = match technician_id.or(offer.technician_id.as_deref()) {
        Some(id) => Some(technician_of(conn, id, &org_path, Some(&offer.org_id))?),
        None => None,
    };
    let now_db = db_time(now);
    if !offers::close(conn, &offer.id, OfferStatus::Accepted, None, Some(&caller.id), now_db)? {
        return Err(ApiError::conflict(
            "offer_not_open",
            "the offer was answered meanwhile",
            current_state(&job, None),
        ));
    }
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    let in_time = utc(offer.deadline) >= now;
    match technician {
        Some(t) => {
            assign_technician(conn, &job, JobStatus::Offered, &t, now, speed_kmh)?;
            jobs::append_event(
                conn,
                job_id,
                EventType::Accepted,
                step.actor(),
                &json!({"status": JobStatus::Scheduled, "org_id": offer.org_id, "sla_met": in_time}),
                now_db,
            )?;
            jobs::append_event(
                conn,
                job_id,
                EventType::Assigned,
                step.actor(),
                &json!({"status": JobStatus::Scheduled, "technician_id": t.id}),
                now_db,
            )?;
            Ok(JobStatus::Scheduled)
        }
        None => {
            if !offers::assign(conn, job_id, JobStatus::Offered, JobStatus::Accepted, None, now_db)? {
                return Err(ApiError::conflict(
                    "invalid_transition",
                    "the job changed meanwhile",
                    current_state(&job, None),
                ));
            }
            jobs::append_event(
                conn,
                job_id,
                EventType::Accepted,
                step.actor(),
                &json!({"status": JobStatus::Accepted, "org_id": offer.org_id, "sla_met": in_time}),
                now_db,
            )?;
            Ok(JobStatus::Accepted)
        }
    }
}

/// Declines the open offer: the organisation is excluded and the job offered to the next candidate.
pub fn decline_inner(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &AuthUser,
    job_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    let (_, offer) = offer_for_caller(conn, caller, job_id, now)?;
    let now_db = db_time(now);
    if !offers::close(conn, &offer.id, OfferStatus::Declined, Some(reason), Some(&caller.id), now_db)? {
        return Err(ApiError::conflict("offer_not_open", "the offer was answered meanwhile", json!({})));
    }
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    jobs::append_event(
        conn,
        job_id,
        EventType::Declined,
        step.actor(),
        &json!({"status": JobStatus::Offered, "org_id": offer.org_id, "reason": reason}),
        now_db,
    )?;
    dispatch_inner(conn, cache, job_id, step, now)
}

/// Passes the open offer down to an organisation below the caller's, with its own deadline.
pub fn subcontract_inner(
    conn: &mut DbConnection,
    caller: &AuthUser,
    job_id: &str,
    org_id: &str,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    let (job, offer) = offer_for_caller(conn, caller, job_id, now)?;
    let own = orgs::find(conn, &offer.org_id)?.ok_or(ApiError::NotFound)?;
    let target = orgs::find(conn, org_id)?
        .filter(|t| t.path.starts_with(&own.path) && t.id != own.id)
        .ok_or(ApiError::NotFound)?;
    let now_db = db_time(now);
    if !offers::close(conn, &offer.id, OfferStatus::Subcontracted, None, Some(&caller.id), now_db)? {
        return Err(ApiError::conflict("offer_not_open", "the offer was answered meanwhile", json!({})));
    }
    jobs::add_to_chain(conn, job_id, &own.id, ChainRole::Hop, now_db)?;
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    jobs::append_event(
        conn,
        job_id,
        EventType::Subcontracted,
        step.actor(),
        &json!({"status": JobStatus::Offered, "from_org_id": own.id, "to_org_id": target.id}),
        now_db,
    )?;
    // Keep dispatch's technician only if the offer now reaches its organisation.
    let candidate = match offer.technician_id.as_deref() {
        Some(t) => technicians::find_with_org_path(conn, t)?.filter(|(t, _)| t.org_id == target.id).map(|(t, _)| t.id),
        None => None,
    };
    open_offer(conn, &job, &target.id, candidate.as_deref(), step, now, json!({"subcontracted_by": own.id}))?;
    Ok(JobStatus::Offered)
}

/// Moves an accepted or scheduled job to another technician of the caller's subtree.
pub fn reassign_inner(
    conn: &mut DbConnection,
    caller: &AuthUser,
    job_id: &str,
    technician_id: &str,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<JobStatus, ApiError> {
    let job = jobs::find_scoped(conn, job_id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    offers::lock_job(conn, job_id)?;
    let job = jobs::find_scoped(conn, &job.id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    let org_path = caller.org_path.clone().unwrap_or_default();
    if let Some(current) = &job.technician_id {
        // Only the assignee's organisation or an ancestor may move the job.
        technician_of(conn, current, &org_path, None)?;
    }
    let new = technician_of(conn, technician_id, &org_path, None)?;
    if !matches!(job.status, JobStatus::Accepted | JobStatus::Scheduled | JobStatus::Returned | JobStatus::Incomplete) {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("cannot reassign a job that is {}", job.status),
            current_state(&job, None),
        ));
    }
    if job.technician_id.as_deref() == Some(new.id.as_str()) {
        return Ok(job.status);
    }
    let now_db = db_time(now);
    assign_technician(conn, &job, job.status, &new, now, speed_kmh)?;
    if let Some(old) = &job.technician_id {
        // The old phone drops the job on its next pull; its day is re-planned without it.
        jobs::log_change(conn, "job", job_id, Some(old), true, now_db)?;
        crate::planning::after_job_left(conn, job_id, old, utc(job.window_start), now, speed_kmh)?;
        crate::planning::replan_technician_day(conn, &new.id, utc(job.window_start), now, speed_kmh)?;
    }
    let step = Step { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    jobs::append_event(
        conn,
        job_id,
        EventType::Assigned,
        step.actor(),
        &json!({"status": JobStatus::Scheduled, "technician_id": new.id, "previous_technician_id": job.technician_id}),
        now_db,
    )?;
    Ok(JobStatus::Scheduled)
}

/// Closes a cancelled job's open offer, if any.
pub fn close_offer_on_cancel(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    if let Some(offer) = offers::pending_for_job(conn, job_id)? {
        offers::close(conn, &offer.id, OfferStatus::Cancelled, None, None, db_time(now))?;
    }
    Ok(())
}

/// One pass of the deadline worker: every offer past its deadline expires
/// (its organisation is excluded) and its job goes to the next candidate;
/// jobs left `new` (booked, then the process died) are dispatched. Each job
/// in its own transaction. Safe in every replica at once. Returns how many
/// jobs moved.
pub fn sweep(db_conn: &mut DbConnection, cache: &SharedCache, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let expired = sweep_batches(
        db_conn,
        "expired offer",
        |conn| offers::claim_expired(conn, db_time(now), SWEEP_BATCH),
        |conn, offer_id| {
            let offer = offers::of_job_offer(conn, offer_id)?;
            if !offers::close(conn, &offer.id, OfferStatus::Expired, None, None, db_time(now))? {
                return Ok(());
            }
            jobs::append_event(
                conn,
                &offer.job_id,
                EventType::OfferExpired,
                jobs::Actor::default(),
                &json!({"status": JobStatus::Offered, "org_id": offer.org_id, "deadline": utc(offer.deadline)}),
                db_time(now),
            )?;
            dispatch_inner(conn, cache, &offer.job_id, Step::default(), now).map(drop)
        },
    )?;
    let stale = db_time(now - chrono::Duration::seconds(10));
    let undispatched = sweep_batches(
        db_conn,
        "undispatched job",
        |conn| offers::claim_undispatched(conn, stale, SWEEP_BATCH),
        |conn, job_id| dispatch_inner(conn, cache, job_id, Step::default(), now).map(drop),
    )?;
    Ok(expired + undispatched)
}

/// How many items one sweep transaction claims.
const SWEEP_BATCH: i64 = 50;

/// Claims batches (one transaction each, rows locked by `claim`) and handles
/// each item in a savepoint: an item that fails is logged and left for the
/// next pass, and the others still move. Returns how many were handled.
fn sweep_batches(
    db_conn: &mut DbConnection,
    what: &str,
    claim: impl Fn(&mut DbConnection) -> diesel::QueryResult<Vec<String>>,
    handle: impl Fn(&mut DbConnection, &str) -> Result<(), ApiError>,
) -> Result<usize, ApiError> {
    use diesel::Connection as _;
    let mut total = 0;
    loop {
        let (claimed, handled) = crate::db::write_tx(db_conn, |conn| {
            let ids = claim(conn)?;
            let mut handled = 0;
            for id in &ids {
                match conn.transaction(|c| handle(c, id)) {
                    Ok(()) => handled += 1,
                    Err(e) => tracing::error!(item = %id, error = %e, "Deadline sweep could not handle {what} {id}"),
                }
            }
            Ok((ids.len(), handled))
        })?;
        total += handled;
        if claimed < usize::try_from(SWEEP_BATCH).unwrap_or(0) || handled == 0 {
            return Ok(total);
        }
    }
}

/// The stored explanations of a job, oldest first.
pub fn explanations(conn: &mut DbConnection, job_id: &str) -> Result<Vec<Value>, ApiError> {
    offers::explanations(conn, job_id)?
        .into_iter()
        .map(|(at, data)| {
            let mut v: Value = serde_json::from_str(&data)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("at".into(), json!(utc(at)));
            }
            Ok(v)
        })
        .collect()
}
