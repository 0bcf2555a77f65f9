//! The outbox worker of every replica and its channels: FCM HTTP v1 for
//! phones ([`fcm`]), SMTP for e-mail ([`mail`]), an HTTP SMS gateway ([`sms`]).
//!
//! One pass: claim due rows in a short transaction (`storage::outbox::claim_due`:
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer; the claim
//! counts the attempt and leases the row), read what each needs (the device's
//! token, whether a scheduled message is out of date), send them concurrently,
//! and mark each on its own. A replica that dies between sending and marking
//! leaves the row leased: it comes due again when the lease ends and is sent
//! once more, never zero times. A channel that is off marks its rows `skipped`
//! with the reason; a failing channel never holds up the others' rows.

pub mod fcm;
pub mod mail;
pub mod sms;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;

use crate::app::notify::{self, texts};
use crate::app_error::ApiError;
use crate::config::NotifyConfig;
use crate::db::DbConnection;
use crate::domain::Channel;
use crate::domain::notification::Message;
use crate::state::AppState;
use crate::storage::outbox::{self as store, Outcome, Row};
use crate::storage::{db_time, devices, from_json};

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Worth another attempt (429, 5xx, network); `after` is the server's `Retry-After`.
    Retry { error: String, after: Option<Duration> },
    /// Will not work however often it is tried.
    Fail(String),
    /// Push only: the device token is dead; forget it.
    DropToken(String),
}

/// The channels this replica can send on; `None` is off.
pub struct Channels {
    pub push: Option<fcm::Fcm>,
    pub email: Option<mail::Mailer>,
    pub sms: Option<Box<dyn sms::SmsGateway>>,
}

impl Channels {
    /// Builds the channels the configuration names; a bad key file or URL is an error naming its variable.
    pub fn from_config(config: &NotifyConfig) -> anyhow::Result<Channels> {
        let push = match &config.fcm_credentials {
            Some(path) => Some(fcm::Fcm::from_key_file(path, &config.fcm_base_url)?),
            None => None,
        };
        let email = match (&config.smtp_url, &config.mail_from) {
            (Some(url), Some(from)) => Some(mail::Mailer::new(url, from)?),
            (Some(_), None) => anyhow::bail!("SORTIE_MAIL_FROM: required with SORTIE_SMTP_URL"),
            _ => None,
        };
        let sms = match &config.sms_url {
            Some(url) => Some(Box::new(sms::HttpSms::new(url, config.sms_token.clone())?) as Box<dyn sms::SmsGateway>),
            None => None,
        };
        Ok(Channels { push, email, sms })
    }

    /// Every channel off (the demo, tests that only look at rows).
    pub fn off() -> Channels {
        Channels { push: None, email: None, sms: None }
    }

    /// Why a channel is off, or `None` when it is on.
    pub fn off_reason(&self, channel: Channel) -> Option<&'static str> {
        match channel {
            Channel::Push if self.push.is_none() => Some("push is off: SORTIE_FCM_CREDENTIALS is not set"),
            Channel::Email if self.email.is_none() => Some("e-mail is off: SORTIE_SMTP_URL is not set"),
            Channel::Sms if self.sms.is_none() => Some("SMS is off: SORTIE_SMS_URL is not set"),
            _ => None,
        }
    }
}

/// What to do with a claimed row.
enum Action {
    Skip(String),
    Push { device: String, push: fcm::Push },
    Email { to: String, rendered: texts::Rendered },
    Sms { to: String, text: String },
}

fn prepare(conn: &mut DbConnection, channels: &Channels, base_url: &str, row: &Row) -> Result<Action, ApiError> {
    if let Some(reason) = channels.off_reason(row.channel) {
        return Ok(Action::Skip(reason.to_owned()));
    }
    let Ok(message) = from_json::<Message>(&row.payload) else {
        return Ok(Action::Skip(format!("unreadable payload of kind {}", row.kind)));
    };
    if let Some(reason) = notify::out_of_date(conn, row.job_id.as_deref(), &message)? {
        return Ok(Action::Skip(reason.to_owned()));
    }
    let rendered = texts::render(&message, base_url);
    Ok(match row.channel {
        Channel::Push => {
            let Some(token) = devices::push_token(conn, &row.recipient)? else {
                return Ok(Action::Skip("the device has no push token (signed out, moved or unregistered)".into()));
            };
            let mut data = vec![("kind".to_owned(), row.kind.clone()), ("outbox_id".to_owned(), row.id.clone())];
            if let Some(job) = &row.job_id {
                data.push(("job_id".to_owned(), job.clone()));
            }
            let notification = (message != Message::Sync).then(|| (rendered.title.clone(), rendered.body.clone()));
            let push = fcm::Push { token, data, notification, collapse_key: row.collapse_key.clone() };
            Action::Push { device: row.recipient.clone(), push }
        }
        Channel::Email => Action::Email { to: row.recipient.clone(), rendered },
        Channel::Sms => Action::Sms { to: row.recipient.clone(), text: rendered.sms() },
    })
}

