//! Scorecards and the partners' "Service" section, read from the daily
//! counters (`storage::quality`), never recomputed from jobs.
//!
//! A period is a half-open range of local dates `[from, to)`. Each counter
//! row is dated in the time zone of the organisation it belongs to, so an
//! organisation's period sums its descendants' *own* local days (a Moscow
//! vendor's "1 March" includes a Vladivostok partner's 1 March, which began
//! seven hours earlier).

use chrono::{Duration, NaiveDate, Utc};

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::Caller;
use crate::domain::Role;
use crate::storage::quality::{self as store, Counters};
use crate::storage::{orgs, technicians};

/// The longest period a scorecard covers.
pub const MAX_PERIOD_DAYS: i64 = 3 * 366;
/// The period when `from` is absent: this many days before `to`.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;

/// Local dates `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// From `?from=&to=` (YYYY-MM-DD). `to` defaults to the day after the
    /// latest local date anywhere (UTC+14), so today counts so far in every
    /// descendant's time zone; `from` to 30 days before `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: chrono::DateTime<Utc>) -> Result<Period, ApiError> {
        let date = |field: &str, s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ApiError::invalid(field, "must be a date YYYY-MM-DD"))
        };
        let to = match to {
            Some(s) => date("to", s)?,
            None => (now + Duration::hours(14)).date_naive() + Duration::days(1),
        };
        let from = match from {
            Some(s) => date("from", s)?,
            None => to - Duration::days(DEFAULT_PERIOD_DAYS),
        };
        if from >= to {
            return Err(ApiError::invalid("to", "must be after `from`"));
        }
        if (to - from).num_days() > MAX_PERIOD_DAYS {
            return Err(ApiError::invalid("from", format!("a period is at most {MAX_PERIOD_DAYS} days")));
        }
        Ok(Period { from, to })
    }

    fn bounds(&self) -> (String, String) {
        (self.from.to_string(), self.to.to_string())
    }
}

/// Roles that read scorecards; customers and technicians never do (403).
pub const READERS: &[Role] = &[Role::Admin, Role::Reviewer, Role::Dispatcher];

/// The organisation if the caller may read its figures: admins and reviewers
/// any, dispatchers their own organisation and its descendants; else 404.
fn visible_org(conn: &mut DbConnection, caller: &Caller, org_id: &str) -> Result<orgs::Org, ApiError> {
    if !READERS.contains(&caller.role) {
        return Err(ApiError::Forbidden);
    }
    let org = orgs::find(conn, org_id)?.ok_or(ApiError::NotFound)?;
    match caller.subtree() {
        None => Ok(org),
        Some(own) if org.path.starts_with(own) => Ok(org),
        Some(_) => Err(ApiError::NotFound),
    }
}

