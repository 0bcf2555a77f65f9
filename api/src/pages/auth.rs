//! `/`, `/login`, `/logout` and the language switch.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::html;
use serde::Deserialize;

use super::i18n::{LANG_COOKIE, Lang};
use super::page::{Ctx, PageResult, SESSION_COOKIE, safe_next};
use crate::app::web_sessions;
use crate::domain::Role;
use crate::error::ApiError;
use crate::storage::login_failures;

/// Where a role starts.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Customer => "/book",
        Role::Dispatcher | Role::Admin => "/console/jobs",
        Role::Reviewer => "/console/reviews",
        Role::Technician => "/console",
    }
}

/// `/`: sign-in for strangers, each role's start page otherwise.
#[get("/")]
pub async fn root(ctx: Ctx) -> HttpResponse {
    match &ctx.caller {
        Some(c) => ctx.see_other(home_of(c.role)),
        None => ctx.see_other("/login"),
    }
}

/// `/console`: the start page of a role without its own (technicians use the phone app).
#[get("/console")]
pub async fn console_home(ctx: Ctx) -> PageResult {
    let caller = ctx.require(&[Role::Technician, Role::Dispatcher, Role::Admin, Role::Reviewer])?;
    if caller.role != Role::Technician {
        return Ok(ctx.see_other(home_of(caller.role)));
    }
    Ok(ctx
        .page(ctx.t("console"), html! { h1 { (ctx.t("console")) } p { a href="/app/" { (ctx.t("technician_app")) } } }))
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The sign-in form.
#[get("/login")]
pub async fn login_form(ctx: Ctx, q: web::Query<NextQuery>) -> HttpResponse {
    login_page(&ctx, q.next.as_deref(), "", None)
}

fn login_page(ctx: &Ctx, next: Option<&str>, email: &str, error: Option<&str>) -> HttpResponse {
    let status =
        if error.is_some() { actix_web::http::StatusCode::UNAUTHORIZED } else { actix_web::http::StatusCode::OK };
    let body = html! {
        h1 { (ctx.t("sign_in")) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stack method="post" action="/login" {
            (ctx.csrf_field())
            @if let Some(n) = safe_next(next) { input type="hidden" name="next" value=(n); }
            label for="email" { (ctx.t("email")) }
            input #email type="email" name="email" autocomplete="username" required value=(email);
            label for="password" { (ctx.t("password")) }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { (ctx.t("sign_in")) }
        }
    };
    ctx.respond(status, ctx.t("sign_in"), body, false)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// Checks the password like `POST /v1/auth/login` and starts a web session.
#[post("/login")]
pub async fn login(ctx: Ctx, req: HttpRequest, form: web::Form<LoginForm>) -> PageResult {
    ctx.check_csrf(&form.csrf)?;
    let LoginForm { email, password: plain, next, .. } = form.into_inner();
    let email = email.trim().to_lowercase();
    // The API's own check: the same limits (429) and the same bounded hashing pool.
    let user = match crate::routes::auth::check_password(&ctx.state, &req, &email, plain).await {
        Ok(user) => user,
        Err(ApiError::Unauthorized(_)) => {
            return Ok(login_page(&ctx, next.as_deref(), &email, Some(ctx.t("bad_login"))));
        }
        Err(e) => return Err(ctx.fail(e)),
    };
    let (now, ttl, user_id, role) = (ctx.now(), ctx.state.config.web_session_ttl, user.id.clone(), user.role);
    let token = ctx
        .state
        .db
        .write(move |conn| {
            login_failures::clear(conn, &email)?;
            web_sessions::sign_in(conn, &user_id, ttl, now)
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    tracing::info!(user.id = %user.id, "User {} signed in to the web console", user.id);
    let to = safe_next(next.as_deref()).unwrap_or_else(|| super::auth::home_of(role).to_owned());
    let mut res = ctx.see_other(&to);
    let cookie = ctx
        .cookie(SESSION_COOKIE, token)
        .max_age(actix_web::cookie::time::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(43_200)));
    res.add_cookie(&cookie.finish()).map_err(|e| ctx.fail(ApiError::Unexpected(e.into())))?;
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Signs out: the session row goes, the cookie is cleared.
#[post("/logout")]
pub async fn logout(ctx: Ctx, req: actix_web::HttpRequest, form: web::Form<CsrfOnly>) -> PageResult {
    ctx.check_csrf(&form.csrf)?;
    if let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) {
        ctx.state.db.write(move |conn| web_sessions::sign_out(conn, &token)).await.map_err(|e| ctx.fail(e))?;
    }
    let mut res = ctx.see_other("/login");
    let mut gone = ctx.cookie(SESSION_COOKIE, String::new()).finish();
    gone.make_removal();
    res.add_cookie(&gone).map_err(|e| ctx.fail(ApiError::Unexpected(e.into())))?;
    Ok(res)
}

/// The language switch: remembers the choice for a year and goes back.
#[get("/lang/{code}")]
pub async fn switch_lang(ctx: Ctx, code: web::Path<String>, q: web::Query<NextQuery>) -> PageResult {
    let lang = Lang::parse(&code).ok_or_else(|| ctx.fail(ApiError::NotFound))?;
    let mut res = ctx.see_other(&safe_next(q.next.as_deref()).unwrap_or_else(|| "/".into()));
    let cookie =
        ctx.cookie(LANG_COOKIE, lang.code().to_owned()).max_age(actix_web::cookie::time::Duration::days(365)).finish();
    res.add_cookie(&cookie).map_err(|e| ctx.fail(ApiError::Unexpected(e.into())))?;
    Ok(res)
}
