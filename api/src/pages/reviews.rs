//! The reviewer's queue `/console/reviews`: each job's work report (notes,
//! checklist, parts, photos, signature), its chain and earlier verdicts;
//! approve, or return with a reason (`app::review::review`, as
//! `POST /v1/jobs/{id}/review`). Photos come through `/console/photos/{sha256}`
//! with the same scope as `GET /v1/photos/{sha256}`.

use actix_web::{HttpResponse, get, post, web};
use chrono::DateTime;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{Ctx, PageResult, urlencode, with_security_headers};
use crate::app::review::{self, QueueItem, QueueStatus, ReviewInput};
use crate::domain::{Role, Verdict};
use crate::error::ApiError;

const PAGE: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    status: Option<String>,
    cursor: Option<String>,
}

fn parse_status(s: Option<&str>) -> Result<QueueStatus, ApiError> {
    match s.unwrap_or("pending") {
        "" | "pending" => Ok(QueueStatus::Pending),
        "approved" => Ok(QueueStatus::Approved),
        "returned" => Ok(QueueStatus::Returned),
        _ => Err(ApiError::invalid("status", "pending, approved or returned")),
    }
}

fn status_code(s: QueueStatus) -> &'static str {
    match s {
        QueueStatus::Pending => "pending",
        QueueStatus::Approved => "approved",
        QueueStatus::Returned => "returned",
    }
}

fn decode(cursor: Option<&str>) -> Result<Option<review::QueueKey>, ApiError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else { return Ok(None) };
    let bad = || ApiError::invalid("cursor", "is not a cursor this server issued");
    let (micros, id) = c.split_once('|').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok(Some((at.naive_utc(), id.to_owned())))
}

/// The queue.
#[get("/console/reviews")]
pub async fn page(ctx: Ctx, q: web::Query<QueueQuery>) -> PageResult {
    ctx.require(&[Role::Reviewer, Role::Admin])?;
    let (status, after) = parse_status(q.status.as_deref())
        .and_then(|s| Ok((s, decode(q.cursor.as_deref())?)))
        .map_err(|e| ctx.fail(e))?;
    let now = ctx.now();
    let (items, next) = ctx
        .state
        .db
        .run(move |conn| review::queue(conn, status, after, PAGE + 1, now))
        .await
        .map_err(|e| ctx.fail(e))?;
    let body = html! {
        h1 { (ctx.t("queue")) }
        nav.pager aria-label=(ctx.t("status")) {
            @for s in [QueueStatus::Pending, QueueStatus::Approved, QueueStatus::Returned] {
                @if s == status { strong { (ctx.t(status_code(s))) } }
                @else { a href=(format!("/console/reviews?status={}", status_code(s))) { (ctx.t(status_code(s))) } }
            }
        }
        @if items.is_empty() { p.note { (ctx.t("no_reviews")) } }
        @for item in &items { (card(&ctx, item, status == QueueStatus::Pending)) }
        @if let Some((at, id)) = &next {
            p.pager { a rel="next" href=(format!("/console/reviews?status={}&cursor={}", status_code(status),
                urlencode(&format!("{}|{id}", at.and_utc().timestamp_micros())))) { (ctx.t("next_page")) } }
        }
    };
    Ok(ctx.page(ctx.t("queue"), body))
}