/// The delay before attempt `attempts + 1`: `backoff × 2^(attempts-1)`, at most an hour, with jitter
/// (50–100 %), and never sooner than the server's `Retry-After`.
pub fn retry_delay(backoff: Duration, attempts: i32, retry_after: Option<Duration>) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let full = backoff.saturating_mul(2u32.saturating_pow(exp)).min(Duration::from_secs(3600));
    let jittered = full.mul_f64(rand::random_range(0.5..=1.0));
    jittered.max(retry_after.unwrap_or_default())
}

fn outcome_of(
    result: Result<(), SendError>,
    row: &Row,
    config: &NotifyConfig,
    now: DateTime<Utc>,
) -> (Outcome, &'static str) {
    match result {
        Ok(()) => (Outcome::Sent, "sent"),
        Err(SendError::Retry { error, after }) if row.attempts < config.max_attempts => {
            let at =
                now + chrono::Duration::from_std(retry_delay(config.backoff, row.attempts, after)).unwrap_or_default();
            (Outcome::Retry { at: db_time(at), error }, "retried")
        }
        Err(SendError::Retry { error, .. }) => {
            (Outcome::Failed(format!("{error} (gave up after {} attempts)", row.attempts)), "failed")
        }
        Err(SendError::Fail(error)) => (Outcome::Failed(error), "failed"),
        Err(SendError::DropToken(error)) => {
            (Outcome::Skipped(format!("{error}; the device's token was dropped")), "skipped")
        }
    }
}

async fn deliver(channels: &Channels, action: &Action) -> Result<(), SendError> {
    match action {
        Action::Skip(_) => Ok(()),
        Action::Push { push, .. } => match &channels.push {
            Some(fcm) => fcm.send(push).await,
            None => Err(SendError::Fail("push is off".into())),
        },
        Action::Email { to, rendered } => match &channels.email {
            Some(mailer) => mailer.send(to, rendered).await,
            None => Err(SendError::Fail("e-mail is off".into())),
        },
        Action::Sms { to, text } => match &channels.sms {
            Some(gateway) => gateway.send(to, text).await,
            None => Err(SendError::Fail("SMS is off".into())),
        },
    }
}

