//! Mobile sync storage: devices, processed mutations, photo bytes behind
//! [`PhotoStore`], what a phone keeps, and the one backend-specific read of
//! the change log ([`read_changes`], [`snapshot_cursor`]). The work report
//! itself is in `storage::reports`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{photo_blobs, report_photos, report_signatures, sync_devices, sync_mutations};
use crate::db::{DbConnection, insert_unless_exists};
use crate::domain::JobStatus;

/// A registered phone.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = sync_devices, treat_none_as_default_value = false)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub technician_id: Option<String>,
    pub platform: String,
    pub push_token: Option<String>,
    pub app_version: String,
    pub last_seq: i64,
    pub clock_offset_ms: Option<i64>,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

/// Registers a device.
pub fn insert_device(conn: &mut DbConnection, device: &Device) -> QueryResult<()> {
    diesel::insert_into(sync_devices::table).values(device).execute(conn).map(drop)
}

/// The device with this id if it belongs to `user_id` (another user's device is "not found").
pub fn find_device(conn: &mut DbConnection, id: &str, user_id: &str) -> QueryResult<Option<Device>> {
    sync_devices::table.filter(sync_devices::id.eq(id)).filter(sync_devices::user_id.eq(user_id)).first(conn).optional()
}

/// The device's last processed seq.
pub fn last_seq(conn: &mut DbConnection, id: &str) -> QueryResult<i64> {
    sync_devices::table.find(id).select(sync_devices::last_seq).first(conn)
}

