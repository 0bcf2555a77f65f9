//! Mobile sync use cases: device registration, pull (the change log read
//! up to a safe point, each entity once at its latest state, tenant-checked
//! row by row), push (each mutation applied at most once in its own
//! transaction, business-rule failures answered, never blocking the rest),
//! and the work report's views. The protocol's rules are in `mobile-sync`;
//! this module stores and loads.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use mobile_sync::clock::ClockOffset;
use mobile_sync::cursor::Cursor;
use mobile_sync::lifecycle::{IncompleteReason, Status, TargetStatus, technician_transition};
use mobile_sync::mutation::{self, Mutation};
use mobile_sync::protocol::{
    Change, ChecklistItem, ContactView, DEFAULT_PULL_LIMIT, Entity, Envelope, JobView, LatLon, MAX_PULL_LIMIT,
    MutationResult, NoteView, Op, PartQty, PartUseView, PhotoView, PullRequest, PullResponse, PushRequest,
    PushResponse, RegisterDevice, ResultStatus, RouteStop, RouteView, SignatureView, TechnicianView, VisitView, Window,
    WorkReport,
};
use serde_json::{Value, json};

use crate::db::schema::{customers, jobs as jobs_t};
use crate::db::{DbConnection, write_tx};
use crate::domain::{EventType, JobKind, JobStatus};
use crate::error::ApiError;
use crate::storage::jobs::{self, Actor, Job};
use crate::storage::sync::{self as store, Device, MutationRecord, PartUse, Photo};
use crate::storage::{db_time, new_id, offers, technicians, utc};

/// Largest photo accepted by `PUT /v1/photos/{sha256}`.
pub const PHOTO_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Statuses in which an assigned job is on the technician's phone; in any
/// other (cancelled, approved, returned for rescheduling …) or once assigned
/// to someone else, a pull deletes it.
pub const ON_PHONE: [JobStatus; 6] = [
    JobStatus::Scheduled,
    JobStatus::EnRoute,
    JobStatus::OnSite,
    JobStatus::Completed,
    JobStatus::InReview,
    JobStatus::Incomplete,
];

/// The id of the one route entity a phone holds.
pub const ROUTE_ID: &str = "current";

fn status_of(s: JobStatus) -> Status {
    Status::parse(s.as_str()).unwrap_or(Status::New)
}

fn job_status(s: Status) -> JobStatus {
    let text = serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    JobStatus::parse(&text).unwrap_or(JobStatus::New)
}

/// The checklist template of a job kind (demo defaults until admins define their own).
pub fn checklist_template(kind: JobKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        JobKind::HomeVisit => &[
            ("power_checked", "Power supply checked"),
            ("fault_reproduced", "Fault reproduced"),
            ("device_works", "Device works after the visit"),
            ("customer_briefed", "Customer briefed"),
        ],
        JobKind::PartsReplacement => &[
            ("old_part_removed", "Old part removed"),
            ("new_part_installed", "New part installed"),
            ("serial_recorded", "Serial number recorded"),
            ("device_works", "Device works after the visit"),
        ],
    }
}

/// Registers a device for the caller.
pub fn register_device(
    conn: &mut DbConnection,
    user_id: &str,
    technician_id: Option<&str>,
    body: &RegisterDevice,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let app_version = body.app_version.trim();
    if app_version.is_empty() || app_version.chars().count() > 50 {
        return Err(ApiError::invalid("app_version", "1 to 50 characters"));
    }
    if body.push_token.as_ref().is_some_and(|t| t.is_empty() || t.len() > 4096) {
        return Err(ApiError::invalid("push_token", "1 to 4096 characters"));
    }
    let now = db_time(now);
    let device = Device {
        id: new_id(),
        user_id: user_id.to_owned(),
        technician_id: technician_id.map(str::to_owned),
        platform: body.platform.as_str().to_owned(),
        push_token: body.push_token.clone(),
        app_version: app_version.to_owned(),
        last_seq: 0,
        clock_offset_ms: None,
        created_at: now,
        last_seen_at: now,
    };
    store::insert_device(conn, &device)?;
    Ok(device.id)
}

