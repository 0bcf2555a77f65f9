//! The notification outbox: rows written in the transaction of the change
//! that causes them, claimed by the worker of any replica (`claim_due`: on
//! PostgreSQL `FOR UPDATE SKIP LOCKED`, on SQLite the single writer), then
//! marked. Every mark is filtered on the attempt that claimed the row, so a
//! worker whose lease ran out cannot overwrite a newer attempt's outcome.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::outbox;
use crate::domain::{Channel, OutboxStatus};

/// An outbox row.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = outbox, treat_none_as_default_value = false)]
pub struct Row {
    pub id: String,
    pub channel: Channel,
    pub kind: String,
    pub recipient: String,
    pub job_id: Option<String>,
    pub payload: String,
    pub collapse_key: Option<String>,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Appends a row (in the caller's transaction).
pub fn insert(conn: &mut DbConnection, row: &Row) -> QueryResult<()> {
    diesel::insert_into(outbox::table).values(row).execute(conn).map(drop)
}

/// Appends rows in one statement.
pub fn insert_all(conn: &mut DbConnection, rows: &[Row]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // A multi-row insert is built per backend (diesel's multi-backend connection cannot express it).
    // Of up to six rows, as an array: diesel caches its prepared statement (`db::native::with_fixed_rows`).
    crate::db::native::with_fixed_rows!(rows, |rows| match conn {
        DbConnection::Sqlite(c) => diesel::insert_into(outbox::table).values(rows).execute(c),
        DbConnection::Postgres(c) => diesel::insert_into(outbox::table).values(rows).execute(c),
    })
    .map(drop)
}

/// Whether a row with this collapse key waits unclaimed (so it will be sent
/// after the caller's change commits): a burst of pokes becomes one. A row a
/// worker has claimed may be on its way already and the phone may pull before
/// this change commits, so it does not count. On PostgreSQL the waiting row
/// is locked: a worker claiming it meanwhile skips it until this transaction
/// ends, and a claim in progress is waited for (then the row no longer matches).
pub fn pending_with_key(conn: &mut DbConnection, key: &str) -> QueryResult<bool> {
    match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT id FROM outbox WHERE collapse_key = $1 AND status = 'pending' AND attempts = 0 \
             LIMIT 1 FOR UPDATE",
        )
        .bind::<diesel::sql_types::Text, _>(key)
        .load::<IdRow>(pg)
        .map(|rows| !rows.is_empty()),
        DbConnection::Sqlite(_) => diesel::select(diesel::dsl::exists(
            outbox::table
                .filter(outbox::status.eq(OutboxStatus::Pending))
                .filter(outbox::attempts.eq(0))
                .filter(outbox::collapse_key.eq(key)),
        ))
        .get_result(conn),
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Claims up to `limit` due rows for one attempt each: counts the attempt and
/// moves `next_attempt_at` to `lease_until`, so no other worker takes them
/// while this one sends (and a worker that dies lets them come due again once
/// the lease ends). Call it in its own short transaction.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Row>> {
    let ids: Vec<String> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load::<IdRow>(pg)?
        .into_iter()
        .map(|r| r.id)
        .collect(),
        DbConnection::Sqlite(_) => outbox::table
            .filter(outbox::status.eq(OutboxStatus::Pending))
            .filter(outbox::next_attempt_at.le(now))
            .order(outbox::next_attempt_at.asc())
            .limit(limit)
            .select(outbox::id)
            .load(conn)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
        .set((
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::next_attempt_at.eq(lease_until),
            outbox::updated_at.eq(now),
        ))
        .execute(conn)?;
    outbox::table.filter(outbox::id.eq_any(&ids)).order(outbox::next_attempt_at.asc()).load(conn)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Try again at this time (the error kept).
    Retry {
        at: NaiveDateTime,
        error: String,
    },
    /// Given up (the reason kept).
    Failed(String),
    /// Not sent: channel off, recipient gone, message out of date.
    Skipped(String),
}

/// Records the outcome of attempt `attempt`; false when the row moved on meanwhile.
pub fn mark(
    conn: &mut DbConnection,
    id: &str,
    attempt: i32,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = outbox::table
        .filter(outbox::id.eq(id))
        .filter(outbox::status.eq(OutboxStatus::Pending))
        .filter(outbox::attempts.eq(attempt));
    let n = match outcome {
        Outcome::Sent => diesel::update(target)
            .set((outbox::status.eq(OutboxStatus::Sent), outbox::sent_at.eq(now), outbox::updated_at.eq(now)))
            .execute(conn)?,
        Outcome::Retry { at, error } => diesel::update(target)
            .set((outbox::next_attempt_at.eq(at), outbox::last_error.eq(error), outbox::updated_at.eq(now)))
            .execute(conn)?,
        Outcome::Failed(error) => diesel::update(target)
            .set((outbox::status.eq(OutboxStatus::Failed), outbox::last_error.eq(error), outbox::updated_at.eq(now)))
            .execute(conn)?,
        Outcome::Skipped(reason) => diesel::update(target)
            .set((outbox::status.eq(OutboxStatus::Skipped), outbox::last_error.eq(reason), outbox::updated_at.eq(now)))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// A page of rows in one status, newest first (keyset `(created_at, id)` after the cursor).
pub fn list(
    conn: &mut DbConnection,
    status: OutboxStatus,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<Row>> {
    let mut q = outbox::table.filter(outbox::status.eq(status)).into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(outbox::created_at.lt(at).or(outbox::created_at.eq(at).and(outbox::id.lt(id))));
    }
    q.order((outbox::created_at.desc(), outbox::id.desc())).limit(limit).load(conn)
}

/// One row.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Row>> {
    outbox::table.find(id).first(conn).optional()
}

/// Re-queues a failed row with a fresh count of attempts (the last error kept); false unless it was failed.
pub fn requeue(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(outbox::table.filter(outbox::id.eq(id)).filter(outbox::status.eq(OutboxStatus::Failed)))
        .set((
            outbox::status.eq(OutboxStatus::Pending),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(now),
            outbox::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Deletes `sent` and `skipped` rows last changed before `before` (retention);
/// `pending` and `failed` rows stay until they are sent or an operator acts.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        outbox::table
            .filter(outbox::status.eq_any([OutboxStatus::Sent, OutboxStatus::Skipped]))
            .filter(outbox::updated_at.lt(before)),
    )
    .execute(conn)
}

/// When the oldest due row became due (the outbox lag is now minus this).
pub fn oldest_due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    outbox::table
        .filter(outbox::status.eq(OutboxStatus::Pending))
        .filter(outbox::next_attempt_at.le(now))
        .select(diesel::dsl::min(outbox::next_attempt_at))
        .first(conn)
}

/// A data-only `sync` poke to every phone of a technician: written with each
/// job or route change a phone pulls (`change_log::log_change`). One pending
/// poke per device (its collapse key), so a burst of changes wakes the phone once.
pub fn poke_technician(conn: &mut DbConnection, technician_id: &str, now: NaiveDateTime) -> QueryResult<()> {
    for device in super::devices::push_devices_of_technician(conn, technician_id)? {
        let key = format!("sync:{device}");
        if pending_with_key(conn, &key)? {
            continue;
        }
        insert(
            conn,
            &Row {
                id: super::new_id(),
                channel: Channel::Push,
                kind: "sync".to_owned(),
                recipient: device,
                job_id: None,
                payload: r#"{"kind":"sync"}"#.to_owned(),
                collapse_key: Some(key),
                status: OutboxStatus::Pending,
                attempts: 0,
                last_error: None,
                next_attempt_at: now,
                created_at: now,
                updated_at: now,
                sent_at: None,
            },
        )?;
    }
    Ok(())
}
