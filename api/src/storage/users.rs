//! Accounts: users with a role, an optional organisation, technician or
//! customer link, and an `active` flag checked on every request.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{organisations, users};
use crate::domain::Role;

/// A user row.
#[derive(Debug, Clone, Queryable)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub name: Option<String>,
    pub org_id: Option<String>,
    pub technician_id: Option<String>,
    pub customer_id: Option<String>,
    pub active: bool,
    pub password_changed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl User {
    /// The caller this user is, its organisation's path read beside it (bearer tokens and web sessions).
    pub fn into_caller(self, org_path: Option<String>) -> crate::domain::Caller {
        crate::domain::Caller {
            id: self.id,
            role: self.role,
            org_id: self.org_id,
            org_path,
            technician_id: self.technician_id,
            customer_id: self.customer_id,
        }
    }
}

/// A new user.
#[derive(Debug, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub name: Option<&'a str>,
    pub org_id: Option<&'a str>,
    pub technician_id: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub active: bool,
    pub password_changed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts a user.
pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn).map(drop)
}

/// Inserts many users (demo seeding).
pub fn insert_many(conn: &mut DbConnection, rows: &[NewUser<'_>]) -> QueryResult<()> {
    // Row by row: diesel's multi-backend connection has no batch insert for SQLite.
    for row in rows {
        diesel::insert_into(users::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// The user with this id.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
    crate::db::native::get_result(conn, users::table.find(id).limit(1)).optional()
}

/// The user with this (lower-cased) e-mail.
pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
    users::table.filter(users::email.eq(email)).first(conn).optional()
}

/// The user plus the materialised path of its organisation, for scoping.
pub fn find_with_org_path(conn: &mut DbConnection, id: &str) -> QueryResult<Option<(User, Option<String>)>> {
    let user = users::table
        .left_join(organisations::table.on(users::org_id.eq(organisations::id.nullable())))
        .filter(users::id.eq(id))
        .select((users::all_columns, organisations::path.nullable()));
    crate::db::native::get_result(conn, user.limit(1)).optional()
}

/// What a users list is narrowed to; every field set must match.
#[derive(Debug, Default)]
pub struct ListFilter<'a> {
    /// Materialised path prefix of the caller's subtree (`None`: everyone).
    pub subtree: Option<&'a str>,
    pub technician_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
    pub role: Option<Role>,
    pub customer_id: Option<&'a str>,
}

/// Users matching the filter, by e-mail. A subtree excludes users without an
/// organisation (customers), since the inner comparison on the path fails for them.
pub fn list(
    conn: &mut DbConnection,
    filter: &ListFilter<'_>,
    after_email: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<User>> {
    let mut query = users::table
        .left_join(organisations::table.on(users::org_id.eq(organisations::id.nullable())))
        .select(users::all_columns)
        .order(users::email.asc())
        .limit(limit)
        .into_boxed();
    if let Some(prefix) = filter.subtree {
        // A dispatcher manages dispatchers and technicians of its subtree, never admins or reviewers (who
        // belong to the vendor too): the list shows exactly what `GET /v1/users/{id}` answers.
        query = query
            .filter(organisations::path.like(format!("{prefix}%")))
            .filter(users::role.eq_any([Role::Dispatcher, Role::Technician]));
    }
    if let Some(technician_id) = filter.technician_id {
        query = query.filter(users::technician_id.eq(technician_id));
    }
    if let Some(org_id) = filter.org_id {
        query = query.filter(users::org_id.eq(org_id));
    }
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role));
    }
    if let Some(customer_id) = filter.customer_id {
        query = query.filter(users::customer_id.eq(customer_id));
    }
    if let Some(after) = after_email {
        query = query.filter(users::email.gt(after.to_owned()));
    }
    query.load(conn)
}

/// Sets `active`; returns whether a row changed.
pub fn set_active(conn: &mut DbConnection, id: &str, active: bool, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set((users::active.eq(active), users::updated_at.eq(now))).execute(conn)
}

/// Sets the display name.
pub fn set_name(conn: &mut DbConnection, id: &str, name: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set((users::name.eq(name), users::updated_at.eq(now))).execute(conn)
}

/// Replaces the password hash and records when, so older tokens stop working.
pub fn set_password(conn: &mut DbConnection, id: &str, hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::password_changed_at.eq(now), users::updated_at.eq(now)))
        .execute(conn)
}

/// Links a customer user to its client card.
pub fn link_customer(conn: &mut DbConnection, id: &str, customer_id: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::customer_id.eq(customer_id)).execute(conn)
}

/// Whether any user exists (an empty database gets the demo seed).
pub fn any(conn: &mut DbConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
}
