//! The partner's "Service" section `/console/service?org=`: its subtree's NPS, CSAT and CES over the last six
//! 30-day periods as charts (server-drawn SVG: no chart script to ship, nothing for the CSP to allow), SLA
//! compliance, first-time-fix and rework rates, per child organisation and technician, and the customers'
//! comments. Same scope as `GET /v1/orgs/{id}/service` (dispatchers: their subtree; 404 outside).

use actix_web::{get, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{Ctx, PageResult};
use crate::app::scorecards::{self, Period};
use crate::domain::Role;
use crate::error::ApiError;
use crate::storage::orgs;
use crate::storage::quality::Counters;

/// How many periods the charts show.
const PERIODS: i64 = 6;

#[derive(Debug, Default, Deserialize)]
pub struct ServiceQuery {
    org: Option<String>,
}

fn pct(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| 100.0 * n as f64 / of as f64)
}

fn nps(c: &Counters) -> Option<f64> {
    let n = c.promoters + c.passives + c.detractors;
    (n > 0).then(|| 100.0 * (c.promoters - c.detractors) as f64 / n as f64)
}

fn csat(c: &Counters) -> Option<f64> {
    pct(c.csat_satisfied, c.csat_responses)
}

fn ces(c: &Counters) -> Option<f64> {
    (c.ces_responses > 0).then(|| c.ces_sum as f64 / c.ces_responses as f64)
}

fn show(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.0}{unit}"))
}

/// A bar chart of one figure per period; `lo..hi` is the axis.
fn chart(title: &str, values: &[(Period, Option<f64>)], lo: f64, hi: f64, decimals: usize) -> Markup {
    let (w, h, pad) = (320.0, 140.0, 24.0);
    let slot = (w - pad) / values.len().max(1) as f64;
    let y = |v: f64| h - pad - (v - lo) / (hi - lo) * (h - 2.0 * pad);
    let zero = y(lo.max(0.0).min(hi));
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(title) width="100%" {
                title { (title) }
                line x1=(pad) x2=(w) y1=(zero) y2=(zero) stroke="#6b6b6b" stroke-width="1" {}
                @for (i, (period, v)) in values.iter().enumerate() {
                    @let x = pad + i as f64 * slot + slot * 0.15;
                    @if let Some(v) = v {
                        @let top = y(*v).min(zero);
                        rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{:.1}", slot * 0.7))
                            height=(format!("{:.1}", (y(*v) - zero).abs().max(1.0))) fill="#0b5394" {}
                        text x=(format!("{:.1}", x + slot * 0.35)) y=(format!("{:.1}", top - 4.0)) font-size="11"
                            text-anchor="middle" fill="#1a1a1a" { (format!("{v:.decimals$}")) }
                    }
                    text x=(format!("{:.1}", x + slot * 0.35)) y=(format!("{:.1}", h - 6.0)) font-size="10"
                        text-anchor="middle" fill="#1a1a1a" { (period.from.format("%d.%m")) }
                }
            }
            figcaption { (title) }
        }
    }
}

#[get("/console/service")]
pub async fn page(ctx: Ctx, q: web::Query<ServiceQuery>) -> PageResult {
    let caller = ctx.require(&[Role::Dispatcher, Role::Admin, Role::Reviewer])?;
    let now = ctx.now();
    let wanted = q.org.clone().filter(|o| !o.is_empty());
    let (service, history) = ctx
        .state
        .db
        .run(move |conn| {
            let org_id = match wanted.or_else(|| caller.org_id.clone()) {
                Some(id) => id,
                None => orgs::root(conn)?.ok_or(ApiError::NotFound)?.id,
            };
            let service = scorecards::service(conn, &caller, &org_id, None, None, None, 21, now)?;
            let mut history = Vec::new();
            for k in (0..PERIODS).rev() {
                let to = service.period.to - chrono::Duration::days(30 * k);
                let from = to - chrono::Duration::days(30);
                let (f, t) = (from.to_string(), to.to_string());
                history.push(scorecards::org_scorecard(conn, &caller, &org_id, Some(&f), Some(&t), now)?);
            }
            Ok((service, history))
        })
        .await
        .map_err(|e| ctx.fail(e))?;
    let series = |f: fn(&Counters) -> Option<f64>| history.iter().map(|(p, c)| (*p, f(c))).collect::<Vec<_>>();
    let t = &service.total;
    let row = |c: &Counters| {
        html! {
            td { (c.jobs_completed) }
            td { (show(pct(c.first_time_fixed, c.jobs_completed), " %")) }
            td { (show(pct(c.reworked, c.jobs_completed), " %")) }
            td { (show(pct(c.accept_met, c.accept_total), " %")) }
            td { (show(pct(c.arrive_met, c.arrive_total), " %")) }
            td { (show(nps(c), "")) }
            td { (show(csat(c), " %")) }
            td { (ces(c).map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))) }
        }
    };
    let head = html! { tr { th { (ctx.t("organisation")) } th { (ctx.t("jobs_done")) } th { (ctx.t("ftf")) } th { (ctx.t("rework")) }
    th { (ctx.t("sla_accept")) } th { (ctx.t("sla_arrive")) } th { "NPS" } th { "CSAT" } th { "CES" } } };
    let body = html! {
        h1 { (ctx.t("service")) " · " (service.org.name) }
        p.note { (service.period.from) " – " (service.period.to) }
        div.charts {
            (chart(&format!("NPS ({})", ctx.t("per_30_days")), &series(nps), -100.0, 100.0, 0))
            (chart(&format!("CSAT, % ({})", ctx.t("per_30_days")), &series(csat), 0.0, 100.0, 0))
            (chart(&format!("CES ({})", ctx.t("per_30_days")), &series(ces), 1.0, 7.0, 1))
        }
        div.scroll { table #service-figures {
            thead { (head) }
            tbody {
                tr.total { td { strong { (service.org.name) } } (row(t)) }
                @for (o, c) in &service.children { tr { td { a href=(format!("/console/service?org={}", o.id)) { (o.name) } } (row(c)) } }
            }
        } }
        @if !service.technicians.is_empty() {
            h2 { (ctx.t("technicians")) }
            div.scroll { table { thead { (head) } tbody { @for (tech, c) in &service.technicians { tr { td { (tech.name) } (row(c)) } } } } }
        }
        h2 { (ctx.t("comments")) }
        @if service.comments.is_empty() { p.note { (ctx.t("no_comments")) } }
        ul.comments { @for c in &service.comments { li {
            @if let Some(at) = c.answered_at { (ctx.at(at)) " · " }
            "NPS " (c.nps.map_or("—".to_owned(), |v| v.to_string()))
            @if let Some(name) = &c.technician_name { " · " (name) }
            @if let Some(text) = &c.comment { blockquote { (text) } }
        } } }
    };
    Ok(ctx.page(ctx.t("service"), body))
}
