//! Customers' pages: `/book` (signed in), `/track/{token}` (anyone with the
//! link; changes need the customer's sign-in), `/survey/{token}` (the link).

use std::sync::OnceLock;

use actix_web::{HttpResponse, get, post, web};
use maud::{Markup, html};
use serde::Deserialize;
use sha2::Digest as _;

use super::fmt;
use super::i18n::Lang;
use super::page::{Ctx, PageResult};
use crate::app::booking::{self, IdempotencyKey};
use crate::app::consent;
use crate::app::surveys;
use crate::domain::{JobKind, Language, Priority, Role, lifecycle};
use crate::error::ApiError;
use crate::routes::jobs::TimeWindow;
use crate::routes::orgs::PartQty;
use crate::routes::requests::{BookRequest, ConsentBody, Contact, RequestView, request_view};
use crate::routes::technicians::LatLon;
use crate::storage::{jobs, utc};

/// Who may book from the page: customers for themselves, dispatchers and admins for a customer.
const BOOKERS: &[Role] = &[Role::Customer, Role::Dispatcher, Role::Admin];

/// The booking form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct BookForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idem: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    parts: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    problem: String,
    #[serde(default)]
    window_start: String,
    #[serde(default)]
    window_end: String,
    tz_offset: Option<String>,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    contact_email: String,
    /// `on` when the consent box is ticked (required of a customer booking for itself).
    #[serde(default)]
    consent: String,
    #[serde(default)]
    consent_notify: String,
}

/// `/book`: the form.
#[get("/book")]
pub async fn book_form(ctx: Ctx) -> PageResult {
    ctx.require(BOOKERS)?;
    let start = fmt::in_offset(ctx.now() + chrono::Duration::days(1), 180);
    let start = start.date_naive().and_hms_opt(10, 0, 0).unwrap_or(start.naive_local());
    let form = BookForm {
        kind: "home_visit".into(),
        window_start: start.format("%Y-%m-%dT%H:%M").to_string(),
        window_end: (start + chrono::Duration::hours(4)).format("%Y-%m-%dT%H:%M").to_string(),
        idem: crate::storage::new_id(),
        ..BookForm::default()
    };
    Ok(book_page(&ctx, &form, None))
}

