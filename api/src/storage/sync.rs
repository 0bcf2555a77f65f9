//! Mobile sync storage: devices, processed mutations, the work report
//! (notes, checklist answers, part uses, photos, signature, visits), photo
//! bytes behind [`PhotoStore`], and the one backend-specific read of the
//! change log ([`read_changes`], [`snapshot_cursor`]).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    photo_blobs, report_checklist, report_notes, report_parts, report_photos, report_signatures, report_visits,
    sync_devices, sync_mutations,
};
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

/// Adds a note; `Ok(Some(job_id))` of the existing note when its id is taken.
pub fn insert_note(
    conn: &mut DbConnection,
    id: &str,
    job_id: &str,
    technician_id: &str,
    text: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<String>> {
    let inserted = insert_unless_exists(conn, |conn| {
        diesel::insert_into(report_notes::table)
            .values((
                report_notes::id.eq(id),
                report_notes::job_id.eq(job_id),
                report_notes::technician_id.eq(technician_id),
                report_notes::text.eq(text),
                report_notes::at.eq(at),
            ))
            .execute(conn)
    })?;
    if inserted {
        return Ok(None);
    }
    report_notes::table.find(id).select(report_notes::job_id).first(conn).map(Some)
}

/// Sets a checklist answer. Callers hold the job's lock, so update-then-insert does not race.
pub fn set_checklist(
    conn: &mut DbConnection,
    job_id: &str,
    item: &str,
    value_json: &str,
    technician_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let n = diesel::update(report_checklist::table.find((job_id, item)))
        .set((
            report_checklist::value.eq(value_json),
            report_checklist::technician_id.eq(technician_id),
            report_checklist::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(report_checklist::table)
            .values((
                report_checklist::job_id.eq(job_id),
                report_checklist::item.eq(item),
                report_checklist::value.eq(value_json),
                report_checklist::technician_id.eq(technician_id),
                report_checklist::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A part use row.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = report_parts, treat_none_as_default_value = false)]
pub struct PartUse {
    pub id: String,
    pub job_id: String,
    pub technician_id: String,
    pub sku: String,
    pub qty: i32,
    pub serial: Option<String>,
    pub at: NaiveDateTime,
}

/// Adds a part use; `Ok(Some(job_id))` of the existing one when its id is taken.
pub fn insert_part(conn: &mut DbConnection, part: &PartUse) -> QueryResult<Option<String>> {
    if insert_unless_exists(conn, |conn| diesel::insert_into(report_parts::table).values(part).execute(conn))? {
        return Ok(None);
    }
    report_parts::table.find(&part.id).select(report_parts::job_id).first(conn).map(Some)
}

/// A photo's metadata row.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = report_photos, treat_none_as_default_value = false)]
pub struct Photo {
    pub id: String,
    pub job_id: String,
    pub technician_id: String,
    pub sha256: String,
    pub taken_at: NaiveDateTime,
    pub at: NaiveDateTime,
}

/// Attaches a photo; `Ok(Some(job_id))` of the existing one when its id is taken.
pub fn insert_photo(conn: &mut DbConnection, photo: &Photo) -> QueryResult<Option<String>> {
    if insert_unless_exists(conn, |conn| diesel::insert_into(report_photos::table).values(photo).execute(conn))? {
        return Ok(None);
    }
    report_photos::table.find(&photo.id).select(report_photos::job_id).first(conn).map(Some)
}

/// Sets the signature (the later write wins). Callers hold the job's lock.
pub fn set_signature(
    conn: &mut DbConnection,
    job_id: &str,
    technician_id: &str,
    signer_name: &str,
    image_sha256: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(report_signatures::table.find(job_id)).execute(conn)?;
    diesel::insert_into(report_signatures::table)
        .values((
            report_signatures::job_id.eq(job_id),
            report_signatures::technician_id.eq(technician_id),
            report_signatures::signer_name.eq(signer_name),
            report_signatures::image_sha256.eq(image_sha256),
            report_signatures::at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// A visit on site.
#[derive(Debug, Clone, Queryable)]
pub struct Visit {
    pub job_id: String,
    pub visit: i32,
    pub technician_id: String,
    pub arrived_at: NaiveDateTime,
    pub departed_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
}

/// Records an arrival: a new visit, the job's visit count and its first arrival.
pub fn open_visit(
    conn: &mut DbConnection,
    job_id: &str,
    technician_id: &str,
    arrived_at: NaiveDateTime,
) -> QueryResult<()> {
    use crate::db::schema::jobs;
    let last: Option<i32> = report_visits::table
        .filter(report_visits::job_id.eq(job_id))
        .select(diesel::dsl::max(report_visits::visit))
        .first(conn)?;
    diesel::insert_into(report_visits::table)
        .values((
            report_visits::job_id.eq(job_id),
            report_visits::visit.eq(last.unwrap_or(0) + 1),
            report_visits::technician_id.eq(technician_id),
            report_visits::arrived_at.eq(arrived_at),
        ))
        .execute(conn)?;
    diesel::update(jobs::table.find(job_id)).set(jobs::visits.eq(jobs::visits + 1)).execute(conn)?;
    diesel::update(jobs::table.find(job_id).filter(jobs::first_on_site_at.is_null()))
        .set(jobs::first_on_site_at.eq(arrived_at))
        .execute(conn)?;
    Ok(())
}

/// Closes the open visit of a job; returns its seconds on site.
pub fn close_visit(
    conn: &mut DbConnection,
    job_id: &str,
    departed_at: NaiveDateTime,
    outcome: &str,
    reason: Option<&str>,
) -> QueryResult<i64> {
    let open: Option<Visit> = report_visits::table
        .filter(report_visits::job_id.eq(job_id))
        .filter(report_visits::departed_at.is_null())
        .order(report_visits::visit.desc())
        .first(conn)
        .optional()?;
    let Some(open) = open else { return Ok(0) };
    // Corrected phone times may disagree slightly; a visit never lasts less than nothing.
    let departed_at = departed_at.max(open.arrived_at);
    diesel::update(report_visits::table.find((job_id, open.visit)))
        .set((
            report_visits::departed_at.eq(departed_at),
            report_visits::outcome.eq(outcome),
            report_visits::reason.eq(reason),
        ))
        .execute(conn)?;
    Ok((departed_at - open.arrived_at).num_seconds())
}

/// Everything of one job's work report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub notes: Vec<(String, String, NaiveDateTime)>,
    pub checklist: Vec<(String, String)>,
    pub parts: Vec<PartUse>,
    pub photos: Vec<(Photo, bool)>,
    pub signature: Option<(String, String)>,
    pub visits: Vec<Visit>,
}

/// Loads a job's work report, in a stable order (the phone's checksum depends on it).
pub fn report(conn: &mut DbConnection, job_id: &str) -> QueryResult<Report> {
    let notes = report_notes::table
        .filter(report_notes::job_id.eq(job_id))
        .order((report_notes::at.asc(), report_notes::id.asc()))
        .select((report_notes::id, report_notes::text, report_notes::at))
        .load(conn)?;
    let checklist = report_checklist::table
        .filter(report_checklist::job_id.eq(job_id))
        .select((report_checklist::item, report_checklist::value))
        .load(conn)?;
    let parts = report_parts::table
        .filter(report_parts::job_id.eq(job_id))
        .order((report_parts::at.asc(), report_parts::id.asc()))
        .load(conn)?;
    let photos: Vec<Photo> = report_photos::table
        .filter(report_photos::job_id.eq(job_id))
        .order((report_photos::taken_at.asc(), report_photos::id.asc()))
        .load(conn)?;
    let shas: Vec<&str> = photos.iter().map(|p| p.sha256.as_str()).collect();
    let uploaded: Vec<String> = if shas.is_empty() {
        Vec::new()
    } else {
        photo_blobs::table.filter(photo_blobs::sha256.eq_any(&shas)).select(photo_blobs::sha256).load(conn)?
    };
    let photos = photos
        .into_iter()
        .map(|p| {
            let up = uploaded.contains(&p.sha256);
            (p, up)
        })
        .collect();
    let signature = report_signatures::table
        .find(job_id)
        .select((report_signatures::signer_name, report_signatures::image_sha256))
        .first(conn)
        .optional()?;
    let visits =
        report_visits::table.filter(report_visits::job_id.eq(job_id)).order(report_visits::visit.asc()).load(conn)?;
    Ok(Report { notes, checklist, parts, photos, signature, visits })
}

/// The work reports of many jobs (the review queue's page) in one query per
/// section, each job's rows in the same order as [`report`].
pub fn reports(conn: &mut DbConnection, job_ids: &[String]) -> QueryResult<std::collections::HashMap<String, Report>> {
    let mut out: std::collections::HashMap<String, Report> =
        job_ids.iter().map(|id| (id.clone(), Report::default())).collect();
    if job_ids.is_empty() {
        return Ok(out);
    }
    let notes: Vec<(String, String, String, NaiveDateTime)> = report_notes::table
        .filter(report_notes::job_id.eq_any(job_ids))
        .order((report_notes::at.asc(), report_notes::id.asc()))
        .select((report_notes::job_id, report_notes::id, report_notes::text, report_notes::at))
        .load(conn)?;
    for (job, id, text, at) in notes {
        out.entry(job).or_default().notes.push((id, text, at));
    }
    let checklist: Vec<(String, String, String)> = report_checklist::table
        .filter(report_checklist::job_id.eq_any(job_ids))
        .order((report_checklist::job_id.asc(), report_checklist::item.asc()))
        .select((report_checklist::job_id, report_checklist::item, report_checklist::value))
        .load(conn)?;
    for (job, item, value) in checklist {
        out.entry(job).or_default().checklist.push((item, value));
    }
    let parts: Vec<PartUse> = report_parts::table
        .filter(report_parts::job_id.eq_any(job_ids))
        .order((report_parts::at.asc(), report_parts::id.asc()))
        .load(conn)?;
    for p in parts {
        out.entry(p.job_id.clone()).or_default().parts.push(p);
    }
    let photos: Vec<Photo> = report_photos::table
        .filter(report_photos::job_id.eq_any(job_ids))
        .order((report_photos::taken_at.asc(), report_photos::id.asc()))
        .load(conn)?;
    let shas: Vec<&str> = photos.iter().map(|p| p.sha256.as_str()).collect();
    let uploaded: Vec<String> = if shas.is_empty() {
        Vec::new()
    } else {
        photo_blobs::table.filter(photo_blobs::sha256.eq_any(&shas)).select(photo_blobs::sha256).load(conn)?
    };
    for p in photos {
        let up = uploaded.contains(&p.sha256);
        out.entry(p.job_id.clone()).or_default().photos.push((p, up));
    }
    let signatures: Vec<(String, String, String)> = report_signatures::table
        .filter(report_signatures::job_id.eq_any(job_ids))
        .select((report_signatures::job_id, report_signatures::signer_name, report_signatures::image_sha256))
        .load(conn)?;
    for (job, name, sha) in signatures {
        out.entry(job).or_default().signature = Some((name, sha));
    }
    let visits: Vec<Visit> = report_visits::table
        .filter(report_visits::job_id.eq_any(job_ids))
        .order((report_visits::job_id.asc(), report_visits::visit.asc()))
        .load(conn)?;
    for v in visits {
        out.entry(v.job_id.clone()).or_default().visits.push(v);
    }
    Ok(out)
}

/// How many visits of each job ended `incomplete` (jobs without one are absent).
pub fn incomplete_visits(
    conn: &mut DbConnection,
    job_ids: &[String],
) -> QueryResult<std::collections::HashMap<String, u32>> {
    let mut out = std::collections::HashMap::new();
    if job_ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<String> = report_visits::table
        .filter(report_visits::job_id.eq_any(job_ids))
        .filter(report_visits::outcome.eq("incomplete"))
        .select(report_visits::job_id)
        .load(conn)?;
    for job in rows {
        *out.entry(job).or_insert(0) += 1;
    }
    Ok(out)
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