fn json_list<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The phone's view of an assigned job: the job, the client-card subset, the checklist and the work report.
pub fn job_view(conn: &mut DbConnection, job: &Job) -> Result<JobView, ApiError> {
    let r = store::report(conn, &job.id)?;
    let preferred_address_form: Option<String> = customers::table
        .find(&job.customer_id)
        .select(customers::preferred_address_form)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    let checklist = checklist_template(job.kind)
        .iter()
        .map(|(item, label)| ChecklistItem {
            item: (*item).to_owned(),
            label: (*label).to_owned(),
            value: r.checklist.iter().find(|(i, _)| i == item).and_then(|(_, v)| serde_json::from_str(v).ok()),
        })
        .collect();
    let visits: Vec<VisitView> = r
        .visits
        .iter()
        .map(|v| VisitView {
            visit: u32::try_from(v.visit).unwrap_or(0),
            arrived_at: utc(v.arrived_at),
            departed_at: v.departed_at.map(utc),
            outcome: v.outcome.as_deref().and_then(Status::parse),
            reason: v.reason.as_deref().and_then(|s| serde_json::from_value::<IncompleteReason>(json!(s)).ok()),
        })
        .collect();
    let time_on_site_secs =
        r.visits.iter().filter_map(|v| v.departed_at.map(|d| (d - v.arrived_at).num_seconds())).sum();
    Ok(JobView {
        id: job.id.clone(),
        kind: job.kind.as_str().to_owned(),
        status: status_of(job.status),
        priority: job.priority.as_str().to_owned(),
        window: Window { start: utc(job.window_start), end: utc(job.window_end) },
        location: LatLon { lat: job.lat, lon: job.lon },
        address: job.address.clone(),
        problem: job.problem.clone(),
        required_skills: json_list(&job.required_skills),
        parts: json_list(&job.parts),
        contact: ContactView {
            name: job.contact_name.clone(),
            phone: job.contact_phone.clone(),
            preferred_address_form,
        },
        checklist,
        report: WorkReport {
            locked: !status_of(job.status).report_open(),
            notes: r.notes.into_iter().map(|(note_id, text, at)| NoteView { note_id, text, at: utc(at) }).collect(),
            parts: r
                .parts
                .into_iter()
                .map(|p| PartUseView {
                    part_use_id: p.id,
                    sku: p.sku,
                    qty: u32::try_from(p.qty).unwrap_or(0),
                    serial: p.serial,
                })
                .collect(),
            photos: r
                .photos
                .into_iter()
                .map(|(p, uploaded)| PhotoView {
                    photo_id: p.id,
                    sha256: p.sha256,
                    taken_at: utc(p.taken_at),
                    uploaded,
                })
                .collect(),
            signature: r.signature.map(|(signer_name, image_sha256)| SignatureView { signer_name, image_sha256 }),
            visits,
            time_on_site_secs,
        },
    })
}

/// The technician's own record as the phone sees it.
pub fn technician_view(conn: &mut DbConnection, technician_id: &str) -> Result<Option<TechnicianView>, ApiError> {
    let Some((t, _)) = technicians::find_with_org_path(conn, technician_id)? else { return Ok(None) };
    let position = match (t.pos_lat, t.pos_lon) {
        (Some(lat), Some(lon)) => Some(LatLon { lat, lon }),
        _ => None,
    };
    let parts: Vec<PartQty> = json_list(&t.parts);
    Ok(Some(TechnicianView { id: t.id, name: t.name, position, parts, timezone: t.timezone }))
}

/// A job on the phone's route: id, window, and its planned stop (date, position, arrival, start), if any.
type RouteRow = (
    String,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
    Option<(String, i32, chrono::NaiveDateTime, chrono::NaiveDateTime)>,
);

