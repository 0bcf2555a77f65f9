//! Pruning of data nobody needs any more, in small batches: each call deletes
//! at most about `batch` rows (the oldest first) and says how many, so the
//! retention worker commits often and never holds long locks. Every query runs
//! on both backends; the change log's horizon is the one backend-specific read.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{
    change_log, idempotency_keys, job_explanations, photo_blobs, refresh_tokens, report_photos, report_signatures,
    sync_mutations,
};

/// The settings key of the change log's pruning horizon: `"<tx>:<seq>"`, the greatest `(tx, seq)` ever
/// deleted. A cursor below it may have missed a deleted change and is answered `reset_required`.
pub const CHANGE_LOG_HORIZON: &str = "change_log_horizon";

/// Idempotency keys created before `before` (oldest first, about `batch`).
pub fn idempotency_keys(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let edge: Option<NaiveDateTime> = idempotency_keys::table
        .filter(idempotency_keys::created_at.lt(before))
        .order(idempotency_keys::created_at.asc())
        .offset(batch - 1)
        .select(idempotency_keys::created_at)
        .first(conn)
        .optional()?;
    let mut q = diesel::delete(idempotency_keys::table).filter(idempotency_keys::created_at.lt(before)).into_boxed();
    if let Some(edge) = edge {
        q = q.filter(idempotency_keys::created_at.le(edge));
    }
    q.execute(conn)
}

/// Processed sync mutations recorded before `before`.
pub fn sync_mutations(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let edge: Option<NaiveDateTime> = sync_mutations::table
        .filter(sync_mutations::processed_at.lt(before))
        .order(sync_mutations::processed_at.asc())
        .offset(batch - 1)
        .select(sync_mutations::processed_at)
        .first(conn)
        .optional()?;
    let mut q = diesel::delete(sync_mutations::table).filter(sync_mutations::processed_at.lt(before)).into_boxed();
    if let Some(edge) = edge {
        q = q.filter(sync_mutations::processed_at.le(edge));
    }
    q.execute(conn)
}

/// Dispatch explanations written before `before`.
pub fn explanations(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let ids: Vec<i64> = job_explanations::table
        .filter(job_explanations::at.lt(before))
        .order(job_explanations::id.asc())
        .limit(batch)
        .select(job_explanations::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(job_explanations::table.filter(job_explanations::id.eq_any(ids))).execute(conn)
}

/// Refresh tokens that expired, or were revoked, before `before` (a used token of a live family stays: a
/// reuse must still revoke the family).
pub fn refresh_tokens(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let ids: Vec<String> = refresh_tokens::table
        .filter(refresh_tokens::expires_at.lt(before).or(refresh_tokens::revoked_at.lt(before)))
        .limit(batch)
        .select(refresh_tokens::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::id.eq_any(ids))).execute(conn)
}

/// Photo bytes uploaded before `before` that no job's report references (photo or signature).
pub fn unattached_photos(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let shas: Vec<String> = photo_blobs::table
        .filter(photo_blobs::created_at.lt(before))
        .filter(diesel::dsl::not(photo_blobs::sha256.eq_any(report_photos::table.select(report_photos::sha256))))
        .filter(diesel::dsl::not(
            photo_blobs::sha256.eq_any(report_signatures::table.select(report_signatures::image_sha256)),
        ))
        .limit(batch)
        .select(photo_blobs::sha256)
        .load(conn)?;
    if shas.is_empty() {
        return Ok(0);
    }
    diesel::delete(photo_blobs::table.filter(photo_blobs::sha256.eq_any(shas))).execute(conn)
}

/// Bytes of the photos `user_id` uploaded that no report references (its unattached photos).
pub fn unattached_bytes_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<i64> {
    let sizes: Vec<i64> = photo_blobs::table
        .filter(photo_blobs::uploaded_by.eq(user_id))
        .filter(diesel::dsl::not(photo_blobs::sha256.eq_any(report_photos::table.select(report_photos::sha256))))
        .filter(diesel::dsl::not(
            photo_blobs::sha256.eq_any(report_signatures::table.select(report_signatures::image_sha256)),
        ))
        .select(photo_blobs::size_bytes)
        .load(conn)?;
    Ok(sizes.iter().sum())
}

#[derive(diesel::QueryableByName)]
struct TxSeq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    tx: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

/// Change-log rows written before `before`; returns how many and the greatest `(tx, seq)` deleted
/// (PostgreSQL orders the log by writing transaction, SQLite by `seq` alone with `tx` 0).
pub fn change_log(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> QueryResult<(usize, Option<(i64, i64)>)> {
    let seqs: Vec<i64> = match conn {
        // Only rows of transactions older than every running one (below `pg_snapshot_xmin`): a fresh
        // cursor is `(xmin - 1, MAX)`, so the horizon stays at or below every cursor issued later, and a
        // phone that just re-synced is never told to reset again. Younger rows wait for a later pass.
        DbConnection::Postgres(pg) => {
            #[derive(diesel::QueryableByName)]
            struct Seq {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                seq: i64,
            }
            let rows: Vec<Seq> = diesel::sql_query(
                "SELECT seq FROM change_log WHERE at < $1 \
                 AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint ORDER BY seq LIMIT $2",
            )
            .bind::<diesel::sql_types::Timestamp, _>(before)
            .bind::<diesel::sql_types::BigInt, _>(batch)
            .load(pg)?;
            rows.into_iter().map(|r| r.seq).collect()
        }
        DbConnection::Sqlite(_) => change_log::table
            .filter(change_log::at.lt(before))
            .order(change_log::seq.asc())
            .limit(batch)
            .select(change_log::seq)
            .load(conn)?,
    };
    let Some(&max_seq) = seqs.last() else { return Ok((0, None)) };
    let top = match conn {
        DbConnection::Postgres(pg) => {
            let list = seqs.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let row: TxSeq = diesel::sql_query(format!(
                "SELECT txid AS tx, seq FROM change_log WHERE seq IN ({list}) ORDER BY txid DESC, seq DESC LIMIT 1"
            ))
            .get_result(pg)?;
            (row.tx, row.seq)
        }
        DbConnection::Sqlite(_) => (0, max_seq),
    };
    let n = diesel::delete(change_log::table.filter(change_log::seq.eq_any(seqs))).execute(conn)?;
    Ok((n, Some(top)))
}

/// Reads a stored horizon `"<tx>:<seq>"`.
pub fn parse_horizon(text: &str) -> Option<(i64, i64)> {
    let (tx, seq) = text.split_once(':')?;
    Some((tx.parse().ok()?, seq.parse().ok()?))
}
