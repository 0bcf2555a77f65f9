//! Dispatch of one job: load what `dispatch::decision::dispatch_job` needs,
//! call it, and store the outcome (an offer with its deadline and hops, or
//! `unassignable`), with events and the explanation, in the caller's
//! transaction. Booking, a decline and the deadline sweep all come here.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use dispatch::decision::{DispatchInput, DispatchOutcome, dispatch_job};
use dispatch::eligibility;
use dispatch::model::{LatLon, OrgId, SkillCode, TimeWindow};
use dispatch::offers::OfferStop;
use serde_json::{Value, json};

use crate::app::capacity::{self, Room};
use crate::app::explanation::explanation_text;
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::dispatch_cache::{
    DayCounts, LazyTechnicians, Network, SharedCache, org_bits, parts_of, uuid_text, with_cache,
};
use crate::domain::agreement;
use crate::domain::{ChainRole, EventType, JobStatus, Priority, lifecycle};
use crate::storage::{db_time, jobs, json, offers, orgs, utc};

/// 409 `invalid_transition`: the job is no longer where the step began.
fn changed_meanwhile(message: &str) -> ApiError {
    ApiError::conflict("invalid_transition", message.to_owned(), json!({}))
}

/// When an offer made `now` to this organisation expires: the minutes its agreement (else its ancestors')
/// gives a job of this priority, read from the database. Dispatch reads the same from its snapshot
/// (`Network::accept_deadline`), which agreement edits refresh.
pub(crate) fn accept_deadline(
    conn: &mut DbConnection,
    org_id: &str,
    priority: Priority,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ApiError> {
    let accept = orgs::effective_agreement_of(conn, org_id)?.map(|a| json::per_priority(&a.accept_within_min));
    Ok(agreement::accept_deadline(accept.transpose()?.as_ref(), priority, now))
}

/// Who did a step: a user, or the system (deadline worker, automatic routing).
#[derive(Debug, Clone, Copy, Default)]
pub struct Step<'a> {
    pub user_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
}

impl<'a> Step<'a> {
    pub(crate) fn actor(self) -> jobs::Actor<'a> {
        jobs::Actor { user_id: self.user_id, org_id: self.org_id }
    }
}

/// Offers a job that has no open offer to the nearest eligible technician's
/// organisation outside the organisations that declined or missed a deadline,
/// widening the search up the tree; with nobody left the job is `unassignable`.
/// Returns the job's new status.
pub fn dispatch_one(
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
        offers::excluded_orgs(conn, job_id)?.iter().map(|o| org_bits(o)).collect::<Result<_, _>>()?;
    run(conn, cache, (job, jobs::Unwritten::default()), excluded, None, step, now)
}

/// Dispatches a job booked in this transaction (`job` as inserted): nobody else sees it yet, so it needs no
/// row lock, has no offer and no organisation has declined it; otherwise as [`dispatch_one`]. `unwritten`:
/// the booking's chain link and event, written with the dispatch's own (one insert each).
pub fn dispatch_new(
    conn: &mut DbConnection,
    cache: &SharedCache,
    (job, unwritten): (jobs::Job, jobs::Unwritten),
    step: Step<'_>,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    run(conn, cache, (job, unwritten), HashSet::new(), None, step, now)
}

/// Dispatches a job again from the vendor's queue (`unassignable`, or `new`
/// without an offer) or after a review returned it with `redispatch`: the
/// search considers every organisation again (earlier declines and expiries
/// no longer exclude anyone: territories, agreements or technicians may have
/// changed since), optionally without one technician (the one whose work was
/// returned). Returns the job's new status; 409 from any other status.
pub fn dispatch_again(
    conn: &mut DbConnection,
    cache: &SharedCache,
    job_id: &str,
    without_technician: Option<&str>,
    step: Step<'_>,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    offers::lock_job(conn, job_id)?;
    let job = jobs::find_scoped(conn, job_id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    let open = offers::pending_for_job(conn, job_id)?.is_some();
    if !matches!(job.status, JobStatus::New | JobStatus::Unassignable | JobStatus::Returned) || open {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("cannot dispatch a job that is {} again", job.status),
            json!({"current": {"status": job.status, "offer_org_id": job.offer_org_id,
                "technician_id": job.technician_id}}),
        ));
    }
    let without = without_technician.map(crate::domain::TechnicianId::from_stored).transpose()?;
    run(conn, cache, (job, jobs::Unwritten::default()), HashSet::new(), without.map(Into::into), step, now)
}

