//! The one API error type and its mapping to HTTP: DESIGN.md's error object
//! `{"error": {"code", "message", "field"?}}` with a fitting status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

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
    /// 503: the database is not reachable or too busy right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
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

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Invalid { code, .. } => code,
            ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::NoSuchRoute { .. } => "no_such_route",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unexpected(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NoSuchRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Unexpected(e) => {
                tracing::error!(error = ?e, "Request failed unexpectedly");
                "internal error".to_owned()
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "Database unavailable");
                "the service is temporarily unavailable; retry".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code()));
        body.insert("message".into(), json!(message));
        match self {
            ApiError::BadRequest { field: Some(f), .. } | ApiError::Invalid { field: Some(f), .. } => {
                body.insert("field".into(), json!(f));
            }
            ApiError::Conflict { details, .. } => {
                for (k, v) in details {
                    body.insert(k.clone(), v.clone());
                }
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized(_) = self {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(json!({ "error": body }))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                ApiError::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, info) if info.message().contains("database is locked") => {
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