/// The caller-visible organisation whose subtree a scorecard covers, and the period.
pub fn org_scorecard(
    conn: &mut DbConnection,
    caller: &Caller,
    org_id: &str,
    from: Option<&str>,
    to: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<(Period, Counters), ApiError> {
    let org = visible_org(conn, caller, org_id)?;
    let period = Period::parse(from, to, now)?;
    let (f, t) = period.bounds();
    Ok((period, store::sum_subtree(conn, &org.path, &f, &t)?))
}

/// A technician's scorecard (admin, reviewer; dispatchers of its organisation or an ancestor).
pub fn technician_scorecard(
    conn: &mut DbConnection,
    caller: &Caller,
    technician_id: &str,
    from: Option<&str>,
    to: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<(Period, Counters), ApiError> {
    if !READERS.contains(&caller.role) {
        return Err(ApiError::Forbidden);
    }
    let (_, path) = technicians::find_with_org_path(conn, technician_id)?.ok_or(ApiError::NotFound)?;
    if caller.subtree().is_some_and(|own| !path.starts_with(own)) {
        return Err(ApiError::NotFound);
    }
    let period = Period::parse(from, to, now)?;
    let (f, t) = period.bounds();
    Ok((period, store::sum_technician(conn, technician_id, &f, &t)?))
}

/// Everything of the Service section.
#[derive(Debug)]
pub struct Service {
    pub org: orgs::Org,
    pub period: Period,
    /// The whole subtree.
    pub total: Counters,
    /// Each child organisation with its own subtree's figures.
    pub children: Vec<(orgs::Org, Counters)>,
    /// Each technician of the subtree with figures in the period, by name.
    pub technicians: Vec<(technicians::Technician, Counters)>,
    /// One page of survey comments, newest first, and whether more follow.
    pub comments: Vec<store::Comment>,
    pub next_after: Option<(chrono::NaiveDateTime, String)>,
}

/// The Service section of an organisation: its subtree only (404 outside
/// the caller's scope, like every organisation endpoint).
#[allow(clippy::too_many_arguments)]
pub fn service(
    conn: &mut DbConnection,
    caller: &Caller,
    org_id: &str,
    from: Option<&str>,
    to: Option<&str>,
    after: Option<(chrono::NaiveDateTime, String)>,
    limit_plus_one: i64,
    now: chrono::DateTime<Utc>,
) -> Result<Service, ApiError> {
    let org = visible_org(conn, caller, org_id)?;
    let period = Period::parse(from, to, now)?;
    let (f, t) = period.bounds();
    let per_org = store::sum_per_org(conn, &org.path, &f, &t)?;
    let mut total = Counters::default();
    for (_, c) in &per_org {
        total += *c;
    }
    let children: Vec<orgs::Org> = orgs::list_subtree(conn, &org.path, None, i64::MAX)?
        .into_iter()
        .filter(|o| o.parent_id.as_deref() == Some(org.id.as_str()))
        .collect();
    let children = children
        .into_iter()
        .map(|child| {
            let mut sum = Counters::default();
            for (path, c) in &per_org {
                if path.starts_with(&child.path) {
                    sum += *c;
                }
            }
            (child, sum)
        })
        .collect();
    let per_tech = store::sum_per_technician(conn, &org.path, &f, &t)?;
    let ids: Vec<String> = per_tech.iter().map(|(id, _)| id.clone()).collect();
    let mut by_id: std::collections::HashMap<String, technicians::Technician> =
        technicians::by_ids(conn, &ids)?.into_iter().map(|t| (t.id.clone(), t)).collect();
    let mut techs: Vec<(technicians::Technician, Counters)> =
        per_tech.into_iter().filter_map(|(id, c)| by_id.remove(&id).map(|t| (t, c))).collect();
    techs.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.id.cmp(&b.0.id)));
    let mut comments = store::comments(conn, &org.path, &f, &t, after, limit_plus_one)?;
    let limit = usize::try_from(limit_plus_one - 1).unwrap_or(0);
    let next_after = if comments.len() > limit {
        comments.truncate(limit);
        comments.last().and_then(|c| c.answered_at.map(|at| (at, c.job_id.clone())))
    } else {
        None
    };
    Ok(Service { org, period, total, children, technicians: techs, comments, next_after })
}

/// How quality feeds dispatch: the window read from the roll-ups and the
/// strength of the prior (in pseudo-observations) that pulls small samples
/// toward the mean above them (technician → its organisation → the network).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityOptions {
    /// Days of history, counted back from today (default 90).
    pub window_days: i64,
    /// Pseudo-observations of the prior (default 10).
    pub prior: f64,
}

impl Default for QualityOptions {
    fn default() -> QualityOptions {
        QualityOptions { window_days: 90, prior: 10.0 }
    }
}

/// A rate estimated from `n` successes out of `of`, shrunk toward `mean`
/// with `prior` pseudo-observations: `(n + prior·mean) / (of + prior)`.
/// With no observations it is the mean; with many, the observed rate.
pub fn shrink(n: i64, of: i64, mean: f64, prior: f64) -> f64 {
    let prior = if prior.is_finite() { prior.max(0.0) } else { 0.0 };
    let of_f = of.max(0) as f64;
    if of_f + prior == 0.0 {
        return mean;
    }
    (n.max(0) as f64 + prior * mean) / (of_f + prior)
}

