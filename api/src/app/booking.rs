//! Booking and the customer's changes: book a visit (idempotent), find or
//! create the client card, create the job; cancel and reschedule (one rule
//! for `/v1/requests/{id}/cancel` and `/v1/jobs/{id}/cancel`, from
//! `domain::lifecycle`). A booking and its dispatch commit together
//! ([`book_and_dispatch`]: one transaction, one commit); a dispatch that fails
//! leaves the booking to commit alone, `new`, for the deadline worker.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use crate::app::capacity::{self, Room};
use crate::app::dispatching::{self, Step};
use crate::app::{notify, offers, planning};
use crate::app_error::ApiError;
use crate::db::{DbConnection, write_tx};
use crate::dispatch_cache::SharedCache;
use crate::domain::lifecycle::{self, Actor as By, Transition};
use crate::domain::{
    Caller, ChangeEntity, EventType, JobKind, JobScope, JobStatus, PartQty, Position, Priority, Role, shift, validate,
};
use crate::storage::change_log::{self, Change};
use crate::storage::jobs::Job;
use crate::storage::{self, customers, db_time, idempotency, jobs, json, technicians, users, utc};

/// Longest booking window.
const MAX_WINDOW_DAYS: i64 = 14;
/// How far ahead a visit may be booked.
const MAX_BOOKING_AHEAD_DAYS: i64 = 365;

/// Checks a window against "now": ends after it starts, not in the past,
/// not longer than two weeks, not more than a year ahead.
pub fn validate_window(
    field: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), crate::domain::Invalid> {
    use crate::domain::Invalid;
    if end <= start {
        return Err(Invalid::new(format!("{field}.end"), "must be after the window's start"));
    }
    if end <= now {
        return Err(Invalid::new(format!("{field}.end"), "must be in the future"));
    }
    if end - start > chrono::Duration::days(MAX_WINDOW_DAYS) {
        return Err(Invalid::new(format!("{field}.end"), format!("a window may span at most {MAX_WINDOW_DAYS} days")));
    }
    if start > now + chrono::Duration::days(MAX_BOOKING_AHEAD_DAYS) {
        return Err(Invalid::new(format!("{field}.start"), "must be within a year from now"));
    }
    Ok(())
}

/// A booking's contact, normalised once: E.164 phone, lower-cased e-mail.
#[derive(Debug, Clone)]
pub struct NormalContact {
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
}

impl NormalContact {
    /// Validates and normalises; errors name `contact.*`.
    pub fn parse(name: &str, phone: &str, email: Option<&str>) -> Result<NormalContact, crate::domain::Invalid> {
        Ok(NormalContact {
            name: validate::text("contact.name", name, validate::MAX_NAME_CHARS)?,
            phone: validate::phone("contact.phone", phone)?,
            email: email.map(|e| validate::email("contact.email", e)).transpose()?,
        })
    }
}

/// A validated booking.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub kind: JobKind,
    pub location: Position,
    pub address: String,
    pub problem: String,
    pub required_skills: Vec<String>,
    pub parts: Vec<PartQty>,
    pub window: (DateTime<Utc>, DateTime<Utc>),
    pub priority: Priority,
    /// `None`: the calling customer's card supplies it.
    pub contact: Option<NormalContact>,
    /// Recorded with the job when given (`consents`, append-only).
    pub consent: Option<crate::app::consent::GivenConsent>,
}

/// What booking did.
pub enum BookOutcome {
    Created(Job),
    /// The same `Idempotency-Key` and body as an earlier booking: that job.
    Replayed(Job),
}

