//! The audit log: who did what to which object, and who read which client
//! card. Each use case that is audited calls [`record`] inside its own
//! transaction, so an action and its entry commit or roll back together.
//! Details carry field names and counts, never personal values (an erasure
//! need not touch the log).

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::{AuditAction, Caller};
use crate::storage::audit;

/// What an entry is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `customer`, `user`, `org`, `technician`, `outbox`.
    pub kind: &'a str,
    pub id: &'a str,
    /// The client card it concerns, if any (so `GET /v1/audit?subject=<card>` finds it).
    pub customer_id: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// A client card.
    pub fn customer(id: &'a str) -> Subject<'a> {
        Subject { kind: "customer", id, customer_id: Some(id) }
    }

    /// Any other object.
    pub fn of(kind: &'a str, id: &'a str) -> Subject<'a> {
        Subject { kind, id, customer_id: None }
    }
}

/// Appends an entry for the caller's action (in the caller's transaction).
pub fn record(
    conn: &mut DbConnection,
    caller: &Caller,
    action: AuditAction,
    subject: Subject<'_>,
    details: &Value,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    audit::insert(
        conn,
        &audit::NewEntry {
            at: now,
            actor_user_id: Some(&caller.id),
            actor_role: caller.role,
            action,
            subject_type: subject.kind,
            subject_id: subject.id,
            customer_id: subject.customer_id,
            details: &details.to_string(),
        },
    )?;
    Ok(())
}
