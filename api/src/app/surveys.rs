//! Customer surveys: what the link shows, answering it once, and the link
//! itself (`survey_url`) for the customer's views.
//!
//! A survey is open for [`SURVEY_TTL_DAYS`](super::quality::SURVEY_TTL_DAYS)
//! after it is issued; an unknown or expired token is 404, a second answer
//! 409 `survey_answered`. An answer adds to the scorecard counters of the
//! assignee technician and its organisation on the answer's local date, in
//! the same transaction.

use chrono::{DateTime, Utc};

use crate::app::quality::local_day;
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::JobKind;
use crate::storage::quality::{self as store, Counters, DayRow, ORG_ROW};
use crate::storage::{db_time, jobs, orgs, technicians, utc};

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// What the survey page shows: what is being rated, nothing personal.
#[derive(Debug, Clone)]
pub struct SurveySubject {
    pub kind: JobKind,
    /// The visit's date (first arrival, else the window start), in the organisation's time zone.
    pub date: String,
    pub technician_first_name: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub answered: bool,
}

/// A survey answer as sent (validated by [`validate_answer`]).
#[derive(Debug, Clone)]
pub struct AnswerInput {
    pub nps: i64,
    pub csat: i64,
    pub ces: i64,
    pub comment: Option<String>,
}

/// Checks the ranges (NPS 0–10, CSAT 1–5, CES 1–7) and the comment's length;
/// 422 `invalid_value` naming the field. Nothing is trimmed or cut.
pub fn validate_answer(input: &AnswerInput) -> Result<(), ApiError> {
    if !(0..=10).contains(&input.nps) {
        return Err(ApiError::invalid("nps", "must be between 0 and 10"));
    }
    if !(1..=5).contains(&input.csat) {
        return Err(ApiError::invalid("csat", "must be between 1 and 5"));
    }
    if !(1..=7).contains(&input.ces) {
        return Err(ApiError::invalid("ces", "must be between 1 and 7"));
    }
    if let Some(c) = &input.comment
        && c.chars().count() > MAX_COMMENT_CHARS
    {
        return Err(ApiError::invalid("comment", format!("must be at most {MAX_COMMENT_CHARS} characters")));
    }
    Ok(())
}

/// The survey behind a token if it is still open (answered or not).
fn find_live(conn: &mut DbConnection, token: &str, now: DateTime<Utc>) -> Result<store::Survey, ApiError> {
    if token.len() > 64 {
        return Err(ApiError::NotFound);
    }
    store::find_by_token(conn, token)?.filter(|s| utc(s.expires_at) > now).ok_or(ApiError::NotFound)
}

/// What the link shows.
pub fn subject(conn: &mut DbConnection, token: &str, now: DateTime<Utc>) -> Result<SurveySubject, ApiError> {
    let survey = find_live(conn, token, now)?;
    let job = jobs::find_scoped(conn, &survey.job_id, jobs::JobScope::All)?.ok_or(ApiError::NotFound)?;
    let timezone = orgs::find(conn, &survey.org_id)?.map(|o| o.timezone).unwrap_or_default();
    let visited = utc(job.first_on_site_at.unwrap_or(job.window_start));
    Ok(SurveySubject {
        kind: job.kind,
        date: local_day(&timezone, visited),
        technician_first_name: technicians::first_name(conn, survey.technician_id.as_deref())?,
        expires_at: utc(survey.expires_at),
        answered: survey.answered_at.is_some(),
    })
}

/// Records the answer and adds it to the scorecards (in the caller's transaction).
pub fn answer(conn: &mut DbConnection, token: &str, input: &AnswerInput, now: DateTime<Utc>) -> Result<(), ApiError> {
    validate_answer(input)?;
    let survey = find_live(conn, token, now)?;
    let answered = || {
        ApiError::conflict(
            "survey_answered",
            "this survey was already answered",
            serde_json::json!({"answered_at": survey.answered_at.map(utc)}),
        )
    };
    if survey.answered_at.is_some() {
        return Err(answered());
    }
    let org = orgs::find(conn, &survey.org_id)?.ok_or(ApiError::NotFound)?;
    let day = local_day(&org.timezone, now);
    let comment = input.comment.as_deref().filter(|c| !c.trim().is_empty());
    let nps = i32::try_from(input.nps).unwrap_or_default();
    let csat = i32::try_from(input.csat).unwrap_or_default();
    let ces = i32::try_from(input.ces).unwrap_or_default();
    let stored = store::Answer { nps, csat, ces, comment };
    // The update is filtered on "unanswered": of two racing answers one wins.
    if !store::answer(conn, token, &stored, &day, db_time(now))? {
        return Err(answered());
    }
    let add = Counters {
        promoters: i64::from(nps >= 9),
        passives: i64::from((7..=8).contains(&nps)),
        detractors: i64::from(nps <= 6),
        csat_satisfied: i64::from(csat >= 4),
        csat_responses: 1,
        ces_sum: i64::from(ces),
        ces_responses: 1,
        ..Counters::default()
    };
    let mut rows = vec![DayRow {
        org_id: org.id.clone(),
        org_path: org.path.clone(),
        technician_id: ORG_ROW.to_owned(),
        day: day.clone(),
        add,
    }];
    if let Some(t) = &survey.technician_id {
        rows.push(DayRow { org_id: org.id, org_path: org.path, technician_id: t.clone(), day, add });
    }
    store::add(conn, &rows)?;
    tracing::info!(job.id = %survey.job_id, "Survey of job {} answered", survey.job_id);
    Ok(())
}

/// The survey page's path for a job, while its survey is open: `/survey/{token}`.
pub fn survey_url(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<Option<String>, ApiError> {
    Ok(store::find_by_job(conn, job_id)?.filter(|s| utc(s.expires_at) > now).map(|s| format!("/survey/{}", s.token)))
}
