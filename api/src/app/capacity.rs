//! A technician's day and what takes room in it: booked visits (jobs in
//! `scheduled … approved, returned`) plus the tentative reservations of
//! pending offers that name the technician (dispatch's choice, held until the
//! offer is accepted, declined, expires or is cancelled). Every check that
//! matters runs under the technician's row lock (`FOR UPDATE` on PostgreSQL;
//! SQLite's `BEGIN IMMEDIATE` serialises writers), so two replicas never put
//! more on a day than `daily_capacity`.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use dispatch::decision::{DispatchInput, Technicians as _, choose_technician};
use dispatch::eligibility::{self, Eligibility};
use dispatch::model::{LatLon, TechnicianId, TimeWindow};
use serde_json::{Value, json};

use crate::app::explanation::exclusion_json;
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::dispatch_cache::{DayCounts, LazyTechnicians, SharedCache, org_bits, parts_of, uuid_text, with_cache};
use crate::domain::shift;
use crate::storage::{db_time, jobs, json, offers, orgs, technicians, utc};

/// How many visits and reservations a technician has on its local `date`.
pub fn taken_on_day(
    conn: &mut DbConnection,
    tech: &technicians::Technician,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let (from, to) = shift::day_bounds(shift::zone(&tech.timezone)?, date);
    Ok(offers::taken_count(conn, &tech.id, db_time(from), db_time(to), db_time(now))?)
}

/// Whether one more visit fits a technician's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Fits,
    Inactive,
    Full { taken: usize, capacity: i32 },
}

/// Locks the technician's row, reads it again and says whether a visit
/// starting at `start` fits its local day. The lock is held until the
/// transaction ends, so what the caller then writes (an assignment, an offer
/// naming it) is counted by the next check, in this replica or another.
pub fn room_for(
    conn: &mut DbConnection,
    technician_id: &str,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(technicians::Technician, Room), ApiError> {
    let (tech, room, _) = room_on_day(conn, technician_id, start, now)?;
    Ok((tech, room))
}

/// The technician read at a check, whether a visit fits, and (for an active
/// technician) its local day and what that day held.
pub type DayRoom = (technicians::Technician, Room, Option<(NaiveDate, usize)>);

/// [`room_for`], also giving the technician's local day and what it held at
/// the check (for an active technician), so dispatch can remember it.
pub fn room_on_day(
    conn: &mut DbConnection,
    technician_id: &str,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DayRoom, ApiError> {
    let tech = technicians::find_locked(conn, technician_id)?.ok_or(ApiError::NotFound)?;
    room_of(conn, tech, start, now)
}

/// [`room_on_day`] without the row lock: what committed transactions left.
/// Dispatch looks so before locking a second technician in one transaction,
/// and locks only one that seems to fit: a transaction never holds one
/// technician's lock while waiting for another's because of a full day
/// (locks taken in no stable order could deadlock on PostgreSQL).
pub fn room_unlocked(
    conn: &mut DbConnection,
    technician_id: &str,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DayRoom, ApiError> {
    let tech = technicians::find(conn, technician_id)?.ok_or(ApiError::NotFound)?;
    room_of(conn, tech, start, now)
}

/// Whether a visit starting at `start` fits the day of `tech` as read.
fn room_of(
    conn: &mut DbConnection,
    tech: technicians::Technician,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DayRoom, ApiError> {
    if !tech.active {
        return Ok((tech, Room::Inactive, None));
    }
    let day = shift::local_date(shift::zone(&tech.timezone)?, start);
    let taken = taken_on_day(conn, &tech, day, now)?;
    let room = if taken >= usize::try_from(tech.daily_capacity).unwrap_or(0) {
        Room::Full { taken, capacity: tech.daily_capacity }
    } else {
        Room::Fits
    };
    Ok((tech, room, Some((day, taken))))
}

/// The accepting organisation's technicians for a job, best first (dispatch's
/// ranking, restricted to the organisation, or its subtree when it routes
/// automatically), without `tried`; and the alternatives a dispatcher may
/// name instead (active technicians with room and on shift that lack a
/// required skill or part, nearest first, with why).
pub fn ranked_in_org(
    conn: &mut DbConnection,
    cache: &SharedCache,
    job: &jobs::Job,
    org_id: &str,
    tried: &HashSet<String>,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, Vec<Value>), ApiError> {
    let org = orgs::find(conn, org_id)?.ok_or(ApiError::NotFound)?;
    let window = TimeWindow { start: utc(job.window_start), end: utc(job.window_end) };
    let input_job = eligibility::Job {
        location: LatLon::new(job.lat, job.lon),
        window,
        required_skills: json::codes(&job.required_skills)?.into_iter().map(dispatch::model::SkillCode).collect(),
        parts: parts_of(&job.parts)?,
        contracted_org: None,
    };
    // The same job without its skill and parts requirements finds who has room
    // but fails those: alternatives a dispatcher may name (naming skips them).
    let relaxed_job = eligibility::Job { required_skills: Vec::new(), parts: Vec::new(), ..input_job.clone() };
    let org_id = org_bits(&org.id)?;
    with_cache(cache, conn, now, |c, conn| {
        let keep = |id: TechnicianId, t: &mut eligibility::Technician| {
            !tried.contains(&uuid_text(id.0)) && (!org.manual_routing || t.org_id == org_id)
        };
        let techs = LazyTechnicians::new(c, DayCounts::Read(conn), window, now, Box::new(keep));
        let none = HashSet::new();
        let strict = DispatchInput {
            job: &input_job,
            technicians: &techs,
            index: &c.index,
            orgs: &c.net.orgs,
            territories: &c.net.territories,
            org_stock: &c.net.org_stock,
            excluded_orgs: &none,
            search_root: Some(org_id),
        };
        let ranked: Vec<TechnicianId> =
            choose_technician(&strict, &cache.rank).explanation.ranked.iter().map(|c| c.technician_id).collect();
        let relaxed = choose_technician(&DispatchInput { job: &relaxed_job, ..strict }, &cache.rank);
        let mut checks = Eligibility::new(&input_job, org_id, &c.net.orgs, &c.net.territories, &none, &c.net.org_stock);
        let alternatives: Vec<Value> = relaxed
            .explanation
            .ranked
            .iter()
            .filter(|a| !ranked.contains(&a.technician_id))
            .filter_map(|a| techs.technician(a.technician_id).map(|t| (a, checks.exclusions(&t))))
            .take(5)
            .map(|(a, why)| {
                json!({
                    "technician_id": uuid_text(a.technician_id.0),
                    "distance_m": a.distance_m.round(),
                    "not_eligible": why.iter().map(exclusion_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        techs.finish((ranked.iter().map(|id| uuid_text(id.0)).collect(), alternatives))
    })
}
