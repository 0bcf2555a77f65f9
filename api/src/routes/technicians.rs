//! `/v1/technicians`: field engineers of an organisation.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::network;
use crate::auth::AuthUser;
use crate::domain::{self, Invalid, Position, Role};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::routes::orgs::{PartQty, parts_view};
use crate::routes::pagination::{self, Page};
use crate::state::AppState;
use crate::storage::{json, technicians, utc};

/// A point on the Earth.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    /// The position, checked; errors name `field.lat` / `field.lon`.
    pub fn position(&self, field: &str) -> Result<Position, Invalid> {
        Position::parse(field, self.lat, self.lon)
    }
}

impl From<Position> for LatLon {
    fn from(p: Position) -> LatLon {
        LatLon { lat: p.lat, lon: p.lon }
    }
}

/// A weekly shift in the technician's local time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Local "HH:MM".
    pub start: String,
    /// Local "HH:MM"; earlier than `start` means the shift ends after midnight.
    pub end: String,
    /// ISO weekdays worked, 1 = Monday … 7 = Sunday (default: every day).
    #[serde(default = "domain::shift::every_day")]
    pub days: Vec<u8>,
}

impl From<domain::Shift> for Shift {
    fn from(s: domain::Shift) -> Shift {
        Shift { start: domain::shift::hh_mm(s.start), end: domain::shift::hh_mm(s.end), days: s.days }
    }
}

/// A time the technician is away.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Absence {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl From<&Absence> for domain::Absence {
    fn from(a: &Absence) -> domain::Absence {
        domain::Absence { from: a.from, to: a.to, reason: a.reason.clone() }
    }
}

impl From<domain::Absence> for Absence {
    fn from(a: domain::Absence) -> Absence {
        Absence { from: a.from, to: a.to, reason: a.reason }
    }
}

/// A technician as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TechnicianView {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub skills: Vec<String>,
    pub home_base: LatLon,
    pub position: Option<LatLon>,
    pub position_at: Option<DateTime<Utc>>,
    pub shift: Shift,
    pub absences: Vec<Absence>,
    pub timezone: String,
    pub daily_capacity: i32,
    pub parts: Vec<PartQty>,
    pub active: bool,
    /// Its own service radius in km: dispatch never offers it a job farther from its position; `null`: its
    /// organisation's (or the nearest ancestor's; none anywhere means no limit).
    pub max_travel_km: Option<f64>,
}

impl TechnicianView {
    /// From a stored row.
    pub fn from_row(t: technicians::Technician) -> Result<TechnicianView, ApiError> {
        Ok(TechnicianView {
            skills: json::codes(&t.skills)?,
            shift: json::shift(&t.shift)?.into(),
            absences: json::absences(&t.absences)?.into_iter().map(Absence::from).collect(),
            parts: parts_view(json::parts(&t.parts)?),
            home_base: LatLon { lat: t.home_lat, lon: t.home_lon },
            position: t.pos_lat.zip(t.pos_lon).map(|(lat, lon)| LatLon { lat, lon }),
            position_at: t.position_at.map(utc),
            id: t.id,
            org_id: t.org_id,
            name: t.name,
            timezone: t.timezone,
            daily_capacity: t.daily_capacity,
            active: t.active,
            max_travel_km: t.max_travel_km,
        })
    }
}

/// `POST /v1/technicians` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTechnician {
    pub org_id: String,
    pub name: String,
    #[serde(default)]
    pub skills: Vec<String>,
    pub home_base: LatLon,
    pub shift: Shift,
    #[serde(default)]
    pub absences: Vec<Absence>,
    /// IANA time zone; the organisation's when absent.
    pub timezone: Option<String>,
    /// Visits per day.
    pub daily_capacity: i32,
    #[serde(default)]
    pub parts: Vec<PartQty>,
    #[serde(default = "yes")]
    pub active: bool,
    /// Service radius in km (0 < r ≤ 20000); its organisation's when absent.
    pub max_travel_km: Option<f64>,
}

fn yes() -> bool {
    true
}

impl Shift {
    /// The shift as typed, for the use case's checks.
    fn draft(self) -> network::ShiftDraft {
        network::ShiftDraft { start: self.start, end: self.end, days: self.days }
    }
}

impl CreateTechnician {
    /// The body as typed, for the use case's checks (`network::TechnicianDraft::check`, shared with the console).
    fn draft(self) -> network::TechnicianDraft {
        network::TechnicianDraft {
            org_id: self.org_id,
            name: self.name,
            skills: self.skills,
            home_base: (self.home_base.lat, self.home_base.lon),
            shift: self.shift.draft(),
            absences: self.absences.iter().map(domain::Absence::from).collect(),
            timezone: self.timezone,
            daily_capacity: self.daily_capacity,
            parts: self.parts.iter().map(domain::PartQty::from).collect(),
            active: self.active,
            max_travel_km: self.max_travel_km,
        }
    }
}

