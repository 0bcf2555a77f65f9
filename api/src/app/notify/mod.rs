//! Notifications, the writing side: every change that should tell someone
//! calls one of these functions in its own transaction, which appends outbox
//! rows (never "commit, then send": a rolled-back change sends nothing). The
//! worker (`crate::outbox`) sends them; `texts` renders them when they go out.
//!
//! Who gets what (issue #16):
//! - technicians' phones: a data-only `sync` poke per device on every job or route change
//!   (collapsed: one pending per device, `storage::outbox::poke_technician`), and a visible
//!   notification for a new, moved or cancelled visit and a returned review;
//! - dispatchers' phones: a new offer, and 10 minutes before it expires;
//! - customers (e-mail and/or SMS from the booking's contact, as the client card prefers, unless it
//!   opted out): confirmation, a reminder the day before, on the way, new window, cancellation, survey.

pub mod admin;
pub mod texts;

use chrono::{DateTime, Duration, NaiveTime, TimeZone as _, Utc};

use crate::app_error::ApiError;
use crate::db::DbConnection;
use crate::domain::notification::Message;
use crate::domain::{Channel, Language, NotifyChannel, OutboxStatus};
use crate::storage::jobs::Job;
use crate::storage::outbox::{self, Row};
use crate::storage::{customers, db_time, devices, new_id, orgs, technicians, to_json, utc};

/// How long before an offer's deadline its dispatchers are reminded.
pub const OFFER_EXPIRY_NOTICE_MIN: i64 = 10;
/// Visits booked (or moved) less than this ahead get no reminder.
pub const REMINDER_MIN_AHEAD_HOURS: i64 = 12;
/// Local time of the day before the visit when the reminder goes out.
pub const REMINDER_LOCAL_TIME: (u32, u32) = (12, 0);

/// Appends one outbox row, due at `due`.
pub fn enqueue(
    conn: &mut DbConnection,
    channel: Channel,
    recipient: &str,
    job_id: Option<&str>,
    message: &Message,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    outbox::insert(conn, &row(channel, recipient, job_id, message, due, now)?)?;
    Ok(())
}

