//! Failed logins per account, in the database so every replica counts the
//! same attempts. Keyed by the lower-cased e-mail typed, known or not (an
//! unknown one is counted the same, so the limit reveals nothing).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::login_failures as lf;

/// Until when the account is locked, if it is at `now`.
pub fn locked_until(conn: &mut DbConnection, email: &str, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    let until: Option<Option<NaiveDateTime>> = lf::table.find(email).select(lf::locked_until).first(conn).optional()?;
    Ok(until.flatten().filter(|u| *u > now))
}

/// Counts a failure in the window starting at the first failure; the
/// `limit`-th locks the account for `window`. Increments are single
/// statements, so racing replicas never lose one.
pub fn record_failure(
    conn: &mut DbConnection,
    email: &str,
    now: NaiveDateTime,
    window: chrono::Duration,
    limit: u32,
) -> QueryResult<()> {
    crate::db::insert_unless_exists(conn, |conn| {
        diesel::insert_into(lf::table)
            .values((lf::email.eq(email), lf::failures.eq(0), lf::window_start.eq(now)))
            .execute(conn)
    })?;
    // A window that ended starts over.
    let restarted = diesel::update(lf::table.find(email).filter(lf::window_start.le(now - window)))
        .set((lf::failures.eq(1), lf::window_start.eq(now)))
        .execute(conn)?;
    if restarted == 0 {
        diesel::update(lf::table.find(email)).set(lf::failures.eq(lf::failures + 1)).execute(conn)?;
    }
    let failures: i32 = lf::table.find(email).select(lf::failures).first(conn)?;
    if limit > 0 && failures >= i32::try_from(limit).unwrap_or(i32::MAX) {
        diesel::update(lf::table.find(email))
            .set((lf::locked_until.eq(Some(now + window)), lf::failures.eq(0), lf::window_start.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets the failures of an account that signed in.
pub fn clear(conn: &mut DbConnection, email: &str) -> QueryResult<()> {
    diesel::delete(lf::table.find(email)).execute(conn).map(drop)
}

/// Deletes up to `batch` rows whose window and lock ended before `before`; how many.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let old: Vec<String> = lf::table
        .filter(lf::window_start.lt(before))
        .filter(lf::locked_until.is_null().or(lf::locked_until.lt(before)))
        .select(lf::email)
        .limit(batch)
        .load(conn)?;
    if old.is_empty() {
        return Ok(0);
    }
    diesel::delete(lf::table.filter(lf::email.eq_any(old))).execute(conn)
}
