//! A job in the console `/console/jobs/{id}`: facts, the open offer with
//! accept (technician picker in dispatch's ranking order), decline with a
//! reason and subcontract; the chain of hops with SLA outcomes; the "why
//! this technician" explanation; the events. Scoped like `GET /v1/jobs/{id}`.

use std::collections::HashMap;

use actix_web::{get, post, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::page::{Ctx, PageResult, safe_next};
use crate::app::{explanation, offers as offer_flow, review};
use crate::domain::sla::SlaOutcome;
use crate::domain::{Caller, Role, validate};
use crate::error::ApiError;
use crate::storage::{jobs, offers, orgs, technicians, utc};

/// What the job page shows.
struct JobPage {
    job: jobs::Job,
    offer: Option<offers::Offer>,
    /// The offer is to the caller's organisation: it may answer.
    answerable: bool,
    hops: Vec<review::Hop>,
    events: Vec<jobs::JobEvent>,
    decisions: Vec<Value>,
    names: HashMap<String, String>,
    /// Technicians of the caller's organisation, ranked order first: (id, name, distance km, rank).
    picker: Vec<(String, String, f64, Option<usize>)>,
    children: Vec<orgs::Org>,
    technician: Option<String>,
}

fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let at = |p: (f64, f64)| dispatch::model::LatLon::new(p.0, p.1);
    dispatch::spatial::haversine_m(at(a), at(b)) / 1000.0
}

