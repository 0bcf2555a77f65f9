//! Users `/console/users` (admins: everyone; dispatchers: their subtree's, as `GET /v1/users`), with
//! activation: deactivating ends every session and token of the user at once (`app::accounts::update`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use maud::html;
use serde::Deserialize;

use super::page::{
    Ctx, FormFields, PageResult, checked_input, described_by, field_error, form_errors, stored, urlencode,
};
use crate::app::accounts::{self, AccountChange};
use crate::auth::password;
use crate::domain::{Caller, Invalid, Invalids, Role};
use crate::error::ApiError;
use crate::storage::{db_time, orgs, technicians, users};

const PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    after: Option<String>,
}

#[get("/console/users")]
pub async fn page(ctx: Ctx, q: web::Query<UsersQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Admin, Role::Dispatcher])?;
    let prefix = caller.subtree().map(str::to_owned);
    let after = q.after.clone().filter(|a| !a.is_empty());
    let mut rows = ctx
        .state
        .db
        .run(move |conn| {
            let filter = users::ListFilter { subtree: prefix.as_deref(), ..users::ListFilter::default() };
            Ok(users::list(conn, &filter, after.as_deref(), PAGE + 1)?)
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    let next = (rows.len() > usize::try_from(PAGE).unwrap_or(100)).then(|| {
        rows.truncate(usize::try_from(PAGE).unwrap_or(100));
        rows.last().map(|u| u.email.clone()).unwrap_or_default()
    });
    let body = html! {
        h1 { (ctx.t("users")) }
        p { a.button #new-user href="/console/users/new" { (ctx.t("new_user")) } }
        div.scroll { table.jobs #users {
            thead { tr { th { (ctx.t("email")) } th { (ctx.t("name")) } th { (ctx.t("role")) } th { (ctx.t("status")) } th { span.sr-only { (ctx.t("edit")) } } } }
            tbody { @for u in &rows { tr data-user=(u.id) {
                td { a.edit href=(format!("/console/users/{}/edit", u.id)) { (u.email) } }
                td { (u.name.as_deref().unwrap_or("")) }
                td { (ctx.t(&format!("role_{}", u.role.as_str()))) }
                td { @if u.active { (ctx.t("active")) } @else { (ctx.t("inactive")) } }
                td { @if u.id != caller.id {
                    form.inline method="post" action=(format!("/console/users/{}/active", u.id)) {
                        (ctx.csrf_field())
                        input type="hidden" name="active" value=(if u.active { "false" } else { "true" });
                        @if u.active { button.danger.deactivate type="submit" { (ctx.t("deactivate")) } }
                        @else { button.secondary.activate type="submit" { (ctx.t("activate")) } }
                    }
                } }
            } } }
        } }
        @if let Some(after) = &next { p.pager { a rel="next" href=(format!("/console/users?after={}", urlencode(after))) { (ctx.t("next_page")) } } }
    };
    Ok(ctx.page(ctx.t("users"), body))
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    active: String,
}

/// Activates or deactivates a user the caller manages (404 otherwise; nobody deactivates itself).
#[post("/console/users/{id}/active")]
pub async fn set_active(ctx: Ctx, id: web::Path<String>, form: web::Form<ActiveForm>) -> PageResult {
    let caller = ctx.require(&[Role::Admin, Role::Dispatcher])?;
    ctx.check_csrf(&form.csrf)?;
    let active = crate::config::parse_bool(&form.active)
        .ok_or_else(|| ctx.fail(crate::error::ApiError::invalid("active", "true or false")))?;
    let (id, now) = (id.into_inner(), db_time(ctx.now()));
    ctx.state
        .db
        .write(move |conn| {
            accounts::update(conn, &caller, &id, AccountChange { active: Some(active), name: None }, now).map(drop)
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other("/console/users"))
}

/// The new-user form as typed.
#[derive(Debug, Clone, Default)]
struct UserForm {
    email: String,
    name: String,
    role: String,
    org_id: String,
    technician_id: String,
    customer_id: String,
}

impl UserForm {
    fn posted(f: &FormFields) -> UserForm {
        UserForm {
            email: f.get("email").trim().to_owned(),
            name: f.get("name").to_owned(),
            role: f.get("role").to_owned(),
            org_id: f.get("org_id").to_owned(),
            technician_id: f.get("technician_id").to_owned(),
            customer_id: f.get("customer_id").trim().to_owned(),
        }
    }
}

/// Roles the caller may create, as `accounts::may_create` allows (admins any; dispatchers dispatchers and
/// technicians).
fn creatable(caller: &Caller) -> Vec<Role> {
    Role::ALL.iter().copied().filter(|r| accounts::may_create(caller, *r).is_ok()).collect()
}

/// What the form offers: organisations and technicians in the caller's scope.
struct Choices {
    orgs: Vec<orgs::Org>,
    technicians: Vec<technicians::Technician>,
}

fn choices(conn: &mut crate::db::DbConnection, caller: &Caller) -> Result<Choices, ApiError> {
    let subtree = caller.subtree().unwrap_or("/");
    Ok(Choices {
        orgs: orgs::list_subtree(conn, subtree, None, 5_000)?,
        technicians: technicians::list(conn, subtree, None, None, 5_000)?,
    })
}

/// `/console/users/new`: e-mail, name, role and the link the role needs; each refused field's message beside
/// its input, everything typed kept.
fn user_form_page(ctx: &Ctx, caller: &Caller, f: &UserForm, choices: &Choices, bad: &Invalids) -> HttpResponse {
    let status = if bad.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let org_name = |id: &str| choices.orgs.iter().find(|o| o.id == id).map_or("", |o| o.name.as_str());
    let top = choices.orgs.first().map_or(0, |o| o.level);
    let aria = |field: &str| (described_by(bad, field, field), bad.for_field(field).map(|_| "true"));
    let body = html! {
        h1 { (ctx.t("new_user")) }
        @if !bad.is_empty() { p.error role="alert" { (ctx.t("invalid")) } }
        form.stack #user-form method="post" action="/console/users/new" novalidate {
            (ctx.csrf_field())
            label for="email" { (ctx.t("email")) }
            (checked_input(bad, "email", "email", "email", &f.email))
            label for="name" { (ctx.t("user_name")) }
            (checked_input(bad, "name", "name", "text", &f.name))
            label for="role" { (ctx.t("role")) }
            select #role name="role" {
                @for r in creatable(caller) {
                    option value=(r.as_str()) selected[f.role == r.as_str()] { (ctx.t(&format!("role_{}", r.as_str()))) }
                }
            }
            p.note { (ctx.t("links_hint")) }
            label for="org_id" { (ctx.t("org_link")) }
            @let (desc, invalid) = aria("org_id");
            select #org_id name="org_id" aria-describedby=[desc] aria-invalid=[invalid] {
                @for o in &choices.orgs {
                    option value=(o.id) selected[o.id == f.org_id] {
                        (("\u{2003}").repeat(usize::try_from(o.level - top).unwrap_or(0))) (o.name)
                    }
                }
            }
            (field_error(bad, "org_id", "org_id"))
            label for="technician_id" { (ctx.t("technician_link")) }
            @let (desc, invalid) = aria("technician_id");
            select #technician_id name="technician_id" aria-describedby=[desc] aria-invalid=[invalid] {
                option value="" { "—" }
                @for t in &choices.technicians {
                    option value=(t.id) selected[t.id == f.technician_id] { (t.name) " · " (org_name(&t.org_id)) }
                }
            }
            (field_error(bad, "technician_id", "technician_id"))
            @if caller.role == Role::Admin {
                label for="customer_id" { (ctx.t("customer_link")) }
                (checked_input(bad, "customer_id", "customer_id", "text", &f.customer_id))
            }
            p.note { (ctx.t("password_generated")) }
            button #create-user type="submit" { (ctx.t("create")) }
        }
    };
    ctx.respond(status, ctx.t("new_user"), body, false)
}

