//! Technicians on a map `/console/technicians`: the caller's subtree (admins: everyone), each at its last
//! known position (else its home base), with today's load. Scoped like `GET /v1/technicians`.

use actix_web::{get, web};
use maud::html;
use serde::Deserialize;

use super::page::{Ctx, PageResult};
use crate::domain::Role;
use crate::storage::technicians;

/// The most technicians one map shows (the board's figure: 1,000 per organisation, with room).
const MAX: i64 = 5_000;

#[get("/console/technicians")]
pub async fn page(ctx: Ctx) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let subtree = caller.subtree().unwrap_or("/").to_owned();
    let techs = ctx
        .state
        .db
        .run(move |conn| Ok(technicians::list(conn, &subtree, None, None, MAX)?))
        .await
        .map_err(|e| ctx.fail(e))?;
    let points: Vec<serde_json::Value> = techs
        .iter()
        .map(|t| {
            let live = t.pos_lat.zip(t.pos_lon);
            let (lat, lon) = live.unwrap_or((t.home_lat, t.home_lon));
            serde_json::json!({"lat": lat, "lon": lon, "label": t.name,
                "color": if !t.active { "#6b6b6b" } else if live.is_some() { "#0f5a1f" } else { "#0b5394" }})
        })
        .collect();
    let body = html! {
        h1 { (ctx.t("technicians")) " " span.badge { (techs.len()) } }
        p.note { (ctx.t("tech_legend")) }
        div.map.tall #tech-map data-points=(serde_json::Value::from(points).to_string()) role="img" aria-label=(ctx.t("map")) {}
        table.jobs {
            thead { tr { th { (ctx.t("technician")) } th { (ctx.t("position")) } th { (ctx.t("status")) } } }
            tbody { @for t in techs.iter().take(200) { tr {
                td { a href=(format!("/console/technicians/{}", t.id)) { (t.name) } }
                td { @match t.pos_lat.zip(t.pos_lon) {
                    Some((lat, lon)) => (format!("{lat:.4}, {lon:.4}")),
                    None => (ctx.t("home_base")),
                } }
                td { @if t.active { (ctx.t("active")) } @else { (ctx.t("inactive")) } }
            } } }
        }
    };
    Ok(ctx.map_page(ctx.t("technicians"), body))
}

#[derive(Debug, Default, Deserialize)]
pub struct DayQuery {
    date: Option<String>,
}

/// A technician's day `/console/technicians/{id}?date=`: the planned route on the map, numbered in order, with
/// planned arrival, start and departure in the technician's time zone (`planning::day_route`, scoped like
/// `GET /v1/technicians/{id}/route`).
#[get("/console/technicians/{id}")]
pub async fn day(ctx: Ctx, id: web::Path<String>, q: web::Query<DayQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let date = match q.date.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ctx.fail(crate::error::ApiError::invalid("date", "must be a date as YYYY-MM-DD")))?,
        ),
        None => None,
    };
    let (id, now) = (id.into_inner(), ctx.now());
    let route = ctx
        .state
        .db
        .run(move |conn| crate::app::planning::day_route(conn, &caller, &id, date, now))
        .await
        .map_err(|e| ctx.fail(e))?;
    let zone = crate::domain::shift::zone(&route.technician.timezone).map_err(|e| ctx.fail(e.into()))?;
    let local = |t: chrono::NaiveDateTime| t.and_utc().with_timezone(&zone).format("%H:%M").to_string();
    let t = &route.technician;
    let start = t.pos_lat.zip(t.pos_lon).unwrap_or((t.home_lat, t.home_lon));
    let mut points = vec![serde_json::json!({"lat": start.0, "lon": start.1, "label": t.name, "color": "#0f5a1f"})];
    let mut path = vec![serde_json::json!([start.0, start.1])];
    for (stop, job) in &route.stops {
        let label = format!("{}. {} {}", stop.position + 1, local(stop.planned_start), job.address);
        points.push(serde_json::json!({"lat": job.lat, "lon": job.lon, "label": label}));
        path.push(serde_json::json!([job.lat, job.lon]));
    }
    let body = html! {
        h1 { (t.name) }
        form.row method="get" action=(format!("/console/technicians/{}", t.id)) {
            label for="date" { (ctx.t("day")) }
            input #date type="date" name="date" value=(route.date);
            button.secondary type="submit" { (ctx.t("filter")) }
        }
        p.note { (ctx.t("timezone")) ": " (t.timezone) }
        div.map.tall #route-map data-points=(serde_json::Value::from(points).to_string())
            data-route=(serde_json::Value::from(path).to_string()) role="img" aria-label=(ctx.t("map")) {}
        @if route.stops.is_empty() { p.note { (ctx.t("no_stops")) } } @else {
            table.jobs #route {
                thead { tr { th { "#" } th { (ctx.t("address")) } th { (ctx.t("arrival")) } th { (ctx.t("start")) } th { (ctx.t("departure")) } th { (ctx.t("status")) } } }
                tbody { @for (stop, job) in &route.stops { tr.stop data-job=(job.id) {
                    td { (stop.position + 1) }
                    td { a href=(format!("/console/jobs/{}", job.id)) { (job.address) } }
                    td { (local(stop.planned_arrival)) }
                    td { (local(stop.planned_start)) @if !stop.feasible { " ⚠" } }
                    td { (local(stop.planned_departure)) }
                    td { (ctx.t(&format!("st_{}", job.status.as_str()))) }
                } } }
            }
        }
    };
    Ok(ctx.map_page(&t.name, body))
}
