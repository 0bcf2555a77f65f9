//! `/v1/orgs`: the organisation tree, territories and service agreements.

use actix_web::{HttpResponse, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::network;
use crate::auth::AuthUser;
use crate::domain::{self, Invalid, Role, validate};
use crate::error::ApiError;
use crate::extract::{Json, Query, Validate};
use crate::geojson::{self, Geometry};

pub use crate::app::network::slugify;
use crate::routes::pagination::{self, Page, PageQuery};
use crate::state::AppState;
use crate::storage::{json, orgs, utc};

/// A part and how many.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartQty {
    pub sku: String,
    pub qty: u32,
}

impl From<&PartQty> for domain::PartQty {
    fn from(p: &PartQty) -> domain::PartQty {
        domain::PartQty { sku: p.sku.clone(), qty: p.qty }
    }
}

impl From<domain::PartQty> for PartQty {
    fn from(p: domain::PartQty) -> PartQty {
        PartQty { sku: p.sku, qty: p.qty }
    }
}

/// The domain's parts list, checked (codes, quantities, no duplicates).
pub fn parse_parts(field: &str, parts: &[PartQty]) -> Result<Vec<domain::PartQty>, Invalid> {
    let parsed: Vec<domain::PartQty> = parts.iter().map(domain::PartQty::from).collect();
    domain::parts::validate_parts(field, &parsed)?;
    Ok(parsed)
}

/// Validates a parts list (codes, quantities, no duplicates).
pub fn validate_parts(field: &str, parts: &[PartQty]) -> Result<(), Invalid> {
    parse_parts(field, parts).map(drop)
}

/// Wire form of stored parts.
pub fn parts_view(parts: Vec<domain::PartQty>) -> Vec<PartQty> {
    parts.into_iter().map(PartQty::from).collect()
}

/// An organisation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub slug: String,
    /// 0 the vendor, 1 regional partners, 2… sub-partners.
    pub level: i32,
    pub timezone: String,
    pub manual_routing: bool,
    pub parts: Vec<PartQty>,
    /// Service radius of its technicians in km (a technician's own overrides it); `null`: its parent's, and
    /// `null` up to the vendor means no limit.
    pub max_travel_km: Option<f64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl OrgView {
    fn from_row(o: orgs::Org) -> Result<OrgView, ApiError> {
        Ok(OrgView {
            parts: parts_view(json::parts(&o.parts)?),
            id: o.id,
            parent_id: o.parent_id,
            name: o.name,
            slug: o.slug,
            level: o.level,
            timezone: o.timezone,
            manual_routing: o.manual_routing,
            max_travel_km: o.max_travel_km,
            created_at: utc(o.created_at),
        })
    }
}

/// `POST /v1/orgs` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub parent_id: String,
    pub name: String,
    /// URL-friendly name (`a-z0-9-`); derived from the name when absent.
    pub slug: Option<String>,
    /// IANA time zone; the parent's when absent.
    pub timezone: Option<String>,
    #[serde(default)]
    pub manual_routing: bool,
    #[serde(default)]
    pub parts: Vec<PartQty>,
    /// Service radius of its technicians in km (0 < r ≤ 20000); the parent's when absent.
    pub max_travel_km: Option<f64>,
}

impl Validate for CreateOrg {
    fn validate(&self) -> Result<(), ApiError> {
        validate::text("name", &self.name, validate::MAX_NAME_CHARS)?;
        if let Some(slug) = &self.slug {
            check_slug(slug)?;
        }
        if let Some(tz) = &self.timezone {
            validate::timezone("timezone", tz)?;
        }
        validate_parts("parts", &self.parts)?;
        if let Some(km) = self.max_travel_km {
            validate::max_travel_km("max_travel_km", km)?;
        }
        Ok(())
    }
}

fn check_slug(slug: &str) -> Result<(), ApiError> {
    let ok = (2..=64).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok { Ok(()) } else { Err(ApiError::invalid("slug", "must be 2-64 characters of a-z, 0-9 and '-'")) }
}

/// Creates an organisation under a parent (admin; a dispatcher within its own subtree).
#[utoipa::path(post, path = "/v1/orgs", operation_id = "create_org", tag = "network", request_body = CreateOrg,
    responses((status = 201, body = OrgView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "parent not found or outside your subtree (`not_found`)"),
        (status = 409, description = "slug taken (`slug_taken`)")), security(("bearer" = [])))]