#[derive(Debug, Default, Deserialize)]
pub struct NewUserQuery {
    technician_id: Option<String>,
}

/// The form for a new user (a technician's login when `?technician_id=` names one).
#[get("/console/users/new")]
pub async fn new_form(ctx: Ctx, q: web::Query<NewUserQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Admin, Role::Dispatcher])?;
    let who = caller.clone();
    let choices = ctx.state.db.run(move |conn| choices(conn, &who)).await.map_err(|e| ctx.fail(e))?;
    let form = match q.into_inner().technician_id {
        Some(technician_id) => {
            UserForm { role: Role::Technician.as_str().into(), technician_id, ..UserForm::default() }
        }
        None => UserForm { org_id: caller.org_id.clone().unwrap_or_default(), ..UserForm::default() },
    };
    Ok(user_form_page(&ctx, &caller, &form, &choices, &Invalids::default()))
}

/// Creates the user with a generated password, through the API's checks and use case
/// (`accounts::AccountDraft::check`, the bounded hasher, `accounts::create`). The answer shows the password once
/// (`Cache-Control: no-store`); only its argon2 hash is kept, and it is never logged.
#[post("/console/users/new")]
pub async fn create(ctx: Ctx, form: web::Form<FormFields>) -> PageResult {
    let caller = ctx.require(&[Role::Admin, Role::Dispatcher])?;
    ctx.check_csrf(form.get("csrf"))?;
    let f = UserForm::posted(&form);
    let role = Role::parse(&f.role).ok_or_else(|| ctx.fail(ApiError::invalid("role", "choose a role")))?;
    // Only the link the role uses is sent: the select of organisations stays filled whatever the role.
    let link = |v: &str, applies: bool| Some(v.to_owned()).filter(|v| applies && !v.is_empty());
    let plain = password::generate();
    let draft = accounts::AccountDraft {
        email: f.email.clone(),
        password: plain.clone(),
        role,
        name: Some(f.name.trim().to_owned()).filter(|n| !n.is_empty()),
        org_id: link(&f.org_id, role == Role::Dispatcher),
        technician_id: link(&f.technician_id, role == Role::Technician),
        customer_id: link(&f.customer_id, role == Role::Customer),
    };
    let outcome = match draft.check(&caller) {
        Ok(checked) => {
            let hash = ctx.state.hasher.hash(checked.password()).await.map_err(|e| ctx.fail(e))?;
            let account = checked.with_hash(hash);
            let (now, who) = (db_time(ctx.now()), caller.clone());
            ctx.state.db.write(move |conn| accounts::create(conn, &who, account.clone(), now)).await
        }
        Err(e) => Err(e),
    };
    let bad = match outcome {
        Ok(user) => return Ok(created_page(&ctx, &user, &plain)),
        // A link outside the caller's scope reads as missing, beside the field that named it.
        Err(ApiError::NotFound) => {
            let field = match role {
                Role::Technician => "technician_id",
                Role::Customer => "customer_id",
                _ => "org_id",
            };
            Invalid::new(field, ctx.t("not_in_scope")).into()
        }
        Err(ApiError::Conflict { .. }) => Invalid::new("email", ctx.t("user_exists")).into(),
        Err(e) => form_errors(e).map_err(|e| ctx.fail(e))?,
    };
    let choices = ctx.state.db.run(move |conn| choices(conn, &caller)).await.map_err(|e| ctx.fail(e))?;
    let caller = ctx.caller.clone().ok_or_else(|| ctx.fail(ApiError::NotFound))?;
    Ok(user_form_page(&ctx, &caller, &f, &choices, &bad))
}

