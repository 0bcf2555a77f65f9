//! The work report a technician's phone writes: notes, checklist answers,
//! part uses, photo metadata, the signature and visits on site, and the
//! report as phones and reviewers read it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    photo_blobs, report_checklist, report_notes, report_parts, report_photos, report_signatures, report_visits,
};
use crate::db::{DbConnection, insert_unless_exists};

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
