//! What every page shares: the request context (language, signed-in caller,
//! CSRF token), the layout, security headers and error pages.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use futures_util::future::LocalBoxFuture;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::assets;
use super::i18n::Lang;
use crate::app::web_sessions;
use crate::domain::{Caller, Invalid, Invalids, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie (HttpOnly, SameSite=Lax, Secure over TLS).
pub const SESSION_COOKIE: &str = "sortie_session";
/// The CSRF cookie; every form repeats its value in a hidden `csrf` field (double submit).
pub const CSRF_COOKIE: &str = "sortie_csrf";

/// The request as a page sees it.
pub struct Ctx {
    pub lang: Lang,
    pub caller: Option<Caller>,
    /// This browser's CSRF token (new when the browser had none: then the page sets the cookie).
    pub csrf: String,
    new_csrf: bool,
    /// Path and query of this request (the language switch comes back here).
    pub here: String,
    /// Whether cookies get `Secure`.
    pub secure: bool,
    origin_ok: bool,
    /// The zone console times are shown in: the caller's organisation's (else the vendor's, else Moscow).
    pub zone: chrono_tz::Tz,
    /// An htmx request (a fragment refresh): a lost session answers `HX-Redirect`, not a page to swap in.
    htmx: bool,
    pub state: web::Data<AppState>,
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let lang = Lang::of(req);
        let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let csrf = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned()).filter(|v| v.len() >= 32);
        let info = req.connection_info().clone();
        let secure = info.scheme() == "https";
        // A browser posting cross-site says so in `Origin`; same-site posts name this host.
        let origin_ok = req
            .headers()
            .get(actix_web::http::header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_none_or(|o| o.split("://").nth(1) == Some(info.host()));
        let htmx = req.headers().contains_key("HX-Request");
        let here = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no app state")))?;
            let (caller, zone) = match session {
                Some(token) => {
                    let now = state.now();
                    state
                        .db
                        .run(move |conn| {
                            let caller = web_sessions::caller(conn, &token, now)?;
                            let zone = match &caller {
                                Some(c) => web_sessions::console_zone(conn, c)?,
                                None => None,
                            };
                            Ok((caller, zone))
                        })
                        .await?
                }
                None => (None, None),
            };
            let zone = zone.and_then(|z| crate::domain::shift::zone(&z).ok()).unwrap_or(chrono_tz::Europe::Moscow);
            let secure = secure || state.config.secure_cookies;
            let (csrf, new_csrf) = match csrf {
                Some(c) => (c, false),
                None => (crate::auth::jwt::new_refresh_token(), true),
            };
            Ok(Ctx { lang, caller, csrf, new_csrf, here, secure, origin_ok, zone, htmx, state })
        })
    }
}

/// A page that could not be shown: already rendered, status and all.
#[derive(Debug)]
pub struct Fail {
    status: StatusCode,
    location: Option<String>,
    /// htmx's client-side redirect (a fragment request whose session ended).
    hx_redirect: Option<String>,
    /// Seconds for `Retry-After` (429, 503).
    retry_after: Option<u64>,
    html: String,
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "page failed with {}", self.status)
    }
}

impl actix_web::ResponseError for Fail {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        if let Some(to) = &self.location {
            b.insert_header(("Location", to.as_str()));
        }
        if let Some(to) = &self.hx_redirect {
            b.insert_header(("HX-Redirect", to.as_str()));
        }
        if let Some(secs) = self.retry_after {
            b.insert_header(("Retry-After", secs.to_string()));
        }
        with_security_headers(&mut b, None);
        b.content_type("text/html; charset=utf-8").body(self.html.clone())
    }
}

/// What a page handler returns.
pub type PageResult = Result<HttpResponse, Fail>;

impl Ctx {
    /// A label in the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// A time on a console page, in the console's zone (`05.12.2026 10:00`).
    pub fn at(&self, t: chrono::NaiveDateTime) -> String {
        super::fmt::local(t.and_utc().with_timezone(&self.zone).fixed_offset())
    }

