//! Organisations (a tree with materialised paths), their territories and
//! service agreements.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{organisations, service_agreements, territories};

/// An organisation row.
#[derive(Debug, Clone, Queryable)]
pub struct Org {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub slug: String,
    pub level: i32,
    /// "/root-id/…/own-id/": the subtree of an org is every path with this prefix.
    pub path: String,
    pub timezone: String,
    pub manual_routing: bool,
    pub parts: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Service radius of its technicians (km); `None`: its parent's.
    pub max_travel_km: Option<f64>,
}

impl Org {
    /// Ids from the root down to this organisation.
    pub fn lineage(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// Whether `other` is this organisation or one of its descendants.
    pub fn contains_path(&self, other_path: &str) -> bool {
        other_path.starts_with(&self.path)
    }
}

/// A new organisation.
#[derive(Debug, Insertable)]
#[diesel(table_name = organisations, treat_none_as_default_value = false)]
pub struct NewOrg<'a> {
    pub id: &'a str,
    pub parent_id: Option<&'a str>,
    pub name: &'a str,
    pub slug: &'a str,
    pub level: i32,
    pub path: &'a str,
    pub timezone: &'a str,
    pub manual_routing: bool,
    pub parts: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Service radius of its technicians (km); `None`: its parent's.
    pub max_travel_km: Option<f64>,
}

/// Inserts an organisation.
pub fn insert(conn: &mut DbConnection, org: &NewOrg<'_>) -> QueryResult<()> {
    diesel::insert_into(organisations::table).values(org).execute(conn).map(drop)
}

/// The organisation with this id.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Org>> {
    organisations::table.find(id).first(conn).optional()
}

/// The organisation with this slug.
pub fn find_by_slug(conn: &mut DbConnection, slug: &str) -> QueryResult<Option<Org>> {
    organisations::table.filter(organisations::slug.eq(slug)).first(conn).optional()
}

/// The root organisation (the vendor).
pub fn root(conn: &mut DbConnection) -> QueryResult<Option<Org>> {
    organisations::table.filter(organisations::parent_id.is_null()).first(conn).optional()
}

/// Organisations in the subtree with this path prefix, ordered by path, after `after_path`.
pub fn list_subtree(
    conn: &mut DbConnection,
    prefix: &str,
    after_path: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Org>> {
    let mut query = organisations::table
        .filter(organisations::path.like(format!("{prefix}%")))
        .order(organisations::path.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after_path {
        query = query.filter(organisations::path.gt(after.to_owned()));
    }
    query.load(conn)
}

/// Every organisation (the tree is small: hundreds, not millions).
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Org>> {
    organisations::table.order(organisations::path.asc()).load(conn)
}

/// Changes on an organisation from `PATCH /v1/orgs/{id}`.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = organisations)]
pub struct OrgChanges {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub manual_routing: Option<bool>,
    pub parts: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
    /// `Some(None)` clears it (back to the parent's).
    pub max_travel_km: Option<Option<f64>>,
}

/// Applies changes to one organisation.
pub fn update(conn: &mut DbConnection, id: &str, changes: &OrgChanges) -> QueryResult<usize> {
    diesel::update(organisations::table.find(id)).set(changes).execute(conn)
}

/// A territory row; `geometry` is GeoJSON text.
#[derive(Debug, Clone, Queryable)]
pub struct Territory {
    pub id: String,
    pub org_id: String,
    pub geometry: String,
    pub exclusive: bool,
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
    pub created_at: NaiveDateTime,
}

/// A new territory.
#[derive(Debug, Insertable)]
#[diesel(table_name = territories, treat_none_as_default_value = false)]
pub struct NewTerritory {
    pub id: String,
    pub org_id: String,
    pub geometry: String,
    pub exclusive: bool,
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
    pub created_at: NaiveDateTime,
}

/// Locks an organisation's row until the transaction ends (PostgreSQL; SQLite's `BEGIN IMMEDIATE` already
/// serialises writers), so two read-modify-writes of its territory list (the console adds or removes one) run
/// one after the other and neither loses the other's change.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        // `FOR NO KEY UPDATE`, as `offers::lock_job`: inserts pointing at the organisation do not wait for it.
        organisations::table.find(id).select(organisations::id).for_no_key_update().first::<String>(pg).optional()?;
    }
    Ok(())
}

/// The territories of one organisation.
pub fn territories_of(conn: &mut DbConnection, org_id: &str) -> QueryResult<Vec<Territory>> {
    // One replacement writes every row with the same `created_at`: the id keeps the order stable.
    territories::table
        .filter(territories::org_id.eq(org_id))
        .order((territories::created_at.asc(), territories::id.asc()))
        .load(conn)
}

