//! Service-agreement outcomes: the one place that says whether an
//! organisation met what its agreement promised for a job.
//!
//! An agreement promises three things per priority (DESIGN.md, Decisions):
//! accept an offer within `accept_within_min`, have a technician on site
//! within `arrive_within_min` of the booking (or of the window start when the
//! customer's window opens later), and fix the problem the first time. Each
//! outcome is `met`, `missed`, or `open` while it can still go either way;
//! `None` where the promise does not apply (the job was cancelled first, or
//! the organisation was never asked to accept).
//!
//! Pure functions of plain data: the caller loads offers, the job and the
//! effective agreement; the clock is an argument.

use chrono::{DateTime, Duration, Utc};

/// Whether a promise was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaOutcome {
    /// Kept.
    Met,
    /// Broken; it cannot become `met` any more.
    Missed,
    /// Not decided yet: the deadline has not passed and nothing happened.
    Open,
}

impl SlaOutcome {
    /// `met` when `done_at` is at or before `due`; `missed` after it, or when
    /// nothing happened and `due` has passed; `open` otherwise.
    fn by_deadline(done_at: Option<DateTime<Utc>>, due: DateTime<Utc>, now: DateTime<Utc>) -> SlaOutcome {
        match done_at {
            Some(t) if t <= due => SlaOutcome::Met,
            Some(_) => SlaOutcome::Missed,
            None if now > due => SlaOutcome::Missed,
            None => SlaOutcome::Open,
        }
    }
}

/// How an offer to an organisation ended, as far as its accept promise goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferAnswer {
    /// Not answered yet.
    Pending,
    /// Accepted, or passed down to a descendant (subcontracting is an answer
    /// that keeps the job moving).
    Taken { at: DateTime<Utc> },
    /// Declined: the organisation did not take the job it was offered.
    Declined,
    /// The deadline passed without an answer.
    Expired,
    /// The job was cancelled (or otherwise withdrawn) while the offer was open.
    Withdrawn,
}

/// The accept promise for one offer: taken by its deadline → `met`; declined
/// or expired → `missed`; pending → `open` until the deadline, then `missed`;
/// withdrawn before an answer → `None` (nobody can be blamed).
pub fn accept_outcome(answer: OfferAnswer, deadline: DateTime<Utc>, now: DateTime<Utc>) -> Option<SlaOutcome> {
    match answer {
        OfferAnswer::Taken { at } => Some(SlaOutcome::by_deadline(Some(at), deadline, now)),
        OfferAnswer::Declined | OfferAnswer::Expired => Some(SlaOutcome::Missed),
        OfferAnswer::Pending => Some(SlaOutcome::by_deadline(None, deadline, now)),
        OfferAnswer::Withdrawn => None,
    }
}

/// When a technician must be on site: `arrive_within_min` after the booking,
/// or after the window start when the customer asked for a later window.
pub fn arrive_due(booked_at: DateTime<Utc>, window_start: DateTime<Utc>, arrive_within_min: u32) -> DateTime<Utc> {
    booked_at.max(window_start) + Duration::minutes(i64::from(arrive_within_min))
}

/// The arrive promise: the first arrival on site against [`arrive_due`].
/// A job cancelled before anyone arrived → `None`.
pub fn arrive_outcome(
    first_on_site_at: Option<DateTime<Utc>>,
    due: DateTime<Utc>,
    cancelled: bool,
    now: DateTime<Utc>,
) -> Option<SlaOutcome> {
    if first_on_site_at.is_none() && cancelled {
        return None;
    }
    Some(SlaOutcome::by_deadline(first_on_site_at, due, now))
}

/// What happened to a job so far, for the first-time-fix promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixHistory {
    /// The vendor approved the work.
    pub approved: bool,
    /// The job was cancelled.
    pub cancelled: bool,
    /// Reviews that returned the work for rework.
    pub returns: u32,
    /// Visits that ended `incomplete`.
    pub incomplete_visits: u32,
}

impl FixHistory {
    /// Whether the problem was fixed at the first visit (approved, never
    /// returned, no incomplete visit).
    pub fn fixed_first_time(&self) -> bool {
        self.approved && self.returns == 0 && self.incomplete_visits == 0
    }
}

