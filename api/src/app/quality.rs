//! The quality loop's hooks into the job lifecycle. Both run inside the
//! caller's transaction, right after the status change, so whatever they
//! write commits with it or not at all.
//!
//! Placeholders: the bodies are implemented by the quality loop's
//! scorecards/surveys (branch `scorecards`); the merge takes theirs.

use chrono::{DateTime, Utc};

use crate::app_error::ApiError;
use crate::db::DbConnection;

/// The phone's `completed` moved the job to `in_review`.
///
/// Implemented by the quality loop's scorecards/surveys.
pub fn job_completed(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let _ = (conn, job_id, now);
    Ok(())
}

/// The vendor's review approved the job (it is `approved` and closed).
///
/// Implemented by the quality loop's scorecards/surveys.
pub fn job_approved(conn: &mut DbConnection, job_id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let _ = (conn, job_id, now);
    Ok(())
}
