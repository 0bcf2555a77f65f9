//! Scorecards and the partners' "Service" section, read from the daily
//! counters (`storage::quality`), never recomputed from jobs.
//!
//! A period is a half-open range of local dates `[from, to)`. Each counter
//! row is dated in the time zone of the organisation it belongs to, so an
//! organisation's period sums its descendants' *own* local days (a Moscow
//! vendor's "1 March" includes a Vladivostok partner's 1 March, which began
//! seven hours earlier).

use chrono::{Duration, NaiveDate, Utc};

use crate::auth::AuthUser;
use crate::db::DbConnection;
use crate::domain::Role;
use crate::error::ApiError;
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
fn visible_org(conn: &mut DbConnection, caller: &AuthUser, org_id: &str) -> Result<orgs::Org, ApiError> {
    caller.require(READERS)?;
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
    caller: &AuthUser,
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
    caller: &AuthUser,
    technician_id: &str,
    from: Option<&str>,
    to: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<(Period, Counters), ApiError> {
    caller.require(READERS)?;
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
    caller: &AuthUser,
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