    /// A job's window on a console page, in the console's zone.
    pub fn window(&self, start: chrono::NaiveDateTime, end: chrono::NaiveDateTime) -> String {
        super::fmt::window(&crate::routes::jobs::LocalWindow {
            start: start.and_utc().with_timezone(&self.zone).fixed_offset(),
            end: end.and_utc().with_timezone(&self.zone).fixed_offset(),
        })
    }

    /// "Now" from the app's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.state.now()
    }

    /// The signed-in caller with one of `roles`; otherwise to the sign-in page (anonymous) or 403.
    pub fn require(&self, roles: &[Role]) -> Result<Caller, Fail> {
        match &self.caller {
            None if self.htmx => {
                // The board's refresh after the session ended: htmx sends the whole page to sign-in.
                let to = "/login".to_owned();
                Err(Fail {
                    status: StatusCode::UNAUTHORIZED,
                    location: None,
                    hx_redirect: Some(to),
                    retry_after: None,
                    html: String::new(),
                })
            }
            None => {
                let to = format!("/login?next={}", urlencode(&self.here));
                Err(Fail {
                    status: StatusCode::SEE_OTHER,
                    location: Some(to),
                    hx_redirect: None,
                    retry_after: None,
                    html: String::new(),
                })
            }
            Some(c) if roles.contains(&c.role) => Ok(c.clone()),
            Some(_) => Err(self.fail(ApiError::Forbidden)),
        }
    }

    /// Refuses a form post whose `csrf` field does not match this browser's cookie (403).
    pub fn check_csrf(&self, token: &str) -> Result<(), Fail> {
        let matches = !self.new_csrf
            && token.len() == self.csrf.len()
            && token.bytes().zip(self.csrf.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if matches && self.origin_ok {
            Ok(())
        } else {
            tracing::warn!(path = %self.here, "Form post refused: CSRF token missing or wrong");
            Err(self.error_page(StatusCode::FORBIDDEN, self.t("forbidden"), self.t("csrf")))
        }
    }

    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// An error as a page in this language, with the API's status.
    pub fn fail(&self, e: ApiError) -> Fail {
        let status = actix_web::ResponseError::status_code(&e);
        let (title, text) = match &e {
            ApiError::NotFound | ApiError::NoSuchRoute { .. } => {
                (self.t("not_found"), self.t("not_found_text").to_owned())
            }
            ApiError::Forbidden => (self.t("forbidden"), self.t("forbidden_text").to_owned()),
            ApiError::Conflict { message, .. } => (self.t("conflict"), message.clone()),
            ApiError::Invalid { field, message, .. } | ApiError::BadRequest { field, message, .. } => {
                let text = match field {
                    Some(f) => format!("{} `{f}`: {message}", self.t("field")),
                    None => message.clone(),
                };
                (self.t("invalid"), text)
            }
            ApiError::Unauthorized(_) => (self.t("forbidden"), self.t("bad_login").to_owned()),
            ApiError::TooManyRequests { message, retry_after_secs } => {
                let mut fail = self.error_page(status, self.t("error"), message);
                fail.retry_after = Some(*retry_after_secs);
                return fail;
            }
            ApiError::Unavailable(_) | ApiError::Contended { .. } => {
                let mut fail = self.error_page(status, self.t("error"), "");
                fail.retry_after = Some(2);
                return fail;
            }
            _ => {
                tracing::error!(error = %e, "Page failed");
                (self.t("error"), String::new())
            }
        };
        self.error_page(status, title, &text)
    }

    fn error_page(&self, status: StatusCode, title: &str, text: &str) -> Fail {
        let body = html! {
            h1 { (title) }
            @if !text.is_empty() { p.error role="alert" { (text) } }
            p { a href="/" { (self.t("back")) } }
        };
        let html = self.layout(title, body, false).into_string();
        Fail { status, location: None, hx_redirect: None, retry_after: None, html }
    }

    /// A 200 page.
    pub fn page(&self, title: &str, body: Markup) -> HttpResponse {
        self.respond(StatusCode::OK, title, body, false)
    }

    /// A 200 page that shows a map (loads Leaflet).
    pub fn map_page(&self, title: &str, body: Markup) -> HttpResponse {
        self.respond(StatusCode::OK, title, body, true)
    }

    /// A page with a status.
    pub fn respond(&self, status: StatusCode, title: &str, body: Markup, map: bool) -> HttpResponse {
        let mut b = HttpResponse::build(status);
        self.cookies(&mut b);
        with_security_headers(&mut b, self.state.config.map_tiles.as_deref());
        b.insert_header(("Cache-Control", "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(self.layout(title, body, map).into_string())
    }

    /// An HTML fragment for htmx (no layout).
    pub fn fragment(&self, body: Markup) -> HttpResponse {
        let mut b = HttpResponse::Ok();
        with_security_headers(&mut b, None);
        b.insert_header(("Cache-Control", "no-store")).content_type("text/html; charset=utf-8").body(body.into_string())
    }

    /// 303 to `to` (after a form post).
    pub fn see_other(&self, to: &str) -> HttpResponse {
        let mut b = HttpResponse::SeeOther();
        self.cookies(&mut b);
        b.insert_header(("Location", to)).finish()
    }

    fn cookies(&self, b: &mut HttpResponseBuilder) {
        if self.new_csrf {
            b.cookie(self.cookie(CSRF_COOKIE, self.csrf.clone()).same_site(SameSite::Strict).finish());
        }
    }

    /// A cookie with this site's flags: HttpOnly, path `/`, SameSite=Lax, Secure over TLS.
    pub fn cookie<'c>(&self, name: &'c str, value: String) -> actix_web::cookie::CookieBuilder<'c> {
        Cookie::build(name, value).path("/").http_only(true).same_site(SameSite::Lax).secure(self.secure)
    }

    fn layout(&self, title: &str, body: Markup, map: bool) -> Markup {
        let role = self.caller.as_ref().map(|c| c.role);
        let tiles = self.state.config.map_tiles.clone().unwrap_or_default();
        html! {
            (DOCTYPE)
            html lang=(self.lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="htmx-config" content=r#"{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false}"#;
                    title { (title) " · Sortie" }
                    link rel="stylesheet" href=(assets::url("app.css"));
                    @if map { link rel="stylesheet" href=(assets::url("leaflet.css")); }
                    script src=(assets::url("htmx.min.js")) defer {}
                    @if map { script src=(assets::url("leaflet.js")) defer {} }
                    script src=(assets::url("app.js")) defer {}
                }
                body data-tiles=(tiles) data-lang=(self.lang.code()) {
                    header.top {
                        a.brand href="/" { "Sortie" }
                        nav aria-label="main" {
                            @match role {
                                Some(Role::Customer) => { a href="/book" { (self.t("book")) } }
                                Some(Role::Dispatcher) | Some(Role::Admin) => {
                                    a href="/console/jobs" { (self.t("jobs")) }
                                    a href="/console/technicians" { (self.t("technicians")) }
                                    a href="/console/orgs" { (self.t("organisations")) }
                                    a href="/console/service" { (self.t("service")) }
                                    a href="/console/users" { (self.t("users")) }
                                }
                                Some(Role::Reviewer) => {
                                    a href="/console/reviews" { (self.t("reviews")) }
                                    a href="/console/service" { (self.t("service")) }
                                }
                                _ => {}
                            }
                            @if role == Some(Role::Admin) { a href="/console/reviews" { (self.t("reviews")) } }
                            a #lang-switch href=(format!("/lang/{}?next={}", self.lang.other().code(), urlencode(&self.here)))
                                lang=(self.lang.other().code()) { (self.t("switch_lang")) }
                            @if role.is_some() {
                                form.inline method="post" action="/logout" {
                                    (self.csrf_field())
                                    button.link type="submit" { (self.t("sign_out")) }
                                }
                            } @else {
                                a href="/login" { (self.t("sign_in")) }
                            }
                        }
                    }
                    main { (body) }
                }
            }
        }
    }
}