/// The technician's route: the open assigned visits in the day planner's
/// order with planned times (by planned start, then position); a visit the
/// planner has not placed yet goes by its window's start among them.
pub fn route_for(conn: &mut DbConnection, technician_id: &str) -> Result<RouteView, ApiError> {
    use crate::db::schema::route_stops as stops_t;
    let mut rows: Vec<RouteRow> = jobs_t::table
        .left_join(stops_t::table)
        .filter(jobs_t::technician_id.eq(technician_id))
        .filter(jobs_t::status.eq_any([JobStatus::Scheduled, JobStatus::EnRoute, JobStatus::OnSite]))
        .select((
            jobs_t::id,
            jobs_t::window_start,
            jobs_t::window_end,
            (stops_t::route_date, stops_t::position, stops_t::planned_arrival, stops_t::planned_start).nullable(),
        ))
        .load(conn)?;
    let key = |r: &RouteRow| r.3.as_ref().map_or((r.1, i32::MAX), |s| (s.3, s.1));
    rows.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.0.cmp(&b.0)));
    Ok(RouteView {
        stops: rows
            .into_iter()
            .map(|(job_id, s, e, planned)| RouteStop {
                job_id,
                window: Window { start: utc(s), end: utc(e) },
                planned_arrival: planned.as_ref().map(|p| utc(p.2)),
                planned_start: planned.as_ref().map(|p| utc(p.3)),
            })
            .collect(),
    })
}

fn assigned_job(conn: &mut DbConnection, technician_id: &str, job_id: &str) -> Result<Option<Job>, ApiError> {
    Ok(jobs::find_scoped(conn, job_id, jobs::JobScope::Technician(technician_id))?)
}

fn job_change(conn: &mut DbConnection, technician_id: &str, job_id: &str) -> Result<Change, ApiError> {
    // Tenant check on every row pulled: only a job assigned to this technician, in a status it keeps.
    match assigned_job(conn, technician_id, job_id)? {
        Some(job) if ON_PHONE.contains(&job.status) => Ok(Change {
            entity: Entity::Job,
            id: job.id.clone(),
            op: Op::Upsert,
            data: Some(serde_json::to_value(job_view(conn, &job)?)?),
        }),
        _ => Ok(Change { entity: Entity::Job, id: job_id.to_owned(), op: Op::Delete, data: None }),
    }
}

fn technician_change(conn: &mut DbConnection, technician_id: &str) -> Result<Change, ApiError> {
    Ok(match technician_view(conn, technician_id)? {
        Some(view) => Change {
            entity: Entity::Technician,
            id: technician_id.to_owned(),
            op: Op::Upsert,
            data: Some(serde_json::to_value(view)?),
        },
        None => Change { entity: Entity::Technician, id: technician_id.to_owned(), op: Op::Delete, data: None },
    })
}

fn route_change(conn: &mut DbConnection, technician_id: &str) -> Result<Change, ApiError> {
    Ok(Change {
        entity: Entity::Route,
        id: ROUTE_ID.to_owned(),
        op: Op::Upsert,
        data: Some(serde_json::to_value(route_for(conn, technician_id)?)?),
    })
}

fn reset() -> PullResponse {
    PullResponse { changes: Vec::new(), cursor: Cursor::start().encode(), has_more: false, reset_required: true }
}