#[post("/v1/orgs")]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateOrg>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let body = body.0;
    body.validate()?;
    let new = network::NewOrg {
        parts: parse_parts("parts", &body.parts)?,
        parent_id: body.parent_id,
        name: body.name,
        slug: body.slug,
        timezone: body.timezone,
        manual_routing: body.manual_routing,
        max_travel_km: body.max_travel_km,
    };
    let now = state.now();
    let org = state.db.write(move |conn| network::create_org(conn, &caller, new.clone(), now)).await?;
    tracing::info!(org.id = %org.id, "Created organisation {}", org.id);
    Ok(HttpResponse::Created().json(OrgView::from_row(org)?))
}

/// Lists organisations: the whole tree for admins and reviewers, the own subtree for dispatchers.
#[utoipa::path(get, path = "/v1/orgs", operation_id = "list_orgs", tag = "network", params(PageQuery),
    responses((status = 200, body = Page<OrgView>), (status = 403, description = "this role may not use this endpoint (`forbidden`)")), security(("bearer" = [])))]
#[get("/v1/orgs")]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher, Role::Reviewer])?;
    let q = query.0;
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = pagination::decode_cursor(q.cursor.as_deref())?;
    let prefix = caller.subtree().map(str::to_owned);
    let rows = state
        .db
        .run(move |conn| Ok(orgs::list_subtree(conn, prefix.as_deref().unwrap_or("/"), after.as_deref(), limit)?))
        .await?;
    let page = pagination::page(rows, limit, |o| o.path.clone(), OrgView::from_row)?;
    Ok(HttpResponse::Ok().json(page))
}

async fn find_visible(state: &AppState, caller: &AuthUser, id: String) -> Result<orgs::Org, ApiError> {
    let caller = caller.clone();
    state.db.run(move |conn| network::find_visible_org(conn, &caller, &id)).await
}

/// One organisation.
#[utoipa::path(get, path = "/v1/orgs/{id}", operation_id = "get_org", tag = "network",
    responses((status = 200, body = OrgView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such organisation in your scope (`not_found`)")),
    security(("bearer" = [])))]
#[get("/v1/orgs/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher, Role::Reviewer])?;
    let org = find_visible(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OrgView::from_row(org)?))
}

/// `PATCH /v1/orgs/{id}` body: only the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub manual_routing: Option<bool>,
    pub parts: Option<Vec<PartQty>>,
    /// Service radius of its technicians in km; `null` goes back to the parent's.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<f64>)]
    pub max_travel_km: Option<Option<f64>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn some_or_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Deserialize::deserialize(d).map(Some)
}

/// Changes an organisation's name, time zone, routing mode, parts stock or service radius.
#[utoipa::path(patch, path = "/v1/orgs/{id}", operation_id = "update_org", tag = "network", request_body = UpdateOrg,
    responses((status = 200, body = OrgView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such organisation in your scope (`not_found`)")), security(("bearer" = [])))]
#[patch("/v1/orgs/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<UpdateOrg>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let body = body.0;
    let name = body.name.as_deref().map(|n| validate::text("name", n, validate::MAX_NAME_CHARS)).transpose()?;
    if let Some(tz) = &body.timezone {
        validate::timezone("timezone", tz)?;
    }
    let parts = body.parts.as_deref().map(|p| parse_parts("parts", p)).transpose()?;
    if let Some(Some(km)) = body.max_travel_km {
        validate::max_travel_km("max_travel_km", km)?;
    }
    let update = network::OrgUpdate {
        name,
        timezone: body.timezone,
        manual_routing: body.manual_routing,
        parts,
        max_travel_km: body.max_travel_km,
    };
    let now = state.now();
    let id = id.into_inner();
    let org = state.db.write(move |conn| network::update_org(conn, &caller, &id, update.clone(), now)).await?;
    Ok(HttpResponse::Ok().json(OrgView::from_row(org)?))
}

/// One territory: a GeoJSON Polygon or MultiPolygon and whether requests inside belong to this subtree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerritoryBody {
    pub geometry: Geometry,
    pub exclusive: bool,
}

/// Replaces an organisation's territories (admin). Overlapping exclusive
/// territories of unrelated organisations are refused with 409; when one
/// organisation is an ancestor of the other, the deeper one wins at dispatch.
#[utoipa::path(put, path = "/v1/orgs/{id}/territories", tag = "network", request_body = Vec<TerritoryBody>,
    responses((status = 200, body = Vec<TerritoryBody>), (status = 403, description = "not an admin (`forbidden`)"),
        (status = 404, description = "no such organisation (`not_found`)"),
        (status = 409, description = "overlaps another organisation's exclusive territory (`territory_overlap`)")),
    security(("bearer" = [])))]