/// The first-time-fix promise: any return or incomplete visit → `missed` at
/// once; approved without either → `met`; cancelled before → `None`;
/// otherwise `open`.
pub fn first_time_fix_outcome(history: FixHistory) -> Option<SlaOutcome> {
    if history.returns > 0 || history.incomplete_visits > 0 {
        Some(SlaOutcome::Missed)
    } else if history.approved {
        Some(SlaOutcome::Met)
    } else if history.cancelled {
        None
    } else {
        Some(SlaOutcome::Open)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0).single().unwrap_or_default()
    }

    #[test]
    fn an_offer_taken_by_its_deadline_meets_the_accept_promise_and_one_taken_late_misses_it() {
        let deadline = t(10, 0);
        assert_eq!(accept_outcome(OfferAnswer::Taken { at: t(9, 59) }, deadline, t(12, 0)), Some(SlaOutcome::Met));
        assert_eq!(accept_outcome(OfferAnswer::Taken { at: t(10, 1) }, deadline, t(12, 0)), Some(SlaOutcome::Missed));
    }

    #[test]
    fn a_pending_offer_is_open_until_its_deadline_then_missed() {
        let deadline = t(10, 0);
        assert_eq!(accept_outcome(OfferAnswer::Pending, deadline, t(9, 0)), Some(SlaOutcome::Open));
        assert_eq!(accept_outcome(OfferAnswer::Pending, deadline, t(10, 1)), Some(SlaOutcome::Missed));
    }

    #[test]
    fn declining_or_letting_an_offer_expire_misses_the_promise_and_a_withdrawn_offer_does_not_count() {
        let deadline = t(10, 0);
        assert_eq!(accept_outcome(OfferAnswer::Declined, deadline, t(9, 0)), Some(SlaOutcome::Missed));
        assert_eq!(accept_outcome(OfferAnswer::Expired, deadline, t(11, 0)), Some(SlaOutcome::Missed));
        assert_eq!(accept_outcome(OfferAnswer::Withdrawn, deadline, t(9, 0)), None);
    }

    #[test]
    fn the_arrive_clock_starts_at_the_window_when_the_customer_asked_for_a_later_one() {
        assert_eq!(arrive_due(t(8, 0), t(14, 0), 120), t(16, 0));
        assert_eq!(arrive_due(t(8, 0), t(7, 0), 120), t(10, 0));
    }

    #[test]
    fn arriving_after_the_due_time_misses_and_a_cancelled_job_without_a_visit_does_not_count() {
        let due = t(12, 0);
        assert_eq!(arrive_outcome(Some(t(11, 0)), due, false, t(13, 0)), Some(SlaOutcome::Met));
        assert_eq!(arrive_outcome(Some(t(12, 30)), due, false, t(13, 0)), Some(SlaOutcome::Missed));
        assert_eq!(arrive_outcome(None, due, false, t(11, 0)), Some(SlaOutcome::Open));
        assert_eq!(arrive_outcome(None, due, false, t(12, 1)), Some(SlaOutcome::Missed));
        assert_eq!(arrive_outcome(None, due, true, t(13, 0)), None);
    }

    #[test]
    fn a_return_or_an_incomplete_visit_misses_first_time_fix_even_after_approval() {
        let clean = FixHistory { approved: true, ..FixHistory::default() };
        assert_eq!(first_time_fix_outcome(clean), Some(SlaOutcome::Met));
        assert!(clean.fixed_first_time());
        let returned = FixHistory { approved: true, returns: 1, ..FixHistory::default() };
        assert_eq!(first_time_fix_outcome(returned), Some(SlaOutcome::Missed));
        assert!(!returned.fixed_first_time());
        let second_visit = FixHistory { incomplete_visits: 1, ..FixHistory::default() };
        assert_eq!(first_time_fix_outcome(second_visit), Some(SlaOutcome::Missed));
        assert_eq!(first_time_fix_outcome(FixHistory::default()), Some(SlaOutcome::Open));
        assert_eq!(first_time_fix_outcome(FixHistory { cancelled: true, ..FixHistory::default() }), None);
    }
}
