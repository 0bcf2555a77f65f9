//! Strict request extractors: JSON bodies with unknown fields rejected and
//! the offending field named, body-size limits answered with 413, and
//! query strings parsed the same way.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage;

/// The largest JSON body accepted, in bytes (request handlers' default).
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// How much of an oversized body is read and discarded before answering 413,
/// so well-behaved clients that are still sending see the answer instead of
/// a reset connection.
const DRAIN_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// A JSON body parsed strictly; see [`parse_json`].
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = limited_body(req, payload);
        Box::pin(async move { parse_json(&body.await?).map(Json) })
    }
}

/// A JSON body whose every field is optional: an empty body (no bytes, or
/// only white space) is read as `T::default()`, as if `{}` had been sent.
/// Anything else is parsed as strictly as [`Json`].
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = limited_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            parse_json(&body).map(OptionalJson)
        })
    }
}

/// The request body, read up to the app's [`JsonLimit`] (413 beyond it).
fn limited_body(req: &HttpRequest, payload: &mut Payload) -> LocalBoxFuture<'static, Result<web::BytesMut, ApiError>> {
    let limit = req.app_data::<web::Data<JsonLimit>>().map_or(1 << 20, |l| l.0);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move { read_body(&mut payload, limit, declared).await })
}

/// Reads a request body of at most `limit` bytes (413 beyond it, also when
/// the declared length says so). An oversized body is read and discarded up
/// to [`DRAIN_LIMIT_BYTES`] so a client still sending sees the answer rather
/// than a reset connection.
pub async fn read_body<S, E>(payload: &mut S, limit: usize, declared: Option<usize>) -> Result<web::BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = web::BytesMut::new();
    let mut too_large = declared.is_some_and(|n| n > limit);
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "malformed_body",
            field: None,
            message: format!("could not read the request body: {e}"),
        })?;
        seen += chunk.len();
        too_large |= seen > limit;
        if too_large {
            if seen > DRAIN_LIMIT_BYTES {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if too_large {
        return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
    }
    Ok(body)
}

/// Parses JSON, mapping serde's errors to DESIGN.md's: syntax → 400
/// `malformed_json`; unknown field → 400 `unknown_field`; missing field →
/// 400 `missing_field`; a value of the wrong type or an unknown variant →
/// 422 `invalid_value`, each naming the field by its path (`location.lat`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            code: "malformed_json",
            field: None,
            message: "the request body must be a JSON object".into(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|err| {
        let path = err.path().to_string();
        classify(&path, err.inner())
    })?;
    de.end().map_err(|e| classify(".", &e))?;
    Ok(value)
}

fn classify(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let full = e.to_string();
    let message = full.split(" at line ").next().unwrap_or(&full).to_owned();
    let parent = if path == "." { String::new() } else { path.to_owned() };
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::BadRequest { code: "malformed_json", field: None, message: format!("malformed JSON: {message}") }
        }
        Category::Data => {
            if let Some(name) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
                ApiError::BadRequest { code: "unknown_field", field: Some(join(&parent, name)), message }
            } else if let Some(name) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
                ApiError::BadRequest { code: "missing_field", field: Some(join(&parent, name)), message }
            } else {
                ApiError::Invalid { code: "invalid_value", field: (!parent.is_empty()).then_some(parent), message }
            }
        }
    }
}

/// `location` + `lat` → `location.lat`, unless the path already ends with it.
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else if parent == name || parent.ends_with(&format!(".{name}")) {
        parent.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// A query string parsed strictly (unknown parameters → 400).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = serde_urlencoded_strict::<T>(req.query_string()).map(Query);
        std::future::ready(result)
    }
}

fn serde_urlencoded_strict<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    web::Query::<T>::from_query(query).map(|q| q.into_inner()).map_err(|e| {
        let message = e.to_string();
        let field = message.split('`').nth(1).map(str::to_owned);
        if message.contains("unknown field") {
            ApiError::BadRequest { code: "unknown_parameter", field, message }
        } else if message.contains("missing field") {
            ApiError::BadRequest { code: "missing_parameter", field, message }
        } else {
            ApiError::Invalid { code: "invalid_value", field, message }
        }
    })
}

/// Checks a parsed request's values; a failure is a 422 naming the field.
pub trait Validate {
    /// Returns the first invalid field, if any.
    fn validate(&self) -> Result<(), ApiError>;
}

/// The caller of a protected endpoint, from its bearer token (see [`AuthUser`]).
impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = Bearer::from_request(req, payload).into_inner();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no app state")))?;
            let bearer = bearer?;
            state.db.run(move |conn| bearer.caller(conn)).await
        })
    }
}

/// A verified bearer token whose user is not read yet: a handler that runs one blocking database task
/// anyway reads the caller inside it ([`Bearer::caller`]), saving a hand-off to the blocking pool and a
/// connection checkout per request (the booking, #14). The user is read and checked (active, token issued
/// after the last password change) exactly as for [`AuthUser`], only after the body was parsed as JSON.
#[derive(Debug)]
pub struct Bearer {
    claims: crate::auth::jwt::Claims,
}

impl Bearer {
    /// Reads the token's user and checks it may still act: [`AuthUser`], on this connection.
    pub fn caller(&self, conn: &mut crate::db::DbConnection) -> Result<AuthUser, ApiError> {
        let found = storage::users::find_with_org_path(conn, &self.claims.sub)?;
        let (user, org_path) = found.ok_or_else(|| ApiError::Unauthorized("unknown user".into()))?;
        if !user.active {
            return Err(ApiError::Unauthorized("this account is deactivated".into()));
        }
        let changed = user.password_changed_at.and_utc();
        let stale = match self.claims.pwv {
            Some(version) => version != changed.timestamp_micros(),
            None => self.claims.iat < changed.timestamp(),
        };
        if stale {
            return Err(ApiError::Unauthorized("token issued before the last password change".into()));
        }
        Ok(user.into_caller(org_path))
    }
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(bearer(req))
    }
}

fn bearer(req: &HttpRequest) -> Result<Bearer, ApiError> {
    let state =
        req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no app state")))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthorized("expected `Authorization: Bearer <token>`".into()))?;
    Ok(Bearer { claims: state.keys.decode(token.trim(), state.clock.now())? })
}