fn load(
    conn: &mut crate::db::DbConnection,
    caller: &Caller,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<JobPage, ApiError> {
    let job = jobs::find_scoped(conn, id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    let offer = offers::pending_for_job(conn, &job.id)?;
    let answerable = caller.role == Role::Dispatcher
        && offer.as_ref().is_some_and(|o| Some(&o.org_id) == caller.org_id.as_ref() && utc(o.deadline) > now);
    let hops = review::hops(conn, std::slice::from_ref(&job), now)?.remove(&job.id).unwrap_or_default();
    let events = jobs::events(conn, &job.id, None, 500)?;
    let decisions = explanation::explanations(conn, &job.id)?;
    // Names of every technician the explanation ranks.
    let latest = decisions.last();
    let ranked: Vec<String> = latest
        .and_then(|d| d["ranked"].as_array())
        .map(|r| r.iter().filter_map(|c| c["technician_id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let mut ids = ranked.clone();
    ids.extend(job.technician_id.clone());
    let names: HashMap<String, String> = technicians::by_ids(conn, &ids)?.into_iter().map(|t| (t.id, t.name)).collect();
    let (mut picker, mut children) = (Vec::new(), Vec::new());
    if answerable {
        let org = caller.org_id.clone().unwrap_or_default();
        let path = caller.org_path.clone().unwrap_or_default();
        let own = technicians::list(conn, &path, Some(&org), None, 1000)?;
        picker = own
            .into_iter()
            .filter(|t| t.active)
            .map(|t| {
                let at = (t.pos_lat.unwrap_or(t.home_lat), t.pos_lon.unwrap_or(t.home_lon));
                let rank = ranked.iter().position(|r| *r == t.id);
                (t.id, t.name, km(at, (job.lat, job.lon)), rank)
            })
            .collect();
        // Dispatch's ranking first (its order), then the rest by distance.
        picker.sort_by(|a, b| match (a.3, b.3) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.2.total_cmp(&b.2),
        });
        children = orgs::list_subtree(conn, &path, None, 500)?
            .into_iter()
            .filter(|o| o.parent_id.as_deref() == Some(org.as_str()))
            .collect();
    }
    let technician = job.technician_id.as_ref().and_then(|t| names.get(t).cloned());
    Ok(JobPage { job, offer, answerable, hops, events, decisions, names, picker, children, technician })
}

/// The job page.
#[get("/console/jobs/{id}")]
pub async fn page(ctx: Ctx, id: web::Path<String>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin, Role::Reviewer])?;
    let (id, now) = (id.into_inner(), ctx.now());
    let p = ctx.state.db.run(move |conn| load(conn, &caller, &id, now)).await.map_err(|e| ctx.fail(e))?;
    let title = format!("{} · {}", ctx.t("job"), p.job.address);
    let points = serde_json::json!([{"lat": p.job.lat, "lon": p.job.lon, "label": p.job.address}]).to_string();
    let body = html! {
        h1 { (ctx.t(p.job.kind.as_str())) " · " (p.job.address) }
        dl.facts {
            dt { (ctx.t("status")) } dd #job-status data-status=(p.job.status.as_str()) { (ctx.t(&format!("st_{}", p.job.status.as_str()))) }
            dt { (ctx.t("priority")) } dd { (ctx.t(&format!("pr_{}", p.job.priority.as_str()))) }
            dt { (ctx.t("window")) } dd { (ctx.window(p.job.window_start, p.job.window_end)) }
            dt { (ctx.t("problem")) } dd { (p.job.problem) }
            dt { (ctx.t("technician")) } dd { (p.technician.as_deref().unwrap_or(ctx.t("not_yet"))) }
            @if let Some(o) = &p.offer {
                dt { (ctx.t("deadline")) } dd { span.countdown data-deadline=(utc(o.deadline).to_rfc3339()) { (ctx.at(o.deadline)) } }
            }
        }
        div.map data-points=(points) role="img" aria-label=(ctx.t("map")) {}
        @if p.answerable { (offer_forms(&ctx, &p)) }
        h2 { (ctx.t("chain")) }
        table { thead { tr { th { (ctx.t("organisation")) } th { (ctx.t("role")) } th { (ctx.t("sla_accept")) } th { (ctx.t("sla_arrive")) } } }
            tbody { @for h in &p.hops { tr.hop {
                td { (h.name) }
                td { (h.roles.iter().map(|r| ctx.t(&format!("chain_{}", r.as_str()))).collect::<Vec<_>>().join(", ")) }
                td { (sla(&ctx, h.accept)) }
                td { (sla(&ctx, h.arrive)) }
            } } } }
        h2 { (ctx.t("why")) }
        (why(&ctx, &p))
        h2 { (ctx.t("events")) }
        ol.history { @for e in &p.events { li data-event=(e.event_type.as_str()) { (ctx.at(e.at)) " — " (ctx.t(&format!("ev_{}", e.event_type.as_str()))) } } }
    };
    Ok(ctx.map_page(&title, body))
}

fn sla(ctx: &Ctx, o: Option<SlaOutcome>) -> &'static str {
    match o {
        Some(SlaOutcome::Met) => ctx.t("met"),
        Some(SlaOutcome::Missed) => ctx.t("missed"),
        Some(SlaOutcome::Open) => ctx.t("open"),
        None => "—",
    }
}

fn offer_forms(ctx: &Ctx, p: &JobPage) -> Markup {
    let id = &p.job.id;
    let proposed = p.offer.as_ref().and_then(|o| o.technician_id.clone());
    html! {
        section #offer-actions {
            h2 { (ctx.t("accept")) }
            form.row method="post" action=(format!("/console/jobs/{id}/accept")) {
                (ctx.csrf_field())
                label for="technician_id" { (ctx.t("pick_technician")) }
                select #technician_id name="technician_id" {
                    @for (tid, name, d, rank) in &p.picker {
                        option value=(tid) selected[proposed.as_deref() == Some(tid.as_str())] {
                            (name) " — " (format!("{d:.1}")) " " (ctx.t("km"))
                            @if let Some(r) = rank { " · " (ctx.t("rank")) " " (r + 1) }
                            @if proposed.as_deref() == Some(tid.as_str()) { " · " (ctx.t("proposed")) }
                        }
                    }
                }
                button.accept type="submit" { (ctx.t("accept")) }
            }
            h2 { (ctx.t("decline")) }
            form.row method="post" action=(format!("/console/jobs/{id}/decline")) {
                (ctx.csrf_field())
                label for="decline_reason" { (ctx.t("decline_reason")) }
                input #decline_reason name="reason" required maxlength="2000";
                button.danger type="submit" { (ctx.t("decline")) }
            }
            @if !p.children.is_empty() {
                h2 { (ctx.t("subcontract")) }
                form.row method="post" action=(format!("/console/jobs/{id}/subcontract")) {
                    (ctx.csrf_field())
                    label for="org_id" { (ctx.t("to_org")) }
                    select #org_id name="org_id" { @for o in &p.children { option value=(o.id) { (o.name) } } }
                    button.secondary type="submit" { (ctx.t("subcontract")) }
                }
            }
        }
    }
}