/// Headers every page carries: a CSP without inline scripts, no framing, no sniffing, and a referrer
/// only to this site (tracking and survey links carry their token in the path; `no-referrer` would make
/// browsers send `Origin: null` on our own form posts, which the CSRF check refuses).
pub fn with_security_headers(b: &mut HttpResponseBuilder, tiles: Option<&str>) {
    let img = tiles.and_then(tile_origin).map_or_else(|| "'self' data:".to_owned(), |o| format!("'self' data: {o}"));
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src {img}; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    b.insert_header(("Content-Security-Policy", csp))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "same-origin"));
}

/// `https://{s}.tile.example.org/{z}/{x}/{y}.png` → `https://*.tile.example.org` (for the CSP).
pub fn tile_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    let host = rest.split('/').next()?.replace("{s}", "*");
    (!host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:*".contains(c)))
        .then(|| format!("{scheme}://{host}"))
}

/// A bare 404 for assets.
pub fn not_found_plain() -> HttpResponse {
    let mut b = HttpResponse::NotFound();
    with_security_headers(&mut b, None);
    b.content_type("text/plain; charset=utf-8").body("not found")
}

/// A posted form as name/value pairs in order (a checkbox group repeats its name).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn ticked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && crate::config::parse_bool(v).unwrap_or(false))
    }
}