fn book_page(ctx: &Ctx, f: &BookForm, error: Option<String>) -> HttpResponse {
    let status = if error.is_some() {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    let points = match (f.lat.parse::<f64>(), f.lon.parse::<f64>()) {
        (Ok(lat), Ok(lon)) => serde_json::json!([{"lat": lat, "lon": lon}]).to_string(),
        _ => "[]".into(),
    };
    let body = html! {
        h1 { (ctx.t("book")) }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        form.stack #book method="post" action="/book" {
            (ctx.csrf_field())
            input type="hidden" name="idem" value=(f.idem);
            input type="hidden" name="tz_offset" value="180";
            label for="kind" { (ctx.t("kind")) }
            select #kind name="kind" {
                @for k in ["home_visit", "parts_replacement"] {
                    option value=(k) selected[f.kind == k] { (ctx.t(k)) }
                }
            }
            label for="parts" { (ctx.t("parts")) }
            input #parts name="parts" value=(f.parts);
            label for="address" { (ctx.t("address")) }
            input #address name="address" required autocomplete="street-address" value=(f.address);
            p.note #map-hint { (ctx.t("map_hint")) }
            div.map data-pick="" data-points=(points) role="application" aria-label=(ctx.t("map")) {}
            div.grid2 {
                div { label for="lat" { (ctx.t("lat")) } br; input #lat name="lat" inputmode="decimal" value=(f.lat); }
                div { label for="lon" { (ctx.t("lon")) } br; input #lon name="lon" inputmode="decimal" value=(f.lon); }
            }
            label for="problem" { (ctx.t("problem")) }
            textarea #problem name="problem" required { (f.problem) }
            div.grid2 {
                div { label for="window_start" { (ctx.t("window_start")) } br;
                    input #window_start type="datetime-local" name="window_start" required value=(f.window_start); }
                div { label for="window_end" { (ctx.t("window_end")) } br;
                    input #window_end type="datetime-local" name="window_end" required value=(f.window_end); }
            }
            p.note { (ctx.t("contact_hint")) }
            label for="contact_name" { (ctx.t("contact_name")) }
            input #contact_name name="contact_name" autocomplete="name" value=(f.contact_name);
            label for="contact_phone" { (ctx.t("contact_phone")) }
            input #contact_phone type="tel" name="contact_phone" autocomplete="tel" value=(f.contact_phone);
            label for="contact_email" { (ctx.t("contact_email")) }
            input #contact_email type="email" name="contact_email" autocomplete="email" value=(f.contact_email);
            @let own = ctx.caller.as_ref().is_some_and(|c| c.role == Role::Customer);
            details #consent-text {
                summary { (ctx.t("consent_text")) }
                div.note style="white-space: pre-wrap" { (consent_text(ctx).map_or("", |t| t.text)) }
            }
            label { input #consent type="checkbox" name="consent" required[own] checked[f.consent == "on"]; " " (ctx.t("consent_personal")) }
            label { input #consent_notify type="checkbox" name="consent_notify" checked[f.consent_notify == "on"]; " " (ctx.t("consent_notify")) }
            button #submit-book type="submit" { (ctx.t("submit_book")) }
        }
    };
    ctx.respond(status, ctx.t("book"), body, true)
}

/// The current consent text in the page's language.
fn consent_text(ctx: &Ctx) -> Option<&'static consent::ConsentText> {
    consent::current(if ctx.lang == Lang::En { Language::En } else { Language::Ru })
}

/// A city named in the address (Russian or English name, the longest match, then the most populous).
fn city_in(address: &str) -> Option<(f64, f64)> {
    static CITIES: OnceLock<Vec<crate::demo::City>> = OnceLock::new();
    let address = address.to_lowercase();
    let words: Vec<&str> =
        address.split(|c: char| !c.is_alphanumeric() && c != '-').filter(|w| !w.is_empty()).collect();
    let text = format!(" {} ", words.join(" "));
    CITIES
        .get_or_init(crate::demo::cities)
        .iter()
        .filter(|c| {
            [&c.name, &c.name_ru].iter().any(|n| !n.is_empty() && text.contains(&format!(" {} ", n.to_lowercase())))
        })
        .max_by_key(|c| (c.name.len().max(c.name_ru.chars().count()), c.population))
        .map(|c| (c.lat, c.lon))
}

/// `SKU x 2, SKU2` → parts (a missing quantity is 1).
fn parse_parts(text: &str) -> Result<Vec<PartQty>, ApiError> {
    text.split([',', ';', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut it = p.split(['x', 'X', '×', '*']).map(str::trim);
            let sku = it.next().unwrap_or_default().to_owned();
            let qty = match it.next() {
                Some(q) => {
                    q.parse().map_err(|_| ApiError::invalid("parts", format!("`{p}`: expected SKU x quantity")))?
                }
                None => 1,
            };
            Ok(PartQty { sku, qty })
        })
        .collect()
}

impl BookForm {
    /// The API's booking body from the form; errors name the form's field.
    fn to_request(&self, text: Option<&consent::ConsentText>) -> Result<BookRequest, ApiError> {
        let offset = fmt::offset_or_moscow(self.tz_offset.as_deref());
        let kind = JobKind::parse(&self.kind).ok_or_else(|| ApiError::invalid("kind", "choose a kind"))?;
        let (lat, lon) = match (self.lat.trim().parse::<f64>(), self.lon.trim().parse::<f64>()) {
            (Ok(lat), Ok(lon)) => (lat, lon),
            _ if self.lat.trim().is_empty() && self.lon.trim().is_empty() => {
                city_in(&self.address).ok_or_else(|| {
                    ApiError::invalid("location", "pick the point on the map or name a city in the address")
                })?
            }
            _ => return Err(ApiError::invalid("location", "latitude and longitude must be numbers")),
        };
        let contact = if self.contact_name.trim().is_empty() && self.contact_phone.trim().is_empty() {
            None
        } else {
            Some(Contact {
                name: self.contact_name.trim().to_owned(),
                phone: self.contact_phone.trim().to_owned(),
                email: Some(self.contact_email.trim().to_owned()).filter(|e| !e.is_empty()),
            })
        };
        Ok(BookRequest {
            kind,
            location: LatLon { lat, lon },
            address: self.address.trim().to_owned(),
            problem: self.problem.trim().to_owned(),
            required_skills: Vec::new(),
            parts: parse_parts(&self.parts)?,
            window: TimeWindow {
                start: fmt::parse_input("window_start", &self.window_start, offset)?,
                end: fmt::parse_input("window_end", &self.window_end, offset)?,
            },
            priority: Priority::Normal,
            contact,
            consent: text.filter(|_| self.consent == "on").map(|t| ConsentBody {
                personal_data: true,
                text_version: t.version.to_owned(),
                language: t.language,
                notifications: self.consent_notify == "on",
                marketing: false,
            }),
        })
    }
}

/// Books like `POST /v1/requests` (the form's hidden key makes a double submit one request) and goes to tracking.
#[post("/book")]
pub async fn book(ctx: Ctx, form: web::Form<BookForm>) -> PageResult {
    let caller = ctx.require(BOOKERS)?;
    ctx.check_csrf(&form.csrf)?;
    let now = ctx.now();
    if caller.role == Role::Customer && form.consent != "on" {
        return Ok(book_page(&ctx, &form, Some(ctx.t("consent_missing").to_owned())));
    }
    let parsed = form.to_request(consent_text(&ctx)).and_then(|b| Ok((b.parse_at(now)?, b)));
    let (booking, body) = match parsed {
        Ok(ok) => ok,
        Err(e) => return Ok(book_page(&ctx, &form, Some(invalid_text(&ctx, &e)))),
    };
    let request_hash = hex::encode(sha2::Sha256::digest(serde_json::to_string(&body).unwrap_or_default().as_bytes()));
    let key = Some(form.idem.trim().to_owned())
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(|key| IdempotencyKey { key: format!("web:{key}"), request_hash });
    let cache = ctx.state.dispatch.clone();
    let outcome =
        ctx.state.db.run(move |conn| booking::book_and_dispatch(conn, &cache, &caller, &booking, key.as_ref(), now)).await;
    let (job, replayed) = match outcome {
        Ok(booking::BookOutcome::Created(job)) => (job, false),
        Ok(booking::BookOutcome::Replayed(job)) => (job, true),
        Err(e @ (ApiError::Invalid { .. } | ApiError::BadRequest { .. })) => {
            return Ok(book_page(&ctx, &form, Some(invalid_text(&ctx, &e))));
        }
        Err(e) => return Err(ctx.fail(e)),
    };
    if !replayed {
        metrics::counter!("sortie_requests_booked_total").increment(1);
        tracing::info!(job.id = %job.id, "Booked request {} from the web", job.id);
    }
    Ok(ctx.see_other(&format!("/track/{}", job.tracking_token)))
}

fn invalid_text(ctx: &Ctx, e: &ApiError) -> String {
    match e {
        ApiError::Invalid { field: Some(f), message, .. } | ApiError::BadRequest { field: Some(f), message, .. } => {
            format!("{} `{f}`: {message}", ctx.t("field"))
        }
        other => other.to_string(),
    }
}

/// The job behind a tracking token, unless the link has expired.
fn tracked(
    conn: &mut crate::db::DbConnection,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
    ttl: chrono::Duration,
) -> Result<jobs::Job, ApiError> {
    if token.len() > 64 {
        return Err(ApiError::NotFound);
    }
    let job = jobs::find_by_tracking_token(conn, token)?.ok_or(ApiError::NotFound)?;
    if job.closed_at.is_some_and(|closed| utc(closed) + ttl < now) {
        return Err(ApiError::NotFound);
    }
    Ok(job)
}

/// `/track/{token}`: stage, technician, window, ETA, history; cancel and reschedule for the customer while allowed.
#[get("/track/{token}")]
pub async fn track(ctx: Ctx, token: web::Path<String>) -> PageResult {
    let token = token.into_inner();
    let (now, ttl) =
        (ctx.now(), chrono::Duration::from_std(ctx.state.config.tracking_ttl_after_close).unwrap_or_default());
    let caller = ctx.caller.clone();
    let (view, survey_url, may_change) = ctx
        .state
        .db
        .run(move |conn| {
            let job = tracked(conn, &token, now, ttl)?;
            // Changing needs more than the link (links get forwarded): the signed-in customer, or staff in scope.
            let in_scope = match &caller {
                Some(c) if BOOKERS.contains(&c.role) => jobs::find_scoped(conn, &job.id, c.job_scope())?.is_some(),
                _ => false,
            };
            let may_change = in_scope && lifecycle::customer_may_change(job.status);
            let survey_url = surveys::survey_url(conn, &job.id, now)?;
            Ok((request_view(conn, job)?, survey_url, may_change))
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.map_page(ctx.t("tracking"), track_body(&ctx, &view, survey_url.as_deref(), may_change)))
}

fn track_body(ctx: &Ctx, v: &RequestView, survey_url: Option<&str>, may_change: bool) -> Markup {
    let points = serde_json::json!([{"lat": v.location.lat, "lon": v.location.lon, "label": v.address}]).to_string();
    let offset = v.window.start.offset().local_minus_utc() / 60;
    html! {
        h1 { (ctx.t("tracking")) }
        (track_live(ctx, v, survey_url))
        div.map data-points=(points) role="img" aria-label=(ctx.t("map")) {}
        @if may_change {
            h2 { (ctx.t("reschedule")) }
            form.row method="post" action=(format!("/track/{}/reschedule", v.tracking_token)) {
                (ctx.csrf_field())
                input type="hidden" name="tz_offset" value=(offset);
                label { (ctx.t("window_start")) input type="datetime-local" name="window_start" required value=(fmt::input_value(v.window.start)); }
                label { (ctx.t("window_end")) input type="datetime-local" name="window_end" required value=(fmt::input_value(v.window.end)); }
                button.secondary type="submit" { (ctx.t("reschedule")) }
            }
            h2 { (ctx.t("cancel")) }
            form.row method="post" action=(format!("/track/{}/cancel", v.tracking_token)) {
                (ctx.csrf_field())
                label { (ctx.t("cancel_reason")) input name="reason"; }
                button.danger #cancel type="submit" { (ctx.t("cancel")) }
            }
        } @else if ctx.caller.is_none() && lifecycle_open(v) {
            p.note { a href=(format!("/login?next=/track/{}", v.tracking_token)) { (ctx.t("sign_in_to_change")) } }
        }
    }
}

/// What changes while the customer watches: refreshed by htmx every 30 s (`/track/{token}/live`).
fn track_live(ctx: &Ctx, v: &RequestView, survey_url: Option<&str>) -> Markup {
    let offset = v.window.start.offset().local_minus_utc() / 60;
    html! {
        div #live hx-get=(format!("/track/{}/live", v.tracking_token)) hx-trigger="every 30s" hx-swap="outerHTML" {
            dl.facts #tracking {
                dt { (ctx.t("stage")) } dd #stage data-stage=(v.stage.as_str()) { (ctx.t(&format!("stage_{}", v.stage.as_str()))) }
                dt { (ctx.t("kind")) } dd { (ctx.t(v.kind.as_str())) }
                dt { (ctx.t("address")) } dd { (v.address) }
                dt { (ctx.t("technician")) } dd #technician { (v.technician_first_name.as_deref().unwrap_or(ctx.t("not_yet"))) }
                dt { (ctx.t("window")) } dd { (fmt::window(&v.window)) }
                dt { (ctx.t("eta")) } dd #eta { @match &v.eta { Some(eta) => (fmt::window(eta)), None => (ctx.t("not_yet")) } }
            }
            @if let Some(url) = survey_url { p { a.badge href=(url) { (ctx.t("survey_link")) } } }
            h2 { (ctx.t("history")) }
            ol.history {
                @for s in &v.history {
                    li { (ctx.t(&format!("stage_{}", s.stage.as_str()))) " — " (fmt::local(fmt::in_offset(s.at, offset))) }
                }
            }
        }
    }
}

/// The live part of the tracking page alone (htmx).
#[get("/track/{token}/live")]
pub async fn track_fragment(ctx: Ctx, token: web::Path<String>) -> PageResult {
    let token = token.into_inner();
    let (now, ttl) = (ctx.now(), tracking_ttl(&ctx));
    let (view, survey_url) = ctx
        .state
        .db
        .run(move |conn| {
            let job = tracked(conn, &token, now, ttl)?;
            let survey_url = surveys::survey_url(conn, &job.id, now)?;
            Ok((request_view(conn, job)?, survey_url))
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.fragment(track_live(&ctx, &view, survey_url.as_deref())))
}

fn lifecycle_open(v: &RequestView) -> bool {
    lifecycle::customer_may_change(v.status)
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
    reason: Option<String>,
}

/// Cancels from the tracking page (the same rule as `POST /v1/requests/{id}/cancel`).
#[post("/track/{token}/cancel")]
pub async fn cancel(ctx: Ctx, token: web::Path<String>, form: web::Form<CancelForm>) -> PageResult {
    let caller = ctx.require(BOOKERS)?;
    ctx.check_csrf(&form.csrf)?;
    let token = token.into_inner();
    let reason = form.reason.clone().filter(|r| !r.trim().is_empty());
    let (now, ttl, speed) = (ctx.now(), tracking_ttl(&ctx), ctx.state.config.travel_speed_kmh);
    let back = format!("/track/{token}");
    ctx.state
        .db
        .write(move |conn| {
            let job = tracked(conn, &token, now, ttl)?;
            booking::cancel(conn, &caller, &job.id, reason.as_deref(), now, speed)
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&back))
}

#[derive(Debug, Deserialize)]
pub struct RescheduleForm {
    #[serde(default)]
    csrf: String,
    window_start: String,
    window_end: String,
    tz_offset: Option<String>,
}

/// Moves the window from the tracking page (the same rules as `POST /v1/requests/{id}/reschedule`).
#[post("/track/{token}/reschedule")]
pub async fn reschedule(ctx: Ctx, token: web::Path<String>, form: web::Form<RescheduleForm>) -> PageResult {
    let caller = ctx.require(BOOKERS)?;
    ctx.check_csrf(&form.csrf)?;
    let offset = fmt::offset_or_moscow(form.tz_offset.as_deref());
    let now = ctx.now();
    let window = (|| {
        let w = (
            fmt::parse_input("window_start", &form.window_start, offset)?,
            fmt::parse_input("window_end", &form.window_end, offset)?,
        );
        booking::validate_window("window", w.0, w.1, now)?;
        Ok::<_, ApiError>(w)
    })()
    .map_err(|e| ctx.fail(e))?;
    let token = token.into_inner();
    let (ttl, speed, cache) = (tracking_ttl(&ctx), ctx.state.config.travel_speed_kmh, ctx.state.dispatch.clone());
    let back = format!("/track/{token}");
    ctx.state
        .db
        .write(move |conn| {
            let job = tracked(conn, &token, now, ttl)?;
            let job = booking::reschedule(conn, &caller, &job.id, window, now, speed)?;
            crate::app::review::after_reschedule(conn, &cache, &caller, &job, now, speed)?;
            Ok(())
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(ctx.see_other(&back))
}

fn tracking_ttl(ctx: &Ctx) -> chrono::Duration {
    chrono::Duration::from_std(ctx.state.config.tracking_ttl_after_close).unwrap_or_default()
}
