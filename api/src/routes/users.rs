//! `/v1/users`: accounts. Admins manage everyone; a dispatcher manages the
//! dispatchers and technicians of its own subtree.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::accounts;
use crate::auth::AuthUser;
use crate::domain::Role;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::routes::pagination::{self, Page};
use crate::state::AppState;
use crate::storage::{db_time, users, utc};

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
    pub org_id: Option<String>,
    pub technician_id: Option<String>,
    pub customer_id: Option<String>,
    pub active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<users::User> for UserView {
    fn from(u: users::User) -> UserView {
        UserView {
            id: u.id,
            email: u.email,
            role: u.role,
            name: u.name,
            org_id: u.org_id,
            technician_id: u.technician_id,
            customer_id: u.customer_id,
            active: u.active,
            created_at: utc(u.created_at),
        }
    }
}

/// `POST /v1/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    pub role: Role,
    pub name: Option<String>,
    /// Required for dispatchers; admins and reviewers belong to the vendor (the default for them).
    pub org_id: Option<String>,
    /// Required for technicians: the technician record this login belongs to.
    pub technician_id: Option<String>,
    /// For customers: the client card this login belongs to.
    pub customer_id: Option<String>,
}

/// Creates a user.
#[utoipa::path(post, path = "/v1/users", operation_id = "create_user", tag = "accounts", request_body = CreateUser,
    responses((status = 201, body = UserView),
        (status = 403, description = "not an admin or dispatcher, or a role a dispatcher may not create (`forbidden`)"),
        (status = 404, description = "the organisation, technician or customer card is not in your scope (`not_found`)"),
        (status = 409, description = "e-mail taken, or the technician already has a login (`user_exists`)"),
        (status = 429, description = "too many password hashes at once (`too_many_requests`); `Retry-After` says when to retry",
            headers(("Retry-After" = u64, description = "seconds to wait")))),
    security(("bearer" = [])))]
#[post("/v1/users")]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let b = body.0;
    let draft = accounts::AccountDraft {
        email: b.email,
        password: b.password,
        role: b.role,
        name: b.name,
        org_id: b.org_id,
        technician_id: b.technician_id,
        customer_id: b.customer_id,
    };
    // Refused (bad values, a role the caller may not create) before a password hash is spent on it.
    let checked = draft.check(&caller)?;
    let hash = state.hasher.hash(checked.password()).await?;
    let account = checked.with_hash(hash);
    let now = db_time(state.now());
    let user = state.db.write(move |conn| accounts::create(conn, &caller, account.clone(), now)).await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Loads a user the caller manages.
async fn find_managed(state: &AppState, caller: &AuthUser, id: String) -> Result<users::User, ApiError> {
    let caller = caller.clone();
    state.db.run(move |conn| accounts::find_managed(conn, &caller, &id)).await
}

/// The caller's own account.
#[utoipa::path(get, path = "/v1/users/me", tag = "accounts", responses((status = 200, body = UserView)), security(("bearer" = [])))]
#[get("/v1/users/me")]
pub async fn me(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    let user = find_managed(&state, &caller, caller.id.clone()).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// `GET /v1/users` query: filters narrow the caller's scope, never widen it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// Only the login of this technician (at most one).
    pub technician_id: Option<String>,
    /// Only users of this organisation (not its descendants).
    pub org_id: Option<String>,
    /// Only users with this role.
    pub role: Option<Role>,
    /// Only the logins of this client card (admins; dispatchers never see customer logins).
    pub customer_id: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Users the caller manages (admin: all; dispatcher: own subtree's staff), by e-mail, optionally filtered.
#[utoipa::path(get, path = "/v1/users", operation_id = "list_users", tag = "accounts", params(UsersQuery),
    responses((status = 200, body = Page<UserView>), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 422, description = "a bad `limit`, `cursor` or `role` (`invalid_value`)")), security(("bearer" = [])))]
#[get("/v1/users")]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<UsersQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let q = query.0;
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = pagination::decode_cursor(q.cursor.as_deref())?;
    let prefix = caller.subtree().map(str::to_owned);
    let rows = state
        .db
        .run(move |conn| {
            let filter = users::ListFilter {
                subtree: prefix.as_deref(),
                technician_id: q.technician_id.as_deref(),
                org_id: q.org_id.as_deref(),
                role: q.role,
                customer_id: q.customer_id.as_deref(),
            };
            Ok(users::list(conn, &filter, after.as_deref(), limit)?)
        })
        .await?;
    let page = pagination::page(rows, limit, |u| u.email.clone(), |u| Ok(UserView::from(u)))?;
    Ok(HttpResponse::Ok().json(page))
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{id}", operation_id = "get_user", tag = "accounts",
    responses((status = 200, body = UserView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such user in your scope (`not_found`)")),
    security(("bearer" = [])))]
#[get("/v1/users/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let user = find_managed(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// `PATCH /v1/users/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// `false` deactivates: every token of the user stops working at once.
    pub active: Option<bool>,
    pub name: Option<String>,
}

/// Activates, deactivates or renames a user.
#[utoipa::path(patch, path = "/v1/users/{id}", operation_id = "update_user", tag = "accounts", request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "no such user in your scope (`not_found`)")), security(("bearer" = [])))]
#[patch("/v1/users/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: Json<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin, Role::Dispatcher])?;
    let b = body.0;
    let change = accounts::AccountChange { active: b.active, name: b.name };
    let id = id.into_inner();
    let now = db_time(state.now());
    let user = state.db.write(move |conn| accounts::update(conn, &caller, &id, change.clone(), now)).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}