/// Adds a technician to an organisation (admin; a dispatcher within its subtree).
#[utoipa::path(post, path = "/v1/technicians", operation_id = "create_technician", tag = "network", request_body = CreateTechnician,
    responses((status = 201, body = TechnicianView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "organisation not found or outside your subtree (`not_found`)")),
    security(("bearer" = [])))]
#[post("/v1/technicians")]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateTechnician>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let new = body.0.draft().check()?;
    let now = state.now();
    let row = state.db.write(move |conn| network::create_technician(conn, &caller, new.clone(), now)).await?;
    Ok(HttpResponse::Created().json(TechnicianView::from_row(row)?))
}

/// `GET /v1/technicians` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this organisation's technicians.
    pub org_id: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Technicians the caller manages (admin: all; dispatcher: own subtree).
#[utoipa::path(get, path = "/v1/technicians", operation_id = "list_technicians", tag = "network", params(ListQuery),
    responses((status = 200, body = Page<TechnicianView>), (status = 403, description = "this role may not use this endpoint (`forbidden`)")), security(("bearer" = [])))]
#[get("/v1/technicians")]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let q = query.0;
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = pagination::decode_cursor(q.cursor.as_deref())?;
    let prefix = caller.subtree().unwrap_or("/").to_owned();
    let rows = state
        .db
        .run(move |conn| Ok(technicians::list(conn, &prefix, q.org_id.as_deref(), after.as_deref(), limit)?))
        .await?;
    let page: Page<TechnicianView> = pagination::page(rows, limit, |t| t.id.clone(), TechnicianView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

/// Loads a technician the caller may see: admins all, dispatchers their
/// subtree, a technician itself.
async fn find_visible(state: &AppState, caller: &AuthUser, id: String) -> Result<technicians::Technician, ApiError> {
    let caller = caller.clone();
    state.db.run(move |conn| network::find_visible_technician(conn, &caller, &id)).await
}

/// One technician.
#[utoipa::path(get, path = "/v1/technicians/{id}", operation_id = "get_technician", tag = "network",
    responses((status = 200, body = TechnicianView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such technician in your scope (`not_found`)")),
    security(("bearer" = [])))]
#[get("/v1/technicians/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher, Role::Technician])?;
    let t = find_visible(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(TechnicianView::from_row(t)?))
}

/// `PATCH /v1/technicians/{id}` body: only the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTechnician {
    pub name: Option<String>,
    pub skills: Option<Vec<String>>,
    pub home_base: Option<LatLon>,
    pub shift: Option<Shift>,
    pub absences: Option<Vec<Absence>>,
    pub timezone: Option<String>,
    pub daily_capacity: Option<i32>,
    pub parts: Option<Vec<PartQty>>,
    pub active: Option<bool>,
    /// Service radius in km; `null` goes back to the organisation's.
    #[serde(default, deserialize_with = "crate::routes::orgs::some_or_null")]
    #[schema(value_type = Option<f64>)]
    pub max_travel_km: Option<Option<f64>>,
}

impl UpdateTechnician {
    /// The body as typed, for the use case's checks (`network::TechnicianPatch::check`, shared with the console).
    fn patch(self) -> network::TechnicianPatch {
        network::TechnicianPatch {
            name: self.name,
            skills: self.skills,
            home_base: self.home_base.map(|h| (h.lat, h.lon)),
            shift: self.shift.map(Shift::draft),
            absences: self.absences.map(|a| a.iter().map(domain::Absence::from).collect()),
            timezone: self.timezone,
            daily_capacity: self.daily_capacity,
            parts: self.parts.map(|p| p.iter().map(domain::PartQty::from).collect()),
            active: self.active,
            max_travel_km: self.max_travel_km,
        }
    }
}

/// Changes a technician (admin; a dispatcher of its organisation or an ancestor).
#[utoipa::path(patch, path = "/v1/technicians/{id}", operation_id = "update_technician", tag = "network", request_body = UpdateTechnician,
    responses((status = 200, body = TechnicianView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such technician in your scope (`not_found`)")), security(("bearer" = [])))]
#[patch("/v1/technicians/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<UpdateTechnician>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let update = body.0.patch().check()?;
    let now = state.now();
    let id = id.into_inner();
    let row = state.db.write(move |conn| network::update_technician(conn, &caller, &id, update.clone(), now)).await?;
    Ok(HttpResponse::Ok().json(TechnicianView::from_row(row)?))
}
