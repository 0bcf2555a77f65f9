//! The dispatcher board `/console/jobs`: open offers with deadline
//! countdowns and the subtree's jobs by status, paged on the server and
//! refreshed by htmx without a full reload (`/console/jobs/board`).

use actix_web::{get, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{Ctx, PageResult, urlencode};
use crate::domain::{Caller, JobStatus, Role};
use crate::error::ApiError;
use crate::storage::{board, jobs, offers::Offer, utc};

/// Jobs per page of the board's list.
const PAGE: i64 = 50;
/// Open offers shown at once (soonest deadline first).
const OFFERS: i64 = 100;

/// `?status=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    status: Option<String>,
    cursor: Option<String>,
}

struct Board {
    offers: Option<Vec<(Offer, jobs::Job)>>,
    jobs: Vec<jobs::Job>,
    next: Option<String>,
    status: Option<JobStatus>,
    cursor: Option<String>,
}

fn decode_cursor(cursor: Option<&str>) -> Result<Option<(NaiveDateTime, String)>, ApiError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else { return Ok(None) };
    let bad = || ApiError::invalid("cursor", "is not a cursor this server issued");
    let (micros, id) = c.split_once('|').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok(Some((at.naive_utc(), id.to_owned())))
}

async fn load(ctx: &Ctx, caller: Caller, q: &BoardQuery) -> Result<Board, ApiError> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| ApiError::invalid("status", "unknown status"))?),
        None => None,
    };
    let after = decode_cursor(q.cursor.as_deref())?;
    let cursor = q.cursor.clone().filter(|c| !c.is_empty());
    ctx.state
        .db
        .run(move |conn| {
            // Offers are answered by the offered organisation's dispatchers only.
            let offers = match (&caller.role, &caller.org_id) {
                (Role::Dispatcher, Some(org)) => Some(board::open_offers(conn, org, OFFERS)?),
                _ => None,
            };
            let mut rows = jobs::list(conn, caller.job_scope(), status, None, after, PAGE + 1)?;
            let next = if rows.len() > usize::try_from(PAGE).unwrap_or(50) {
                rows.truncate(usize::try_from(PAGE).unwrap_or(50));
                rows.last().map(|j| format!("{}|{}", j.created_at.and_utc().timestamp_micros(), j.id))
            } else {
                None
            };
            Ok(Board { offers, jobs: rows, next, status, cursor })
        })
        .await
}

/// The board page.
#[get("/console/jobs")]
pub async fn page(ctx: Ctx, q: web::Query<BoardQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let board = load(&ctx, caller, &q).await.map_err(|e| ctx.fail(e))?;
    let body = html! {
        h1 { (ctx.t("jobs")) }
        p.note { (ctx.t("live")) }
        (markup(&ctx, &board))
    };
    Ok(ctx.page(ctx.t("jobs"), body))
}

/// The board alone, for htmx's refresh.
#[get("/console/jobs/board")]
pub async fn fragment(ctx: Ctx, q: web::Query<BoardQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin])?;
    let board = load(&ctx, caller, &q).await.map_err(|e| ctx.fail(e))?;
    Ok(ctx.fragment(markup(&ctx, &board)))
}

fn query_string(status: Option<JobStatus>, cursor: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(s) = status {
        parts.push(format!("status={}", s.as_str()));
    }
    if let Some(c) = cursor {
        parts.push(format!("cursor={}", urlencode(c)));
    }
    parts.join("&")
}

fn countdown(ctx: &Ctx, deadline: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    let left = (deadline - now).num_seconds();
    let text = if left <= 0 {
        ctx.t("expired").to_owned()
    } else {
        format!("{}:{:02} {}", left / 60, left % 60, ctx.t("left"))
    };
    html! { span.countdown data-deadline=(deadline.to_rfc3339()) { (text) } }
}

fn markup(ctx: &Ctx, b: &Board) -> Markup {
    let now = ctx.now();
    let qs = query_string(b.status, b.cursor.as_deref());
    let back = if qs.is_empty() { "/console/jobs".to_owned() } else { format!("/console/jobs?{qs}") };
    html! {
        div #board hx-get=(format!("/console/jobs/board?{qs}")) hx-trigger="every 10s" hx-swap="outerHTML" {
            @if let Some(offers) = &b.offers {
                section #offers aria-labelledby="offers-h" {
                    h2 #offers-h { (ctx.t("offers")) " " span.badge { (offers.len()) } }
                    @if offers.is_empty() { p.note { (ctx.t("no_offers")) } }
                    div.cards {
                        @for (offer, job) in offers {
                            article.card.offer data-job=(job.id) {
                                h3 { a href=(format!("/console/jobs/{}", job.id)) { (ctx.t(job.kind.as_str())) " · " (job.address) } }
                                p { (ctx.window(job.window_start, job.window_end)) " · " span.badge { (ctx.t(&format!("pr_{}", job.priority.as_str()))) } }
                                p { (ctx.t("deadline")) ": " (countdown(ctx, utc(offer.deadline), now)) }
                                form.inline method="post" action=(format!("/console/jobs/{}/accept", job.id)) {
                                    (ctx.csrf_field())
                                    input type="hidden" name="back" value=(back);
                                    button.accept type="submit" { (ctx.t("accept")) }
                                }
                                " "
                                a href=(format!("/console/jobs/{}", job.id)) { (ctx.t("open_job")) }
                            }
                        }
                    }
                }
            }
            section #jobs aria-labelledby="jobs-h" {
                h2 #jobs-h { (ctx.t("jobs")) }
                form.row method="get" action="/console/jobs" {
                    label for="status" { (ctx.t("status")) }
                    select #status name="status" {
                        option value="" { (ctx.t("all")) }
                        @for s in JobStatus::ALL {
                            option value=(s.as_str()) selected[b.status == Some(*s)] { (ctx.t(&format!("st_{}", s.as_str()))) }
                        }
                    }
                    button.secondary type="submit" { (ctx.t("filter")) }
                }
                @if b.jobs.is_empty() { p.note { (ctx.t("no_jobs")) } } @else {
                    table.jobs {
                        thead { tr { th { (ctx.t("created")) } th { (ctx.t("status")) } th { (ctx.t("kind")) } th { (ctx.t("address")) } th { (ctx.t("window")) } } }
                        tbody {
                            @for j in &b.jobs {
                                tr data-job=(j.id) {
                                    td { a href=(format!("/console/jobs/{}", j.id)) { (ctx.at(j.created_at)) } }
                                    td { span.badge data-status=(j.status.as_str()) { (ctx.t(&format!("st_{}", j.status.as_str()))) } }
                                    td { (ctx.t(j.kind.as_str())) }
                                    td { (j.address) }
                                    td { (ctx.window(j.window_start, j.window_end)) }
                                }
                            }
                        }
                    }
                }
                div.pager {
                    @if b.cursor.is_some() { a href=(format!("/console/jobs?{}", query_string(b.status, None))) { (ctx.t("first_page")) } }
                    @if let Some(next) = &b.next { a rel="next" href=(format!("/console/jobs?{}", query_string(b.status, Some(next)))) { (ctx.t("next_page")) } }
                }
            }
        }
    }
}