fn card(ctx: &Ctx, item: &QueueItem, open: bool) -> Markup {
    let job = &item.job;
    let r = &item.report;
    html! {
        article.card.review data-job=(job.id) {
            h2 { a href=(format!("/console/jobs/{}", job.id)) { (ctx.t(job.kind.as_str())) " · " (job.address) } }
            dl.facts {
                dt { (ctx.t("technician")) } dd { (item.technician_name.as_deref().unwrap_or("—")) }
                dt { (ctx.t("visits")) } dd { (job.visits) }
                dt { (ctx.t("problem")) } dd { (job.problem) }
                dt { (ctx.t("chain")) } dd { (item.hops.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(" → ")) }
            }
            @if !r.notes.is_empty() { h3 { (ctx.t("notes")) } ul { @for (_, text, _) in &r.notes { li { (text) } } } }
            @if !r.checklist.is_empty() { h3 { (ctx.t("checklist")) } ul { @for (k, v) in &r.checklist { li { (k) ": " (v) } } } }
            @if !r.parts.is_empty() { h3 { (ctx.t("parts_used")) } ul { @for p in &r.parts { li { (p.sku) " × " (p.qty) @if let Some(s) = &p.serial { " (" (s) ")" } } } } }
            @if !r.photos.is_empty() {
                h3 { (ctx.t("photos")) }
                div.photos { @for (p, uploaded) in &r.photos { @if *uploaded {
                    a href=(format!("/console/photos/{}", p.sha256)) { img src=(format!("/console/photos/{}", p.sha256)) alt=(format!("{} {}", ctx.t("photos"), ctx.at(p.taken_at))) loading="lazy"; }
                } } }
            }
            @if let Some((signer, sha)) = &r.signature {
                h3 { (ctx.t("signature")) }
                p { (signer) }
                div.photos { img src=(format!("/console/photos/{sha}")) alt=(format!("{}: {signer}", ctx.t("signature"))); }
            }
            @if !item.reviews.is_empty() {
                h3 { (ctx.t("verdicts")) }
                ul { @for v in &item.reviews { li { (v.visit) ": " (v.verdict.as_str()) @if let Some(reason) = &v.reason { " — " (reason) } } } }
            }
            @if open {
                form.row method="post" action=(format!("/console/reviews/{}", job.id)) {
                    (ctx.csrf_field())
                    input type="hidden" name="verdict" value="approve";
                    button.approve type="submit" { (ctx.t("approve")) }
                }
                form.row method="post" action=(format!("/console/reviews/{}", job.id)) {
                    (ctx.csrf_field())
                    input type="hidden" name="verdict" value="return";
                    label { (ctx.t("return_reason")) input.return-reason name="reason" required maxlength="2000"; }
                    label { input type="checkbox" name="redispatch" value="true"; " " (ctx.t("redispatch")) }
                    button.danger.return type="submit" { (ctx.t("return")) }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct VerdictForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verdict: String,
    reason: Option<String>,
    redispatch: Option<String>,
}

/// Records the verdict and goes back to the queue.
#[post("/console/reviews/{id}")]
pub async fn verdict(ctx: Ctx, id: web::Path<String>, form: web::Form<VerdictForm>) -> PageResult {
    let caller = ctx.require(&[Role::Reviewer, Role::Admin])?;
    ctx.check_csrf(&form.csrf)?;
    let verdict = match form.verdict.as_str() {
        "approve" => Verdict::Approved,
        "return" => Verdict::Returned,
        _ => return Err(ctx.fail(ApiError::invalid("verdict", "approve or return"))),
    };
    let input = ReviewInput {
        verdict,
        reason: form.reason.clone().filter(|r| !r.trim().is_empty()),
        redispatch: form.redispatch.as_deref().and_then(crate::config::parse_bool).unwrap_or(false),
    }
    .validate()
    .map_err(|e| ctx.fail(e))?;
    let (now, speed, cache) = (ctx.now(), ctx.state.config.travel_speed_kmh, ctx.state.dispatch.clone());
    let id = id.into_inner();
    let done = ctx
        .state
        .db
        .write(move |conn| review::review(conn, &cache, &caller, &id, input.clone(), now, speed))
        .await
        .map_err(|e| ctx.fail(e))?;
    metrics::counter!("sortie_reviews_total", "verdict" => done.review.verdict.as_str()).increment(1);
    Ok(ctx.see_other("/console/reviews"))
}

/// Photo and signature bytes for the signed-in reviewer, admin or dispatcher in scope.
#[get("/console/photos/{sha256}")]
pub async fn photo(ctx: Ctx, sha256: web::Path<String>) -> PageResult {
    let caller = ctx.require(&[Role::Reviewer, Role::Admin, Role::Dispatcher])?;
    let sha256 = sha256.into_inner();
    if !crate::app::sync::is_photo_hash(&sha256) {
        return Err(ctx.fail(ApiError::NotFound));
    }
    let bytes = ctx
        .state
        .db
        .run(move |conn| crate::app::sync::photo_for(conn, &caller, &sha256))
        .await
        .map_err(|e| ctx.fail(e))?;
    let mut b = HttpResponse::Ok();
    with_security_headers(&mut b, None);
    Ok(b.content_type(crate::routes::reviews::sniff(&bytes))
        .insert_header(("Cache-Control", "private, max-age=86400, immutable"))
        .body(bytes))
}
