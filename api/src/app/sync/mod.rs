//! Mobile sync use cases: device registration, pull (the change log read
//! up to a safe point, each entity once at its latest state, tenant-checked
//! row by row), push (each mutation applied at most once in its own
//! transaction, business-rule failures answered, never blocking the rest),
//! and the work report's views (`views`, `checklist`, `push`). The
//! protocol's rules are in `mobile-sync`; this module stores and loads.

mod checklist;
mod push;
mod views;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use mobile_sync::cursor::Cursor;
use mobile_sync::mutation;
use mobile_sync::protocol::{
    Change as SyncChange, DEFAULT_PULL_LIMIT, Entity, MAX_PULL_LIMIT, Op, PullRequest, PullResponse, PushRequest,
    RegisterDevice,
};

pub use self::checklist::checklist_template;
pub use self::push::push;
pub use self::views::{job_view, route_for, technician_view};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::{ChangeEntity, JobStatus};
use crate::storage::change_log::{self, Change};
use crate::storage::jobs::{self, Job};
use crate::storage::sync::{self as store, Device};
use crate::storage::{db_time, new_id};
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
    if let Some(token) = &device.push_token {
        // The same phone registering again (maybe as another user): the token moves to this device.
        crate::storage::devices::release_token(conn, token)?;
    }
    store::insert_device(conn, &device)?;
    Ok(device.id)
}

pub(crate) fn assigned_job(
    conn: &mut DbConnection,
    technician_id: &str,
    job_id: &str,
) -> Result<Option<Job>, ApiError> {
    Ok(jobs::find_scoped(conn, job_id, jobs::JobScope::Technician(technician_id))?)
}

fn job_change(conn: &mut DbConnection, technician_id: &str, job_id: &str) -> Result<SyncChange, ApiError> {
    // Tenant check on every row pulled: only a job assigned to this technician, in a status it keeps.
    match assigned_job(conn, technician_id, job_id)? {
        Some(job) if ON_PHONE.contains(&job.status) => Ok(SyncChange {
            entity: Entity::Job,
            id: job.id.clone(),
            op: Op::Upsert,
            data: Some(serde_json::to_value(job_view(conn, &job)?)?),
        }),
        _ => Ok(SyncChange { entity: Entity::Job, id: job_id.to_owned(), op: Op::Delete, data: None }),
    }
}

fn technician_change(conn: &mut DbConnection, technician_id: &str) -> Result<SyncChange, ApiError> {
    Ok(match technician_view(conn, technician_id)? {
        Some(view) => SyncChange {
            entity: Entity::Technician,
            id: technician_id.to_owned(),
            op: Op::Upsert,
            data: Some(serde_json::to_value(view)?),
        },
        None => SyncChange { entity: Entity::Technician, id: technician_id.to_owned(), op: Op::Delete, data: None },
    })
}

fn route_change(conn: &mut DbConnection, technician_id: &str) -> Result<SyncChange, ApiError> {
    Ok(SyncChange {
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
    if !change_log::cursor_servable(conn, cursor)? {
        return Ok(reset());
    }
    let mut rows = change_log::read_changes(conn, technician_id, cursor, limit + 1)?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = rows.last().map_or(cursor, |r| Cursor::at(r.tx, r.seq));
    // Each entity once, in the order of its latest change.
    let mut seen = HashSet::new();
    let mut latest: Vec<(ChangeEntity, String)> = Vec::new();
    for r in rows.into_iter().rev() {
        if seen.insert((r.entity, r.entity_id.clone())) {
            latest.push((r.entity, r.entity_id));
        }
    }
    latest.reverse();
    let mut changes = Vec::with_capacity(latest.len() + 1);
    // Any job change (or a re-planned day) may reorder the route.
    let mut route_changed = false;
    for (entity, id) in latest {
        match entity {
            ChangeEntity::Job => {
                route_changed = true;
                changes.push(job_change(conn, technician_id, &id)?);
            }
            ChangeEntity::Route => route_changed = true,
            ChangeEntity::Technician if id == technician_id => changes.push(technician_change(conn, technician_id)?),
            ChangeEntity::Technician | ChangeEntity::Org => {}
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
    let cursor = change_log::snapshot_cursor(conn)?;
    let ids = store::job_ids_on_phone(conn, technician_id, &ON_PHONE)?;
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
    quota_bytes: u64,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    use crate::storage::sync::PhotoStore as _;
    let now = db_time(now);
    // A technician's photos attached to no job count against its quota (they expire after a week);
    // bytes already stored (by anyone) cost nothing.
    if quota_bytes > 0 && !store::DbPhotoStore.exists(conn, sha256)? {
        let held = u64::try_from(crate::storage::retention::unattached_bytes_of(conn, uploaded_by)?).unwrap_or(0);
        if held + bytes.len() as u64 > quota_bytes {
            return Err(ApiError::conflict(
                "photo_quota_exceeded",
                format!(
                    "your photos attached to no job hold {held} bytes; at most {quota_bytes} are kept: attach them \
                     (job.attach_photo) first, or wait until unattached ones expire"
                ),
                serde_json::json!({}),
            ));
        }
    }
    let created = store::DbPhotoStore.put(conn, sha256, bytes, uploaded_by, now)?;
    if created {
        for (job_id, technician_id) in store::jobs_with_photo(conn, sha256)? {
            if let Some(technician_id) = technician_id {
                change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &job_id, Some(&technician_id)), now)?;
            }
        }
    }
    Ok(created)
}

/// A photo's (or signature image's) bytes for `GET /v1/photos/{sha256}`:
/// reviewers and admins see every one; a dispatcher one attached to a job in
/// its scope; a technician its own uploads and those attached to its jobs.
/// Anything else is 404, as if the bytes did not exist.
pub fn photo_for(conn: &mut DbConnection, caller: &crate::domain::Caller, sha256: &str) -> Result<Vec<u8>, ApiError> {
    use crate::domain::Role;
    use crate::storage::sync::PhotoStore as _;
    let (bytes, uploaded_by) = store::DbPhotoStore.get(conn, sha256)?.ok_or(ApiError::NotFound)?;
    let allowed = match caller.role {
        Role::Reviewer | Role::Admin => true,
        Role::Technician if uploaded_by.as_deref() == Some(caller.id.as_str()) => true,
        Role::Technician | Role::Dispatcher => {
            let mut job_ids: Vec<String> = store::jobs_with_photo(conn, sha256)?.into_iter().map(|(j, _)| j).collect();
            job_ids.extend(store::jobs_with_signature(conn, sha256)?);
            let mut any = false;
            for id in job_ids {
                if jobs::find_scoped(conn, &id, caller.job_scope())?.is_some() {
                    any = true;
                    break;
                }
            }
            any
        }
        Role::Customer => false,
    };
    if allowed { Ok(bytes) } else { Err(ApiError::NotFound) }
}

/// Whether `s` names a photo (`PUT /v1/photos/{sha256}`).
pub fn is_photo_hash(s: &str) -> bool {
    mutation::is_sha256_hex(s)
}
