//! `/v1/customers/{id}`: the client card.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::customers;
use crate::auth::AuthUser;
use crate::domain::{JobKind, JobStatus, Language, NotifyChannel, Role};
use crate::error::ApiError;
use crate::routes::jobs::TimeWindow;
use crate::state::AppState;
use crate::storage::customers::NotifySettings;
use crate::storage::utc;

/// An address the customer booked at.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressView {
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub last_used_at: DateTime<Utc>,
}

/// One past or open request on the card.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    pub job_id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub problem: String,
    pub address: String,
    pub window: TimeWindow,
    pub created_at: DateTime<Utc>,
    /// From booking until the technician arrived (or the job was cancelled, or now while still waiting).
    pub waited_secs: i64,
}

/// The client card.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerCard {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub preferred_address_form: Option<String>,
    pub contracted_org_id: Option<String>,
    /// Language of notifications (`ru` by default).
    pub language: Language,
    /// Preferred notification channel: `both` (default), `email` or `sms` (the other stands in when that contact is missing).
    pub notify_channel: NotifyChannel,
    /// The customer gets no e-mail or SMS at all.
    pub notify_opt_out: bool,
    pub addresses: Vec<AddressView>,
    /// The requests the caller may see, oldest first.
    pub history: Vec<HistoryItem>,
    pub requests_count: usize,
    /// Sum of `waited_secs` over the history.
    pub total_waiting_secs: i64,
    pub created_at: DateTime<Utc>,
}

/// The client card: contacts, addresses, history and total waiting time.
/// A dispatcher sees the cards of customers with requests in its scope, and
/// only those requests and their addresses, with the name, phone and e-mail of
/// the latest of them; a customer sees its own card (any other is 404). Every read by someone other than
/// the card's customer is written to the audit log (`customer_read`, `GET /v1/audit`).
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    responses((status = 200, body = CustomerCard), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such card in your scope (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/customers/{id}")]
pub async fn get_card(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Customer, Role::Dispatcher, Role::Admin])?;
    card_response(&state, caller, id.into_inner()).await
}

/// The calling customer's own card (404 while its login has none: the first booking creates it).
#[utoipa::path(get, path = "/v1/customers/me", operation_id = "get_own_card", tag = "customers",
    responses((status = 200, body = CustomerCard), (status = 403, description = "not a customer (`forbidden`)"),
        (status = 404, description = "this login has no card yet (`not_found`)")), security(("bearer" = [])))]
#[get("/v1/customers/me")]
pub async fn own_card(state: web::Data<AppState>, caller: AuthUser) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Customer])?;
    let id = caller.customer_id.clone().ok_or(ApiError::NotFound)?;
    card_response(&state, caller, id).await
}

async fn card_response(state: &AppState, caller: AuthUser, id: String) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let seen =
        state.db.write(move |conn| customers::read_card(conn, &caller, &id, crate::storage::db_time(now))).await?;
    let addresses = seen
        .addresses
        .into_iter()
        .map(|a| AddressView { address: a.address, lat: a.lat, lon: a.lon, last_used_at: utc(a.last_used_at) })
        .collect();
    let history: Vec<HistoryItem> = seen
        .jobs
        .into_iter()
        .map(|j| HistoryItem {
            waited_secs: customers::waited_secs(&j, now.naive_utc()),
            window: TimeWindow { start: utc(j.window_start), end: utc(j.window_end) },
            created_at: utc(j.created_at),
            job_id: j.id,
            kind: j.kind,
            status: j.status,
            problem: j.problem,
            address: j.address,
        })
        .collect();
    let card = seen.card;
    Ok(HttpResponse::Ok().json(CustomerCard {
        total_waiting_secs: history.iter().map(|h| h.waited_secs).sum(),
        requests_count: history.len(),
        history,
        addresses,
        id: card.id,
        name: card.name,
        phone: card.phone,
        email: card.email,
        preferred_address_form: card.preferred_address_form,
        contracted_org_id: card.contracted_org_id,
        language: card.language,
        notify_channel: card.notify_channel,
        notify_opt_out: card.notify_opt_out,
        created_at: utc(card.created_at),
    }))
}

/// `PATCH /v1/customers/{id}` body: only the fields to change.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCard {
    pub name: Option<String>,
    pub preferred_address_form: Option<String>,
    /// The partner the customer has a contract with (partner-led networks); `null` removes it.
    #[serde(default, deserialize_with = "some_or_null")]
    pub contracted_org_id: Option<Option<String>>,
    pub language: Option<Language>,
    pub notify_channel: Option<NotifyChannel>,
    pub notify_opt_out: Option<bool>,
}

/// `PATCH /v1/customers/me` body: the customer's own notification settings.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnNotifySettings {
    pub language: Option<Language>,
    pub notify_channel: Option<NotifyChannel>,
    /// `true` stops every e-mail and SMS to this customer.
    pub notify_opt_out: Option<bool>,
}

/// The calling customer changes its notification language, channel or opt-out.
#[utoipa::path(patch, path = "/v1/customers/me", operation_id = "update_own_card", tag = "customers",
    request_body = OwnNotifySettings,
    responses((status = 200, body = CustomerCard),
        (status = 400, description = "malformed JSON or an unknown field (`malformed_json`, `unknown_field`)"),
        (status = 403, description = "not a customer (`forbidden`)"),
        (status = 422, description = "an unknown language or channel (`invalid_value`, `field`)"),
        (status = 404, description = "this login has no card yet (`not_found`)")), security(("bearer" = [])))]
#[actix_web::patch("/v1/customers/me")]
pub async fn update_own_card(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: crate::extract::Json<OwnNotifySettings>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Customer])?;
    let b = body.0;
    let settings =
        NotifySettings { language: b.language, notify_channel: b.notify_channel, notify_opt_out: b.notify_opt_out };
    let now = crate::storage::db_time(state.now());
    let who = caller.clone();
    let id = state.db.write(move |conn| customers::set_own_notify(conn, &who, settings, now)).await?;
    card_response(&state, caller, id).await
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn some_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    serde::Deserialize::deserialize(d).map(Some)
}

/// Edits a client card (admin): name, form of address, contracted partner, notification settings.
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", request_body = UpdateCard,
    responses((status = 200, body = CustomerCard), (status = 403, description = "this role may not use this endpoint (`forbidden`)"),
        (status = 404, description = "no such card (`not_found`)"),
        (status = 422, description = "an invalid value, or no such `contracted_org_id` (`invalid_value`)")), security(("bearer" = [])))]
#[actix_web::patch("/v1/customers/{id}")]
pub async fn update_card(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<String>,
    body: crate::extract::Json<UpdateCard>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let b = body.0;
    let name = b
        .name
        .as_deref()
        .map(|n| crate::domain::validate::text("name", n, crate::domain::validate::MAX_NAME_CHARS))
        .transpose()?;
    let form = b
        .preferred_address_form
        .as_deref()
        .map(|n| crate::domain::validate::text("preferred_address_form", n, crate::domain::validate::MAX_NAME_CHARS))
        .transpose()?;
    let notify =
        NotifySettings { language: b.language, notify_channel: b.notify_channel, notify_opt_out: b.notify_opt_out };
    let change =
        customers::CardChange { name, preferred_address_form: form, contracted_org_id: b.contracted_org_id, notify };
    let now = crate::storage::db_time(state.now());
    let card_id = id.into_inner();
    let path_id = card_id.clone();
    let who = caller.clone();
    state.db.write(move |conn| customers::update_card(conn, &who, &card_id, &change, now)).await?;
    card_response(&state, caller, path_id).await
}