/// How often one decision may find its proposed technician's day full under
/// the row lock (filled by another replica, or not checked recently: see
/// `dispatch_cache::LearnedDays`) before giving up for the worker's retry.
const MAX_RESERVE_ATTEMPTS: usize = 40;

fn run(
    conn: &mut DbConnection,
    cache: &SharedCache,
    (job, mut unwritten): (jobs::Job, jobs::Unwritten),
    excluded: HashSet<OrgId>,
    without: Option<dispatch::model::TechnicianId>,
    step: Step<'_>,
    now: DateTime<Utc>,
) -> Result<JobStatus, ApiError> {
    let job_id = job.id.as_str();
    let window = TimeWindow { start: utc(job.window_start), end: utc(job.window_end) };
    let skills = json::codes(&job.required_skills)?;
    let root_id = cache.root_org(conn)?;
    let dispatch_job_input = eligibility::Job {
        location: LatLon::new(job.lat, job.lon),
        window,
        required_skills: skills.into_iter().map(SkillCode).collect(),
        parts: parts_of(&job.parts)?,
        contracted_org: (job.contractor_org_id != root_id).then(|| org_bits(&job.contractor_org_id)).transpose()?,
    };
    // Technicians found full (or deactivated) under their row lock after the
    // cache proposed them: another transaction took the room meanwhile.
    let mut taken_meanwhile: HashMap<dispatch::model::TechnicianId, Room> = HashMap::new();
    let mut attempts = 0;
    // The decision's own time (the walk over the snapshot, in memory), and the time spent getting an up-to-date
    // snapshot (the change log probe, a refresh when one is due); not the row locks after it: `sortie bench dispatch`.
    // The decision's CPU time too: on a busy machine its wall time includes waiting for a core.
    let zero = std::time::Duration::ZERO;
    let (mut decision_time, mut decision_cpu, mut snapshot_time) = (zero, zero, zero);
    let (outcome, reserved, net) = loop {
        attempts += 1;
        let started = std::time::Instant::now();
        let (outcome, decided_in, decision_cpu_used) = with_cache(cache, conn, now, |c, _| {
            let (decision_started, cpu_started) = (std::time::Instant::now(), crate::telemetry::thread_cpu());
            let taken_meanwhile = &taken_meanwhile;
            let adjust = move |id, t: &mut eligibility::Technician| {
                match taken_meanwhile.get(&id) {
                    Some(Room::Inactive) => t.active = false,
                    Some(_) => t.jobs_on_day = t.daily_capacity,
                    None => {}
                }
                Some(id) != without
            };
            let techs = LazyTechnicians::new(c, DayCounts::Learned(&cache.days), window, now, Box::new(adjust));
            let input = DispatchInput {
                job: &dispatch_job_input,
                technicians: &techs,
                index: &c.index,
                orgs: &c.net.orgs,
                territories: &c.net.territories,
                org_stock: &c.net.org_stock,
                excluded_orgs: &excluded,
                search_root: None,
            };
            let outcome = dispatch_job(&input, &cache.rank)
                .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("dispatch: {e}")))?;
            techs.finish((
                (outcome, c.net.clone()),
                decision_started.elapsed(),
                crate::telemetry::thread_cpu().saturating_sub(cpu_started),
            ))
        })?;
        let (outcome, net) = outcome;
        decision_time += decided_in;
        decision_cpu += decision_cpu_used;
        snapshot_time += started.elapsed().saturating_sub(decided_in);
        let DispatchOutcome::Offer { decision, route, escalations } = outcome else {
            break (outcome, (None, None), net);
        };
        let contractor = dispatch_job_input.contracted_org.unwrap_or(net.orgs.root());
        let (decision, route, by_travel) =
            prefer_least_added_travel(conn, (&net, cache.travel_speed_kmh), &job, *decision, route, contractor, now)?;
        let chosen = decision
            .chosen
            .clone()
            .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("offer without a technician")))?;
        let names_technician = route.stop == OfferStop::TechnicianOrg;
        let outcome = DispatchOutcome::Offer { decision: Box::new(decision), route, escalations };
        // The decision counted the technician's day from memory: check it under the row lock (held to the
        // end of the transaction, so an offer naming it reserves its place), and remember what was found.
        // After a first full day (whose lock this transaction keeps), look without the lock first.
        let id = uuid_text(chosen.technician_id.0);
        let (_, room, day) = match attempts {
            1 => capacity::room_on_day(conn, &id, window.start, now)?,
            _ => match capacity::room_unlocked(conn, &id, window.start, now)? {
                (_, Room::Fits, _) => capacity::room_on_day(conn, &id, window.start, now)?,
                no_room => no_room,
            },
        };
        let fits = room == Room::Fits;
        if let Some((day, taken)) = day {
            cache.days.learned(chosen.technician_id, day, taken + usize::from(fits && names_technician));
        }
        match room {
            Room::Fits => break (outcome, (by_travel, names_technician.then_some(id)), net),
            room if attempts < MAX_RESERVE_ATTEMPTS => {
                taken_meanwhile.insert(chosen.technician_id, room);
            }
            _ => return Err(ApiError::Unavailable("every technician dispatch proposed was taken meanwhile".into())),
        }
    };
    metrics::histogram!("sortie_dispatch_decision_seconds").record(decision_time.as_secs_f64());
    metrics::histogram!("sortie_dispatch_decision_cpu_seconds").record(decision_cpu.as_secs_f64());
    metrics::histogram!("sortie_dispatch_snapshot_seconds").record(snapshot_time.as_secs_f64());
    let now_db = db_time(now);
    match outcome {
        DispatchOutcome::Offer { decision, route, escalations } => {
            let (by_travel, technician) = reserved;
            for e in &escalations {
                offers::add_explanation(conn, job_id, &explanation_text(e, None)?, now_db)?;
                unwritten.event(
                    EventType::Escalated,
                    step.actor(),
                    &json!({"status": JobStatus::Offered, "from_subtree": uuid_text(e.subtree.root.0), "reason": "nobody_eligible"}),
                    now_db,
                );
            }
            offers::add_explanation(conn, job_id, &explanation_text(&decision.explanation, by_travel)?, now_db)?;
            let chosen =
                decision.chosen.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("offer without a technician")))?;
            let hops: Vec<String> =
                route.escalated_through.iter().chain(&route.passed).map(|org| uuid_text(org.0)).collect();
            let offered_to = uuid_text(route.offered_to.0);
            let to = OfferTo {
                hops: &hops.iter().map(String::as_str).collect::<Vec<_>>(),
                org_id: &offered_to,
                technician_id: technician.as_deref(),
                deadline: net.accept_deadline(route.offered_to, job.priority, now),
            };
            open_offer(
                conn,
                &job,
                to,
                (step, lifecycle::Actor::Worker),
                now,
                &mut unwritten,
                json!({
                    "passed": route.passed.iter().map(|o| uuid_text(o.0)).collect::<Vec<_>>(),
                    "escalated_through": route.escalated_through.iter().map(|o| uuid_text(o.0)).collect::<Vec<_>>(),
                    "stop": if route.stop == OfferStop::ManualRouting { "manual_routing" } else { "technician_org" },
                    "distance_m": chosen.distance_m.round(),
                }),
            )?;
            unwritten.write(conn, job_id)?;
            Ok(JobStatus::Offered)
        }
        DispatchOutcome::Unassignable { explanations } => {
            for e in &explanations {
                offers::add_explanation(conn, job_id, &explanation_text(e, None)?, now_db)?;
            }
            let step_to = lifecycle::check(job.status, JobStatus::Unassignable, lifecycle::Actor::Worker)
                .map_err(|e| changed_meanwhile(&e.to_string()))?;
            if !offers::set_current_offer(conn, job_id, step_to, None, now_db)? {
                return Err(changed_meanwhile("the job changed meanwhile"));
            }
            unwritten.event(
                EventType::Unassignable,
                step.actor(),
                &json!({"status": JobStatus::Unassignable, "excluded_orgs": excluded.iter().map(|o| uuid_text(o.0)).collect::<Vec<_>>()}),
                now_db,
            );
            unwritten.write(conn, job_id)?;
            Ok(JobStatus::Unassignable)
        }
    }
}