/// Exclusive territories of other organisations whose bounding box meets this one.
pub fn exclusive_candidates(
    conn: &mut DbConnection,
    except_org: &str,
    bbox: (f64, f64, f64, f64),
) -> QueryResult<Vec<(Territory, String)>> {
    let (min_lon, min_lat, max_lon, max_lat) = bbox;
    territories::table
        .inner_join(organisations::table)
        .filter(territories::exclusive.eq(true))
        .filter(territories::org_id.ne(except_org))
        .filter(territories::min_lon.le(max_lon))
        .filter(territories::max_lon.ge(min_lon))
        .filter(territories::min_lat.le(max_lat))
        .filter(territories::max_lat.ge(min_lat))
        .select((territories::all_columns, organisations::path))
        .load(conn)
}

/// Replaces an organisation's territories.
pub fn replace_territories(conn: &mut DbConnection, org_id: &str, rows: &[NewTerritory]) -> QueryResult<()> {
    diesel::delete(territories::table.filter(territories::org_id.eq(org_id))).execute(conn)?;
    for row in rows {
        diesel::insert_into(territories::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// A service agreement row; the minute maps are JSON text keyed by priority.
#[derive(Debug, Clone, Queryable)]
pub struct Agreement {
    pub org_id: String,
    pub accept_within_min: String,
    pub arrive_within_min: String,
    pub first_time_fix_target: f64,
    pub updated_at: NaiveDateTime,
}

/// Creates or replaces an organisation's own agreement, and logs it as a change of the organisation (the
/// dispatch caches hold the agreements in effect: an offer's deadline comes from there).
pub fn put_agreement(
    conn: &mut DbConnection,
    org_id: &str,
    accept_within_min: &str,
    arrive_within_min: &str,
    first_time_fix_target: f64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let changes = (
        service_agreements::accept_within_min.eq(accept_within_min),
        service_agreements::arrive_within_min.eq(arrive_within_min),
        service_agreements::first_time_fix_target.eq(first_time_fix_target),
        service_agreements::updated_at.eq(now),
    );
    // Update, else insert; a concurrent insert of the same org makes ours a
    // no-op and the update below applies our values over it.
    let updated = diesel::update(service_agreements::table.find(org_id)).set(changes).execute(conn)?;
    if updated == 0 {
        let inserted = crate::db::insert_unless_exists(conn, |conn| {
            diesel::insert_into(service_agreements::table)
                .values((service_agreements::org_id.eq(org_id), changes))
                .execute(conn)
        })?;
        if !inserted {
            diesel::update(service_agreements::table.find(org_id)).set(changes).execute(conn)?;
        }
    }
    let change = crate::storage::change_log::Change::upsert(crate::domain::ChangeEntity::Org, org_id, None);
    crate::storage::change_log::log_change(conn, change, now)
}

/// The agreement that applies to `org`: its own, else its nearest ancestor's.
pub fn effective_agreement(conn: &mut DbConnection, org: &Org) -> QueryResult<Option<Agreement>> {
    effective_agreement_of(conn, &org.id)
}

/// The agreement that applies to the organisation with this id, in one statement: the agreements
/// held by organisations whose path is a prefix of its path (itself and its ancestors: paths are ids
/// between slashes), the deepest holder first.
pub fn effective_agreement_of(conn: &mut DbConnection, org_id: &str) -> QueryResult<Option<Agreement>> {
    let of = diesel::alias!(organisations as of);
    let path = of.filter(of.field(organisations::id).eq(org_id)).select(of.field(organisations::path)).single_value();
    service_agreements::table
        .inner_join(organisations::table.on(organisations::id.eq(service_agreements::org_id)))
        .filter(path.assume_not_null().like(organisations::path.concat("%")))
        .order(organisations::level.desc())
        .select(service_agreements::all_columns)
        .first(conn)
        .optional()
}

/// Every organisation's own agreement.
pub fn all_agreements(conn: &mut DbConnection) -> QueryResult<Vec<Agreement>> {
    service_agreements::table.load(conn)
}

/// Organisations by id.
pub fn by_ids(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Org>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    organisations::table.filter(organisations::id.eq_any(ids)).load(conn)
}

/// Every territory.
pub fn all_territories(conn: &mut DbConnection) -> QueryResult<Vec<Territory>> {
    territories::table.load(conn)
}