/// `POST /v1/sync/pull` for a technician's device.
pub fn pull(
    conn: &mut DbConnection,
    user_id: &str,
    technician_id: &str,
    req: &PullRequest,
) -> Result<PullResponse, ApiError> {
    store::find_device(conn, &req.device_id, user_id)?.ok_or(ApiError::NotFound)?;
    let limit = i64::from(req.limit.unwrap_or(DEFAULT_PULL_LIMIT).clamp(1, MAX_PULL_LIMIT));
    let Some(text) = req.cursor.as_deref() else { return full_pull(conn, technician_id) };
    let Ok(cursor) = Cursor::decode(text) else { return Ok(reset()) };
    if !store::cursor_servable(conn, cursor)? {
        return Ok(reset());
    }
    let mut rows = store::read_changes(conn, technician_id, cursor, limit + 1)?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = rows.last().map_or(cursor, |r| Cursor::at(r.tx, r.seq));
    // Each entity once, in the order of its latest change.
    let mut seen = HashSet::new();
    let mut latest: Vec<(String, String)> = Vec::new();
    for r in rows.into_iter().rev() {
        if seen.insert((r.entity.clone(), r.entity_id.clone())) {
            latest.push((r.entity, r.entity_id));
        }
    }
    latest.reverse();
    let mut changes = Vec::with_capacity(latest.len() + 1);
    // Any job change (or a re-planned day) may reorder the route.
    let mut route_changed = false;
    for (entity, id) in latest {
        match entity.as_str() {
            "job" => {
                route_changed = true;
                changes.push(job_change(conn, technician_id, &id)?);
            }
            "route" => route_changed = true,
            "technician" if id == technician_id => changes.push(technician_change(conn, technician_id)?),
            _ => {}
        }
    }
    if route_changed {
        changes.push(route_change(conn, technician_id)?);
    }
    Ok(PullResponse { changes, cursor: next.encode(), has_more, reset_required: false })
}

/// Everything the technician may see, as of now: the phone replaces its copy with it.
fn full_pull(conn: &mut DbConnection, technician_id: &str) -> Result<PullResponse, ApiError> {
    // The cursor first: the state read after it is at least as new.
    let cursor = store::snapshot_cursor(conn)?;
    let ids: Vec<String> = jobs_t::table
        .filter(jobs_t::technician_id.eq(technician_id))
        .filter(jobs_t::status.eq_any(ON_PHONE))
        .order((jobs_t::window_start.asc(), jobs_t::id.asc()))
        .select(jobs_t::id)
        .load(conn)?;
    let mut changes = vec![technician_change(conn, technician_id)?];
    for id in ids {
        let c = job_change(conn, technician_id, &id)?;
        if c.op == Op::Upsert {
            changes.push(c);
        }
    }
    changes.push(route_change(conn, technician_id)?);
    Ok(PullResponse { changes, cursor: cursor.encode(), has_more: false, reset_required: false })
}

/// A business rule said no: the mutation is answered `rejected` and the batch goes on.
#[derive(Debug)]
struct Rejection {
    reason: &'static str,
    message: String,
    current: Option<Value>,
}

#[derive(Debug)]
enum ApplyError {
    Rejected(Rejection),
    Api(ApiError),
}

impl From<diesel::result::Error> for ApplyError {
    fn from(e: diesel::result::Error) -> ApplyError {
        ApplyError::Api(e.into())
    }
}

impl From<ApiError> for ApplyError {
    fn from(e: ApiError) -> ApplyError {
        ApplyError::Api(e)
    }
}

fn reject(reason: &'static str, message: impl Into<String>, current: Option<Value>) -> ApplyError {
    ApplyError::Rejected(Rejection { reason, message: message.into(), current })
}

/// Who pushes, and the clock correction of this push.
struct PushCtx<'a> {
    user_id: &'a str,
    technician_id: &'a str,
    org_id: &'a str,
    device_id: &'a str,
    offset: ClockOffset,
    /// The phone sent its clock: the offset is stored with each mutation's seq.
    sent_clock: bool,
    now: DateTime<Utc>,
    /// Travel speed for re-planning the day when a visit starts or ends.
    speed_kmh: f64,
}

impl PushCtx<'_> {
    fn actor(&self) -> Actor<'_> {
        Actor { user_id: Some(self.user_id), org_id: Some(self.org_id) }
    }
}

fn job_state(job: &Job) -> Value {
    json!({"job_id": job.id, "assigned": true, "status": job.status,
        "report_locked": !status_of(job.status).report_open()})
}

