//! `POST /v1/sync/push`: each mutation applied at most once, in `seq` order,
//! in its own transaction; a business rule that says no answers `rejected`
//! and the batch goes on. Status changes follow `domain::lifecycle`.

use chrono::{DateTime, Utc};
use mobile_sync::clock::ClockOffset;
use mobile_sync::lifecycle::{IncompleteReason, TargetStatus};
use mobile_sync::mutation::Mutation;
use mobile_sync::protocol::{Envelope, MutationResult, PushRequest, PushResponse, ResultStatus};
use serde_json::{Value, json};

use super::assigned_job;
use super::checklist::checklist_template;
use crate::app::planning;
use crate::app_error::ApiError;
use crate::db::{DbConnection, savepoint, write_tx};
use crate::domain::lifecycle::{self, Actor as By, to_phone};
use crate::domain::{ChangeEntity, EventType, JobStatus, shift};
use crate::storage::change_log::{self, Change};
use crate::storage::jobs::{self, Actor, Job};
use crate::storage::reports::{self, PartUse, Photo};
use crate::storage::sync::{self as store, MutationRecord};
use crate::storage::{db_time, offers, technicians, utc};

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

impl From<crate::storage::json::BadColumn> for ApplyError {
    fn from(e: crate::storage::json::BadColumn) -> ApplyError {
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
        "report_locked": !to_phone(job.status).report_open()})
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
    let technician = technicians::find(conn, technician_id)?.ok_or(ApiError::NotFound)?;
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
        Ok(m) => match savepoint(c, |c| apply_mutation(c, ctx, &m)) {
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
        let change = Change::upsert(ChangeEntity::Technician, ctx.technician_id, Some(ctx.technician_id));
        change_log::log_change(c, change, now)?;
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
        if !to_phone(job.status).report_open() {
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
    change_log::log_change(c, Change::upsert(ChangeEntity::Job, &job.id, Some(ctx.technician_id)), now)?;
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
            if reports::insert_note(c, &n.note_id.to_string(), &job.id, tech, &n.text, now)?
                .is_some_and(|j| j != job.id)
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
            reports::set_checklist(c, &job.id, &s.item, &s.value.to_string(), tech, now)?;
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
            if reports::insert_part(c, &row)?.is_some_and(|j| j != job.id) {
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
            if reports::insert_photo(c, &row)?.is_some_and(|j| j != job.id) {
                return Err(taken(job, "photo"));
            }
        }
        Mutation::Sign(s) => reports::set_signature(c, &job.id, tech, s.signer_name.trim(), &s.image_sha256, now)?,
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
    let illegal = |to: JobStatus| {
        reject("invalid_transition", format!("the job is {}; it cannot become {to}", job.status), Some(job_state(job)))
    };
    let target = lifecycle::target(to);
    lifecycle::check(job.status, target, By::Phone).map_err(|_| illegal(target))?;
    if to == TargetStatus::EnRoute {
        let tech = technicians::find(c, ctx.technician_id)?.ok_or(ApiError::NotFound)?;
        let zone = shift::zone(&tech.timezone).map_err(ApiError::from)?;
        if !lifecycle::may_set_off(utc(job.window_start), ctx.now, zone) {
            return Err(reject(
                "not_today",
                format!(
                    "the visit's window starts {}: set off on its day (or within {} hours of it)",
                    utc(job.window_start).with_timezone(&zone).to_rfc3339(),
                    lifecycle::SET_OFF_AHEAD_HOURS
                ),
                Some(job_state(job)),
            ));
        }
    }
    let now = db_time(ctx.now);
    let at = ctx.offset.correct_or_now(at);
    let at_db = db_time(at);
    let step = |c: &mut DbConnection, from: JobStatus, to: JobStatus, by: By| -> Result<(), ApplyError> {
        let transition = lifecycle::check(from, to, by).map_err(|_| illegal(to))?;
        if jobs::set_status(c, &job.id, transition, now)? {
            Ok(())
        } else {
            Err(reject("invalid_transition", "the job changed meanwhile", Some(job_state(job))))
        }
    };
    match to {
        TargetStatus::EnRoute | TargetStatus::OnSite => {
            let new = target;
            step(c, job.status, new, By::Phone)?;
            if to == TargetStatus::OnSite {
                reports::open_visit(c, &job.id, ctx.technician_id, at_db)?;
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
            let secs = reports::close_visit(c, &job.id, at_db, "completed", None)?;
            step(c, job.status, JobStatus::Completed, By::Phone)?;
            jobs::append_event(
                c,
                &job.id,
                EventType::Completed,
                ctx.actor(),
                &json!({"from": job.status, "status": JobStatus::Completed, "at": at, "visit_secs": secs}),
                now,
            )?;
            // Completion locks the work report and hands the job to the vendor's quality review.
            step(c, JobStatus::Completed, JobStatus::InReview, By::Worker)?;
            jobs::append_event(
                c,
                &job.id,
                EventType::StatusChanged,
                ctx.actor(),
                &json!({"from": JobStatus::Completed, "status": JobStatus::InReview}),
                now,
            )?;
            // The quality loop's hook (issues the survey when the vendor asks on completion).
            crate::app::quality::job_completed(c, &job.id, ctx.now)?;
        }
        TargetStatus::Incomplete => {
            let reason_text =
                reason.and_then(|r| serde_json::to_value(r).ok()).and_then(|v| v.as_str().map(str::to_owned));
            let secs = reports::close_visit(c, &job.id, at_db, "incomplete", reason_text.as_deref())?;
            step(c, job.status, JobStatus::Incomplete, By::Phone)?;
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
    planning::replan_technician_day(c, ctx.technician_id, utc(job.window_start), ctx.now, ctx.speed_kmh)?;
    if to == TargetStatus::EnRoute {
        // The customer hears it with the ETA the re-plan just set.
        let set_off = jobs::find_scoped(c, &job.id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
        crate::app::notify::on_the_way(c, &set_off, ctx.now)?;
    }
    Ok(())
}
