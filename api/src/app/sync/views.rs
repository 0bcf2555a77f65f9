//! What a phone is sent: a job with its client-card subset, checklist and
//! work report; the technician's own record; the route.

use mobile_sync::lifecycle::{IncompleteReason, Status};
use mobile_sync::protocol::{
    ChecklistItem, ContactView, JobView, LatLon, NoteView, PartQty, PartUseView, PhotoView, Rework, RouteStop,
    RouteView, SignatureView, TechnicianView, VisitView, Window, WorkReport,
};
use serde_json::json;

use super::checklist::checklist_template;
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::lifecycle::to_phone;
use crate::storage::jobs::Job;
use crate::storage::reports;
use crate::storage::sync as store;
use crate::storage::{customers, json, technicians, utc};

fn parts_view(text: &str) -> Result<Vec<PartQty>, ApiError> {
    Ok(json::parts(text)?.into_iter().map(|p| PartQty { sku: p.sku, qty: p.qty }).collect())
}

/// The phone's view of an assigned job: the job, the client-card subset, the checklist and the work report.
pub fn job_view(conn: &mut DbConnection, job: &Job) -> Result<JobView, ApiError> {
    let r = reports::report(conn, &job.id)?;
    let preferred_address_form = customers::preferred_address_form(conn, &job.customer_id)?;
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
    let rework = crate::app::review::rework_for_phone(conn, job)?.map(|r| Rework {
        reason: r.reason.unwrap_or_default(),
        visit: u32::try_from(r.visit).unwrap_or(0),
        returned_at: utc(r.at),
    });
    let time_on_site_secs =
        r.visits.iter().filter_map(|v| v.departed_at.map(|d| (d - v.arrived_at).num_seconds())).sum();
    Ok(JobView {
        id: job.id.clone(),
        kind: job.kind.as_str().to_owned(),
        status: to_phone(job.status),
        priority: job.priority.as_str().to_owned(),
        window: Window { start: utc(job.window_start), end: utc(job.window_end) },
        location: LatLon { lat: job.lat, lon: job.lon },
        address: job.address.clone(),
        problem: job.problem.clone(),
        required_skills: json::codes(&job.required_skills)?,
        parts: parts_view(&job.parts)?,
        contact: ContactView {
            name: job.contact_name.clone(),
            phone: job.contact_phone.clone(),
            preferred_address_form,
        },
        checklist,
        report: WorkReport {
            locked: !to_phone(job.status).report_open(),
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
        rework,
    })
}

/// The technician's own record as the phone sees it.
pub fn technician_view(conn: &mut DbConnection, technician_id: &str) -> Result<Option<TechnicianView>, ApiError> {
    let Some(t) = technicians::find(conn, technician_id)? else { return Ok(None) };
    let position = match (t.pos_lat, t.pos_lon) {
        (Some(lat), Some(lon)) => Some(LatLon { lat, lon }),
        _ => None,
    };
    let parts = parts_view(&t.parts)?;
    Ok(Some(TechnicianView { id: t.id, name: t.name, position, parts, timezone: t.timezone }))
}

/// The technician's route: the open assigned visits in the day planner's
/// order with planned times (by planned start, then position); a visit the
/// planner has not placed yet goes by its window's start among them.
pub fn route_for(conn: &mut DbConnection, technician_id: &str) -> Result<RouteView, ApiError> {
    let mut rows = store::route_rows(conn, technician_id)?;
    let key = |r: &store::RouteRow| r.3.as_ref().map_or((r.1, i32::MAX), |s| (s.3, s.1));
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
