//! `/v1/orgs`: the organisation tree, territories and service agreements.

use actix_web::{HttpResponse, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::domain::{Priority, Role, validate};
use crate::error::ApiError;
use crate::extract::{Json, Query, Validate};
use crate::geojson::{self, Geometry};
use crate::routes::pagination::{self, Page, PageQuery};
use crate::state::AppState;
use crate::storage::{self, db_time, from_json, orgs, to_json, utc};

/// A part and how many.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartQty {
    pub sku: String,
    pub qty: u32,
}

/// Validates a parts list (codes, quantities, no duplicates).
pub fn validate_parts(field: &str, parts: &[PartQty]) -> Result<(), ApiError> {
    if parts.len() > validate::MAX_LIST_ITEMS {
        return Err(ApiError::invalid(field, "too many parts"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, p) in parts.iter().enumerate() {
        validate::code(&format!("{field}[{i}].sku"), &p.sku)?;
        if p.qty == 0 || p.qty > 100_000 {
            return Err(ApiError::invalid(format!("{field}[{i}].qty"), "must be between 1 and 100000"));
        }
        if !seen.insert(&p.sku) {
            return Err(ApiError::invalid(format!("{field}[{i}].sku"), "is listed twice"));
        }
    }
    Ok(())
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
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl OrgView {
    fn from_row(o: orgs::Org) -> Result<OrgView, ApiError> {
        Ok(OrgView {
            parts: from_json(&o.parts)?,
            id: o.id,
            parent_id: o.parent_id,
            name: o.name,
            slug: o.slug,
            level: o.level,
            timezone: o.timezone,
            manual_routing: o.manual_routing,
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
        validate_parts("parts", &self.parts)
    }
}

fn check_slug(slug: &str) -> Result<(), ApiError> {
    let ok = (2..=64).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok { Ok(()) } else { Err(ApiError::invalid("slug", "must be 2-64 characters of a-z, 0-9 and '-'")) }
}

/// A slug from a display name: ASCII letters and digits kept, the rest joined by '-'.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').chars().take(48).collect::<String>();
    if out.len() < 2 { format!("org-{}", &storage::new_id()[..8]) } else { out }
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
    let now = db_time(state.now());
    let org = state
        .db
        .write(move |conn| {
            let parent =
                orgs::find(conn, &body.parent_id)?.filter(|p| caller.manages(&p.path)).ok_or(ApiError::NotFound)?;
            let id = storage::new_id();
            let slug = body.slug.clone().unwrap_or_else(|| slugify(&body.name));
            if orgs::find_by_slug(conn, &slug)?.is_some() {
                return Err(ApiError::conflict(
                    "slug_taken",
                    format!("slug `{slug}` is taken"),
                    serde_json::json!({"field": "slug"}),
                ));
            }
            let path = format!("{}{id}/", parent.path);
            let name = validate::text("name", &body.name, validate::MAX_NAME_CHARS)?;
            orgs::insert(
                conn,
                &orgs::NewOrg {
                    id: &id,
                    parent_id: Some(&parent.id),
                    name: &name,
                    slug: &slug,
                    level: parent.level + 1,
                    path: &path,
                    timezone: body.timezone.as_deref().unwrap_or(&parent.timezone),
                    manual_routing: body.manual_routing,
                    parts: &to_json(&body.parts)?,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            storage::jobs::log_change(conn, "org", &id, None, false, now)?;
            orgs::find(conn, &id)?.ok_or(ApiError::NotFound)
        })
        .await?;
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
    let prefix = caller.subtree().map(str::to_owned);
    state
        .db
        .run(move |conn| {
            orgs::find(conn, &id)?
                .filter(|o| prefix.as_deref().is_none_or(|p| o.path.starts_with(p)))
                .ok_or(ApiError::NotFound)
        })
        .await
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
}

/// Changes an organisation's name, time zone, routing mode or parts stock.
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
    if let Some(parts) = &body.parts {
        validate_parts("parts", parts)?;
    }
    let parts = body.parts.as_ref().map(to_json).transpose()?;
    let now = db_time(state.now());
    let id = id.into_inner();
    let org = state
        .db
        .write(move |conn| {
            let org = orgs::find(conn, &id)?.filter(|o| caller.manages(&o.path)).ok_or(ApiError::NotFound)?;
            let changes = orgs::OrgChanges {
                name,
                timezone: body.timezone,
                manual_routing: body.manual_routing,
                parts,
                updated_at: Some(now),
            };
            orgs::update(conn, &org.id, &changes)?;
            storage::jobs::log_change(conn, "org", &org.id, None, false, now)?;
            orgs::find(conn, &org.id)?.ok_or(ApiError::NotFound)
        })
        .await?;
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
    let shapes = body
        .iter()
        .enumerate()
        .map(|(i, t)| geojson::to_multi_polygon(&format!("[{i}].geometry"), &t.geometry))
        .collect::<Result<Vec<_>, _>>()?;
    let now = db_time(state.now());
    let id = id.into_inner();
    let saved = body.clone();
    state
        .db
        .write(move |conn| {
            let org = orgs::find(conn, &id)?.ok_or(ApiError::NotFound)?;
            let mut rows = Vec::with_capacity(body.len());
            for (i, (t, shape)) in body.iter().zip(&shapes).enumerate() {
                let bbox = geojson::bbox(shape);
                if t.exclusive {
                    for (other, other_path) in orgs::exclusive_candidates(conn, &org.id, bbox)? {
                        let related = other_path.starts_with(&org.path) || org.path.starts_with(&other_path);
                        if related {
                            continue;
                        }
                        let other_shape = geojson::to_multi_polygon("stored", &serde_json::from_str(&other.geometry)?)?;
                        if dispatch::territories::overlaps(shape, &other_shape) {
                            return Err(ApiError::conflict(
                                "territory_overlap",
                                format!(
                                    "territory [{i}] overlaps an exclusive territory of organisation {}",
                                    other.org_id
                                ),
                                serde_json::json!({"field": format!("[{i}].geometry"), "org_id": other.org_id}),
                            ));
                        }
                    }
                }
                rows.push(orgs::NewTerritory {
                    id: storage::new_id(),
                    org_id: org.id.clone(),
                    geometry: to_json(&t.geometry)?,
                    exclusive: t.exclusive,
                    min_lon: bbox.0,
                    min_lat: bbox.1,
                    max_lon: bbox.2,
                    max_lat: bbox.3,
                    created_at: now,
                });
            }
            orgs::replace_territories(conn, &org.id, &rows)?;
            storage::jobs::log_change(conn, "org", &org.id, None, false, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(saved))
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
    let rows = state.db.run(move |conn| Ok(orgs::territories_of(conn, &org.id)?)).await?;
    let out = rows
        .into_iter()
        .map(|t| Ok(TerritoryBody { geometry: from_json(&t.geometry)?, exclusive: t.exclusive }))
        .collect::<Result<Vec<_>, ApiError>>()?;
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

impl PerPriority {
    /// Minutes for one priority.
    pub fn get(&self, p: Priority) -> u32 {
        match p {
            Priority::Low => self.low,
            Priority::Normal => self.normal,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }

    fn validate(&self, field: &str) -> Result<(), ApiError> {
        for p in Priority::ALL {
            if !(1..=525_600).contains(&self.get(*p)) {
                return Err(ApiError::invalid(format!("{field}.{p}"), "must be between 1 and 525600 minutes"));
            }
        }
        Ok(())
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

fn agreement_view(org_id: String, a: orgs::Agreement) -> Result<AgreementView, ApiError> {
    Ok(AgreementView {
        org_id,
        accept_within_min: from_json(&a.accept_within_min)?,
        arrive_within_min: from_json(&a.arrive_within_min)?,
        first_time_fix_target: a.first_time_fix_target,
        updated_at: utc(a.updated_at),
        inherited_from: a.org_id,
    })
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
    body.accept_within_min.validate("accept_within_min")?;
    body.arrive_within_min.validate("arrive_within_min")?;
    if !(0.0..=1.0).contains(&body.first_time_fix_target) {
        return Err(ApiError::invalid("first_time_fix_target", "must be between 0 and 1"));
    }
    let now = db_time(state.now());
    let id = id.into_inner();
    let view = state
        .db
        .write(move |conn| {
            let org = orgs::find(conn, &id)?.ok_or(ApiError::NotFound)?;
            orgs::put_agreement(
                conn,
                &org.id,
                &to_json(&body.accept_within_min)?,
                &to_json(&body.arrive_within_min)?,
                body.first_time_fix_target,
                now,
            )?;
            let a = orgs::effective_agreement(conn, &org)?.ok_or(ApiError::NotFound)?;
            agreement_view(org.id, a)
        })
        .await?;
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
    let view = state
        .db
        .run(move |conn| {
            let a = orgs::effective_agreement(conn, &org)?.ok_or(ApiError::NotFound)?;
            agreement_view(org.id, a)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