/// Claims `seq` as the device's next mutation: true only if the last
/// processed one is `seq - 1`. The update is the guard (and on PostgreSQL
/// the row lock) that makes two concurrent pushes of one device process each
/// seq exactly once. The clock offset measured at the push, if any, is stored with it.
pub fn advance_seq(
    conn: &mut DbConnection,
    id: &str,
    seq: i64,
    clock_offset_ms: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = sync_devices::table.find(id).filter(sync_devices::last_seq.eq(seq - 1));
    let n = match clock_offset_ms {
        Some(ms) => diesel::update(target)
            .set((
                sync_devices::last_seq.eq(seq),
                sync_devices::last_seen_at.eq(now),
                sync_devices::clock_offset_ms.eq(ms),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((sync_devices::last_seq.eq(seq), sync_devices::last_seen_at.eq(now)))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// A processed mutation.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = sync_mutations, treat_none_as_default_value = false)]
pub struct MutationRecord {
    pub device_id: String,
    pub seq: i64,
    pub mutation_id: String,
    pub claimed_id: Option<String>,
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub current: Option<String>,
    pub processed_at: NaiveDateTime,
}

/// Records a processed mutation; `Ok(false)` when its `claimed_id` is already
/// owned by another row (the mutation id was used before).
pub fn insert_record(conn: &mut DbConnection, record: &MutationRecord) -> QueryResult<bool> {
    insert_unless_exists(conn, |conn| diesel::insert_into(sync_mutations::table).values(record).execute(conn))
}

/// Sets the outcome of a recorded mutation.
pub fn set_outcome(
    conn: &mut DbConnection,
    device_id: &str,
    seq: i64,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    current: Option<&str>,
) -> QueryResult<()> {
    diesel::update(sync_mutations::table.find((device_id, seq)))
        .set((
            sync_mutations::status.eq(status),
            sync_mutations::reason.eq(reason),
            sync_mutations::message.eq(message),
            sync_mutations::current.eq(current),
        ))
        .execute(conn)
        .map(drop)
}

/// The record of a device's mutation `seq`.
pub fn find_record(conn: &mut DbConnection, device_id: &str, seq: i64) -> QueryResult<Option<MutationRecord>> {
    sync_mutations::table.find((device_id, seq)).first(conn).optional()
}

/// The device that owns a mutation id, if any.
pub fn claim_owner(conn: &mut DbConnection, mutation_id: &str) -> QueryResult<Option<String>> {
    sync_mutations::table
        .filter(sync_mutations::claimed_id.eq(mutation_id))
        .select(sync_mutations::device_id)
        .first(conn)
        .optional()
}

/// Photo bytes and who uploaded them.
pub fn photo_bytes(conn: &mut DbConnection, sha256: &str) -> QueryResult<Option<(Vec<u8>, Option<String>)>> {
    photo_blobs::table.find(sha256).select((photo_blobs::content, photo_blobs::uploaded_by)).first(conn).optional()
}

/// Where photo bytes live. The database is the default; an S3-compatible
/// store implements the same two calls.
pub trait PhotoStore: Send + Sync {
    /// Stores the bytes under their SHA-256; `Ok(false)` if they were already there.
    fn put(
        &self,
        conn: &mut DbConnection,
        sha256: &str,
        bytes: &[u8],
        uploaded_by: &str,
        now: NaiveDateTime,
    ) -> QueryResult<bool>;
    /// Whether the bytes of this SHA-256 are stored.
    fn exists(&self, conn: &mut DbConnection, sha256: &str) -> QueryResult<bool>;
    /// The bytes of this SHA-256 and who uploaded them, if stored.
    fn get(&self, conn: &mut DbConnection, sha256: &str) -> QueryResult<Option<(Vec<u8>, Option<String>)>>;
}

/// Photo bytes in the `photo_blobs` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct DbPhotoStore;

impl PhotoStore for DbPhotoStore {
    fn put(
        &self,
        conn: &mut DbConnection,
        sha256: &str,
        bytes: &[u8],
        uploaded_by: &str,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        if self.exists(conn, sha256)? {
            return Ok(false);
        }
        // The primary key makes a concurrent upload of the same bytes a no-op.
        insert_unless_exists(conn, |conn| {
            diesel::insert_into(photo_blobs::table)
                .values((
                    photo_blobs::sha256.eq(sha256),
                    photo_blobs::content.eq(bytes),
                    photo_blobs::size_bytes.eq(i64::try_from(bytes.len()).unwrap_or(i64::MAX)),
                    photo_blobs::uploaded_by.eq(uploaded_by),
                    photo_blobs::created_at.eq(now),
                ))
                .execute(conn)
        })
    }

    fn exists(&self, conn: &mut DbConnection, sha256: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(photo_blobs::table.find(sha256))).get_result(conn)
    }

    fn get(&self, conn: &mut DbConnection, sha256: &str) -> QueryResult<Option<(Vec<u8>, Option<String>)>> {
        photo_bytes(conn, sha256)
    }
}

/// Jobs whose signature is this image.
pub fn jobs_with_signature(conn: &mut DbConnection, sha256: &str) -> QueryResult<Vec<String>> {
    report_signatures::table
        .filter(report_signatures::image_sha256.eq(sha256))
        .select(report_signatures::job_id)
        .load(conn)
}

/// Jobs whose report references these photo bytes, with their current technician.
pub fn jobs_with_photo(conn: &mut DbConnection, sha256: &str) -> QueryResult<Vec<(String, Option<String>)>> {
    use crate::db::schema::jobs;
    let ids: Vec<String> =
        report_photos::table.filter(report_photos::sha256.eq(sha256)).select(report_photos::job_id).load(conn)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    jobs::table.filter(jobs::id.eq_any(ids)).select((jobs::id, jobs::technician_id)).load(conn)
}

/// A job on the phone's route: id, window, and its planned stop (date, position, arrival, start), if any.
pub type RouteRow = (String, NaiveDateTime, NaiveDateTime, Option<(String, i32, NaiveDateTime, NaiveDateTime)>);

/// The technician's open visits (scheduled, en route, on site) with their planned stop, unordered.
pub fn route_rows(conn: &mut DbConnection, technician_id: &str) -> QueryResult<Vec<RouteRow>> {
    use crate::db::schema::jobs;
    use crate::db::schema::route_stops as stops_t;
    jobs::table
        .left_join(stops_t::table)
        .filter(jobs::technician_id.eq(technician_id))
        .filter(jobs::status.eq_any([JobStatus::Scheduled, JobStatus::EnRoute, JobStatus::OnSite]))
        .select((
            jobs::id,
            jobs::window_start,
            jobs::window_end,
            (stops_t::route_date, stops_t::position, stops_t::planned_arrival, stops_t::planned_start).nullable(),
        ))
        .load(conn)
}

/// Ids of the technician's jobs in the statuses a phone keeps, by window start.
pub fn job_ids_on_phone(
    conn: &mut DbConnection,
    technician_id: &str,
    statuses: &[JobStatus],
) -> QueryResult<Vec<String>> {
    use crate::db::schema::jobs;
    jobs::table
        .filter(jobs::technician_id.eq(technician_id))
        .filter(jobs::status.eq_any(statuses.to_vec()))
        .order((jobs::window_start.asc(), jobs::id.asc()))
        .select(jobs::id)
        .load(conn)
}
