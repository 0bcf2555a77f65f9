//! Scorecards (`/v1/orgs/{id}/scorecard`, `/v1/technicians/{id}/scorecard`)
//! and the partners' Service section (`/v1/orgs/{id}/service`).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::scorecards::{self, Period};
use crate::auth::AuthUser;
use crate::domain::JobKind;
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::pagination::{self, Page};
use crate::state::AppState;
use crate::storage::quality::Counters;
use crate::storage::utc;

/// `?from=&to=`: local dates, half-open.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// First local date included, YYYY-MM-DD (default: 30 days before `to`).
    pub from: Option<String>,
    /// First local date *not* included (default: tomorrow, so today counts so far).
    pub to: Option<String>,
}

/// `?from=&to=&limit=&cursor=` of the Service section (the page is of comments).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ServiceQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Comments per page, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `comments.next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A count out of a total.
#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub count: i64,
    pub of: i64,
}

/// The counts behind each rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateCounts {
    pub first_time_fix: Count,
    pub rework: Count,
    pub incomplete: Count,
    pub accept_sla_met: Count,
    pub arrive_sla_met: Count,
}

/// Net promoter score: % promoters (9–10) − % detractors (0–6).
#[derive(Debug, Serialize, ToSchema)]
pub struct Nps {
    /// −100..=100; null without responses.
    pub score: Option<f64>,
    pub promoters: i64,
    pub passives: i64,
    pub detractors: i64,
    pub responses: i64,
}

/// Customer satisfaction: % of answers 4–5.
#[derive(Debug, Serialize, ToSchema)]
pub struct Csat {
    /// 0..=100; null without responses.
    pub score: Option<f64>,
    pub responses: i64,
}

/// Customer effort: the mean answer 1–7.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ces {
    pub average: Option<f64>,
    pub responses: i64,
}

/// A scorecard over local dates `[from, to)`; rates are 0–1, null when their count is 0.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScorecardView {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Jobs approved in the period.
    pub jobs_completed: i64,
    /// Visits those jobs took.
    pub visits: i64,
    pub first_time_fix_rate: Option<f64>,
    /// Share of approved jobs that had been returned at least once.
    pub rework_rate: Option<f64>,
    /// Share of approved jobs that had at least one incomplete visit.
    pub incomplete_rate: Option<f64>,
    /// Share of decided offers answered by their deadline.
    pub accept_sla_met_rate: Option<f64>,
    pub arrive_sla_met_rate: Option<f64>,
    pub nps: Nps,
    pub csat: Csat,
    pub ces: Ces,
    /// The count and total behind each rate.
    pub counts: RateCounts,
}

fn ratio(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

impl ScorecardView {
    /// Renders counters.
    pub fn new(period: Period, c: &Counters) -> ScorecardView {
        let responses = c.promoters + c.passives + c.detractors;
        ScorecardView {
            from: period.from,
            to: period.to,
            jobs_completed: c.jobs_completed,
            visits: c.visits,
            first_time_fix_rate: ratio(c.first_time_fixed, c.jobs_completed),
            rework_rate: ratio(c.reworked, c.jobs_completed),
            incomplete_rate: ratio(c.incomplete, c.jobs_completed),
            accept_sla_met_rate: ratio(c.accept_met, c.accept_total),
            arrive_sla_met_rate: ratio(c.arrive_met, c.arrive_total),
            nps: Nps {
                score: ratio(c.promoters - c.detractors, responses).map(|r| r * 100.0),
                promoters: c.promoters,
                passives: c.passives,
                detractors: c.detractors,
                responses,
            },
            csat: Csat {
                score: ratio(c.csat_satisfied, c.csat_responses).map(|r| r * 100.0),
                responses: c.csat_responses,
            },
            ces: Ces { average: ratio(c.ces_sum, c.ces_responses), responses: c.ces_responses },
            counts: RateCounts {
                first_time_fix: Count { count: c.first_time_fixed, of: c.jobs_completed },
                rework: Count { count: c.reworked, of: c.jobs_completed },
                incomplete: Count { count: c.incomplete, of: c.jobs_completed },
                accept_sla_met: Count { count: c.accept_met, of: c.accept_total },
                arrive_sla_met: Count { count: c.arrive_met, of: c.arrive_total },
            },
        }
    }
}

/// An organisation's scorecard: it and its whole subtree.
#[utoipa::path(get, path = "/v1/orgs/{id}/scorecard", tag = "quality", params(PeriodQuery),
    responses((status = 200, body = ScorecardView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "unknown or outside your subtree"),
        (status = 422, description = "bad period")), security(("bearer" = [])))]
#[get("/v1/orgs/{id}/scorecard")]
pub async fn org_scorecard(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    query: Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let q = query.0;
    let now = state.now();
    let (period, counters) = state
        .db
        .run(move |conn| scorecards::org_scorecard(conn, &caller, &id, q.from.as_deref(), q.to.as_deref(), now))
        .await?;
    Ok(HttpResponse::Ok().json(ScorecardView::new(period, &counters)))
}

