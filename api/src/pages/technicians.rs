//! Technicians on a map `/console/technicians`: the caller's subtree (admins: everyone), each at its last
//! known position (else its home base), with today's load. Scoped like `GET /v1/technicians`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use maud::html;
use serde::Deserialize;

use super::page::{Ctx, FormFields, PageResult, checked_input, described_by, field_error, stored};
use crate::app::network;
use crate::domain::shift::hh_mm;
use crate::domain::{Caller, Invalid, Invalids, Role};
use crate::error::ApiError;
use crate::storage::{json, orgs, technicians};

/// The most technicians one map shows (the board's figure: 1,000 per organisation, with room).
const MAX: i64 = 5_000;

/// Rows of the table on one page (the map shows them all).
const TABLE_PAGE: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// The table continues after this technician id (the list is in id order).
    after: Option<String>,
}

#[get("/console/technicians")]
pub async fn page(ctx: Ctx, q: web::Query<ListQuery>) -> PageResult {
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
    let after = q.after.as_deref().unwrap_or("");
    let rows: Vec<&technicians::Technician> =
        techs.iter().filter(|t| t.id.as_str() > after).take(TABLE_PAGE + 1).collect();
    let next = (rows.len() > TABLE_PAGE).then(|| rows[TABLE_PAGE - 1].id.clone());
    let body = html! {
        h1 { (ctx.t("technicians")) " " span.badge { (techs.len()) } }
        p { a.button #new-technician href="/console/technicians/new" { (ctx.t("new_technician")) } }
        p.note { (ctx.t("tech_legend")) }
        div.map.tall #tech-map data-points=(serde_json::Value::from(points).to_string()) role="img" aria-label=(ctx.t("map")) {}
        table.jobs {
            thead { tr { th { (ctx.t("technician")) } th { (ctx.t("position")) } th { (ctx.t("status")) } th { span.sr-only { (ctx.t("edit")) } } } }
            tbody { @for t in rows.iter().take(TABLE_PAGE) { tr data-technician=(t.id) {
                td { a href=(format!("/console/technicians/{}", t.id)) { (t.name) } }
                td { @match t.pos_lat.zip(t.pos_lon) {
                    Some((lat, lon)) => (format!("{lat:.4}, {lon:.4}")),
                    None => (ctx.t("home_base")),
                } }
                td { @if t.active { (ctx.t("active")) } @else { (ctx.t("inactive")) } }
                td { a.edit href=(format!("/console/technicians/{}/edit", t.id)) { (ctx.t("edit")) } }
            } } }
        }
        @if let Some(after) = &next {
            p.pager { a rel="next" href=(format!("/console/technicians?after={after}")) { (ctx.t("next_page")) } }
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
        p { a.edit href=(format!("/console/technicians/{}/edit", t.id)) { (ctx.t("edit")) } }
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

/// The technician form as typed (the console's create and edit pages).
#[derive(Debug, Clone, Default)]
struct TechForm {
    org_id: String,
    name: String,
    skills: String,
    lat: String,
    lon: String,
    timezone: String,
    shift_start: String,
    shift_end: String,
    days: Vec<u8>,
    daily_capacity: String,
    max_travel_km: String,
    active: bool,
}

impl TechForm {
    /// A new technician's defaults: a day shift every weekday, 8 visits, active.
    fn blank(org_id: Option<String>) -> TechForm {
        TechForm {
            org_id: org_id.unwrap_or_default(),
            shift_start: "09:00".into(),
            shift_end: "18:00".into(),
            days: vec![1, 2, 3, 4, 5],
            daily_capacity: "8".into(),
            active: true,
            ..TechForm::default()
        }
    }

    fn posted(f: &FormFields) -> TechForm {
        TechForm {
            org_id: f.get("org_id").to_owned(),
            name: f.get("name").to_owned(),
            skills: f.get("skills").to_owned(),
            lat: f.get("lat").trim().to_owned(),
            lon: f.get("lon").trim().to_owned(),
            timezone: f.get("timezone").trim().to_owned(),
            shift_start: f.get("shift_start").trim().to_owned(),
            shift_end: f.get("shift_end").trim().to_owned(),
            days: f.all("days").iter().filter_map(|d| d.trim().parse().ok()).collect(),
            daily_capacity: f.get("daily_capacity").trim().to_owned(),
            max_travel_km: f.get("max_travel_km").trim().to_owned(),
            active: f.ticked("active"),
        }
    }

    fn stored(t: &technicians::Technician) -> Result<TechForm, ApiError> {
        let shift = json::shift(&t.shift)?;
        Ok(TechForm {
            org_id: t.org_id.clone(),
            name: t.name.clone(),
            skills: json::codes(&t.skills)?.join(", "),
            lat: t.home_lat.to_string(),
            lon: t.home_lon.to_string(),
            timezone: t.timezone.clone(),
            shift_start: hh_mm(shift.start),
            shift_end: hh_mm(shift.end),
            days: shift.days,
            daily_capacity: t.daily_capacity.to_string(),
            max_travel_km: t.max_travel_km.map(|km| km.to_string()).unwrap_or_default(),
            active: t.active,
        })
    }

    /// The typed text as the use case's values; what does not even parse as a number is an error of its own
    /// (the API's field names, so the same messages land beside the same inputs).
    fn values(&self, bad: &mut Invalids) -> Values {
        let number = |bad: &mut Invalids, field: &str, text: &str| -> Option<f64> {
            let parsed = text.replace(',', ".").parse::<f64>().ok().filter(|v| v.is_finite());
            if parsed.is_none() {
                bad.push(Invalid::new(field, "must be a number"));
            }
            parsed
        };
        let home_base = if self.lat.is_empty() && self.lon.is_empty() {
            bad.push(Invalid::new("home_base", "tap the map or type latitude and longitude"));
            (0.0, 0.0)
        } else {
            (
                number(bad, "home_base.lat", &self.lat).unwrap_or(0.0),
                number(bad, "home_base.lon", &self.lon).unwrap_or(0.0),
            )
        };
        let daily_capacity = self.daily_capacity.parse::<i32>().unwrap_or_else(|_| {
            bad.push(Invalid::new("daily_capacity", "must be a whole number of visits"));
            0
        });
        let max_travel_km =
            if self.max_travel_km.is_empty() { None } else { number(bad, "max_travel_km", &self.max_travel_km) };
        Values {
            skills: self
                .skills
                .split([',', ';', ' ', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            home_base,
            shift: network::ShiftDraft {
                start: self.shift_start.clone(),
                end: self.shift_end.clone(),
                days: self.days.clone(),
            },
            timezone: Some(self.timezone.clone()).filter(|z| !z.is_empty()),
            daily_capacity,
            max_travel_km,
        }
    }
}

/// The form's typed values that need parsing.
struct Values {
    skills: Vec<String>,
    home_base: (f64, f64),
    shift: network::ShiftDraft,
    timezone: Option<String>,
    daily_capacity: i32,
    max_travel_km: Option<f64>,
}

/// What the form offers to choose from: organisations in scope (create) and time zones in use.
struct Choices {
    orgs: Vec<orgs::Org>,
    zones: Vec<String>,
}

fn choices(conn: &mut crate::db::DbConnection, caller: &Caller) -> Result<Choices, ApiError> {
    let orgs = orgs::list_subtree(conn, caller.subtree().unwrap_or("/"), None, 5_000)?;
    let mut zones: Vec<String> = orgs.iter().map(|o| o.timezone.clone()).collect();
    zones.sort();
    zones.dedup();
    Ok(Choices { orgs, zones })
}

/// `/console/technicians/new` and `/console/technicians/{id}/edit`: the form, with each refused field's message
/// beside its input and everything typed kept.
fn tech_form_page(
    ctx: &Ctx,
    editing: Option<&technicians::Technician>,
    f: &TechForm,
    choices: &Choices,
    bad: &Invalids,
    saved: bool,
) -> HttpResponse {
    let title = if editing.is_some() { ctx.t("edit_technician") } else { ctx.t("new_technician") };
    let action = editing
        .map_or_else(|| "/console/technicians/new".to_owned(), |t| format!("/console/technicians/{}/edit", t.id));
    let points = match (f.lat.parse::<f64>(), f.lon.parse::<f64>()) {
        (Ok(lat), Ok(lon)) => serde_json::json!([{"lat": lat, "lon": lon, "label": f.name}]).to_string(),
        _ => "[]".into(),
    };
    let status = if bad.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let input = |id: &str, field: &str| (described_by(bad, field, id), bad.for_field(field).is_some());
    let body = html! {
        h1 { (title) }
        @if saved { p.ok role="status" { (ctx.t("saved")) } }
        @if !bad.is_empty() { p.error role="alert" { (ctx.t("invalid")) } }
        @if let Some(t) = editing {
            p { a href=(format!("/console/technicians/{}", t.id)) { (ctx.t("day_route")) } " · "
                a href=(format!("/console/users/new?technician_id={}", t.id)) { (ctx.t("create_login")) } }
        }
        form.stack #technician-form method="post" action=(action) novalidate {
            (ctx.csrf_field())
            label for="org_id" { (ctx.t("organisation")) }
            @if let Some(t) = editing {
                select #org_id name="org_id" disabled {
                    @for o in choices.orgs.iter().filter(|o| o.id == t.org_id) { option value=(o.id) selected { (o.name) } }
                }
            } @else {
                @let (desc, invalid) = input("org_id", "org_id");
                select #org_id name="org_id" required aria-describedby=[desc] aria-invalid=[invalid.then_some("true")] {
                    @for o in &choices.orgs {
                        option value=(o.id) selected[o.id == f.org_id] {
                            (("\u{2003}").repeat(usize::try_from(o.level - choices.orgs[0].level).unwrap_or(0))) (o.name)
                        }
                    }
                }
                (field_error(bad, "org_id", "org_id"))
            }
            label for="name" { (ctx.t("name")) }
            (checked_input(bad, "name", "name", "text", &f.name))
            label for="skills" { (ctx.t("skills")) }
            (checked_input(bad, "skills", "skills", "text", &f.skills))
            p.note #home-hint { (ctx.t("home_hint")) }
            div.map data-pick="" data-points=(points) role="application" aria-label=(ctx.t("map")) aria-describedby="home-hint" {}
            div.grid2 {
                div {
                    label for="lat" { (ctx.t("lat")) } br;
                    (checked_input(bad, "lat", "home_base.lat", "decimal", &f.lat))
                }
                div {
                    label for="lon" { (ctx.t("lon")) } br;
                    (checked_input(bad, "lon", "home_base.lon", "decimal", &f.lon))
                }
            }
            @if let Some(e) = bad.0.iter().find(|e| e.field == "home_base") { span.field-error role="alert" { (e.message) } }
            label for="timezone" { (if editing.is_some() { ctx.t("timezone") } else { ctx.t("timezone_default") }) }
            @let (desc, invalid) = input("timezone", "timezone");
            input #timezone name="timezone" list="zones" autocomplete="off" value=(f.timezone)
                aria-describedby=[desc] aria-invalid=[invalid.then_some("true")];
            datalist #zones { @for z in &choices.zones { option value=(z) {} } }
            (field_error(bad, "timezone", "timezone"))
            fieldset {
                legend { (ctx.t("shift")) }
                div.grid2 {
                    div {
                        label for="shift_start" { (ctx.t("shift_start")) } br;
                        (checked_input(bad, "shift_start", "shift.start", "time", &f.shift_start))
                    }
                    div {
                        label for="shift_end" { (ctx.t("shift_end")) } br;
                        (checked_input(bad, "shift_end", "shift.end", "time", &f.shift_end))
                    }
                }
                p.note { (ctx.t("shift_hint")) }
                div.days role="group" aria-label=(ctx.t("work_days")) {
                    @for d in 1u8..=7 {
                        label.day { input type="checkbox" name="days" value=(d) checked[f.days.contains(&d)]; " " (ctx.t(&format!("wd{d}"))) }
                    }
                }
                (field_error(bad, "shift.days", "days"))
            }
            label for="daily_capacity" { (ctx.t("daily_capacity")) }
            (checked_input(bad, "daily_capacity", "daily_capacity", "number", &f.daily_capacity))
            label for="max_travel_km" { (ctx.t("max_travel_km")) }
            (checked_input(bad, "max_travel_km", "max_travel_km", "decimal", &f.max_travel_km))
            label { input #active type="checkbox" name="active" value="true" checked[f.active]; " " (ctx.t("is_active")) }
            button #save-technician type="submit" { (if editing.is_some() { ctx.t("save") } else { ctx.t("create") }) }
        }
    };
    ctx.respond(status, title, body, true)
}

/// The checked value when nothing was refused, neither by the page's parsing (`bad`) nor by the use case's checks.
fn all_checked<T>(mut bad: Invalids, checked: Result<T, Invalids>) -> Result<T, Invalids> {
    match checked {
        Ok(value) if bad.is_empty() => Ok(value),
        Ok(_) => Err(bad),
        Err(more) => {
            bad.merge(more);
            Err(bad)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    org_id: Option<String>,
}

/// The form for a new technician of an organisation the caller manages.
#[get("/console/technicians/new")]
pub async fn new_form(ctx: Ctx, q: web::Query<NewQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let choices = ctx.state.db.run(move |conn| choices(conn, &caller)).await.map_err(|e| ctx.fail(e))?;
    let org = q.into_inner().org_id.or_else(|| ctx.caller.as_ref().and_then(|c| c.org_id.clone()));
    Ok(tech_form_page(&ctx, None, &TechForm::blank(org), &choices, &Invalids::default(), false))
}

/// Creates the technician with the API's checks (`network::TechnicianDraft::check`) and use case: a refused
/// field re-renders the form (422) with everything typed; an organisation outside the caller's scope is 404.
#[post("/console/technicians/new")]
pub async fn create(ctx: Ctx, form: web::Form<FormFields>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    ctx.check_csrf(form.get("csrf"))?;
    let f = TechForm::posted(&form);
    let mut bad = Invalids::default();
    let v = f.values(&mut bad);
    let draft = network::TechnicianDraft {
        org_id: f.org_id.clone(),
        name: f.name.clone(),
        skills: v.skills,
        home_base: v.home_base,
        shift: v.shift,
        absences: Vec::new(),
        timezone: v.timezone,
        daily_capacity: v.daily_capacity,
        parts: Vec::new(),
        active: f.active,
        max_travel_km: v.max_travel_km,
    };
    let (now, who) = (ctx.now(), caller.clone());
    let outcome = match all_checked(bad, draft.check()) {
        Ok(new) => stored(
            &ctx,
            ctx.state.db.write(move |conn| network::create_technician(conn, &who, new.clone(), now)).await,
        )?
        .map(|t| t.id),
        Err(bad) => Err(bad),
    };
    match outcome {
        Ok(id) => Ok(ctx.see_other(&format!("/console/technicians/{id}/edit?saved=1"))),
        Err(bad) => {
            let choices = ctx.state.db.run(move |conn| choices(conn, &caller)).await.map_err(|e| ctx.fail(e))?;
            Ok(tech_form_page(&ctx, None, &f, &choices, &bad, false))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct EditQuery {
    saved: Option<String>,
}

/// The form for a technician the caller manages (404 otherwise, like `PATCH /v1/technicians/{id}`).
#[get("/console/technicians/{id}/edit")]
pub async fn edit_form(ctx: Ctx, id: web::Path<String>, q: web::Query<EditQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let id = id.into_inner();
    let (t, choices) = ctx
        .state
        .db
        .run(move |conn| Ok((network::find_managed_technician(conn, &caller, &id)?, choices(conn, &caller)?)))
        .await
        .map_err(|e| ctx.fail(e))?;
    let f = TechForm::stored(&t).map_err(|e| ctx.fail(e))?;
    Ok(tech_form_page(&ctx, Some(&t), &f, &choices, &Invalids::default(), q.saved.is_some()))
}

/// Saves the form through the API's checks and use case (`network::TechnicianPatch::check`,
/// `network::update_technician`): the dispatch cache follows the change log as after a `PATCH`.
#[post("/console/technicians/{id}/edit")]
pub async fn save(ctx: Ctx, id: web::Path<String>, form: web::Form<FormFields>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    ctx.check_csrf(form.get("csrf"))?;
    let f = TechForm::posted(&form);
    let mut bad = Invalids::default();
    let v = f.values(&mut bad);
    let patch = network::TechnicianPatch {
        name: Some(f.name.clone()),
        skills: Some(v.skills),
        home_base: Some(v.home_base),
        shift: Some(v.shift),
        absences: None,
        timezone: v.timezone,
        daily_capacity: Some(v.daily_capacity),
        parts: None,
        active: Some(f.active),
        max_travel_km: Some(v.max_travel_km),
    };
    let (id, now, who) = (id.into_inner(), ctx.now(), caller.clone());
    let back = format!("/console/technicians/{id}/edit?saved=1");
    // Scope first: a technician outside it is 404 whatever was typed (the update checks it again).
    let (find, t_id) = (caller.clone(), id.clone());
    let t = ctx
        .state
        .db
        .run(move |conn| network::find_managed_technician(conn, &find, &t_id))
        .await
        .map_err(|e| ctx.fail(e))?;
    let outcome = match all_checked(bad, patch.check()) {
        Ok(update) => stored(
            &ctx,
            ctx.state.db.write(move |conn| network::update_technician(conn, &who, &id, update.clone(), now)).await,
        )?
        .map(drop),
        Err(bad) => Err(bad),
    };
    match outcome {
        Ok(()) => Ok(ctx.see_other(&back)),
        Err(bad) => {
            let choices = ctx.state.db.run(move |conn| choices(conn, &caller)).await.map_err(|e| ctx.fail(e))?;
            Ok(tech_form_page(&ctx, Some(&t), &f, &choices, &bad, false))
        }
    }
}
