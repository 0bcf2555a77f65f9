//! The HTTP side of [`ApiError`] (defined with the use cases in
//! `app::error`): DESIGN.md's error object `{"error": {"code", "message",
//! "field"?}}` with a fitting status. The only `ResponseError` impl.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, json};

pub use crate::app_error::ApiError;

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
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Contended { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            // Logged once with the request id by `telemetry::RequestSpan`.
            ApiError::Unexpected(_) => "internal error".to_owned(),
            ApiError::Unavailable(_) | ApiError::Contended { .. } => {
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
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::TooManyRequests { retry_after_secs, .. } => {
                response.insert_header(("Retry-After", retry_after_secs.max(&1).to_string()));
            }
            ApiError::Unavailable(_) | ApiError::Contended { .. } => {
                response.insert_header(("Retry-After", "1"));
            }
            _ => {}
        }
        response.json(json!({ "error": body }))
    }
}