/// A technician's scorecard.
#[utoipa::path(get, path = "/v1/technicians/{id}/scorecard", tag = "quality", params(PeriodQuery),
    responses((status = 200, body = ScorecardView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "unknown or outside your subtree"),
        (status = 422, description = "bad period")), security(("bearer" = [])))]
#[get("/v1/technicians/{id}/scorecard")]
pub async fn technician_scorecard(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    query: Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let q = query.0;
    let now = state.now();
    let (period, counters) = state
        .db
        .run(move |conn| scorecards::technician_scorecard(conn, &caller, &id, q.from.as_deref(), q.to.as_deref(), now))
        .await?;
    Ok(HttpResponse::Ok().json(ScorecardView::new(period, &counters)))
}

/// A child organisation's line in the Service section.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgLine {
    pub org_id: String,
    pub name: String,
    pub scorecard: ScorecardView,
}

/// A technician's line in the Service section.
#[derive(Debug, Serialize, ToSchema)]
pub struct TechnicianLine {
    pub technician_id: String,
    pub name: String,
    pub org_id: String,
    pub scorecard: ScorecardView,
}

/// A customer's answer with a comment: the job and the technician, never the customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    pub job_id: String,
    pub kind: JobKind,
    pub org_id: String,
    pub technician_id: Option<String>,
    pub technician_first_name: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub nps: Option<i32>,
    pub csat: Option<i32>,
    pub ces: Option<i32>,
    pub comment: String,
}

/// The Service section.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub org_id: String,
    pub name: String,
    /// The whole subtree.
    pub scorecard: ScorecardView,
    /// Each child organisation (its subtree).
    pub children: Vec<OrgLine>,
    /// Each technician of the subtree with figures in the period.
    pub technicians: Vec<TechnicianLine>,
    /// Customers' comments, newest first; page with `?limit=&cursor=`.
    pub comments: Page<CommentView>,
}

/// A partner's "Service" section: its subtree's scorecard, per child and per
/// technician, and its customers' comments. The vendor (admin, reviewer, its
/// dispatchers) sees any organisation's; a partner's dispatcher only its subtree's.
#[utoipa::path(get, path = "/v1/orgs/{id}/service", tag = "quality", params(ServiceQuery),
    responses((status = 200, body = ServiceView), (status = 403, description = "this role may not use this endpoint (`forbidden`)"), (status = 404, description = "unknown or outside your subtree")),
    security(("bearer" = [])))]
#[get("/v1/orgs/{id}/service")]
pub async fn service(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    query: Query<ServiceQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let q = query.0;
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = match pagination::decode_cursor(q.cursor.as_deref())? {
        None => None,
        Some(position) => Some(parse_position(&position)?),
    };
    let now = state.now();
    let s = state
        .db
        .run(move |conn| scorecards::service(conn, &caller, &id, q.from.as_deref(), q.to.as_deref(), after, limit, now))
        .await?;
    let period = s.period;
    let first_name = |name: &str| name.split_whitespace().next().map(str::to_owned);
    let names: std::collections::HashMap<&str, &str> =
        s.technicians.iter().map(|(t, _)| (t.id.as_str(), t.name.as_str())).collect();
    let comments = s
        .comments
        .iter()
        .map(|c| CommentView {
            job_id: c.job_id.clone(),
            kind: c.kind,
            org_id: c.org_id.clone(),
            technician_id: c.technician_id.clone(),
            technician_first_name: c
                .technician_name
                .as_deref()
                .or_else(|| c.technician_id.as_deref().and_then(|id| names.get(id).copied()))
                .and_then(first_name),
            answered_at: c.answered_at.map(utc),
            nps: c.nps,
            csat: c.csat,
            ces: c.ces,
            comment: c.comment.clone().unwrap_or_default(),
        })
        .collect();
    let view = ServiceView {
        scorecard: ScorecardView::new(period, &s.total),
        children: s
            .children
            .iter()
            .map(|(o, c)| OrgLine {
                org_id: o.id.clone(),
                name: o.name.clone(),
                scorecard: ScorecardView::new(period, c),
            })
            .collect(),
        technicians: s
            .technicians
            .iter()
            .map(|(t, c)| TechnicianLine {
                technician_id: t.id.clone(),
                name: t.name.clone(),
                org_id: t.org_id.clone(),
                scorecard: ScorecardView::new(period, c),
            })
            .collect(),
        comments: Page {
            items: comments,
            next_cursor: s.next_after.map(|(at, job)| crate::routes::jobs::encode_time_cursor(at, &job)),
        },
        org_id: s.org.id,
        name: s.org.name,
    };
    Ok(HttpResponse::Ok().json(view))
}

fn parse_position(position: &str) -> Result<(chrono::NaiveDateTime, String), ApiError> {
    let bad = || ApiError::invalid("cursor", "is not a cursor this server issued");
    let (micros, job) = position.split_once('|').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((at.naive_utc(), job.to_owned()))
}