/// The new user, with its password shown this once.
fn created_page(ctx: &Ctx, user: &users::User, plain: &str) -> HttpResponse {
    let body = html! {
        h1 { (ctx.t("user_created")) }
        dl.facts #created {
            dt { (ctx.t("email")) } dd #created-email { (user.email) }
            dt { (ctx.t("role")) } dd { (ctx.t(&format!("role_{}", user.role.as_str()))) }
            dt { (ctx.t("password")) } dd { code #new-password { (plain) } }
        }
        p.note role="status" { (ctx.t("password_once")) }
        p { a href=(format!("/console/users/{}/edit", user.id)) { (ctx.t("edit")) } " · " a href="/console/users" { (ctx.t("users")) } }
    };
    ctx.respond(StatusCode::CREATED, ctx.t("user_created"), body, false)
}

/// The edit form of a user the caller manages: name and whether it may sign in.
fn user_edit_page(
    ctx: &Ctx,
    user: &users::User,
    name: &str,
    active: bool,
    bad: &Invalids,
    saved: bool,
) -> HttpResponse {
    let status = if bad.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let body = html! {
        h1 { (ctx.t("edit_user")) }
        @if saved { p.ok role="status" { (ctx.t("saved")) } }
        @if !bad.is_empty() { p.error role="alert" { (ctx.t("invalid")) } }
        dl.facts {
            dt { (ctx.t("email")) } dd { (user.email) }
            dt { (ctx.t("role")) } dd { (ctx.t(&format!("role_{}", user.role.as_str()))) }
        }
        form.stack #user-edit method="post" action=(format!("/console/users/{}/edit", user.id)) novalidate {
            (ctx.csrf_field())
            label for="name" { (ctx.t("user_name")) }
            (checked_input(bad, "name", "name", "text", name))
            label { input #active type="checkbox" name="active" value="true" checked[active]; " " (ctx.t("account_active")) }
            (field_error(bad, "active", "active"))
            button #save-user type="submit" { (ctx.t("save")) }
        }
    };
    ctx.respond(status, ctx.t("edit_user"), body, false)
}

