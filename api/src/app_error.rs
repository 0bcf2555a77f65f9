//! The one error type of the use cases (`ApiError`): what went wrong, with
//! what a client needs to react. It knows nothing of HTTP; the HTTP layer's
//! `error.rs` maps it to a status and DESIGN.md's error object.

use serde_json::{Map, Value};

use crate::domain::ids::BadId;
use crate::domain::shift::BadZone;
use crate::domain::{Invalid, Invalids};

/// Every way a request can fail, with what the client needs to react.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, unknown or missing fields.
    #[error("{message}")]
    BadRequest { code: &'static str, field: Option<String>, message: String },
    /// 401: no token, a bad one, or one of a deactivated user.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: this role may never use this endpoint.
    #[error("this role may not use this endpoint")]
    Forbidden,
    /// 404: not found, or outside the caller's scope (never say which).
    #[error("not found")]
    NotFound,
    /// 404 for a path that matches no route at all (a typo, a wrong method):
    /// `no_such_route`, so a client can tell it from an object it may not see.
    #[error("no route matches {method} {path}")]
    NoSuchRoute { method: String, path: String },
    /// 409: the state does not allow this; `details` carries the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, details: Map<String, Value> },
    /// 413: the body is larger than the limit.
    #[error("request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    /// 422: a well-formed value that is not acceptable.
    #[error("{message}")]
    Invalid { code: &'static str, field: Option<String>, message: String },
    /// 429: a limit was reached (attempts per account or address, requests per
    /// user, password hashing at capacity); retry after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// 503: the database is not reachable or too busy right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503 like `Unavailable`: PostgreSQL rolled the transaction back as a deadlock's victim or as not
    /// serialisable. `db::write_tx` runs a whole transaction that failed so again a few times first.
    #[error("service unavailable: {} ({message})", reason.as_str())]
    Contended { reason: Contention, message: String },
    /// 500: anything unexpected; the cause is logged, never sent.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// 422 `invalid_value` for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid { code: "invalid_value", field: Some(field.into()), message: message.into() }
    }

    /// 409 with a code and the current state of the object.
    pub fn conflict(code: &'static str, message: impl Into<String>, details: Value) -> ApiError {
        let details = match details {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        ApiError::Conflict { code, message: message.into(), details }
    }

    /// The contention PostgreSQL rolled this error's transaction back for, if any: the error
    /// converted from the database's, or a database error carried inside an unexpected one.
    pub fn contention(&self) -> Option<Contention> {
        match self {
            ApiError::Contended { reason, .. } => Some(*reason),
            ApiError::Unexpected(e) => {
                e.chain().find_map(|cause| cause.downcast_ref::<diesel::result::Error>()).and_then(Contention::of)
            }
            _ => None,
        }
    }

    /// The stable snake_case code of the error object.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Invalid { code, .. } => code,
            ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::NoSuchRoute { .. } => "no_such_route",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) | ApiError::Contended { .. } => "unavailable",
            ApiError::Unexpected(_) => "internal",
        }
    }
}

/// Why PostgreSQL rolled a transaction back when running it again may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contention {
    /// SQLSTATE 40P01: the transaction was chosen as the victim of a deadlock.
    Deadlock,
    /// SQLSTATE 40001: the transaction could not be serialised with a concurrent one.
    SerializationFailure,
}

impl Contention {
    /// The metric's and the log's label.
    pub fn as_str(self) -> &'static str {
        match self {
            Contention::Deadlock => "deadlock",
            Contention::SerializationFailure => "serialization_failure",
        }
    }

    /// The contention a database error reports. diesel 2 maps 40001 to `SerializationFailure` but has no kind
    /// for 40P01 (`Unknown`, and it does not expose the SQLSTATE), so a deadlock is told by the server's
    /// message, "deadlock detected" (servers with `lc_messages` in English, as `terminating connection` is).
    /// SQLite's `database is locked` is not one: it is 503 at once (`BEGIN IMMEDIATE` already waited).
    pub fn of(e: &diesel::result::Error) -> Option<Contention> {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Some(Contention::SerializationFailure),
            Error::DatabaseError(DatabaseErrorKind::Unknown, info) if info.message().contains("deadlock detected") => {
                Some(Contention::Deadlock)
            }
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        use diesel::result::{DatabaseErrorKind, Error};
        if let Some(reason) = Contention::of(&e) {
            let message = match &e {
                Error::DatabaseError(_, info) => info.message().to_owned(),
                other => other.to_string(),
            };
            return ApiError::Contended { reason, message };
        }
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::Unknown, info) if info.message().contains("database is locked") => {
                ApiError::Unavailable(info.message().to_owned())
            }
            // The server went away under a pooled connection (restart, outage, terminated backend): 503, retry.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => {
                crate::db::connection_lost();
                ApiError::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("terminating connection")
                    || info.message().contains("server closed the connection") =>
            {
                ApiError::Unavailable(info.message().to_owned())
            }
            other => ApiError::Unexpected(anyhow::Error::new(other).context("database error")),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> ApiError {
        ApiError::Unexpected(anyhow::Error::new(e).context("stored JSON did not parse"))
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::Invalid { code: e.code, field: Some(e.field), message: e.message }
    }
}

/// The first invalid field (the error object names one).
impl From<Invalids> for ApiError {
    fn from(e: Invalids) -> ApiError {
        match e.0.into_iter().next() {
            Some(first) => first.into(),
            None => ApiError::Unexpected(anyhow::anyhow!("an input was refused without naming a field")),
        }
    }
}

impl From<BadZone> for ApiError {
    fn from(e: BadZone) -> ApiError {
        ApiError::Unexpected(anyhow::Error::new(e))
    }
}

impl From<BadId> for ApiError {
    fn from(e: BadId) -> ApiError {
        ApiError::Unexpected(anyhow::Error::new(e))
    }
}

impl From<crate::domain::lifecycle::Illegal> for ApiError {
    fn from(e: crate::domain::lifecycle::Illegal) -> ApiError {
        ApiError::conflict("invalid_transition", e.to_string(), serde_json::json!({"current": {"status": e.from}}))
    }
}
