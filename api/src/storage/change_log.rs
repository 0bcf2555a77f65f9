//! The change log: every change a phone or a replica's dispatch cache must
//! see, appended in the transaction of the change itself, and read in
//! commit order (`read_changes`, the one backend-specific read of it).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use mobile_sync::cursor::Cursor;

use crate::db::DbConnection;
use crate::db::schema::change_log;
use crate::domain::{ChangeEntity, ChangeOp};

/// One change-log row to append: what changed, for which phone, and how.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub entity: ChangeEntity,
    pub entity_id: &'a str,
    /// The technician whose phone syncs it; `None` for what no phone holds (organisations).
    pub technician_id: Option<&'a str>,
    pub op: ChangeOp,
}

impl<'a> Change<'a> {
    /// The entity changed (or is new) for this technician's phone.
    pub fn upsert(entity: ChangeEntity, entity_id: &'a str, technician_id: Option<&'a str>) -> Change<'a> {
        Change { entity, entity_id, technician_id, op: ChangeOp::Upsert }
    }

    /// The entity left this technician's phone.
    pub fn delete(entity: ChangeEntity, entity_id: &'a str, technician_id: Option<&'a str>) -> Change<'a> {
        Change { entity, entity_id, technician_id, op: ChangeOp::Delete }
    }
}

/// Appends to the change log (in the transaction of the change itself), which
/// phones pull and every replica's dispatch cache follows; pokes the phone (outbox).
pub fn log_change(conn: &mut DbConnection, change: Change<'_>, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(change_log::table)
        .values((
            change_log::entity.eq(change.entity),
            change_log::entity_id.eq(change.entity_id),
            change_log::technician_id.eq(change.technician_id),
            change_log::op.eq(change.op),
            change_log::at.eq(now),
        ))
        .execute(conn)?;
    // A job or route change wakes the technician's phone to pull (the outbox
    // row commits with the change). Technician-record changes do not: most are
    // the phone's own position pings.
    if let (Some(tech), ChangeEntity::Job | ChangeEntity::Route) = (change.technician_id, change.entity) {
        super::outbox::poke_technician(conn, tech, now)?;
    }
    Ok(())
}

/// The highest change-log sequence number (0 when empty).
pub fn last_change_seq(conn: &mut DbConnection) -> QueryResult<i64> {
    change_log::table.select(diesel::dsl::max(change_log::seq)).first::<Option<i64>>(conn).map(|s| s.unwrap_or(0))
}

/// Whether a change to one of these entities has a sequence number above
/// `after_seq` (the dispatch cache's per-decision look: one probe of the
/// `(entity, seq)` index per entity, whatever the log's size).
pub fn any_after(conn: &mut DbConnection, entities: &[ChangeEntity], after_seq: i64) -> QueryResult<bool> {
    let probe = diesel::select(diesel::dsl::exists(
        change_log::table.filter(change_log::entity.eq_any(entities)).filter(change_log::seq.gt(after_seq)),
    ));
    crate::db::native::get_result(conn, probe)
}

/// Changes to these entities after `after_seq`, plus any recorded since `since`
/// (a transaction can commit a lower sequence number after a higher one).
pub fn changes_since(
    conn: &mut DbConnection,
    entities: &[ChangeEntity],
    after_seq: i64,
    since: NaiveDateTime,
) -> QueryResult<Vec<(i64, ChangeEntity, String)>> {
    change_log::table
        .filter(change_log::entity.eq_any(entities))
        .filter(change_log::seq.gt(after_seq).or(change_log::at.ge(since)))
        .order(change_log::seq.asc())
        .select((change_log::seq, change_log::entity, change_log::entity_id))
        .load(conn)
}

/// One change-log row as the sync feed reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub tx: u64,
    pub seq: i64,
    pub entity: ChangeEntity,
    pub entity_id: String,
}

#[derive(QueryableByName)]
struct PgChangeRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    txid: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    entity: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    entity_id: String,
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    xmin: i64,
}

