//! `GET /v1/technicians/{id}/route` and `POST /v1/orgs/{id}/plan`: planned days.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::planning::{self, PlanReport};
use crate::auth::AuthUser;
use crate::domain::{JobStatus, Role};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::jobs::TimeWindow;
use crate::routes::technicians::LatLon;
use crate::state::AppState;
use crate::storage::utc;

/// `?date=YYYY-MM-DD` in the technician's time zone (default: today there).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DateQuery {
    pub date: Option<String>,
}

fn parse_date(value: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    value
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid("date", "must be a date as YYYY-MM-DD"))
        })
        .transpose()
}

/// One planned visit.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteStopView {
    pub position: i32,
    pub job_id: String,
    pub status: JobStatus,
    pub address: String,
    pub location: LatLon,
    /// The customer's window.
    pub window: TimeWindow,
    pub planned_arrival: DateTime<Utc>,
    /// When service starts (after waiting for the window, if early).
    pub planned_start: DateTime<Utc>,
    /// When the technician leaves: the end of service, or later so as to reach the next
    /// stop just in time (a wait for a window is spent before setting off, not at the door).
    pub planned_departure: DateTime<Utc>,
    /// False when the visit cannot start inside its window (kept in the route, flagged).
    pub feasible: bool,
    /// Straight-line distance from the previous stop (or the start), metres.
    pub travel_m: f64,
}

/// A technician's planned day.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteView {
    pub technician_id: String,
    pub date: String,
    pub timezone: String,
    pub stops: Vec<RouteStopView>,
    pub travel_m: f64,
}

/// A technician's visits of a date in planned order with planned arrival times.
#[utoipa::path(get, path = "/v1/technicians/{id}/route", tag = "planning", params(DateQuery),
    responses((status = 200, body = RouteView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such technician in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/technicians/{id}/route")]
pub async fn route(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    query: Query<DateQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Technician, Role::Dispatcher, Role::Admin])?;
    let date = parse_date(query.0.date.as_deref())?;
    let now = state.now();
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| {
            let planning::DayRoute { technician: t, date, stops } = planning::day_route(conn, &caller, &id, date, now)?;
            let stops: Vec<RouteStopView> = stops
                .into_iter()
                .map(|(s, j)| RouteStopView {
                    position: s.position,
                    job_id: j.id,
                    status: j.status,
                    address: j.address,
                    location: LatLon { lat: j.lat, lon: j.lon },
                    window: TimeWindow { start: utc(j.window_start), end: utc(j.window_end) },
                    planned_arrival: utc(s.planned_arrival),
                    planned_start: utc(s.planned_start),
                    planned_departure: utc(s.planned_departure),
                    feasible: s.feasible,
                    travel_m: s.travel_m.round(),
                })
                .collect();
            Ok(RouteView {
                travel_m: planning::total_m(stops.iter().map(|s| s.travel_m)),
                technician_id: t.id,
                date,
                timezone: t.timezone,
                stops,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Re-optimises the day of every active technician of an organisation
/// (admin; a dispatcher of it or an ancestor): visits may move between its
/// technicians; visits already en route or on site stay where they are.
#[utoipa::path(post, path = "/v1/orgs/{id}/plan", tag = "planning", params(DateQuery),
    responses((status = 200, body = PlanReport), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such organisation in your subtree (`not_found`)")), security(("bearer" = [])))]
#[post("/v1/orgs/{id}/plan")]
pub async fn plan_org(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    query: Query<DateQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Dispatcher, Role::Admin])?;
    let date = parse_date(query.0.date.as_deref())?;
    let now = state.now();
    let speed = state.config.travel_speed_kmh;
    let id = id.into_inner();
    let report = state.db.write(move |conn| planning::plan_org(conn, &caller, &id, date, now, speed)).await?;
    Ok(HttpResponse::Ok().json(report))
}