/// The outbox row [`enqueue`] appends.
fn row(
    channel: Channel,
    recipient: &str,
    job_id: Option<&str>,
    message: &Message,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Row, ApiError> {
    let now = db_time(now);
    Ok(Row {
        id: new_id(),
        channel,
        kind: message.kind().to_owned(),
        recipient: recipient.to_owned(),
        job_id: job_id.map(str::to_owned),
        payload: to_json(message)?,
        collapse_key: None,
        status: OutboxStatus::Pending,
        attempts: 0,
        last_error: None,
        next_attempt_at: db_time(due),
        created_at: now,
        updated_at: now,
        sent_at: None,
    })
}

/// A visible notification to every phone of a technician.
pub fn to_technician(
    conn: &mut DbConnection,
    technician_id: &str,
    job_id: &str,
    message: &Message,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    for device in devices::push_devices_of_technician(conn, technician_id)? {
        enqueue(conn, Channel::Push, &device, Some(job_id), message, now, now)?;
    }
    Ok(())
}

/// The technician's time zone (texts show its local times).
fn technician_zone(conn: &mut DbConnection, technician_id: &str) -> Result<String, ApiError> {
    Ok(technicians::find(conn, technician_id)?.map_or_else(|| "UTC".to_owned(), |t| t.timezone))
}

/// A visit joined a technician's day (`job` as it was before). The customer's
/// times are now shown in the technician's zone: when that differs from the
/// one the reminder was planned in, a new reminder replaces it (the old one is
/// skipped when due, see [`out_of_date`]).
pub fn job_assigned(
    conn: &mut DbConnection,
    technician_id: &str,
    job: &Job,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let timezone = technician_zone(conn, technician_id)?;
    if customer_zone(conn, job)? != timezone {
        schedule_reminder(conn, job, &timezone, now)?;
    }
    let message = Message::JobNew { job_id: job.id.clone(), window_start: utc(job.window_start), timezone };
    to_technician(conn, technician_id, &job.id, &message, now)
}

/// A visit left a technician's day (cancelled, reassigned, dispatched again).
pub fn job_taken_off(
    conn: &mut DbConnection,
    technician_id: &str,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    to_technician(conn, technician_id, job_id, &Message::JobCancelled { job_id: job_id.to_owned() }, now)
}

/// The review returned a technician's work.
pub fn job_returned(
    conn: &mut DbConnection,
    technician_id: &str,
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    to_technician(conn, technician_id, job_id, &Message::JobReturned { job_id: job_id.to_owned() }, now)
}

/// A new offer to an organisation: its dispatchers' phones now, and again
/// 10 minutes before the deadline (skipped when sent if the offer was answered).
pub fn offer_opened(
    conn: &mut DbConnection,
    job_id: &str,
    org_id: &str,
    offer_id: &str,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let devices = devices::push_devices_of_dispatchers(conn, org_id)?;
    if devices.is_empty() {
        return Ok(());
    }
    let timezone = orgs::find(conn, org_id)?.map_or_else(|| "UTC".to_owned(), |o| o.timezone);
    let (job_id_s, offer_id_s) = (job_id.to_owned(), offer_id.to_owned());
    let new = Message::OfferNew {
        job_id: job_id_s.clone(),
        offer_id: offer_id_s.clone(),
        deadline,
        timezone: timezone.clone(),
    };
    let expiring = Message::OfferExpiring { job_id: job_id_s, offer_id: offer_id_s, deadline, timezone };
    let notice_at = deadline - Duration::minutes(OFFER_EXPIRY_NOTICE_MIN);
    for device in devices {
        enqueue(conn, Channel::Push, &device, Some(job_id), &new, now, now)?;
        if notice_at > now {
            enqueue(conn, Channel::Push, &device, Some(job_id), &expiring, notice_at, now)?;
        }
    }
    Ok(())
}

/// Where a customer's messages go: the booking's contact, as the client card prefers.
struct CustomerTargets {
    lang: Language,
    to: Vec<(Channel, String)>,
}

fn customer_targets(conn: &mut DbConnection, job: &Job) -> Result<CustomerTargets, ApiError> {
    let card = customers::find(conn, &job.customer_id)?;
    Ok(targets_on_card(job, card.as_ref()))
}

/// [`customer_targets`] with the job's client card (`None`: it is gone) already read.
fn targets_on_card(job: &Job, card: Option<&customers::Customer>) -> CustomerTargets {
    let (lang, pref, opted_out) =
        card.map_or((Language::Ru, NotifyChannel::Both, false), |c| (c.language, c.notify_channel, c.notify_opt_out));
    if opted_out {
        return CustomerTargets { lang, to: Vec::new() };
    }
    let email = job.contact_email.clone().or_else(|| card.and_then(|c| c.email.clone()));
    let phone = Some(job.contact_phone.clone()).filter(|p| !p.is_empty());
    let email = email.map(|e| (Channel::Email, e));
    let sms = phone.map(|p| (Channel::Sms, p));
    let to = match pref {
        NotifyChannel::Both => email.into_iter().chain(sms).collect(),
        // The other channel stands in when the preferred contact is missing.
        NotifyChannel::Email => email.or(sms).into_iter().collect(),
        NotifyChannel::Sms => sms.or(email).into_iter().collect(),
    };
    CustomerTargets { lang, to }
}

/// The zone customers' times are shown in: the technician's once assigned, else the general contractor's
/// (as on the tracking page).
pub fn customer_zone(conn: &mut DbConnection, job: &Job) -> Result<String, ApiError> {
    if let Some(t) = job.technician_id.as_deref() {
        return technician_zone(conn, t);
    }
    Ok(orgs::find(conn, &job.contractor_org_id)?.map_or_else(|| "UTC".to_owned(), |o| o.timezone))
}

fn to_customer(
    conn: &mut DbConnection,
    job: &Job,
    message: impl Fn(Language, String) -> Message,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let timezone = customer_zone(conn, job)?;
    let targets = customer_targets(conn, job)?;
    send_to_customer(conn, job, &targets, &message(targets.lang, timezone), due, now)
}

fn send_to_customer(
    conn: &mut DbConnection,
    job: &Job,
    targets: &CustomerTargets,
    message: &Message,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    outbox::insert_all(conn, &customer_rows(job, targets, message, due, now)?)?;
    Ok(())
}

/// One row per channel the customer is reached on.
fn customer_rows(
    job: &Job,
    targets: &CustomerTargets,
    message: &Message,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Row>, ApiError> {
    targets.to.iter().map(|(channel, recipient)| row(*channel, recipient, Some(&job.id), message, due, now)).collect()
}

fn window(job: &Job) -> (DateTime<Utc>, DateTime<Utc>) {
    (utc(job.window_start), utc(job.window_end))
}

/// When the reminder of a visit goes out: noon, local time, the day before;
/// `None` for a visit less than 12 h ahead or when that time has passed.
pub fn reminder_at(window_start: DateTime<Utc>, timezone: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if window_start - now < Duration::hours(REMINDER_MIN_AHEAD_HOURS) {
        return None;
    }
    let zone: chrono_tz::Tz = timezone.parse().ok()?;
    let day_before = window_start.with_timezone(&zone).date_naive().pred_opt()?;
    let (h, m) = REMINDER_LOCAL_TIME;
    let local = day_before.and_time(NaiveTime::from_hms_opt(h, m, 0)?);
    let at = zone.from_local_datetime(&local).earliest()?.with_timezone(&Utc);
    (at > now).then_some(at)
}

fn schedule_reminder(conn: &mut DbConnection, job: &Job, timezone: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    if let Some(at) = reminder_at(utc(job.window_start), timezone, now) {
        let targets = customer_targets(conn, job)?;
        send_to_customer(conn, job, &targets, &reminder(job, targets.lang, timezone), at, now)?;
    }
    Ok(())
}

fn reminder(job: &Job, lang: Language, timezone: &str) -> Message {
    Message::Reminder {
        lang,
        tracking_token: job.tracking_token.clone(),
        window: window(job),
        timezone: timezone.to_owned(),
    }
}

/// The customer now (`message`, given the card's language and the zone) and the reminder the day
/// before, with the zone ([`customer_zone`]) and the card read once for both.
fn to_customer_with_reminder(
    conn: &mut DbConnection,
    job: &Job,
    (targets, timezone): (&CustomerTargets, String),
    message: impl FnOnce(Language, String) -> Message,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut rows = customer_rows(job, targets, &message(targets.lang, timezone.clone()), now, now)?;
    if let Some(at) = reminder_at(utc(job.window_start), &timezone, now) {
        rows.extend(customer_rows(job, targets, &reminder(job, targets.lang, &timezone), at, now)?);
    }
    outbox::insert_all(conn, &rows)?;
    Ok(())
}

/// A booking was taken (`card`: its client card, as the booking just read or wrote it): the confirmation
/// with the tracking link now, the reminder the day before.
pub fn job_booked(
    conn: &mut DbConnection,
    job: &Job,
    card: &customers::Customer,
    timezone: String,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let (tracking_token, window) = (job.tracking_token.clone(), window(job));
    let confirmed = |lang, timezone| Message::BookingConfirmed { lang, tracking_token, window, timezone };
    to_customer_with_reminder(conn, job, (&targets_on_card(job, Some(card)), timezone), confirmed, now)
}

/// A visit got a new window (`job` as it is now): the customer, and a new
/// reminder (the old one is skipped when due: its window no longer matches).
pub fn job_rescheduled(conn: &mut DbConnection, job: &Job, now: DateTime<Utc>) -> Result<(), ApiError> {
    let (tracking_token, window) = (job.tracking_token.clone(), window(job));
    let rescheduled = |lang, timezone| Message::Rescheduled { lang, tracking_token, window, timezone };
    let targets = customer_targets(conn, job)?;
    let timezone = customer_zone(conn, job)?;
    to_customer_with_reminder(conn, job, (&targets, timezone), rescheduled, now)
}

/// A visit on a technician's day moved to another window (`job` as it is now).
pub fn job_moved(conn: &mut DbConnection, technician_id: &str, job: &Job, now: DateTime<Utc>) -> Result<(), ApiError> {
    let timezone = technician_zone(conn, technician_id)?;
    let message = Message::JobMoved { job_id: job.id.clone(), window_start: utc(job.window_start), timezone };
    to_technician(conn, technician_id, &job.id, &message, now)
}

/// A visit was cancelled (`job` as it was before): the customer and the technician.
pub fn job_cancelled(conn: &mut DbConnection, job: &Job, now: DateTime<Utc>) -> Result<(), ApiError> {
    let token = job.tracking_token.clone();
    to_customer(conn, job, |lang, _| Message::Cancelled { lang, tracking_token: token.clone() }, now, now)?;
    if let Some(tech) = job.technician_id.as_deref() {
        job_taken_off(conn, tech, &job.id, now)?;
    }
    Ok(())
}

/// The technician set off (`job` as it is now, re-planned): the customer gets the ETA window.
pub fn on_the_way(conn: &mut DbConnection, job: &Job, now: DateTime<Utc>) -> Result<(), ApiError> {
    let eta = job.eta_start.zip(job.eta_end).map_or_else(|| window(job), |(s, e)| (utc(s), utc(e)));
    let token = job.tracking_token.clone();
    to_customer(
        conn,
        job,
        |lang, timezone| Message::OnTheWay { lang, tracking_token: token.clone(), eta, timezone },
        now,
        now,
    )
}

/// The survey was issued: the customer gets its link.
pub fn survey_issued(
    conn: &mut DbConnection,
    job: &Job,
    survey_token: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let token = survey_token.to_owned();
    to_customer(conn, job, |lang, _| Message::Survey { lang, survey_token: token.clone() }, now, now)
}

/// Why a scheduled row no longer applies when it comes due (checked by the
/// sender just before sending): a reminder whose visit moved or was cancelled,
/// an offer notice for an offer already answered.
pub fn out_of_date(
    conn: &mut DbConnection,
    job_id: Option<&str>,
    message: &Message,
) -> Result<Option<&'static str>, ApiError> {
    use crate::domain::{JobStatus, OfferStatus};
    match message {
        Message::Reminder { window, timezone, .. } => {
            let Some(job_id) = job_id else { return Ok(None) };
            let Some(job) = crate::storage::jobs::find_scoped(conn, job_id, crate::storage::jobs::JobScope::All)?
            else {
                return Ok(Some("the job is gone"));
            };
            let done = [JobStatus::Completed, JobStatus::InReview, JobStatus::Approved, JobStatus::Incomplete];
            Ok(if job.status == JobStatus::Cancelled {
                Some("the visit was cancelled")
            } else if done.contains(&job.status) {
                Some("the visit already took place")
            } else if utc(job.window_start) != window.0 {
                Some("the visit moved")
            } else if customer_zone(conn, &job)? != *timezone {
                Some("replaced by a reminder in the technician's time zone")
            } else {
                None
            })
        }
        Message::OfferExpiring { offer_id, .. } => {
            let offer = diesel::OptionalExtension::optional(crate::storage::offers::of_job_offer(conn, offer_id))?;
            Ok(match offer {
                Some(o) if o.status == OfferStatus::Pending => None,
                _ => Some("the offer was answered"),
            })
        }
        _ => Ok(None),
    }
}