/// The technician's change-log rows after `after`, in `(tx, seq)` order, at
/// most `limit`, and only those no transaction still in flight can precede.
///
/// This is the one backend-specific read of the sync feed:
/// - PostgreSQL: sequence numbers are handed out before commit, so a row
///   with a lower `seq` can become visible after a higher one was read. Each
///   row carries its writing transaction (`txid`); only rows of transactions
///   older than the oldest one still running (`pg_snapshot_xmin`) are read,
///   ordered by `(txid, seq)`. Those transactions are finished, so nothing
///   can appear behind the cursor later. (A long transaction delays pulls; it
///   never makes them skip.)
/// - SQLite: one writer at a time, and `seq` is assigned under the write
///   lock, so commit order is `seq` order and every visible row is final.
pub fn read_changes(
    conn: &mut DbConnection,
    technician_id: &str,
    after: Cursor,
    limit: i64,
) -> QueryResult<Vec<ChangeRow>> {
    match conn {
        DbConnection::Postgres(pg) => {
            let tx = i64::try_from(after.tx).unwrap_or(i64::MAX);
            let rows: Vec<PgChangeRow> = diesel::sql_query(
                "SELECT txid, seq, entity, entity_id FROM change_log \
                 WHERE technician_id = $1 AND (txid, seq) > ($2, $3) \
                   AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
                 ORDER BY txid, seq LIMIT $4",
            )
            .bind::<diesel::sql_types::Text, _>(technician_id)
            .bind::<diesel::sql_types::BigInt, _>(tx)
            .bind::<diesel::sql_types::BigInt, _>(after.seq)
            .bind::<diesel::sql_types::BigInt, _>(limit)
            .load(pg)?;
            rows.into_iter()
                .map(|r| {
                    let entity = ChangeEntity::parse(&r.entity).ok_or_else(|| {
                        diesel::result::Error::DeserializationError(
                            format!("unknown change-log entity `{}`", r.entity).into(),
                        )
                    })?;
                    Ok(ChangeRow { tx: u64::try_from(r.txid).unwrap_or(0), seq: r.seq, entity, entity_id: r.entity_id })
                })
                .collect()
        }
        DbConnection::Sqlite(_) => {
            let rows: Vec<(i64, ChangeEntity, String)> = change_log::table
                .filter(change_log::technician_id.eq(technician_id))
                .filter(change_log::seq.gt(after.seq))
                .order(change_log::seq.asc())
                .limit(limit)
                .select((change_log::seq, change_log::entity, change_log::entity_id))
                .load(conn)?;
            Ok(rows.into_iter().map(|(seq, entity, entity_id)| ChangeRow { tx: 0, seq, entity, entity_id }).collect())
        }
    }
}

/// A cursor that covers every change committed before now, for a full pull:
/// read it *before* loading the state, so the state is at least as new.
/// Changes of transactions still in flight come after it (and a change
/// already reflected in the state may come once more, harmlessly).
pub fn snapshot_cursor(conn: &mut DbConnection) -> QueryResult<Cursor> {
    match conn {
        DbConnection::Postgres(pg) => {
            let h: Horizon = diesel::sql_query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin")
                .get_result(pg)?;
            // Every row with txid < xmin is delivered by the state; (xmin - 1, MAX) is just below the rest.
            Ok(Cursor::at(u64::try_from(h.xmin - 1).unwrap_or(0), i64::MAX))
        }
        DbConnection::Sqlite(_) => Ok(Cursor::at(0, last_change_seq(conn)?)),
    }
}

/// Whether a cursor can be served here: not from the future (a restored
/// database), not from another backend's numbering, and not older than the
/// retention worker's horizon (a change after it may have been pruned).
pub fn cursor_servable(conn: &mut DbConnection, cursor: Cursor) -> QueryResult<bool> {
    let horizon = super::settings::get(conn, super::retention::CHANGE_LOG_HORIZON)?
        .and_then(|t| super::retention::parse_horizon(&t));
    if let Some(h) = horizon
        && (i64::try_from(cursor.tx).unwrap_or(i64::MAX), cursor.seq) < h
    {
        return Ok(false);
    }
    match conn {
        DbConnection::Postgres(pg) => {
            let h: Horizon = diesel::sql_query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmin")
                .get_result(pg)?;
            Ok(cursor.tx <= u64::try_from(h.xmin).unwrap_or(0))
        }
        DbConnection::Sqlite(_) => {
            let max = last_change_seq(conn)?;
            Ok(cursor.tx == 0 && cursor.seq <= max)
        }
    }
}