/// For a job due within a day, re-ranks dispatch's near-equal candidates by the
/// travel each would add to its planned day (the cheapest feasible insertion),
/// rather than straight-line distance; returns the (possibly new) choice, its
/// offer route (through `net`, the snapshot the decision read) and what was compared.
fn prefer_least_added_travel(
    conn: &mut DbConnection,
    (net, speed_kmh): (&Network, f64),
    job: &jobs::Job,
    mut decision: dispatch::decision::Decision,
    route: dispatch::offers::OfferRoute,
    contractor: OrgId,
    now: DateTime<Utc>,
) -> Result<(dispatch::decision::Decision, dispatch::offers::OfferRoute, Option<Value>), ApiError> {
    let due_soon = utc(job.window_start) < now + chrono::Duration::hours(24);
    if !due_soon || decision.explanation.ranked.len() < 2 {
        return Ok((decision, route, None));
    }
    let candidates: Vec<_> = decision.explanation.ranked.iter().take(5).collect();
    let ids: Vec<String> = candidates.iter().map(|c| uuid_text(c.technician_id.0)).collect();
    let added = crate::app::planning::added_travel_m(conn, &ids, job, now, speed_kmh)?;
    let costs: Vec<_> =
        candidates.into_iter().zip(added).filter_map(|(c, added_m)| Some((c.clone(), added_m?))).collect();
    let compared = json!(
        costs
            .iter()
            .map(|(c, m)| json!({"technician_id": uuid_text(c.technician_id.0), "added_m": m.round()}))
            .collect::<Vec<_>>()
    );
    // Equal added travel keeps dispatch's order (quality among near-equals, then id):
    // `min_by` returns the first of equal minima, and `costs` is in ranked order.
    let best = costs.into_iter().min_by(|a, b| a.1.total_cmp(&b.1));
    let Some((best, _)) = best else { return Ok((decision, route, None)) };
    if decision.chosen.as_ref().is_some_and(|c| c.technician_id == best.technician_id) {
        return Ok((decision, route, Some(compared)));
    }
    let route = dispatch::offers::route_offer(contractor, best.org_id, &net.orgs)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("route: {e}")))?;
    decision.explanation.chosen = Some(best.technician_id);
    decision.chosen = Some(best);
    Ok((decision, route, Some(compared)))
}