#[put("/v1/orgs/{id}/territories")]
pub async fn put_territories(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<Vec<TerritoryBody>>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let body = body.0;
    if body.len() > 1000 {
        return Err(ApiError::invalid("territories", "at most 1000 territories"));
    }
    let territories = body
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let shape = geojson::to_multi_polygon(&format!("[{i}].geometry"), &t.geometry)?;
            Ok(network::NewTerritory { geometry: t.geometry.clone(), shape, exclusive: t.exclusive })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let now = state.now();
    let id = id.into_inner();
    state.db.write(move |conn| network::put_territories(conn, &caller, &id, &territories, now)).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// An organisation's own territories.
#[utoipa::path(get, path = "/v1/orgs/{id}/territories", tag = "network",
    responses((status = 200, body = Vec<TerritoryBody>), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such organisation in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/orgs/{id}/territories")]
pub async fn get_territories(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher, Role::Reviewer])?;
    let org = find_visible(&state, &caller, id.into_inner()).await?;
    let rows = state.db.run(move |conn| network::territories(conn, &org.id)).await?;
    let out: Vec<TerritoryBody> =
        rows.into_iter().map(|t| TerritoryBody { geometry: t.geometry, exclusive: t.exclusive }).collect();
    Ok(HttpResponse::Ok().json(out))
}

/// Minutes per priority.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PerPriority {
    pub low: u32,
    pub normal: u32,
    pub high: u32,
    pub urgent: u32,
}

impl From<&PerPriority> for domain::PerPriority {
    fn from(p: &PerPriority) -> domain::PerPriority {
        domain::PerPriority { low: p.low, normal: p.normal, high: p.high, urgent: p.urgent }
    }
}

impl From<domain::PerPriority> for PerPriority {
    fn from(p: domain::PerPriority) -> PerPriority {
        PerPriority { low: p.low, normal: p.normal, high: p.high, urgent: p.urgent }
    }
}

/// `PUT /v1/orgs/{id}/agreement` body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementBody {
    pub accept_within_min: PerPriority,
    pub arrive_within_min: PerPriority,
    /// 0..1
    pub first_time_fix_target: f64,
}

/// The agreement that applies to an organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementView {
    pub org_id: String,
    /// The organisation whose own agreement this is (the org itself or its nearest ancestor with one).
    pub inherited_from: String,
    pub accept_within_min: PerPriority,
    pub arrive_within_min: PerPriority,
    pub first_time_fix_target: f64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn agreement_view(org_id: String, a: network::Agreement) -> AgreementView {
    AgreementView {
        org_id,
        accept_within_min: a.accept_within_min.into(),
        arrive_within_min: a.arrive_within_min.into(),
        first_time_fix_target: a.first_time_fix_target,
        updated_at: a.updated_at,
        inherited_from: a.inherited_from,
    }
}

/// Sets an organisation's own service agreement (admin).
#[utoipa::path(put, path = "/v1/orgs/{id}/agreement", tag = "network", request_body = AgreementBody,
    responses((status = 200, body = AgreementView), (status = 403, description = "not an admin (`forbidden`)"),
        (status = 404, description = "no such organisation (`not_found`)")), security(("bearer" = [])))]
#[put("/v1/orgs/{id}/agreement")]
pub async fn put_agreement(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<AgreementBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let body = body.0;
    let accept = domain::PerPriority::from(&body.accept_within_min);
    let arrive = domain::PerPriority::from(&body.arrive_within_min);
    accept.validate("accept_within_min")?;
    arrive.validate("arrive_within_min")?;
    if !(0.0..=1.0).contains(&body.first_time_fix_target) {
        return Err(ApiError::invalid("first_time_fix_target", "must be between 0 and 1"));
    }
    let now = state.now();
    let id = id.into_inner();
    let target = body.first_time_fix_target;
    let (org_id, a) =
        state.db.write(move |conn| network::put_agreement(conn, &caller, &id, &accept, &arrive, target, now)).await?;
    let view = agreement_view(org_id, a);
    Ok(HttpResponse::Ok().json(view))
}

/// The agreement that applies: the organisation's own, else its nearest ancestor's.
#[utoipa::path(get, path = "/v1/orgs/{id}/agreement", tag = "network",
    responses((status = 200, body = AgreementView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such organisation in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/orgs/{id}/agreement")]
pub async fn get_agreement(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher, Role::Reviewer])?;
    let org = find_visible(&state, &caller, id.into_inner()).await?;
    let (org_id, a) = state
        .db
        .run(move |conn| {
            let a = network::effective_agreement(conn, &org)?;
            Ok((org.id, a))
        })
        .await?;
    let view = agreement_view(org_id, a);
    Ok(HttpResponse::Ok().json(view))
}
