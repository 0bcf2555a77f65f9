//! Idempotency keys for `POST /v1/requests`, scoped per user.
//!
//! The key row is inserted first in the booking transaction, with the id of
//! the job the transaction goes on to insert (the foreign key is deferred to
//! commit). A concurrent
//! retry with the same key blocks on the primary key (PostgreSQL) or on the
//! write lock (SQLite) until the first commits, then finds the stored row
//! (`INSERT … ON CONFLICT DO NOTHING`: on PostgreSQL it waits for the
//! conflicting in-flight insert to commit, then inserts nothing).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::idempotency_keys;

/// What an earlier use of the key stored.
#[derive(Debug, Clone, Queryable)]
pub struct StoredKey {
    pub user_id: String,
    pub key: String,
    pub request_hash: String,
    pub job_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Claims the key for the job `job_id` the same transaction creates next (the foreign key to the job is
/// checked at commit); `false` when another request already holds it.
pub fn claim(
    conn: &mut DbConnection,
    user_id: &str,
    key: &str,
    request_hash: &str,
    job_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let inserted = crate::db::insert_or_ignore!(
        conn,
        diesel::insert_into(idempotency_keys::table).values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::job_id.eq(job_id),
            idempotency_keys::created_at.eq(now),
        ))
    )?;
    Ok(inserted > 0)
}

/// The stored key.
pub fn find(conn: &mut DbConnection, user_id: &str, key: &str) -> QueryResult<Option<StoredKey>> {
    idempotency_keys::table.find((user_id, key)).first(conn).optional()
}

/// Forgets keys older than `before` (kept at least 24 h; see DESIGN.md).
pub fn purge_older_than(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before))).execute(conn)
}