/// Where an offer goes: the organisations it passed on its way (`hops`, joining the job's chain before the
/// offeree), the offeree, the technician dispatch proposed (if any) and the deadline.
pub(crate) struct OfferTo<'a> {
    pub hops: &'a [&'a str],
    pub org_id: &'a str,
    pub technician_id: Option<&'a str>,
    pub deadline: DateTime<Utc>,
}

/// Opens an offer and records it (`by` a dispatcher subcontracting, or dispatch itself): the offer, its
/// notification and the job's new state now; the chain links (hops, then the offeree) and the `offered`
/// event join `unwritten`, which the caller writes.
pub(crate) fn open_offer(
    conn: &mut DbConnection,
    job: &jobs::Job,
    to: OfferTo<'_>,
    (step, by): (Step<'_>, lifecycle::Actor),
    now: DateTime<Utc>,
    unwritten: &mut jobs::Unwritten,
    extra: Value,
) -> Result<(), ApiError> {
    let (now_db, org_id, deadline) = (db_time(now), to.org_id, to.deadline);
    let offer_id = offers::insert(conn, &job.id, org_id, to.technician_id, db_time(deadline), now_db)?;
    crate::app::notify::offer_opened(conn, &job.id, org_id, &offer_id, deadline, now)?;
    let to_offered =
        lifecycle::check(job.status, JobStatus::Offered, by).map_err(|e| changed_meanwhile(&e.to_string()))?;
    if !offers::set_current_offer(conn, &job.id, to_offered, Some((org_id, db_time(deadline))), now_db)? {
        return Err(changed_meanwhile("the job changed meanwhile"));
    }
    for &hop in to.hops {
        unwritten.link(hop, ChainRole::Hop, now_db);
    }
    unwritten.link(org_id, ChainRole::Offeree, now_db);
    let mut data = json!({"status": JobStatus::Offered, "org_id": org_id, "technician_id": to.technician_id,
        "deadline": deadline});
    if let (Some(d), Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    unwritten.event(EventType::Offered, step.actor(), &data, now_db);
    Ok(())
}