/// Estimated first-time-fix rate and promoter / detractor shares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityEstimate {
    pub first_time_fix: f64,
    pub promoters: f64,
    pub detractors: f64,
}

impl QualityEstimate {
    /// Shrinks observed counters toward `mean`.
    pub fn from_counters(c: &Counters, mean: QualityEstimate, prior: f64) -> QualityEstimate {
        let responses = c.promoters + c.passives + c.detractors;
        QualityEstimate {
            first_time_fix: shrink(c.first_time_fixed, c.jobs_completed, mean.first_time_fix, prior),
            promoters: shrink(c.promoters, responses, mean.promoters, prior),
            detractors: shrink(c.detractors, responses, mean.detractors, prior),
        }
    }

    /// As dispatch's scorecard: first-time-fix 0..1, NPS −100..100.
    pub fn scorecard(&self) -> dispatch::eligibility::Scorecard {
        dispatch::eligibility::Scorecard {
            first_time_fix_rate: Some(self.first_time_fix),
            nps: Some(100.0 * (self.promoters - self.detractors)),
        }
    }
}

/// Every technician's quality estimate over the window, for dispatch: its own
/// record shrunk toward its organisation's, which is shrunk toward the
/// network's. A technician without history gets its organisation's estimate.
/// Empty while the network has no approved job in the window (everyone is
/// then equal and ranking falls back to its neutral score).
pub fn dispatch_scorecards(
    conn: &mut DbConnection,
    now: chrono::DateTime<Utc>,
    options: QualityOptions,
) -> Result<std::collections::HashMap<String, dispatch::eligibility::Scorecard>, ApiError> {
    let to = (now + Duration::hours(14)).date_naive() + Duration::days(1);
    let from = to - Duration::days(options.window_days.max(1));
    let (f, t) = (from.to_string(), to.to_string());
    let per_org = store::sum_per_org(conn, "/", &f, &t)?;
    let mut network = Counters::default();
    for (_, c) in &per_org {
        network += *c;
    }
    let responses = network.promoters + network.passives + network.detractors;
    if network.jobs_completed == 0 && responses == 0 {
        return Ok(Default::default());
    }
    // The network mean itself: observed, or neutral (NPS 0) without answers.
    let neutral = QualityEstimate { first_time_fix: 0.5, promoters: 0.25, detractors: 0.25 };
    let network_mean = QualityEstimate::from_counters(&network, neutral, 0.0);
    let network_mean = QualityEstimate {
        first_time_fix: if network.jobs_completed > 0 { network_mean.first_time_fix } else { neutral.first_time_fix },
        promoters: if responses > 0 { network_mean.promoters } else { neutral.promoters },
        detractors: if responses > 0 { network_mean.detractors } else { neutral.detractors },
    };
    let by_path: std::collections::HashMap<String, Counters> = per_org.into_iter().collect();
    let per_tech: std::collections::HashMap<String, Counters> =
        store::sum_per_technician(conn, "/", &f, &t)?.into_iter().collect();
    let orgs = orgs::all(conn)?;
    let org_estimate: std::collections::HashMap<String, QualityEstimate> = orgs
        .iter()
        .map(|o| {
            let own = by_path.get(&o.path).copied().unwrap_or_default();
            (o.id.clone(), QualityEstimate::from_counters(&own, network_mean, options.prior))
        })
        .collect();
    let mut out = std::collections::HashMap::new();
    for tech in technicians::all(conn)? {
        let org_mean = org_estimate.get(&tech.org_id).copied().unwrap_or(network_mean);
        let own = per_tech.get(&tech.id).copied().unwrap_or_default();
        out.insert(tech.id, QualityEstimate::from_counters(&own, org_mean, options.prior).scorecard());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
