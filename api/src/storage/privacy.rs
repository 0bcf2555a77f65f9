//! The queries behind a person's data export and erasure (issue #11): what
//! is held about one client card, and the updates that anonymise it. Every
//! function runs in the caller's transaction; erasure is a sequence of plain
//! UPDATEs and DELETEs filtered on the card's jobs and logins, the same SQL
//! on both backends.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{
    customer_addresses, customers, idempotency_keys, job_events, jobs, login_failures, outbox, photo_blobs,
    refresh_tokens, report_notes, report_photos, report_signatures, surveys, sync_devices, users, web_sessions,
};
use crate::domain::{Channel, EventType, OutboxStatus};
use crate::storage::jobs::Job;
use crate::storage::outbox::Row;
use crate::storage::quality::Survey;
use crate::storage::users::User;

/// What replaces an erased name, address or free text.
pub const ERASED: &str = "[erased]";

/// The logins linked to a card.
pub fn logins_of(conn: &mut DbConnection, customer_id: &str) -> QueryResult<Vec<User>> {
    users::table.filter(users::customer_id.eq(customer_id)).order(users::created_at.asc()).load(conn)
}

/// A page of a card's jobs, oldest first (keyset `(created_at, id)` after the cursor).
pub fn jobs_page(
    conn: &mut DbConnection,
    customer_id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<Job>> {
    let mut q = jobs::table.filter(jobs::customer_id.eq(customer_id)).into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(jobs::created_at.gt(at).or(jobs::created_at.eq(at).and(jobs::id.gt(id))));
    }
    q.order((jobs::created_at.asc(), jobs::id.asc())).limit(limit).load(conn)
}

/// The ids of all of a card's jobs.
pub fn job_ids_of(conn: &mut DbConnection, customer_id: &str) -> QueryResult<Vec<String>> {
    jobs::table.filter(jobs::customer_id.eq(customer_id)).select(jobs::id).load(conn)
}

/// The surveys of these jobs.
pub fn surveys_of(conn: &mut DbConnection, job_ids: &[String]) -> QueryResult<Vec<Survey>> {
    surveys::table.filter(surveys::job_id.eq_any(job_ids)).load(conn)
}

/// Messages addressed to the person: e-mail and SMS about their jobs, anything sent to one of their
/// contacts, and pushes to their logins' devices; oldest first.
pub fn outbox_of(
    conn: &mut DbConnection,
    job_ids: &[String],
    recipients: &[String],
    user_ids: &[String],
) -> QueryResult<Vec<Row>> {
    let devices = devices_of(conn, user_ids)?;
    outbox_filter(job_ids, recipients, &devices).order((outbox::created_at.asc(), outbox::id.asc())).load(conn)
}

type BoxedOutbox<'a> = outbox::BoxedQuery<'a, crate::db::MultiBackend>;

fn devices_of(conn: &mut DbConnection, user_ids: &[String]) -> QueryResult<Vec<String>> {
    sync_devices::table.filter(sync_devices::user_id.eq_any(user_ids)).select(sync_devices::id).load(conn)
}

fn outbox_filter<'a>(job_ids: &'a [String], recipients: &'a [String], devices: &'a [String]) -> BoxedOutbox<'a> {
    outbox::table
        .filter(
            outbox::job_id
                .eq_any(job_ids)
                .and(outbox::channel.ne(Channel::Push))
                .or(outbox::recipient.eq_any(recipients))
                .or(outbox::channel.eq(Channel::Push).and(outbox::recipient.eq_any(devices))),
        )
        .into_boxed()
}

