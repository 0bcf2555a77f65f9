//! The audit log: append-only rows (triggers on both backends refuse UPDATE
//! and DELETE), written in the transaction of the action they record.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::audit_log;
use crate::domain::{AuditAction, Role};

/// An audit entry as stored.
#[derive(Debug, Clone, Queryable)]
pub struct Entry {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor_user_id: Option<String>,
    pub actor_role: Role,
    pub action: AuditAction,
    pub subject_type: String,
    pub subject_id: String,
    /// The client card the entry is about, if any (also for entries whose subject is a job or a login).
    pub customer_id: Option<String>,
    /// JSON: field names and counts, never personal values.
    pub details: String,
}

/// A new entry.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct NewEntry<'a> {
    pub at: NaiveDateTime,
    pub actor_user_id: Option<&'a str>,
    pub actor_role: Role,
    pub action: AuditAction,
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub details: &'a str,
}

/// Appends an entry (in the caller's transaction).
pub fn insert(conn: &mut DbConnection, entry: &NewEntry<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table).values(entry).execute(conn).map(drop)
}

/// What to list; every filter is optional.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor: Option<String>,
    /// Matches the subject's id or the client card the entry is about.
    pub subject: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

/// A page of entries, newest first (keyset on the id, which grows with time).
pub fn list(conn: &mut DbConnection, f: &Filter, before_id: Option<i64>, limit: i64) -> QueryResult<Vec<Entry>> {
    let mut q = audit_log::table.into_boxed();
    if let Some(actor) = &f.actor {
        q = q.filter(audit_log::actor_user_id.eq(actor.clone()));
    }
    if let Some(subject) = &f.subject {
        q = q.filter(audit_log::subject_id.eq(subject.clone()).or(audit_log::customer_id.eq(subject.clone())));
    }
    if let Some(action) = f.action {
        q = q.filter(audit_log::action.eq(action));
    }
    if let Some(since) = f.since {
        q = q.filter(audit_log::at.ge(since));
    }
    if let Some(until) = f.until {
        q = q.filter(audit_log::at.lt(until));
    }
    if let Some(id) = before_id {
        q = q.filter(audit_log::id.lt(id));
    }
    q.order(audit_log::id.desc()).limit(limit).load(conn)
}
