//! Key/value settings kept in the database (the demo JWT secret, where the
//! database came from).

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::settings;

/// The value stored under `key`, if any.
pub fn get(conn: &mut DbConnection, key: &str) -> QueryResult<Option<String>> {
    settings::table.find(key).select(settings::value).first(conn).optional()
}

/// Stores `value` under `key` unless a value is already there; returns the stored value.
pub fn get_or_insert(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<String> {
    // Two replicas starting at once keep the first value.
    crate::db::insert_unless_exists(conn, |conn| {
        diesel::insert_into(settings::table).values((settings::key.eq(key), settings::value.eq(value))).execute(conn)
    })?;
    settings::table.find(key).select(settings::value).first(conn)
}

/// The settings key recording how the database was created: [`ORIGIN_DEMO`] or [`ORIGIN_INIT`].
pub const ORIGIN: &str = "database_origin";
/// Seeded as the demo network (demo logins, a generated secret stored here).
pub const ORIGIN_DEMO: &str = "demo";
/// Created by `sortie init` (a real vendor: the secret must come from the environment).
pub const ORIGIN_INIT: &str = "init";

/// Locks the row of `key` until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE`
/// already serialises writers), so read-modify-write of a setting never loses an update.
pub fn lock(conn: &mut DbConnection, key: &str) -> QueryResult<Option<String>> {
    match conn {
        DbConnection::Postgres(pg) => {
            settings::table.find(key).select(settings::value).for_update().first(pg).optional()
        }
        DbConnection::Sqlite(_) => get(conn, key),
    }
}

/// Replaces the value of an existing `key`.
pub fn put(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<usize> {
    diesel::update(settings::table.find(key)).set(settings::value.eq(value)).execute(conn)
}
