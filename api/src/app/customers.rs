//! The client card: who may see which part of it, and admins' edits.
//! A customer sees its own card whole; an admin any card whole; a dispatcher
//! a card only through requests in its scope, and only those requests and
//! their addresses (DESIGN.md, Visibility).

use chrono::NaiveDateTime;

use crate::app::audit::{self, Subject};
use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::{AuditAction, Caller, Role};
use crate::storage::{customers, jobs, orgs};

/// The part of a card the caller may see.
#[derive(Debug)]
pub struct VisibleCard {
    pub card: customers::Customer,
    pub addresses: Vec<customers::Address>,
    /// The requests the caller may see, oldest first.
    pub jobs: Vec<jobs::Job>,
}

/// How long a customer waited for one job (booking to first arrival, or to
/// cancellation, or to `now` while still waiting).
pub fn waited_secs(job: &jobs::Job, now: NaiveDateTime) -> i64 {
    let until = job.first_on_site_at.or(job.closed_at).unwrap_or(now);
    (until - job.created_at).num_seconds().max(0)
}

/// The card as the caller may see it; 404 outside its scope.
pub fn visible_card(conn: &mut DbConnection, caller: &Caller, id: &str) -> Result<VisibleCard, ApiError> {
    // A customer's scope is its own card, whatever id it asks for.
    let own = caller.role == Role::Customer;
    if own && caller.customer_id.as_deref() != Some(id) {
        return Err(ApiError::NotFound);
    }
    let mut card = customers::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let jobs = jobs::of_customer(conn, &card.id, caller.job_scope())?;
    let whole_card = own || caller.role == Role::Admin;
    if !whole_card && jobs.is_empty() {
        return Err(ApiError::NotFound);
    }
    if own
        && card.phone.is_none()
        && let Some(latest) = jobs.last()
    {
        // A card never holds a phone another card owns; its customer still sees the number it books with,
        // so the answer does not tell it that the number is someone else's.
        card.phone = Some(latest.contact_phone.clone());
    }
    if !whole_card && let Some(latest) = jobs.last() {
        // A dispatcher knows the person only through its requests: the contact of the
        // latest one, not what the card holds from elsewhere (nor whether it holds a phone).
        card.name = latest.contact_name.clone();
        card.phone = Some(latest.contact_phone.clone());
        card.email = latest.contact_email.clone();
    }
    let addresses = customers::addresses(conn, &card.id)?
        .into_iter()
        .filter(|a| whole_card || jobs.iter().any(|j| j.address == a.address))
        .collect();
    Ok(VisibleCard { card, addresses, jobs })
}

/// The card as the caller may see it, for showing: anyone but the card's own customer leaves an audit
/// entry (`customer_read`) in the same transaction.
pub fn read_card(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    now: NaiveDateTime,
) -> Result<VisibleCard, ApiError> {
    let seen = visible_card(conn, caller, id)?;
    if caller.role != Role::Customer {
        let details = serde_json::json!({"requests_shown": seen.jobs.len()});
        audit::record(conn, caller, AuditAction::CustomerRead, Subject::customer(&seen.card.id), &details, now)?;
    }
    Ok(seen)
}

/// An admin's edit of a card; `contracted_org_id: Some(None)` removes the contract.
#[derive(Debug, Default)]
pub struct CardChange {
    pub name: Option<String>,
    pub preferred_address_form: Option<String>,
    pub contracted_org_id: Option<Option<String>>,
    /// Language, preferred channel and opt-out of notifications.
    pub notify: customers::NotifySettings,
}

/// Applies an edit (422 `contracted_org_id` for an unknown organisation).
pub fn update_card(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    change: &CardChange,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let card = customers::find(conn, id)?.ok_or(ApiError::NotFound)?;
    let given = [
        ("name", change.name.is_some()),
        ("preferred_address_form", change.preferred_address_form.is_some()),
        ("contracted_org_id", change.contracted_org_id.is_some()),
        ("language", change.notify.language.is_some()),
        ("notify_channel", change.notify.notify_channel.is_some()),
        ("notify_opt_out", change.notify.notify_opt_out.is_some()),
    ];
    let fields: Vec<&str> = given.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
    let details = serde_json::json!({ "fields": fields });
    audit::record(conn, caller, AuditAction::CustomerUpdate, Subject::customer(&card.id), &details, now)?;
    if let Some(Some(org)) = &change.contracted_org_id
        && orgs::find(conn, org)?.is_none()
    {
        return Err(ApiError::invalid("contracted_org_id", "no such organisation"));
    }
    customers::update(
        conn,
        &card.id,
        change.name.as_deref(),
        change.preferred_address_form.as_deref(),
        change.contracted_org_id.as_ref().map(|o| o.as_deref()),
        now,
    )?;
    customers::set_notify(conn, &card.id, change.notify, now)?;
    Ok(())
}

/// A customer's own notification settings (404 while its login has no card).
pub fn set_own_notify(
    conn: &mut DbConnection,
    caller: &Caller,
    settings: customers::NotifySettings,
    now: NaiveDateTime,
) -> Result<String, ApiError> {
    let id = caller.customer_id.clone().ok_or(ApiError::NotFound)?;
    customers::find(conn, &id)?.ok_or(ApiError::NotFound)?;
    customers::set_notify(conn, &id, settings, now)?;
    Ok(id)
}