/// Anonymises the card unless it was erased already; `false` when it was (a second erase is a no-op).
/// The filter on `erased_at` makes a concurrent second erase wait for the first and then find nothing.
pub fn erase_card(conn: &mut DbConnection, customer_id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(customers::table.find(customer_id).filter(customers::erased_at.is_null()))
        .set((
            customers::name.eq(ERASED),
            customers::phone.eq(None::<String>),
            customers::email.eq(None::<String>),
            customers::preferred_address_form.eq(None::<String>),
            customers::notify_opt_out.eq(true),
            customers::erased_at.eq(now),
            customers::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 1 {
        diesel::delete(customer_addresses::table.filter(customer_addresses::customer_id.eq(customer_id)))
            .execute(conn)?;
    }
    Ok(n == 1)
}

/// Anonymises one job: contact, address, problem; the location coarsened to `lat`/`lon`; a new
/// tracking token, so an old link finds nothing.
pub fn erase_job(
    conn: &mut DbConnection,
    job_id: &str,
    lat: f64,
    lon: f64,
    tracking_token: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(jobs::table.find(job_id))
        .set((
            jobs::contact_name.eq(ERASED),
            jobs::contact_phone.eq(ERASED),
            jobs::contact_email.eq(None::<String>),
            jobs::address.eq(ERASED),
            jobs::problem.eq(ERASED),
            jobs::lat.eq(lat),
            jobs::lon.eq(lon),
            jobs::tracking_token.eq(tracking_token),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Replaces free text of these jobs: work-report notes, the signer's name, survey comments, and the
/// reasons given when cancelling.
pub fn erase_job_texts(conn: &mut DbConnection, job_ids: &[String]) -> QueryResult<()> {
    diesel::update(report_notes::table.filter(report_notes::job_id.eq_any(job_ids)))
        .set(report_notes::text.eq(ERASED))
        .execute(conn)?;
    diesel::update(report_signatures::table.filter(report_signatures::job_id.eq_any(job_ids)))
        .set(report_signatures::signer_name.eq(ERASED))
        .execute(conn)?;
    diesel::update(surveys::table.filter(surveys::job_id.eq_any(job_ids)))
        .set(surveys::comment.eq(None::<String>))
        .execute(conn)?;
    let cancelled: Vec<(i64, String)> = job_events::table
        .filter(job_events::job_id.eq_any(job_ids))
        .filter(job_events::event_type.eq(EventType::Cancelled))
        .select((job_events::id, job_events::data))
        .load(conn)?;
    for (id, data) in cancelled {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&data) else { continue };
        if let Some(reason) = value.get_mut("reason").filter(|r| r.is_string()) {
            *reason = serde_json::Value::String(ERASED.into());
            diesel::update(job_events::table.find(id)).set(job_events::data.eq(value.to_string())).execute(conn)?;
        }
    }
    Ok(())
}

/// Deletes the photo and signature images of these jobs that no other job uses; returns how many.
/// The report keeps each photo's row (count and times), shown as not uploaded.
pub fn erase_images(conn: &mut DbConnection, job_ids: &[String]) -> QueryResult<usize> {
    let mut shas: Vec<String> =
        report_photos::table.filter(report_photos::job_id.eq_any(job_ids)).select(report_photos::sha256).load(conn)?;
    shas.extend(
        report_signatures::table
            .filter(report_signatures::job_id.eq_any(job_ids))
            .select(report_signatures::image_sha256)
            .load::<String>(conn)?,
    );
    let shared_photos: Vec<String> = report_photos::table
        .filter(report_photos::sha256.eq_any(&shas))
        .filter(report_photos::job_id.ne_all(job_ids))
        .select(report_photos::sha256)
        .load(conn)?;
    let shared_signatures: Vec<String> = report_signatures::table
        .filter(report_signatures::image_sha256.eq_any(&shas))
        .filter(report_signatures::job_id.ne_all(job_ids))
        .select(report_signatures::image_sha256)
        .load(conn)?;
    shas.retain(|s| !shared_photos.contains(s) && !shared_signatures.contains(s));
    diesel::delete(photo_blobs::table.filter(photo_blobs::sha256.eq_any(&shas))).execute(conn)
}

/// Messages to the person: pending and failed ones are skipped (never sent, never retried), and every
/// one loses its recipient and text. Returns how many rows were scrubbed.
pub fn erase_outbox(
    conn: &mut DbConnection,
    job_ids: &[String],
    recipients: &[String],
    user_ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let devices = devices_of(conn, user_ids)?;
    let ids: Vec<String> = outbox_filter(job_ids, recipients, &devices).select(outbox::id).load(conn)?;
    diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(&ids))
            .filter(outbox::status.eq_any([OutboxStatus::Pending, OutboxStatus::Failed])),
    )
    .set((outbox::status.eq(OutboxStatus::Skipped), outbox::last_error.eq("recipient erased on request")))
    .execute(conn)?;
    diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
        .set((outbox::recipient.eq(ERASED), outbox::payload.eq("{}"), outbox::updated_at.eq(now)))
        .execute(conn)
}

/// Forgets idempotency keys of these jobs and logins (their request hashes are derived from the
/// person's booking bodies).
pub fn erase_idempotency(conn: &mut DbConnection, job_ids: &[String], user_ids: &[String]) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::job_id.eq_any(job_ids).or(idempotency_keys::user_id.eq_any(user_ids))),
    )
    .execute(conn)
}

/// Deactivates a login for good: e-mail replaced by one that cannot receive mail, an unusable password
/// hash, no name; its refresh tokens revoked, web sessions ended, push tokens and failed-login counter
/// forgotten.
pub fn erase_login(conn: &mut DbConnection, user: &User, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(&user.id))
        .set((
            users::email.eq(format!("erased-{}@erased.invalid", user.id)),
            // Not a PHC string: no password ever verifies against it.
            users::password_hash.eq("!erased"),
            users::name.eq(None::<String>),
            users::active.eq(false),
            users::password_changed_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(
        refresh_tokens::table.filter(refresh_tokens::user_id.eq(&user.id)).filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    diesel::delete(web_sessions::table.filter(web_sessions::user_id.eq(&user.id))).execute(conn)?;
    diesel::update(sync_devices::table.filter(sync_devices::user_id.eq(&user.id)))
        .set(sync_devices::push_token.eq(None::<String>))
        .execute(conn)?;
    diesel::delete(login_failures::table.filter(login_failures::email.eq(user.email.to_lowercase()))).execute(conn)?;
    Ok(())
}
