//! Users `/console/users` (admins: everyone; dispatchers: their subtree's, as `GET /v1/users`), with
//! activation: deactivating ends every session and token of the user at once (`app::accounts::update`).

use actix_web::{get, post, web};
use maud::html;
use serde::Deserialize;

use super::page::{Ctx, PageResult, urlencode};
use crate::app::accounts::{self, AccountChange};
use crate::domain::Role;
use crate::storage::{db_time, users};

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
        div.scroll { table.jobs #users {
            thead { tr { th { (ctx.t("email")) } th { (ctx.t("role")) } th { (ctx.t("status")) } th { } } }
            tbody { @for u in &rows { tr data-user=(u.id) {
                td { (u.email) }
                td { (u.role.as_str()) }
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