/// An idempotency key and the hash of the request it came with.
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// Books a visit in the caller's transaction: claims the key (with the id the job will have), creates the
/// job, or finds the earlier one for a retry. A new job's contractor link and `created` event are left in
/// the returned [`jobs::Unwritten`] (empty for a replay), for the caller to write.
fn book_unwritten(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    booking: &NewBooking,
    key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<(BookOutcome, jobs::Unwritten), ApiError> {
    let now = db_time(now);
    let job_id = storage::new_id();
    if let Some(k) = key
        && !idempotency::claim(conn, &caller.id, &k.key, &k.request_hash, &job_id, now)?
    {
        let stored = idempotency::find(conn, &caller.id, &k.key)?.ok_or(ApiError::NotFound)?;
        if stored.request_hash != k.request_hash {
            return Err(ApiError::Invalid {
                code: "idempotency_key_reused",
                field: Some("Idempotency-Key".into()),
                message: "this Idempotency-Key was used with a different request body".into(),
            });
        }
        let job_id = stored.job_id.ok_or(ApiError::NotFound)?;
        let job = jobs::find_scoped(conn, &job_id, JobScope::All)?.ok_or(ApiError::NotFound)?;
        return Ok((BookOutcome::Replayed(job), jobs::Unwritten::default()));
    }
    let (job, card, timezone, unwritten) = create_job(conn, cache, caller, booking, job_id, now)?;
    notify::job_booked(conn, &job, &card, timezone, crate::storage::utc(now))?;
    Ok((BookOutcome::Created(job), unwritten))
}

/// Books a visit and dispatches it in one write transaction (one commit per
/// booking). If dispatch fails, that transaction is rolled back and the
/// booking alone is written again in a second one: the job stays `new` and
/// the deadline worker dispatches it, so a failing decision never loses a
/// booking. A replayed key dispatches nothing.
pub fn book_and_dispatch(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    booking: &NewBooking,
    key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<BookOutcome, ApiError> {
    let mut dispatch_failed = false;
    let together = write_tx(conn, |conn| {
        // Set by this attempt only: a deadlock in an earlier attempt's dispatch is retried, not remembered.
        dispatch_failed = false;
        let (outcome, unwritten) = book_unwritten(conn, cache, caller, booking, key, now)?;
        let BookOutcome::Created(mut job) = outcome else { return Ok(outcome) };
        // The booking's link and event are written with the dispatch's (one insert each).
        job.status = dispatching::dispatch_new(conn, cache, (job.clone(), unwritten), Step::default(), now)
            .inspect_err(|_| dispatch_failed = true)?;
        Ok(BookOutcome::Created(job))
    });
    match together {
        Err(e) if dispatch_failed => {
            tracing::warn!(error = %e, "Dispatch at booking failed; booked without it, the worker will retry");
            write_tx(conn, |conn| {
                let (outcome, unwritten) = book_unwritten(conn, cache, caller, booking, key, now)?;
                if let BookOutcome::Created(job) = &outcome {
                    unwritten.write(conn, &job.id)?;
                }
                Ok(outcome)
            })
        }
        other => other,
    }
}

/// The client card of a booking and the contact to store on the job.
///
/// A customer books on its own card: the one its login is linked to, else a
/// new card linked to the login now. A card is never found for a customer by
/// the phone or e-mail it types (that would hand someone else's card and
/// history to whoever knows their number). Admins book on behalf of a
/// customer: the card is found by phone, then e-mail, else created. A
/// dispatcher finds only a card it already sees (a request in its scope with
/// that phone or e-mail, or on a card with it), else creates one: the answer is
/// the same whether or not a card exists elsewhere, and a stranger's history is
/// never touched. Missing contact fields of a found card are filled, never
/// overwritten.
fn find_or_create_card(
    conn: &mut DbConnection,
    caller: &Caller,
    contact: Option<&NormalContact>,
    now: NaiveDateTime,
) -> Result<(customers::Customer, NormalContact), ApiError> {
    let customer = caller.role == Role::Customer;
    let own = match &caller.customer_id {
        Some(id) if customer => customers::find(conn, id)?,
        _ => None,
    };
    let contact = match (contact, &own) {
        (Some(c), _) => c.clone(),
        (None, Some(card)) => contact_of_card(card)?,
        (None, None) => return Err(ApiError::invalid("contact", "required: who to reach on site (name and phone)")),
    };
    let (phone, email) = (&contact.phone, &contact.email);
    let found = match own {
        Some(card) => Some(card),
        None if customer => None,
        None if caller.role == Role::Admin => match customers::find_by_phone(conn, phone)? {
            Some(card) => Some(card),
            None => match email {
                Some(e) => customers::find_by_email(conn, e)?,
                None => None,
            },
        },
        // A dispatcher finds only a card it already sees through requests in its scope.
        None => match jobs::card_in_scope(conn, caller.job_scope(), phone, email.as_deref())? {
            Some(id) => customers::find(conn, &id)?,
            None => None,
        },
    };
    let card = match found {
        Some(card) => {
            customers::complete_contact(conn, &card, Some(phone), email.as_deref(), now)?;
            card
        }
        None => {
            // A phone is on one card only: a customer typing a number another card
            // owns gets a card without it (the booking still carries the number).
            let phone = match customers::find_by_phone(conn, phone)? {
                Some(_) => None,
                None => Some(phone.as_str()),
            };
            let id = storage::new_id();
            customers::insert(
                conn,
                &customers::NewCustomer {
                    id: &id,
                    name: &contact.name,
                    phone,
                    email: email.as_deref(),
                    preferred_address_form: None,
                    contracted_org_id: None,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            customers::find(conn, &id)?.ok_or(ApiError::NotFound)?
        }
    };
    if customer && caller.customer_id.is_none() {
        users::link_customer(conn, &caller.id, &card.id)?;
    }
    Ok((card, contact))
}

/// The contact a customer's own card gives a booking without one.
fn contact_of_card(card: &customers::Customer) -> Result<NormalContact, ApiError> {
    let phone = card.phone.as_deref().ok_or_else(|| {
        ApiError::invalid("contact", "your client card has no phone number: give a contact with a phone")
    })?;
    Ok(NormalContact { name: card.name.clone(), phone: phone.to_owned(), email: card.email.clone() })
}

/// A fresh random tracking token (also what an erasure gives a job, so an old link finds nothing).
pub(crate) fn new_tracking_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 18];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Creates the job `id` on the booking's client card; returns it, the card, the zone the customer's messages
/// show times in (the general contractor's) and the job's contractor link and `created` event, unwritten.
fn create_job(
    conn: &mut DbConnection,
    cache: &SharedCache,
    caller: &Caller,
    b: &NewBooking,
    id: String,
    now: NaiveDateTime,
) -> Result<(Job, customers::Customer, String, jobs::Unwritten), ApiError> {
    let (card, contact) = find_or_create_card(conn, caller, b.contact.as_ref(), now)?;
    // The general contractor: the customer's contracted partner, else the
    // booking dispatcher's organisation, else the vendor.
    let contractor = match (&card.contracted_org_id, caller.role) {
        (Some(org), _) => org.clone(),
        (None, Role::Dispatcher) => caller.org_id.clone().ok_or(ApiError::Forbidden)?,
        _ => cache.root_org(conn)?,
    };
    let address = b.address.trim().to_owned();
    let timezone = cache.org_timezone(conn, &contractor)?;
    let job = jobs::NewJob {
        id,
        kind: b.kind,
        status: JobStatus::New,
        priority: b.priority,
        customer_id: card.id.clone(),
        created_by: caller.id.clone(),
        contractor_org_id: contractor.clone(),
        lat: b.location.lat,
        lon: b.location.lon,
        address: address.clone(),
        problem: b.problem.trim().to_owned(),
        required_skills: json::codes_text(&b.required_skills)?,
        parts: json::parts_text(&b.parts)?,
        window_start: db_time(b.window.0),
        window_end: db_time(b.window.1),
        contact_name: contact.name.clone(),
        contact_phone: contact.phone.clone(),
        contact_email: contact.email.clone(),
        tracking_token: new_tracking_token(),
        created_at: now,
        updated_at: now,
    };
    let mut unwritten = jobs::Unwritten::default();
    let stored = jobs::insert_deferring_chain(conn, &job, &mut unwritten)?;
    customers::touch_address(conn, &card.id, &address, b.location.lat, b.location.lon, now)?;
    if let Some(consent) = &b.consent {
        crate::app::consent::record(conn, consent, &card.id, &job.id, &caller.id, now)?;
    }
    let actor = jobs::Actor { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() };
    unwritten.event(
        EventType::Created,
        actor,
        &json!({"status": JobStatus::New, "contractor_org_id": contractor, "priority": b.priority}),
        now,
    );
    Ok((stored, card, timezone, unwritten))
}

fn conflict_with(job: &Job, what: &str) -> ApiError {
    ApiError::conflict(
        "invalid_transition",
        format!("cannot {what} a job that is {}", job.status),
        json!({"current": {"status": job.status, "version": job.version}}),
    )
}

fn actor(caller: &Caller) -> jobs::Actor<'_> {
    jobs::Actor { user_id: Some(&caller.id), org_id: caller.org_id.as_deref() }
}

/// Who the caller is in the lifecycle table.
fn by(caller: &Caller) -> By {
    if caller.role == Role::Customer { By::Customer } else { By::Dispatcher }
}

/// Cancels a job in the caller's scope (the customer before the technician is
/// on the way; dispatchers and admins before completion); the status is the
/// guard against a concurrent change.
pub fn cancel(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<Job, ApiError> {
    let reason = reason.map(|r| validate::text("reason", r, validate::MAX_TEXT_CHARS)).transpose()?;
    let now_db = db_time(now);
    let job = jobs::find_scoped(conn, id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    let step = lifecycle::check(job.status, JobStatus::Cancelled, by(caller));
    let done = match step {
        Ok(step) => jobs::set_status(conn, &job.id, step, now_db)?,
        Err(_) => false,
    };
    if !done {
        let current = jobs::find_scoped(conn, id, JobScope::All)?.ok_or(ApiError::NotFound)?;
        return Err(conflict_with(&current, "cancel"));
    }
    offers::close_offer_on_cancel(conn, &job.id, now)?;
    jobs::append_event(
        conn,
        &job.id,
        EventType::Cancelled,
        actor(caller),
        &json!({"status": JobStatus::Cancelled, "from": job.status, "reason": reason, "by_role": caller.role}),
        now_db,
    )?;
    notify::job_cancelled(conn, &job, now)?;
    if let Some(tech) = &job.technician_id {
        // The assigned phone drops the job on its next pull; the day is re-planned without it.
        change_log::log_change(conn, Change::delete(ChangeEntity::Job, &job.id, Some(tech)), now_db)?;
        planning::after_job_left(conn, &job.id, tech, utc(job.window_start), now, speed_kmh)?;
    }
    jobs::find_scoped(conn, id, JobScope::All)?.ok_or(ApiError::NotFound)
}

/// Moves a job in the caller's scope to a new window, where the customer may
/// still change it (before the technician is on the way). An `incomplete` job
/// with a technician is scheduled again with that technician in the new window
/// (capacity checked): its next visit. A dispatcher does that only for
/// technicians of its subtree. A `scheduled` job stays with its technician
/// when the new window is one dispatch would offer him (on shift, not absent)
/// and its local day has room for it (or is the same day); otherwise (off
/// shift, absent, that day full, or the technician deactivated) it goes back
/// to `new` without a technician, for `review::after_reschedule` to dispatch.
pub fn reschedule(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<Job, ApiError> {
    let now_db = db_time(now);
    let job = jobs::find_scoped(conn, id, caller.job_scope())?.ok_or(ApiError::NotFound)?;
    let revisit = match (&job.technician_id, job.status) {
        (Some(tech), JobStatus::Incomplete) => {
            let (t, path) = technicians::find_with_org_path(conn, tech)?.ok_or(ApiError::NotFound)?;
            if caller.role == Role::Dispatcher && !caller.manages(&path) {
                // As for a reassignment: only the assignee's organisation or an ancestor.
                return Err(ApiError::NotFound);
            }
            Some(t)
        }
        _ => None,
    };
    // A scheduled visit keeps its technician only if he works then, is not away, and the new day has room.
    let leaves = match (&job.technician_id, job.status, revisit.is_none()) {
        // A returned visit too: it keeps its place (and counts) on its technician's day until done again.
        (Some(tech), JobStatus::Scheduled | JobStatus::Returned, true) => {
            why_technician_cannot_keep(conn, &job, tech, window, now)?
        }
        _ => None,
    };
    let new = (db_time(window.0), db_time(window.1));
    if !lifecycle::customer_may_change(job.status)
        || !jobs::set_window(conn, &job.id, Transition::stay(job.status), job.version, new, now_db)?
    {
        let current = jobs::find_scoped(conn, id, JobScope::All)?.ok_or(ApiError::NotFound)?;
        return Err(conflict_with(&current, "reschedule"));
    }
    jobs::append_event(
        conn,
        &job.id,
        EventType::Rescheduled,
        actor(caller),
        &json!({
            "status": job.status,
            "from": {"start": utc(job.window_start), "end": utc(job.window_end)},
            "to": {"start": window.0, "end": window.1},
        }),
        now_db,
    )?;
    if let Some(tech) = revisit {
        let moved = jobs::find_scoped(conn, id, JobScope::All)?.ok_or(ApiError::NotFound)?;
        offers::assign_technician(conn, &moved, JobStatus::Incomplete, &tech, by(caller), now, speed_kmh)?;
        jobs::append_event(
            conn,
            &job.id,
            EventType::Assigned,
            actor(caller),
            &json!({"status": JobStatus::Scheduled, "technician_id": tech.id, "previous_technician_id": tech.id,
                "reason": "revisit"}),
            now_db,
        )?;
    } else if let (Some(tech), Some(why)) = (&job.technician_id, leaves) {
        unassign_for_new_window(conn, caller, &job, tech, why, now, speed_kmh)?;
    } else if let Some(tech) = &job.technician_id {
        change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &job.id, Some(tech)), now_db)?;
        // Re-plan the day it left and the day it joined.
        planning::replan_technician_day(conn, tech, utc(job.window_start), now, speed_kmh)?;
        planning::replan_technician_day(conn, tech, window.0, now, speed_kmh)?;
        let moved = jobs::find_scoped(conn, id, JobScope::All)?.ok_or(ApiError::NotFound)?;
        notify::job_moved(conn, tech, &moved, now)?;
    }
    let job = jobs::find_scoped(conn, id, JobScope::All)?.ok_or(ApiError::NotFound)?;
    notify::job_rescheduled(conn, &job, now)?;
    Ok(job)
}

/// Why a scheduled job's technician cannot keep it in `window`: deactivated; off shift or absent for
/// all of it (dispatch's own rule, `eligibility::availability`: a visit dispatch would offer him is
/// inside his shift, resolved in his zone, and not covered by his absences); or the window's local day
/// (another day than the job's) is full. Read first without the lock; only when the technician seems to
/// keep it is his row locked and all of it checked again, so two moves onto one day are counted one
/// after the other. Called before the job's row is written (and so locked): the re-plans of the
/// technician's days write the ETA of each of its jobs there, so a reschedule holding its job while
/// waiting for the technician would deadlock with another one re-planning that day (PostgreSQL). A
/// technician found off shift, absent or full without the lock is not locked: the dispatch that follows
/// then never waits for another technician's lock while holding this one (like dispatch's own retries).
/// `None`: the technician keeps it.
fn why_technician_cannot_keep(
    conn: &mut DbConnection,
    job: &Job,
    technician_id: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<Option<serde_json::Value>, ApiError> {
    let (tech, room, _) = capacity::room_unlocked(conn, technician_id, window.0, now)?;
    let why = why_not_kept(job, &tech, room, window)?;
    if why.is_some() || room != Room::Fits {
        return Ok(why);
    }
    let (tech, room, _) = capacity::room_on_day(conn, technician_id, window.0, now)?;
    why_not_kept(job, &tech, room, window)
}

/// [`why_technician_cannot_keep`]'s verdict on the technician's row and day as read.
fn why_not_kept(
    job: &Job,
    tech: &technicians::Technician,
    room: Room,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Result<Option<serde_json::Value>, ApiError> {
    if room == Room::Inactive {
        return Ok(Some(json!({"reason": "technician_inactive"})));
    }
    let local = shift::LocalShift::new(json::shift(&tech.shift)?, &tech.timezone)?;
    let visit = dispatch::model::TimeWindow { start: window.0, end: window.1 };
    let absences: Vec<dispatch::model::TimeWindow> = json::absences(&tech.absences)?
        .into_iter()
        .map(|a| dispatch::model::TimeWindow { start: a.from, end: a.to })
        .collect();
    match dispatch::eligibility::availability(&visit, &local.around(&visit), &absences) {
        dispatch::eligibility::Availability::Available => {}
        dispatch::eligibility::Availability::OffShift => return Ok(Some(json!({"reason": "off_shift"}))),
        dispatch::eligibility::Availability::Absent => return Ok(Some(json!({"reason": "absent"}))),
    }
    Ok(match room {
        Room::Full { taken, capacity } => {
            // On its own day the job is already counted: a move within the day needs no room.
            let same_day = local.local_date(utc(job.window_start)) == local.local_date(window.0);
            (!same_day).then(|| json!({"reason": "no_room_on_new_day", "taken": taken, "capacity": capacity}))
        }
        Room::Fits | Room::Inactive => None,
    })
}

/// Takes a rescheduled job (`job` as it was before) off its technician, who
/// cannot keep it in the new window (`why`): a scheduled one back to `new`, a
/// returned one stays `returned` without a technician; off the phone and the
/// old day, the technician told. `review::after_reschedule` then dispatches it
/// for its new window in the same transaction.
fn unassign_for_new_window(
    conn: &mut DbConnection,
    caller: &Caller,
    job: &Job,
    technician_id: &str,
    why: serde_json::Value,
    now: DateTime<Utc>,
    speed_kmh: f64,
) -> Result<(), ApiError> {
    let now_db = db_time(now);
    let (step, to) = match job.status {
        JobStatus::Returned => (Transition::stay(JobStatus::Returned), JobStatus::Returned),
        from => (lifecycle::check(from, JobStatus::New, By::Worker)?, JobStatus::New),
    };
    if !storage::offers::assign(conn, &job.id, step, None, now_db)? {
        let current = jobs::find_scoped(conn, &job.id, JobScope::All)?.ok_or(ApiError::NotFound)?;
        return Err(conflict_with(&current, "reschedule"));
    }
    let mut data = json!({"status": to, "from": job.status, "previous_technician_id": technician_id});
    if let (Some(d), serde_json::Value::Object(more)) = (data.as_object_mut(), why) {
        d.extend(more);
    }
    jobs::append_event(conn, &job.id, EventType::StatusChanged, actor(caller), &data, now_db)?;
    change_log::log_change(conn, Change::delete(ChangeEntity::Job, &job.id, Some(technician_id)), now_db)?;
    notify::job_taken_off(conn, technician_id, &job.id, now)?;
    planning::after_job_left(conn, &job.id, technician_id, utc(job.window_start), now, speed_kmh)
}
