//! `/v1/outbox`: the operator's view of notifications (admin).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::notify::admin;
use crate::auth::AuthUser;
use crate::domain::{Channel, OutboxStatus, Role};
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::pagination::{self, Page};
use crate::state::AppState;
use crate::storage::outbox::Row;
use crate::storage::utc;

/// `GET /v1/outbox` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `pending` (default), `sent`, `failed` or `skipped`.
    #[param(inline)]
    pub status: Option<OutboxStatus>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// One notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxItem {
    pub id: String,
    pub channel: Channel,
    /// What it says: `booking_confirmed`, `reminder`, `on_the_way`, `rescheduled`, `cancelled`, `survey`,
    /// `job_new`, `job_moved`, `job_cancelled`, `job_returned`, `offer_new`, `offer_expiring`, `sync`.
    pub kind: String,
    /// Push: the device id; e-mail: the address; SMS: the number.
    pub recipient: String,
    pub job_id: Option<String>,
    pub status: OutboxStatus,
    pub attempts: i32,
    /// Why the last attempt failed, or why it was skipped.
    pub last_error: Option<String>,
    /// When it is (next) due; for a row being sent, when its worker's lease ends.
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn item(r: Row) -> OutboxItem {
    OutboxItem {
        id: r.id,
        channel: r.channel,
        kind: r.kind,
        recipient: r.recipient,
        job_id: r.job_id,
        status: r.status,
        attempts: r.attempts,
        last_error: r.last_error,
        next_attempt_at: utc(r.next_attempt_at),
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
        sent_at: r.sent_at.map(utc),
    }
}

/// Notifications in one status, newest first: what is stuck and why.
#[utoipa::path(get, path = "/v1/outbox", operation_id = "list_outbox", tag = "outbox", params(OutboxQuery),
    responses((status = 200, body = Page<OutboxItem>),
        (status = 400, description = "an unknown query parameter (`unknown_parameter`)"),
        (status = 403, description = "admins only (`forbidden`)"),
        (status = 422, description = "an unknown `status`, a bad `limit` or `cursor` (`invalid_value`)")),
    security(("bearer" = [])))]
#[get("/v1/outbox")]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let q = query.0;
    let status = q.status.unwrap_or(OutboxStatus::Pending);
    let limit = pagination::limit_plus_one(q.limit)?;
    let after = crate::routes::jobs::decode_time_cursor(q.cursor.as_deref())?;
    let page = state
        .db
        .run(move |conn| {
            let (rows, next) = admin::list(conn, status, after, limit)?;
            Ok::<_, ApiError>(Page {
                items: rows.into_iter().map(item).collect(),
                next_cursor: next.map(|(at, id)| crate::routes::jobs::encode_time_cursor(at, &id)),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Re-queues a failed notification: due now, with a fresh count of attempts.
#[utoipa::path(post, path = "/v1/outbox/{id}/retry", operation_id = "retry_outbox", tag = "outbox",
    responses((status = 200, body = OutboxItem, description = "pending again"),
        (status = 403, description = "admins only (`forbidden`)"),
        (status = 404, description = "no such notification (`not_found`)"),
        (status = 409, description = "it is not failed (`not_failed`); `current` carries its status")),
    security(("bearer" = [])))]
#[post("/v1/outbox/{id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let (id, now) = (id.into_inner(), state.now());
    let row = state.db.write(move |conn| admin::retry(conn, &caller, &id, now)).await?;
    Ok(HttpResponse::Ok().json(item(row)))
}
