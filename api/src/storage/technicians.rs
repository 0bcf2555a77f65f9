//! Technicians: skills, home base, live position, weekly shift, absences,
//! daily capacity and parts on hand. JSON columns hold the small lists.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{organisations, technicians};

/// A technician row.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = technicians, treat_none_as_default_value = false)]
pub struct Technician {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub skills: String,
    pub home_lat: f64,
    pub home_lon: f64,
    pub pos_lat: Option<f64>,
    pub pos_lon: Option<f64>,
    pub position_at: Option<NaiveDateTime>,
    pub shift: String,
    pub absences: String,
    pub timezone: String,
    pub daily_capacity: i32,
    pub parts: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Service radius (km); `None`: its organisation's.
    pub max_travel_km: Option<f64>,
}

/// A new technician is a full row.
pub type NewTechnician = Technician;

/// Changes from `PATCH /v1/technicians/{id}`.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = technicians)]
pub struct TechnicianChanges {
    pub name: Option<String>,
    pub skills: Option<String>,
    pub home_lat: Option<f64>,
    pub home_lon: Option<f64>,
    pub shift: Option<String>,
    pub absences: Option<String>,
    pub timezone: Option<String>,
    pub daily_capacity: Option<i32>,
    pub parts: Option<String>,
    pub active: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
    /// `Some(None)` clears it (back to the organisation's).
    pub max_travel_km: Option<Option<f64>>,
}

/// Inserts technicians.
pub fn insert_many(conn: &mut DbConnection, rows: &[NewTechnician]) -> QueryResult<()> {
    // Row by row: diesel's multi-backend connection has no batch insert for SQLite.
    for row in rows {
        diesel::insert_into(technicians::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// The technician with this id.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Technician>> {
    crate::db::native::get_result(conn, technicians::table.find(id).limit(1)).optional()
}

/// A technician's first name (the first word of the name), as customers see it; `None` without one.
pub fn first_name(conn: &mut DbConnection, id: Option<&str>) -> QueryResult<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    Ok(find(conn, id)?.and_then(|t| t.name.split_whitespace().next().map(str::to_owned)))
}

/// The technician with this id, its row locked to the end of the transaction on PostgreSQL
/// (`FOR NO KEY UPDATE`, like `offers::lock_job`: foreign-key checks do not wait for it; SQLite's writer lock
/// serialises anyway), so two assignments to one technician are counted one after the other:
/// the lock and the read in one statement.
pub fn find_locked(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Technician>> {
    match conn {
        DbConnection::Postgres(pg) => technicians::table.find(id).for_no_key_update().first(pg).optional(),
        DbConnection::Sqlite(_) => find(conn, id),
    }
}

/// The technician with this id, with its organisation's path.
pub fn find_with_org_path(conn: &mut DbConnection, id: &str) -> QueryResult<Option<(Technician, String)>> {
    technicians::table
        .inner_join(organisations::table)
        .filter(technicians::id.eq(id))
        .select((technicians::all_columns, organisations::path))
        .first(conn)
        .optional()
}

/// Technicians of the subtree with this path prefix, ordered by id, after `after_id`.
pub fn list(
    conn: &mut DbConnection,
    subtree: &str,
    org_id: Option<&str>,
    after_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Technician>> {
    let mut query = technicians::table
        .inner_join(organisations::table)
        .filter(organisations::path.like(format!("{subtree}%")))
        .select(technicians::all_columns)
        .order(technicians::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(org) = org_id {
        query = query.filter(technicians::org_id.eq(org.to_owned()));
    }
    if let Some(after) = after_id {
        query = query.filter(technicians::id.gt(after.to_owned()));
    }
    query.load(conn)
}

/// Applies changes to a technician.
pub fn update(conn: &mut DbConnection, id: &str, changes: &TechnicianChanges) -> QueryResult<usize> {
    diesel::update(technicians::table.find(id)).set(changes).execute(conn)
}

/// Every technician (the dispatch cache loads them once per replica).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Technician>> {
    technicians::table.load(conn)
}

/// These technicians.
pub fn by_ids(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Technician>> {
    technicians::table.filter(technicians::id.eq_any(ids)).load(conn)
}

/// Any one technician (benchmarks copy its settings).
pub fn first(conn: &mut DbConnection) -> QueryResult<Option<Technician>> {
    technicians::table.first(conn).optional()
}