fn not_assigned(job_id: &str) -> ApplyError {
    reject(
        "not_assigned",
        "the job is not assigned to you (reassigned, or unknown)",
        Some(json!({"job_id": job_id, "assigned": false})),
    )
}

/// `POST /v1/sync/push`: the batch in `seq` order, answers in the order sent.
pub fn push(
    conn: &mut DbConnection,
    user_id: &str,
    technician_id: &str,
    req: &PushRequest,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<PushResponse, ApiError> {
    let device = store::find_device(conn, &req.device_id, user_id)?.ok_or(ApiError::NotFound)?;
    let (technician, _) = technicians::find_with_org_path(conn, technician_id)?.ok_or(ApiError::NotFound)?;
    let offset = ClockOffset::measure(now, req.sent_at);
    let ctx = PushCtx {
        user_id,
        technician_id,
        org_id: &technician.org_id,
        device_id: &device.id,
        offset,
        sent_clock: req.sent_at.is_some(),
        now,
        speed_kmh,
    };
    let seqs: Vec<u64> = req.mutations.iter().map(|m| m.seq).collect();
    let last = u64::try_from(device.last_seq).unwrap_or(0);
    let plan = mobile_sync::seq::plan_batch(last, &seqs).map_err(|g| gap(g.expected_seq))?;
    let mut results: Vec<Option<MutationResult>> = vec![None; req.mutations.len()];
    for (i, step) in plan.steps {
        let env = &req.mutations[i];
        let result = match step {
            mobile_sync::seq::Step::Replay => replay(conn, &ctx, env)?,
            mobile_sync::seq::Step::Apply => match write_tx(conn, |c| apply_one(c, &ctx, env))? {
                Some(r) => r,
                None => {
                    // Another push of this device processed it meanwhile.
                    let last = store::last_seq(conn, &device.id)?;
                    if last < seq_i64(env.seq) {
                        return Err(gap(u64::try_from(last).unwrap_or(0) + 1));
                    }
                    replay(conn, &ctx, env)?
                }
            },
        };
        results[i] = Some(result);
    }
    Ok(PushResponse {
        results: results.into_iter().flatten().collect(),
        clock_offset_ms: req.sent_at.map(|_| offset.millis()),
    })
}

fn gap(expected_seq: u64) -> ApiError {
    ApiError::conflict(
        "seq_gap",
        format!("mutation seq {expected_seq} is missing; resend from it"),
        json!({"expected_seq": expected_seq}),
    )
}

fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn result_of(env: &Envelope, status: ResultStatus, rejection: Option<Rejection>) -> MutationResult {
    let (reason, message, current) = match rejection {
        Some(r) => (Some(r.reason.to_owned()), Some(r.message), r.current),
        None => (None, None, None),
    };
    MutationResult { seq: env.seq, id: env.id, status, reason, message, current }
}

/// A mutation at or below the device's last seq: answered from its record.
fn replay(conn: &mut DbConnection, ctx: &PushCtx<'_>, env: &Envelope) -> Result<MutationResult, ApiError> {
    let record = store::find_record(conn, ctx.device_id, seq_i64(env.seq))?;
    Ok(match record {
        Some(r) if r.mutation_id == env.id.to_string() => match r.status.as_str() {
            "rejected" => MutationResult {
                seq: env.seq,
                id: env.id,
                status: ResultStatus::Rejected,
                reason: r.reason,
                message: r.message,
                current: r.current.and_then(|c| serde_json::from_str(&c).ok()),
            },
            _ => result_of(env, ResultStatus::Duplicate, None),
        },
        Some(_) => result_of(
            env,
            ResultStatus::Rejected,
            Some(Rejection {
                reason: "seq_reused",
                message: format!("seq {} was already used by another mutation of this device", env.seq),
                current: None,
            }),
        ),
        None => result_of(
            env,
            ResultStatus::Rejected,
            Some(Rejection { reason: "unknown_seq", message: "no mutation has this seq".into(), current: None }),
        ),
    })
}

/// Applies the device's next mutation in the caller's transaction. `None`
/// when another push of the device took this seq first.
fn apply_one(c: &mut DbConnection, ctx: &PushCtx<'_>, env: &Envelope) -> Result<Option<MutationResult>, ApiError> {
    let seq = seq_i64(env.seq);
    let now = db_time(ctx.now);
    let offset_ms = ctx.sent_clock.then(|| ctx.offset.millis());
    if !store::advance_seq(c, ctx.device_id, seq, offset_ms, now)? {
        return Ok(None);
    }
    let id = env.id.to_string();
    let mut record = MutationRecord {
        device_id: ctx.device_id.to_owned(),
        seq,
        mutation_id: id.clone(),
        claimed_id: Some(id.clone()),
        name: env.name.chars().take(100).collect(),
        status: "applied".into(),
        reason: None,
        message: None,
        current: None,
        processed_at: now,
    };
    if !store::insert_record(c, &record)? {
        // The id is taken: by this device (the same mutation under a new seq) or another one.
        let owner = store::claim_owner(c, &id)?;
        record.claimed_id = None;
        let rejection = if owner.as_deref() == Some(ctx.device_id) {
            record.status = "duplicate".into();
            None
        } else {
            record.status = "rejected".into();
            record.reason = Some("mutation_id_reused".into());
            record.message = Some("this mutation id was already used by another device".into());
            Some(Rejection {
                reason: "mutation_id_reused",
                message: "this mutation id was already used by another device".into(),
                current: None,
            })
        };
        store::insert_record(c, &record)?;
        let status = if rejection.is_some() { ResultStatus::Rejected } else { ResultStatus::Duplicate };
        return Ok(Some(result_of(env, status, rejection)));
    }
    let outcome = match Mutation::parse(&env.name, &env.args) {
        Err(e) => Err(Rejection { reason: e.code(), message: e.to_string(), current: None }),
        // A savepoint: a rejection found half-way leaves nothing behind.
        Ok(m) => match c.transaction(|c| apply_mutation(c, ctx, &m)) {
            Ok(()) => Ok(()),
            Err(ApplyError::Rejected(r)) => Err(r),
            Err(ApplyError::Api(e)) => return Err(e),
        },
    };
    match outcome {
        Ok(()) => Ok(Some(result_of(env, ResultStatus::Applied, None))),
        Err(r) => {
            let current = r.current.as_ref().map(Value::to_string);
            store::set_outcome(
                c,
                ctx.device_id,
                seq,
                "rejected",
                Some(r.reason),
                Some(&r.message),
                current.as_deref(),
            )?;
            Ok(Some(result_of(env, ResultStatus::Rejected, Some(r))))
        }
    }
}

fn apply_mutation(c: &mut DbConnection, ctx: &PushCtx<'_>, m: &Mutation) -> Result<(), ApplyError> {
    let now = db_time(ctx.now);
    if let Mutation::PositionPing(p) = m {
        // As `POST /v1/technicians/{id}/position`: every replica's dispatch cache follows the change log.
        offers::set_position(c, ctx.technician_id, p.lat, p.lon, db_time(ctx.offset.correct(p.at)))?;
        jobs::log_change(c, "technician", ctx.technician_id, Some(ctx.technician_id), false, now)?;
        return Ok(());
    }
    let job_id = m.job_id().map(|u| u.to_string()).unwrap_or_default();
    // Tenant check: only a job assigned to this technician, whatever ids the mutation carries.
    assigned_job(c, ctx.technician_id, &job_id)?.ok_or_else(|| not_assigned(&job_id))?;
    offers::lock_job(c, &job_id)?;
    let job = assigned_job(c, ctx.technician_id, &job_id)?.ok_or_else(|| not_assigned(&job_id))?;
    if job.status == JobStatus::Cancelled {
        return Err(reject("job_cancelled", "the job was cancelled", Some(job_state(&job))));
    }
    if let Mutation::SetStatus(s) = m {
        set_status(c, ctx, &job, s.status, s.reason, s.at)?;
    } else {
        if !status_of(job.status).report_open() {
            let (reason, message) = match job.status {
                JobStatus::Completed | JobStatus::InReview | JobStatus::Approved => {
                    ("report_locked", "the work report is locked by completion".to_owned())
                }
                other => ("job_not_active", format!("the job is {other}")),
            };
            return Err(reject(reason, message, Some(job_state(&job))));
        }
        report_change(c, ctx, &job, m)?;
    }
    jobs::log_change(c, "job", &job.id, Some(ctx.technician_id), false, now)?;
    Ok(())
}

fn taken(job: &Job, what: &str) -> ApplyError {
    reject("id_conflict", format!("this {what} id belongs to another job"), Some(job_state(job)))
}

fn report_change(c: &mut DbConnection, ctx: &PushCtx<'_>, job: &Job, m: &Mutation) -> Result<(), ApplyError> {
    let now = db_time(ctx.now);
    let tech = ctx.technician_id;
    match m {
        Mutation::AddNote(n) => {
            if store::insert_note(c, &n.note_id.to_string(), &job.id, tech, &n.text, now)?.is_some_and(|j| j != job.id)
            {
                return Err(taken(job, "note"));
            }
        }
        Mutation::SetChecklist(s) => {
            if !checklist_template(job.kind).iter().any(|(item, _)| *item == s.item) {
                return Err(reject(
                    "unknown_checklist_item",
                    format!("`{}` is not on the {} checklist", s.item, job.kind),
                    Some(job_state(job)),
                ));
            }
            store::set_checklist(c, &job.id, &s.item, &s.value.to_string(), tech, now)?;
        }
        Mutation::AddPart(p) => {
            let row = PartUse {
                id: p.part_use_id.to_string(),
                job_id: job.id.clone(),
                technician_id: tech.to_owned(),
                sku: p.sku.trim().to_owned(),
                qty: i32::try_from(p.qty).unwrap_or(i32::MAX),
                serial: p.serial.as_ref().map(|s| s.trim().to_owned()),
                at: now,
            };
            if store::insert_part(c, &row)?.is_some_and(|j| j != job.id) {
                return Err(taken(job, "part use"));
            }
        }
        Mutation::AttachPhoto(p) => {
            let row = Photo {
                id: p.photo_id.to_string(),
                job_id: job.id.clone(),
                technician_id: tech.to_owned(),
                sha256: p.sha256.clone(),
                taken_at: db_time(ctx.offset.correct(p.taken_at)),
                at: now,
            };
            if store::insert_photo(c, &row)?.is_some_and(|j| j != job.id) {
                return Err(taken(job, "photo"));
            }
        }
        Mutation::Sign(s) => store::set_signature(c, &job.id, tech, s.signer_name.trim(), &s.image_sha256, now)?,
        Mutation::SetStatus(_) | Mutation::PositionPing(_) => {}
    }
    Ok(())
}

fn set_status(
    c: &mut DbConnection,
    ctx: &PushCtx<'_>,
    job: &Job,
    to: TargetStatus,
    reason: Option<IncompleteReason>,
    at: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> Result<(), ApplyError> {
    technician_transition(status_of(job.status), to).map_err(|_| {
        reject(
            "invalid_transition",
            format!("the job is {}; it cannot become {}", job.status, job_status(to.status())),
            Some(job_state(job)),
        )
    })?;
    let now = db_time(ctx.now);
    let at = ctx.offset.correct_or_now(at);
    let at_db = db_time(at);
    let step = |c: &mut DbConnection, from: JobStatus, to: JobStatus| -> Result<(), ApplyError> {
        if jobs::set_status(c, &job.id, from, to, now)? {
            Ok(())
        } else {
            Err(reject("invalid_transition", "the job changed meanwhile", Some(job_state(job))))
        }
    };
    match to {
        TargetStatus::EnRoute | TargetStatus::OnSite => {
            let new = job_status(to.status());
            step(c, job.status, new)?;
            if to == TargetStatus::OnSite {
                store::open_visit(c, &job.id, ctx.technician_id, at_db)?;
            }
            jobs::append_event(
                c,
                &job.id,
                EventType::StatusChanged,
                ctx.actor(),
                &json!({"from": job.status, "status": new, "at": at}),
                now,
            )?;
        }
        TargetStatus::Completed => {
            let secs = store::close_visit(c, &job.id, at_db, "completed", None)?;
            step(c, job.status, JobStatus::Completed)?;
            jobs::append_event(
                c,
                &job.id,
                EventType::Completed,
                ctx.actor(),
                &json!({"from": job.status, "status": JobStatus::Completed, "at": at, "visit_secs": secs}),
                now,
            )?;
            // Completion locks the work report and hands the job to the vendor's quality review.
            step(c, JobStatus::Completed, JobStatus::InReview)?;
            jobs::append_event(
                c,
                &job.id,
                EventType::StatusChanged,
                ctx.actor(),
                &json!({"from": JobStatus::Completed, "status": JobStatus::InReview}),
                now,
            )?;
        }
        TargetStatus::Incomplete => {
            let reason_text =
                reason.and_then(|r| serde_json::to_value(r).ok()).and_then(|v| v.as_str().map(str::to_owned));
            let secs = store::close_visit(c, &job.id, at_db, "incomplete", reason_text.as_deref())?;
            step(c, job.status, JobStatus::Incomplete)?;
            jobs::append_event(
                c,
                &job.id,
                EventType::Incomplete,
                ctx.actor(),
                &json!({"from": job.status, "status": JobStatus::Incomplete, "reason": reason, "at": at,
                    "visit_secs": secs}),
                now,
            )?;
        }
    }
    // The day continues from a visit under way, and a finished one leaves the
    // route: re-plan it (routes and customers' ETAs follow).
    crate::planning::replan_technician_day(c, ctx.technician_id, utc(job.window_start), ctx.now, ctx.speed_kmh)?;
    Ok(())
}

/// Validates a push's envelopes before anything is applied (422 naming the field).
pub fn validate_push(req: &PushRequest) -> Result<(), ApiError> {
    if req.device_id.is_empty() {
        return Err(ApiError::invalid("device_id", "must not be empty"));
    }
    for (i, m) in req.mutations.iter().enumerate() {
        if m.seq == 0 || i64::try_from(m.seq).is_err() {
            return Err(ApiError::invalid(format!("mutations[{i}].seq"), "a positive integer"));
        }
        if m.name.is_empty() || m.name.len() > 100 {
            return Err(ApiError::invalid(format!("mutations[{i}].name"), "1 to 100 characters"));
        }
    }
    Ok(())
}

/// The lower-case hex SHA-256 of `bytes` (photo addresses).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Stores a photo's bytes; when they are new, every job whose report
/// references them changes (its photo shows as uploaded on the next pull).
pub fn store_photo(
    conn: &mut DbConnection,
    sha256: &str,
    bytes: &[u8],
    uploaded_by: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    use crate::storage::sync::PhotoStore as _;
    let now = db_time(now);
    let created = store::DbPhotoStore.put(conn, sha256, bytes, uploaded_by, now)?;
    if created {
        for (job_id, technician_id) in store::jobs_with_photo(conn, sha256)? {
            if let Some(technician_id) = technician_id {
                jobs::log_change(conn, "job", &job_id, Some(&technician_id), false, now)?;
            }
        }
    }
    Ok(created)
}

/// Whether `s` names a photo (`PUT /v1/photos/{sha256}`).
pub fn is_photo_hash(s: &str) -> bool {
    mutation::is_sha256_hex(s)
}
