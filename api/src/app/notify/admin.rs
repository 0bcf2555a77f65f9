//! The operator's view of the outbox: what is waiting, sent, failed or
//! skipped and why, and re-queuing a failed row.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::{AuditAction, Caller, OutboxStatus};
use crate::storage::db_time;
use crate::storage::outbox::{self, Row};

/// A keyset position in the list: `(created_at, id)` of the last row shown.
pub type Position = (NaiveDateTime, String);

/// A page of rows in one status, newest first, and the position after the last one when there is more.
pub fn list(
    conn: &mut DbConnection,
    status: OutboxStatus,
    after: Option<Position>,
    limit_plus_one: i64,
) -> Result<(Vec<Row>, Option<Position>), ApiError> {
    let mut rows = outbox::list(conn, status, after, limit_plus_one)?;
    let limit = usize::try_from(limit_plus_one - 1).unwrap_or(0);
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| (r.created_at, r.id.clone()))
    } else {
        None
    };
    Ok((rows, next))
}

/// Re-queues a `failed` row (due now, attempts counted afresh, the last error kept);
/// 404 for an unknown row, 409 `not_failed` with its status otherwise.
pub fn retry(conn: &mut DbConnection, caller: &Caller, id: &str, now: DateTime<Utc>) -> Result<Row, ApiError> {
    let row = outbox::find(conn, id)?.ok_or(ApiError::NotFound)?;
    if !outbox::requeue(conn, id, db_time(now))? {
        return Err(ApiError::conflict(
            "not_failed",
            format!("only a failed notification can be retried; this one is {}", row.status),
            json!({"current": {"status": row.status}}),
        ));
    }
    let subject = crate::app::audit::Subject::of("outbox", id);
    crate::app::audit::record(conn, caller, AuditAction::OutboxRetry, subject, &json!({}), db_time(now))?;
    tracing::info!(outbox.id = %id, "Re-queued failed notification {id}");
    outbox::find(conn, id)?.ok_or(ApiError::NotFound)
}
