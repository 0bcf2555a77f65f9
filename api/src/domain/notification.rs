//! What a notification says, as facts (ids, times, tokens), never as text:
//! the outbox stores a [`Message`] as JSON and the sender renders it in the
//! recipient's language when it goes out (`app::notify::texts`). Customers'
//! messages carry no name, address or problem: the tracking link shows the rest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Language;

/// One notification's facts. The tag is the outbox row's `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// Technician's phone: a data-only message waking the app to pull (collapsed per device).
    Sync,
    /// Technician's phone: a new visit (assigned, or back after a reassignment).
    JobNew { job_id: String, window_start: DateTime<Utc>, timezone: String },
    /// Technician's phone: a visit moved to another window.
    JobMoved { job_id: String, window_start: DateTime<Utc>, timezone: String },
    /// Technician's phone: a visit was cancelled or taken off this technician.
    JobCancelled { job_id: String },
    /// Technician's phone: the review returned the work.
    JobReturned { job_id: String },
    /// Dispatchers' phones: a new offer to their organisation.
    OfferNew { job_id: String, offer_id: String, deadline: DateTime<Utc>, timezone: String },
    /// Dispatchers' phones: the offer expires in 10 minutes (skipped when it was answered).
    OfferExpiring { job_id: String, offer_id: String, deadline: DateTime<Utc>, timezone: String },
    /// Customer: the booking is taken, with the tracking link.
    BookingConfirmed {
        lang: Language,
        tracking_token: String,
        window: (DateTime<Utc>, DateTime<Utc>),
        timezone: String,
    },
    /// Customer: the visit is tomorrow (skipped when the window changed or the job was cancelled).
    Reminder { lang: Language, tracking_token: String, window: (DateTime<Utc>, DateTime<Utc>), timezone: String },
    /// Customer: the technician is on the way, with the ETA window.
    OnTheWay { lang: Language, tracking_token: String, eta: (DateTime<Utc>, DateTime<Utc>), timezone: String },
    /// Customer: the visit has a new window.
    Rescheduled { lang: Language, tracking_token: String, window: (DateTime<Utc>, DateTime<Utc>), timezone: String },
    /// Customer: the visit is cancelled.
    Cancelled { lang: Language, tracking_token: String },
    /// Customer: the survey link after approval.
    Survey { lang: Language, survey_token: String },
}

impl Message {
    /// The outbox `kind`: the serde tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Sync => "sync",
            Message::JobNew { .. } => "job_new",
            Message::JobMoved { .. } => "job_moved",
            Message::JobCancelled { .. } => "job_cancelled",
            Message::JobReturned { .. } => "job_returned",
            Message::OfferNew { .. } => "offer_new",
            Message::OfferExpiring { .. } => "offer_expiring",
            Message::BookingConfirmed { .. } => "booking_confirmed",
            Message::Reminder { .. } => "reminder",
            Message::OnTheWay { .. } => "on_the_way",
            Message::Rescheduled { .. } => "rescheduled",
            Message::Cancelled { .. } => "cancelled",
            Message::Survey { .. } => "survey",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_kind_is_the_serde_tag() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let all = [
            Message::Sync,
            Message::JobNew { job_id: "j".into(), window_start: at, timezone: "UTC".into() },
            Message::JobMoved { job_id: "j".into(), window_start: at, timezone: "UTC".into() },
            Message::JobCancelled { job_id: "j".into() },
            Message::JobReturned { job_id: "j".into() },
            Message::OfferNew { job_id: "j".into(), offer_id: "o".into(), deadline: at, timezone: "UTC".into() },
            Message::OfferExpiring { job_id: "j".into(), offer_id: "o".into(), deadline: at, timezone: "UTC".into() },
            Message::BookingConfirmed {
                lang: Language::Ru,
                tracking_token: "t".into(),
                window: (at, at),
                timezone: "UTC".into(),
            },
            Message::Reminder {
                lang: Language::En,
                tracking_token: "t".into(),
                window: (at, at),
                timezone: "UTC".into(),
            },
            Message::OnTheWay { lang: Language::En, tracking_token: "t".into(), eta: (at, at), timezone: "UTC".into() },
            Message::Rescheduled {
                lang: Language::En,
                tracking_token: "t".into(),
                window: (at, at),
                timezone: "UTC".into(),
            },
            Message::Cancelled { lang: Language::Ru, tracking_token: "t".into() },
            Message::Survey { lang: Language::Ru, survey_token: "s".into() },
        ];
        for m in all {
            let v = serde_json::to_value(&m).unwrap_or_default();
            assert_eq!(v["kind"], m.kind());
            let back: Message = serde_json::from_value(v).unwrap_or(Message::Sync);
            assert_eq!(back, m);
        }
    }
}