/// A use case's refusal of one field as the form's errors (re-render the form); any other error as it is.
pub fn form_errors(e: ApiError) -> Result<Invalids, ApiError> {
    match e {
        ApiError::Invalid { code, field: Some(field), message } => Ok(Invalid { code, field, message }.into()),
        other => Err(other),
    }
}

/// A write's outcome for a form: a refused field (the transaction rolled back) re-renders the form; any other
/// error is its page.
pub fn stored<R>(ctx: &Ctx, written: Result<R, ApiError>) -> Result<Result<R, Invalids>, Fail> {
    match written {
        Ok(r) => Ok(Ok(r)),
        Err(e) => form_errors(e).map(Err).map_err(|e| ctx.fail(e)),
    }
}

/// The message beside an input whose value was refused (`id="{field}-error"`, which the input names in
/// `aria-describedby`).
pub fn field_error(bad: &Invalids, field: &str, id: &str) -> Markup {
    html! {
        @if let Some(e) = bad.for_field(field) {
            span.field-error id=(format!("{id}-error")) { (e.message) }
        }
    }
}

/// An input named and identified `id`, of `kind` (an `<input type>`, or `decimal`: text with a numeric keypad),
/// marked invalid and followed by its message when `field` was refused.
pub fn checked_input(bad: &Invalids, id: &str, field: &str, kind: &str, value: &str) -> Markup {
    let (kind, mode) = if kind == "decimal" { ("text", Some("decimal")) } else { (kind, None) };
    html! {
        input id=(id) name=(id) type=(kind) inputmode=[mode] autocomplete="off" value=(value)
            aria-describedby=[described_by(bad, field, id)] aria-invalid=[bad.for_field(field).map(|_| "true")];
        (field_error(bad, field, id))
    }
}

/// `aria-describedby` of an input whose value was refused.
pub fn described_by(bad: &Invalids, field: &str, id: &str) -> Option<String> {
    bad.for_field(field).map(|_| format!("{id}-error"))
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A local path to go back to after signing in or switching language (never another site).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tile_origins_become_csp_sources_and_junk_is_dropped() {
        assert_eq!(
            tile_origin("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.openstreetmap.org")
        );
        assert_eq!(tile_origin("http://localhost:8081/t/{z}/{x}/{y}.png").as_deref(), Some("http://localhost:8081"));
        assert_eq!(tile_origin("https://evil.org; script-src *"), None);
        assert_eq!(tile_origin("nonsense"), None);
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/console/jobs?x=1")).as_deref(), Some("/console/jobs?x=1"));
        assert_eq!(safe_next(Some("//evil.org")), None);
        assert_eq!(safe_next(Some("https://evil.org")), None);
        assert_eq!(safe_next(Some("/\\evil.org")), None);
    }
}
