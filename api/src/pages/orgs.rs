//! Organisations `/console/orgs` (the tree: admins all, dispatchers their subtree) and one organisation's
//! territories on the map `/console/orgs/{id}`, where an admin draws a new territory by tapping its corners
//! (`app::network::put_territories`: the same checks as `PUT /v1/orgs/{id}/territories`, overlaps of
//! exclusive territories refused).

use actix_web::{get, post, web};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{Ctx, PageResult};
use crate::app::network::{self, NewTerritory};
use crate::domain::{PerPriority, Role};
use crate::error::ApiError;
use crate::geojson::{self, Geometry};
use crate::storage::orgs;

#[get("/console/orgs")]
pub async fn tree(ctx: Ctx) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let prefix = caller.subtree().unwrap_or("/").to_owned();
    let list = ctx
        .state
        .db
        .run(move |conn| Ok(orgs::list_subtree(conn, &prefix, None, 5_000)?))
        .await
        .map_err(|e| ctx.fail(e))?;
    let top = list.iter().map(|o| o.level).min().unwrap_or(0);
    let body = html! {
        h1 { (ctx.t("organisations")) }
        ul.tree {
            @for o in &list {
                li.org data-level=(o.level - top) {
                    (("\u{2003}").repeat(usize::try_from(o.level - top).unwrap_or(0)))
                    a href=(format!("/console/orgs/{}", o.id)) { (o.name) }
                    " " span.badge { (o.timezone) }
                    @if o.manual_routing { " " span.badge { (ctx.t("manual_routing")) } }
                }
            }
        }
    };
    Ok(ctx.page(ctx.t("organisations"), body))
}

/// Outer rings of a stored geometry as `[[lat, lon], …]` lists (what the map draws).
fn rings(g: &Geometry) -> Vec<Value> {
    let to_latlon = |ring: &Value| -> Value {
        Value::from(
            ring.as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some(json!([p.get(1)?.as_f64()?, p.get(0)?.as_f64()?])))
                .collect::<Vec<_>>(),
        )
    };
    match g.kind.as_str() {
        "Polygon" => g.coordinates.get(0).map(to_latlon).into_iter().collect(),
        "MultiPolygon" => {
            g.coordinates.as_array().into_iter().flatten().filter_map(|poly| poly.get(0).map(to_latlon)).collect()
        }
        _ => Vec::new(),
    }
}

