//! Technicians on a map `/console/technicians`: the caller's subtree (admins: everyone), each at its last
//! known position (else its home base), with today's load. Scoped like `GET /v1/technicians`.

use actix_web::get;
use maud::html;

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
                td { (t.name) }
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