fn why(ctx: &Ctx, p: &JobPage) -> Markup {
    let Some(d) = p.decisions.last() else { return html! { p.note { (ctx.t("no_explanation")) } } };
    let name = |id: &str| p.names.get(id).cloned().unwrap_or_else(|| id.chars().take(8).collect());
    html! {
        p #why-reason { (ctx.t("reason")) ": " code { (d["reason"]["code"].as_str().unwrap_or("")) }
            @if let Some(chosen) = d["chosen"].as_str() { " → " strong { (name(chosen)) } } }
        p.note { (ctx.t("looked_at")) " " (d["looked_at"]) ", " (ctx.t("excluded")) " " (d["excluded"]) }
        table { thead { tr { th { "#" } th { (ctx.t("technician")) } th { (ctx.t("distance")) } } }
            tbody { @for (i, c) in d["ranked"].as_array().into_iter().flatten().enumerate().take(10) { tr {
                td { (i + 1) }
                td { (name(c["technician_id"].as_str().unwrap_or(""))) }
                td { (format!("{:.1}", c["distance_m"].as_f64().unwrap_or(0.0) / 1000.0)) " " (ctx.t("km")) }
            } } } }
    }
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    technician_id: Option<String>,
    back: Option<String>,
}

/// Accepts the offer (`app::offers::accept`, as `POST /v1/jobs/{id}/accept`).
#[post("/console/jobs/{id}/accept")]
pub async fn accept(ctx: Ctx, id: web::Path<String>, form: web::Form<AcceptForm>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher])?;
    ctx.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let technician = form.technician_id.clone().filter(|t| !t.is_empty());
    let (now, speed, job_id) = (ctx.now(), ctx.state.config.travel_speed_kmh, id.clone());
    let cache = ctx.state.dispatch.clone();
    ctx.state
        .db
        .write(move |conn| offer_flow::accept(conn, &cache, &caller, &job_id, technician.as_deref(), now, speed))
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&safe_next(form.back.as_deref()).unwrap_or_else(|| format!("/console/jobs/{id}"))))
}

#[derive(Debug, Deserialize)]
pub struct DeclineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Declines with a reason: the job goes to the next candidate.
#[post("/console/jobs/{id}/decline")]
pub async fn decline(ctx: Ctx, id: web::Path<String>, form: web::Form<DeclineForm>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher])?;
    ctx.check_csrf(&form.csrf)?;
    let reason = validate::text("reason", &form.reason, validate::MAX_TEXT_CHARS).map_err(|e| ctx.fail(e.into()))?;
    let (id, now, cache) = (id.into_inner(), ctx.now(), ctx.state.dispatch.clone());
    let job_id = id.clone();
    ctx.state
        .db
        .write(move |conn| offer_flow::decline(conn, &cache, &caller, &job_id, &reason, now))
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&format!("/console/jobs/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct SubcontractForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    org_id: String,
}

/// Passes the offer to a child organisation.
#[post("/console/jobs/{id}/subcontract")]
pub async fn subcontract(ctx: Ctx, id: web::Path<String>, form: web::Form<SubcontractForm>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher])?;
    ctx.check_csrf(&form.csrf)?;
    let (id, now, org) = (id.into_inner(), ctx.now(), form.org_id.clone());
    let job_id = id.clone();
    ctx.state
        .db
        .write(move |conn| offer_flow::subcontract(conn, &caller, &job_id, &org, now))
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&format!("/console/jobs/{id}")))
}
