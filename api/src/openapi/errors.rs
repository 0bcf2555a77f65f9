//! The error object every 4xx/5xx answers, and the modifier that attaches it
//! to every documented error response (so handlers' attributes only list the
//! statuses they can answer, with a description).

#![allow(dead_code)] // Doc-only mirrors: never constructed.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{Modify, ToSchema};

/// `{"error": {"code", "message", "field"?, …}}`, DESIGN.md's error object.
#[derive(ToSchema)]
pub struct Error {
    pub error: ErrorBody,
}

/// What went wrong. Switch on `code`; `message` is for people.
///
/// Codes by status: 400 `malformed_json`, `malformed_body`, `unknown_field`,
/// `missing_field`, `unknown_parameter`, `missing_parameter`; 401
/// `unauthorized`; 403 `forbidden`; 404 `not_found`; 409 `seq_gap`,
/// `offer_expired`, `offer_not_open`, `invalid_transition`,
/// `technician_inactive`, `technician_at_capacity`, `slug_taken`,
/// `user_exists`, `territory_overlap`, `photo_quota_exceeded`; 413 `payload_too_large`,
/// `batch_too_large`; 422 `invalid_value`, `idempotency_key_reused`,
/// `hash_mismatch`; 429 `too_many_requests` (with `Retry-After`); 500 `internal`;
/// 503 `unavailable` (with `Retry-After`). A 409 may carry the
/// current state of the object in extra members (`current`, `expected_seq`).
#[derive(ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code.
    #[schema(example = "not_found")]
    pub code: String,
    pub message: String,
    /// The request field at fault, by path (`location.lat`, `mutations[3].seq`).
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// 409 `seq_gap`: the `seq` the server expects next; resend from it.
    #[schema(nullable = false, minimum = 1)]
    pub expected_seq: Option<u64>,
    /// 413 `batch_too_large`: the most mutations one push may carry.
    #[schema(nullable = false)]
    pub max_mutations: Option<u64>,
    /// 409 on a job or offer: the job's current state (`status`, and `offer`, `technician_id` or `version`).
    #[schema(nullable = false)]
    pub current: Option<ConflictCurrent>,
}

/// A job's current state in a 409.
#[derive(ToSchema)]
pub struct ConflictCurrent {
    pub status: super::sync::SyncJobStatus,
}

/// Completes every operation's responses:
/// - every 4xx/5xx response without content gets the [`Error`] schema;
/// - an operation with `bearer` security answers 401;
/// - an operation with a JSON body answers 400 (malformed JSON, unknown or
///   missing field), 413 (body too large) and 422 (a value of the wrong type);
/// - an operation with query parameters answers 400 (unknown parameter) and 422;
/// - every operation but the two that touch nothing answers 500 `internal` and 503 `unavailable`.
pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut Document) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in ops.into_iter().flatten() {
                complete(path, op);
            }
        }
    }
}

fn complete(path: &str, op: &mut Operation) {
    let bearer = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
    let query = op
        .parameters
        .as_ref()
        .is_some_and(|ps| ps.iter().any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)));
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(description).build()));
    };
    if bearer {
        add("401", "no token, a bad or expired one, or the account is deactivated (`unauthorized`)");
    }
    if json_body {
        add(
            "400",
            "malformed JSON, an unknown field or a missing one (`malformed_json`, `unknown_field`, `missing_field`; `field` names it)",
        );
        add("413", "the body is larger than the limit (`payload_too_large`)");
        add("422", "a value of the wrong type or out of range (`invalid_value`; `field` names it)");
    }
    if query {
        add("400", "an unknown or missing query parameter (`unknown_parameter`, `missing_parameter`)");
        add("422", "a query parameter's value is invalid (`invalid_value`)");
    }
    // Listed, not a `default` response: a `default` would make every undocumented status "documented".
    if path != "/healthz" && path != "/metrics" {
        add("500", "unexpected (`internal`); the cause is logged, never sent");
        add("503", "the database is busy or unreachable (`unavailable`); retry");
    }
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response)
            && response.content.is_empty()
        {
            response.content.insert(
                "application/json".into(),
                ContentBuilder::new().schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Error")))).build(),
            );
        }
    }
}