#[derive(Debug, Default, Deserialize)]
pub struct EditQuery {
    saved: Option<String>,
}

#[get("/console/users/{id}/edit")]
pub async fn edit_form(ctx: Ctx, id: web::Path<String>, q: web::Query<EditQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Admin, Role::Dispatcher])?;
    let id = id.into_inner();
    let user =
        ctx.state.db.run(move |conn| accounts::find_managed(conn, &caller, &id)).await.map_err(|e| ctx.fail(e))?;
    let name = user.name.clone().unwrap_or_default();
    Ok(user_edit_page(&ctx, &user, &name, user.active, &Invalids::default(), q.saved.is_some()))
}

/// Renames, activates or deactivates through `accounts::update` (as `PATCH /v1/users/{id}`): deactivation ends
/// the user's sessions and tokens at once. An empty name leaves it as it was (the API has no way to clear one).
#[post("/console/users/{id}/edit")]
pub async fn save(ctx: Ctx, id: web::Path<String>, form: web::Form<FormFields>) -> PageResult {
    let caller = ctx.require(&[Role::Admin, Role::Dispatcher])?;
    ctx.check_csrf(form.get("csrf"))?;
    let name = form.get("name").to_owned();
    let active = form.ticked("active");
    let change = AccountChange { active: Some(active), name: Some(name.clone()).filter(|n| !n.trim().is_empty()) };
    let (id, now) = (id.into_inner(), db_time(ctx.now()));
    let back = format!("/console/users/{id}/edit?saved=1");
    // Scope first: a user outside it is 404 whatever was typed (the update checks it again).
    let (find, user_id) = (caller.clone(), id.clone());
    let user =
        ctx.state.db.run(move |conn| accounts::find_managed(conn, &find, &user_id)).await.map_err(|e| ctx.fail(e))?;
    let written = ctx.state.db.write(move |conn| accounts::update(conn, &caller, &id, change.clone(), now)).await;
    match stored(&ctx, written)? {
        Ok(_) => Ok(ctx.see_other(&back)),
        Err(bad) => Ok(user_edit_page(&ctx, &user, &name, active, &bad, false)),
    }
}