#[get("/console/orgs/{id}")]
pub async fn one(ctx: Ctx, id: web::Path<String>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let id = id.into_inner();
    let (org, territories, agreement) = ctx
        .state
        .db
        .run(move |conn| {
            let org = network::find_visible_org(conn, &caller, &id)?;
            let t = network::territories(conn, &org.id)?;
            let a = network::effective_agreement(conn, &org).ok();
            Ok((org, t, a))
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    let shapes: Vec<Value> = territories
        .iter()
        .flat_map(|t| rings(&t.geometry).into_iter().map(move |r| json!({"ring": r, "exclusive": t.exclusive})))
        .collect();
    let admin = ctx.caller.as_ref().is_some_and(|c| c.role == Role::Admin);
    let body = html! {
        h1 { (org.name) }
        p { (ctx.t("territories")) ": " span #territory-count { (territories.len()) } " · " (ctx.t("territory_legend")) }
        @if territories.is_empty() { p.note { (ctx.t("no_territories")) } }
        div.map.tall #org-map data-points="[]" data-shapes=(Value::from(shapes).to_string())
            data-draw[admin] role="application" aria-label=(ctx.t("map")) {}
        @if admin {
            form.stack #territory-form method="post" action=(format!("/console/orgs/{}/territories", org.id)) {
                (ctx.csrf_field())
                p.note { (ctx.t("draw_hint")) }
                label for="polygon" { (ctx.t("corners")) }
                input #polygon name="polygon" readonly value="";
                label { input type="checkbox" name="exclusive" value="true"; " " (ctx.t("exclusive")) }
                button #save-territory type="submit" { (ctx.t("add_territory")) }
            }
            @if !territories.is_empty() {
                h2 { (ctx.t("territories")) }
                ol #territories {
                    @for (i, t) in territories.iter().enumerate() {
                        li.territory {
                            (ctx.t("territory")) " " (i + 1) " · "
                            @if t.exclusive { (ctx.t("exclusive_short")) } @else { (ctx.t("shared_short")) }
                            " "
                            form.inline method="post" action=(format!("/console/orgs/{}/territories", org.id)) {
                                (ctx.csrf_field())
                                input type="hidden" name="remove" value=(t.id);
                                button.link.remove-territory type="submit" { (ctx.t("remove")) }
                            }
                        }
                    }
                }
            }
            form.row method="post" action=(format!("/console/orgs/{}/territories", org.id)) {
                (ctx.csrf_field())
                input type="hidden" name="clear" value="true";
                button.danger type="submit" { (ctx.t("clear_territories")) }
            }
        }
        h2 { (ctx.t("agreement")) }
        @if let Some(a) = &agreement {
            @if a.inherited_from != org.id { p.note #inherited { (ctx.t("inherited")) } }
            form.row #agreement method="post" action=(format!("/console/orgs/{}/agreement", org.id)) {
                (ctx.csrf_field())
                @for (kind, per) in [("accept", &a.accept_within_min), ("arrive", &a.arrive_within_min)] {
                    @for (p, v) in [("low", per.low), ("normal", per.normal), ("high", per.high), ("urgent", per.urgent)] {
                        label { (ctx.t(&format!("{kind}_within"))) " · " (ctx.t(&format!("pr_{p}")))
                            input type="number" min="1" name=(format!("{kind}_{p}")) value=(v) readonly[!admin]; }
                    }
                }
                label { (ctx.t("ftf_target"))
                    input type="number" min="0" max="1" step="0.01" name="first_time_fix_target" value=(a.first_time_fix_target) readonly[!admin]; }
                @if admin { button.secondary #save-agreement type="submit" { (ctx.t("save")) } }
            }
        }
    };
    Ok(ctx.map_page(&org.name, body))
}

#[derive(Debug, Deserialize)]
pub struct TerritoryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    polygon: String,
    exclusive: Option<String>,
    clear: Option<String>,
    /// The id of one territory to remove.
    remove: Option<String>,
}

/// Adds the drawn territory to the organisation's (or clears them), admins only.
#[post("/console/orgs/{id}/territories")]
pub async fn save(ctx: Ctx, id: web::Path<String>, form: web::Form<TerritoryForm>) -> PageResult {
    let caller = ctx.require(&[Role::Admin])?;
    ctx.check_csrf(&form.csrf)?;
    let clear = form.clear.as_deref().and_then(crate::config::parse_bool).unwrap_or(false);
    let remove = form.remove.clone().filter(|r| !r.is_empty());
    let added = if clear || remove.is_some() {
        None
    } else {
        // `[[lon, lat], …]` corners from the map; the ring is closed here.
        let mut corners: Vec<[f64; 2]> = serde_json::from_str(&form.polygon)
            .map_err(|_| ctx.fail(ApiError::invalid("polygon", "tap at least three corners on the map")))?;
        if corners.len() < 3 {
            return Err(ctx.fail(ApiError::invalid("polygon", "tap at least three corners on the map")));
        }
        corners.push(corners[0]);
        let geometry = Geometry { kind: "Polygon".into(), coordinates: json!([corners]) };
        let shape = geojson::to_multi_polygon("polygon", &geometry).map_err(|e| ctx.fail(e))?;
        let exclusive = form.exclusive.as_deref().and_then(crate::config::parse_bool).unwrap_or(false);
        Some(NewTerritory { geometry, shape, exclusive })
    };
    let (id, now) = (id.into_inner(), ctx.now());
    let back = format!("/console/orgs/{id}");
    ctx.state
        .db
        .write(move |conn| {
            orgs::lock(conn, &id)?;
            let mut all = Vec::new();
            if !clear {
                let stored = network::territories(conn, &id)?;
                if remove.as_ref().is_some_and(|r| !stored.iter().any(|t| &t.id == r)) {
                    // The list changed since the page was drawn (its ids are new): 409, the page shows what is stored.
                    return Err(ApiError::conflict(
                        "territories_changed",
                        "the territories changed meanwhile; reload the page",
                        json!({"field": "remove"}),
                    ));
                }
                for t in stored.into_iter().filter(|t| remove.as_ref() != Some(&t.id)) {
                    let shape = geojson::to_multi_polygon("stored", &t.geometry)?;
                    all.push(NewTerritory { geometry: t.geometry, shape, exclusive: t.exclusive });
                }
                all.extend(added.clone());
            }
            network::put_territories(conn, &caller, &id, &all, now)
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&back))
}

#[derive(Debug, Deserialize)]
pub struct AgreementForm {
    #[serde(default)]
    csrf: String,
    accept_low: u32,
    accept_normal: u32,
    accept_high: u32,
    accept_urgent: u32,
    arrive_low: u32,
    arrive_normal: u32,
    arrive_high: u32,
    arrive_urgent: u32,
    first_time_fix_target: f64,
}

/// Sets the organisation's own agreement, admins only (the checks of `PUT /v1/orgs/{id}/agreement`).
#[post("/console/orgs/{id}/agreement")]
pub async fn save_agreement(ctx: Ctx, id: web::Path<String>, form: web::Form<AgreementForm>) -> PageResult {
    let caller = ctx.require(&[Role::Admin])?;
    ctx.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let accept =
        PerPriority { low: f.accept_low, normal: f.accept_normal, high: f.accept_high, urgent: f.accept_urgent };
    let arrive =
        PerPriority { low: f.arrive_low, normal: f.arrive_normal, high: f.arrive_high, urgent: f.arrive_urgent };
    let checked = accept
        .validate("accept_within_min")
        .and_then(|()| arrive.validate("arrive_within_min"))
        .map_err(ApiError::from)
        .and_then(|()| {
            if (0.0..=1.0).contains(&f.first_time_fix_target) {
                Ok(())
            } else {
                Err(ApiError::invalid("first_time_fix_target", "must be between 0 and 1"))
            }
        });
    checked.map_err(|e| ctx.fail(e))?;
    let (id, now, target) = (id.into_inner(), ctx.now(), f.first_time_fix_target);
    let back = format!("/console/orgs/{id}");
    ctx.state
        .db
        .write(move |conn| network::put_agreement(conn, &caller, &id, &accept, &arrive, target, now))
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&back))
}