/// One pass of the outbox worker: claims up to a batch of due rows, sends
/// them (at most `concurrency` at once) and marks each. Returns how many rows it claimed.
pub async fn pass(state: &AppState) -> Result<usize, ApiError> {
    let config = state.config.notify.clone();
    let now = state.now();
    let lease_until = now + chrono::Duration::from_std(config.lease).unwrap_or_default();
    let batch = config.batch;
    let rows = state.db.write(move |c| Ok(store::claim_due(c, db_time(now), db_time(lease_until), batch)?)).await?;
    let claimed = rows.len();
    record_lag(state).await;
    if rows.is_empty() {
        return Ok(0);
    }
    let channels = state.channels.clone();
    let base_url = config.public_url.clone();
    let prepared = state
        .db
        .run(move |c| {
            rows.into_iter()
                .map(|row| {
                    let action = prepare(c, &channels, &base_url, &row)?;
                    Ok((row, action))
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    futures_util::stream::iter(prepared)
        .for_each_concurrent(config.concurrency, |(row, action)| {
            let state = state.clone();
            let config = config.clone();
            async move {
                let result = deliver(&state.channels, &action).await;
                let now = state.now();
                let (outcome, label) = match (&action, result) {
                    (Action::Skip(reason), _) => (Outcome::Skipped(reason.clone()), "skipped"),
                    (_, result) => outcome_of(result, &row, &config, now),
                };
                let drop = match (&action, &outcome) {
                    (Action::Push { device, push }, Outcome::Skipped(_)) => Some((device.clone(), push.token.clone())),
                    _ => None,
                };
                metrics::counter!("sortie_notifications_total", "channel" => row.channel.as_str(), "outcome" => label)
                    .increment(1);
                if label == "failed" {
                    // The reason stays in the row (`GET /v1/outbox`), not in the log: a mail server's or
                    // gateway's answer may quote the recipient's address or number.
                    tracing::warn!(outbox.id = %row.id, channel = %row.channel, kind = %row.kind,
                        "Notification {} failed; its reason is in GET /v1/outbox", row.id);
                }
                let (id, attempt) = (row.id.clone(), row.attempts);
                let marked = state
                    .db
                    .write(move |c| {
                        if let Some((device, token)) = &drop
                            && devices::drop_token(c, device, token)?
                        {
                            metrics::counter!("sortie_notification_tokens_dropped_total", "channel" => "push")
                                .increment(1);
                        }
                        Ok(store::mark(c, &id, attempt, &outcome, db_time(now))?)
                    })
                    .await;
                match marked {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(outbox.id = %row.id, "Outbox row {} moved on while it was sent", row.id)
                    }
                    Err(e) => tracing::warn!(outbox.id = %row.id, error = %e, "Failed to mark outbox row {}", row.id),
                }
            }
        })
        .await;
    Ok(claimed)
}

/// Deletes `sent` and `skipped` rows older than the retention (`SORTIE_OUTBOX_KEEP_DAYS`).
pub async fn purge_once(state: &AppState) -> Result<usize, ApiError> {
    let before = state.now() - chrono::Duration::from_std(state.config.notify.keep).unwrap_or_default();
    state.db.write(move |c| Ok(store::purge(c, db_time(before))?)).await
}

/// Sets `sortie_outbox_lag_seconds`: the age of the oldest due row (0 when none).
async fn record_lag(state: &AppState) {
    let now = state.now();
    if let Ok(oldest) = state.db.run(move |c| Ok(store::oldest_due(c, db_time(now))?)).await {
        let lag = oldest.map_or(0.0, |t| (now - t.and_utc()).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!("sortie_outbox_lag_seconds").set(lag);
    }
}

/// The outbox worker: passes every `poll`, at once again while passes come back full.
pub fn spawn(state: AppState, poll: Duration) -> tokio::task::JoinHandle<()> {
    let off: Vec<&str> = [Channel::Push, Channel::Email, Channel::Sms]
        .into_iter()
        .filter_map(|c| state.channels.off_reason(c))
        .collect();
    if off.is_empty() {
        tracing::info!("Notifications: push, e-mail and SMS are on");
    } else {
        tracing::info!("Notifications: {} (their rows are kept as `skipped`)", off.join("; "));
    }
    tokio::spawn(async move {
        let batch = usize::try_from(state.config.notify.batch).unwrap_or(100);
        let mut next_purge = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_purge {
                next_purge += Duration::from_secs(3600);
                match purge_once(&state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "Purged {n} old sent or skipped notification(s)"),
                    Err(e) => tracing::warn!(error = %e, "Outbox purge failed"),
                }
            }
            match pass(&state).await {
                Ok(n) if n >= batch => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "Outbox pass failed"),
            }
            tokio::time::sleep(poll).await;
        }
    })
}

/// Shared handle for `AppState`.
pub type SharedChannels = Arc<Channels>;

#[cfg(test)]
mod tests {
    use super::retry_delay;
    use std::time::Duration;

    #[test]
    fn retries_back_off_exponentially_with_jitter_capped_at_an_hour_and_honour_retry_after() {
        let base = Duration::from_secs(5);
        for attempt in 1..=12 {
            let full = (base * 2u32.pow(u32::try_from(attempt - 1).unwrap_or(0))).min(Duration::from_secs(3600));
            for _ in 0..50 {
                let d = retry_delay(base, attempt, None);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} not in [{:?}, {full:?}]", full / 2);
            }
        }
        // The sum of the default 11 retries keeps retrying for over an hour.
        let least: Duration = (1..12).map(|a| (base * 2u32.pow(a - 1)).min(Duration::from_secs(3600)) / 2).sum();
        assert!(least > Duration::from_secs(3600), "{least:?}");
        assert_eq!(retry_delay(base, 1, Some(Duration::from_secs(120))), Duration::from_secs(120));
    }
}
