//! All diesel queries, one module per aggregate. Functions take the
//! connection explicitly and never open or commit transactions: the caller
//! (one use case per endpoint) owns the transaction boundary.

pub mod audit;
pub mod board;
pub mod change_log;
pub mod consents;
pub mod customers;
pub mod devices;
pub mod idempotency;
pub mod jobs;
pub mod json;
pub mod login_failures;
pub mod offers;
pub mod orgs;
pub mod outbox;
pub mod privacy;
pub mod quality;
pub mod reports;
pub mod retention;
pub mod reviews;
pub mod routes;
pub mod settings;
mod sql_enums;
pub mod sync;
pub mod technicians;
pub mod tokens;
pub mod users;
pub mod web_sessions;

use chrono::{DateTime, NaiveDateTime, Utc};

/// A fresh random id (UUID v4, stored as text).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Database timestamps are naive UTC.
pub fn db_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Back from a database timestamp to UTC.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Reads a JSON text column.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(text)
}

/// Writes a JSON text column.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(value)
}
