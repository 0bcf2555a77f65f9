//! The job lifecycle: one table of legal status transitions and who may make
//! each. Every status write goes through [`check`] (or [`Transition::stay`]
//! for a change that keeps the status), and storage's status updates take the
//! resulting [`Transition`], so a write the table does not allow does not
//! compile into a query. Storage guards each update in SQL by `from`.
//!
//! The phone's view of statuses is `mobile_sync::lifecycle::Status`; the
//! conversions below are exhaustive `match`es both ways, so a status added on
//! one side is a compile error on the other.

use mobile_sync::lifecycle::{Status, TargetStatus};

use crate::domain::JobStatus;

/// Who moves a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The assigned technician's phone (`job.set_status` mutations).
    Phone,
    /// A dispatcher or an admin (`/v1/jobs/…`, `/v1/requests/…` as dispatcher).
    Dispatcher,
    /// The customer (`/v1/requests/…`).
    Customer,
    /// The vendor's quality reviewer.
    Reviewer,
    /// The system: dispatch after booking, the deadline sweep, completion hand-off.
    Worker,
}

use Actor::{Customer, Dispatcher, Phone, Reviewer, Worker};
use JobStatus::*;

/// One legal move.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub from: JobStatus,
    pub to: JobStatus,
    pub by: &'static [Actor],
}

const fn rule(from: JobStatus, to: JobStatus, by: &'static [Actor]) -> Rule {
    Rule { from, to, by }
}

/// Everyone who may cancel: the customer before the technician is on the
/// way, dispatchers and admins before completion.
const CANCEL_EARLY: &[Actor] = &[Customer, Dispatcher];
const CANCEL_LATE: &[Actor] = &[Dispatcher];

/// The table (DESIGN.md, Job lifecycle). Booking creates a job `new`.
pub const TRANSITIONS: &[Rule] = &[
    // Dispatch: an offer (again after a decline, an expiry or a subcontract), or nobody left.
    rule(New, Offered, &[Worker, Dispatcher]),
    rule(Offered, Offered, &[Worker, Dispatcher]),
    rule(New, Unassignable, &[Worker]),
    rule(Offered, Unassignable, &[Worker]),
    // The vendor's queue: dispatch again (also after a review returned the work with
    // `redispatch`), offer to a chosen organisation, or assign a technician directly.
    rule(Unassignable, Offered, &[Worker, Dispatcher]),
    rule(Unassignable, Unassignable, &[Worker]),
    rule(Unassignable, Scheduled, &[Dispatcher]),
    rule(New, Scheduled, &[Dispatcher]),
    rule(Returned, Offered, &[Worker]),
    rule(Returned, Unassignable, &[Worker]),
    // The offeree answers: with a technician the visit is scheduled.
    rule(Offered, Accepted, &[Dispatcher]),
    rule(Offered, Scheduled, &[Dispatcher]),
    // Reassign (also schedules an accepted job, and a returned or incomplete one again,
    // to the same technician too). A new window for an incomplete job, from the
    // dispatcher or the customer, schedules the next visit with its technician.
    rule(Accepted, Scheduled, &[Dispatcher]),
    rule(Scheduled, Scheduled, &[Dispatcher]),
    // A new window whose local day has no room for the technician (or a deactivated one):
    // the job leaves the technician and is dispatched again (in the reschedule's transaction).
    rule(Scheduled, New, &[Worker]),
    rule(Incomplete, Scheduled, &[Dispatcher, Customer]),
    // The phone drives the visit.
    rule(Scheduled, EnRoute, &[Phone]),
    rule(EnRoute, OnSite, &[Phone]),
    rule(OnSite, Completed, &[Phone]),
    rule(OnSite, Incomplete, &[Phone]),
    // Completion locks the report and hands the job to review.
    rule(Completed, InReview, &[Worker]),
    // Review (`app::review`): a return goes back to the same technician (Worker, in the
    // review's transaction) or, when its window has passed, waits for a reschedule.
    rule(InReview, Approved, &[Reviewer]),
    rule(InReview, Returned, &[Reviewer]),
    rule(Returned, Scheduled, &[Dispatcher, Worker]),
    // Cancelling.
    rule(New, Cancelled, CANCEL_EARLY),
    rule(Offered, Cancelled, CANCEL_EARLY),
    rule(Accepted, Cancelled, CANCEL_EARLY),
    rule(Scheduled, Cancelled, CANCEL_EARLY),
    rule(Unassignable, Cancelled, CANCEL_EARLY),
    rule(Incomplete, Cancelled, CANCEL_EARLY),
    rule(Returned, Cancelled, CANCEL_EARLY),
    rule(EnRoute, Cancelled, CANCEL_LATE),
    rule(OnSite, Cancelled, CANCEL_LATE),
];

/// Whether `by` may move a job from `from` to `to`.
pub fn allowed(from: JobStatus, to: JobStatus, by: Actor) -> bool {
    TRANSITIONS.iter().any(|r| r.from == from && r.to == to && r.by.contains(&by))
}

/// A move the table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{by:?} cannot move a job from {from} to {to}")]
pub struct Illegal {
    pub from: JobStatus,
    pub to: JobStatus,
    pub by: Actor,
}

/// A checked status write: made only by [`check`] or [`Transition::stay`];
/// storage's status updates take one and filter on `from` in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: JobStatus,
    to: JobStatus,
}

impl Transition {
    /// A change that keeps the status (a new window or technician), still
    /// guarded in SQL by the status it was decided on.
    pub fn stay(status: JobStatus) -> Transition {
        Transition { from: status, to: status }
    }

    /// The status the write expects.
    pub fn from(self) -> JobStatus {
        self.from
    }

    /// The status the write sets.
    pub fn to(self) -> JobStatus {
        self.to
    }
}

/// Checks a move against the table.
pub fn check(from: JobStatus, to: JobStatus, by: Actor) -> Result<Transition, Illegal> {
    if allowed(from, to, by) { Ok(Transition { from, to }) } else { Err(Illegal { from, to, by }) }
}

/// Whether the customer may still change the job (cancel or reschedule):
/// exactly where the table lets the customer cancel.
pub fn customer_may_change(status: JobStatus) -> bool {
    allowed(status, Cancelled, Customer)
}

/// The phone's word for a status.
pub fn to_phone(s: JobStatus) -> Status {
    match s {
        New => Status::New,
        Offered => Status::Offered,
        Accepted => Status::Accepted,
        Scheduled => Status::Scheduled,
        EnRoute => Status::EnRoute,
        OnSite => Status::OnSite,
        Completed => Status::Completed,
        InReview => Status::InReview,
        Approved => Status::Approved,
        Returned => Status::Returned,
        Incomplete => Status::Incomplete,
        Unassignable => Status::Unassignable,
        Cancelled => Status::Cancelled,
    }
}

/// The server's word for a phone status.
pub fn from_phone(s: Status) -> JobStatus {
    match s {
        Status::New => New,
        Status::Offered => Offered,
        Status::Accepted => Accepted,
        Status::Scheduled => Scheduled,
        Status::EnRoute => EnRoute,
        Status::OnSite => OnSite,
        Status::Completed => Completed,
        Status::InReview => InReview,
        Status::Approved => Approved,
        Status::Returned => Returned,
        Status::Incomplete => Incomplete,
        Status::Unassignable => Unassignable,
        Status::Cancelled => Cancelled,
    }
}

/// How far ahead of a window's start a technician may set off to a visit on
/// another local day (a visit just after midnight, set off to before it).
pub const SET_OFF_AHEAD_HOURS: i64 = 12;

/// Whether a technician may set off (`en_route`) at `now` to a visit whose
/// window starts at `window_start`: the window starts on the technician's
/// local today (in `zone`), or within [`SET_OFF_AHEAD_HOURS`], or has already
/// started (a late visit). Nobody is on the way to a visit days away; the
/// phone is answered `not_today`.
pub fn may_set_off(
    window_start: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
) -> bool {
    window_start <= now + chrono::Duration::hours(SET_OFF_AHEAD_HOURS)
        || crate::domain::shift::local_date(zone, window_start) == crate::domain::shift::local_date(zone, now)
}

/// The status a phone's `job.set_status` target names.
pub fn target(t: TargetStatus) -> JobStatus {
    from_phone(t.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_the_phones_words() {
        for s in JobStatus::ALL {
            assert_eq!(from_phone(to_phone(*s)), *s);
            let wire = serde_json::to_value(to_phone(*s)).unwrap_or_default();
            assert_eq!(wire.as_str(), Some(s.as_str()));
        }
    }

    #[test]
    fn the_phone_rows_of_the_table_are_what_mobile_sync_allows() {
        let targets = [TargetStatus::EnRoute, TargetStatus::OnSite, TargetStatus::Completed, TargetStatus::Incomplete];
        for from in JobStatus::ALL {
            for t in targets {
                let table = allowed(*from, target(t), Phone);
                let phone = mobile_sync::lifecycle::technician_transition(to_phone(*from), t).is_ok();
                assert_eq!(table, phone, "{from} -> {t:?}");
            }
        }
    }

    #[test]
    fn the_customer_cannot_change_a_job_once_the_technician_is_on_the_way() {
        assert!(customer_may_change(Scheduled));
        assert!(!customer_may_change(EnRoute));
        assert!(!customer_may_change(OnSite));
        assert!(!customer_may_change(Cancelled));
        assert!(allowed(EnRoute, Cancelled, Dispatcher));
        assert!(!allowed(Completed, Cancelled, Dispatcher));
    }

    #[test]
    fn a_technician_sets_off_only_to_a_visit_of_its_local_today_or_the_next_12_hours() {
        let zone = chrono_tz::Asia::Krasnoyarsk; // UTC+7
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap_or_default();
        let now = at("2030-01-10T01:00:00Z"); // 08:00 local
        assert!(may_set_off(at("2030-01-10T15:30:00Z"), now, zone), "22:30 local today, 14.5 h ahead");
        assert!(may_set_off(at("2030-01-09T03:00:00Z"), now, zone), "yesterday's window: late, still allowed");
        assert!(!may_set_off(at("2030-01-10T17:30:00Z"), now, zone), "00:30 tomorrow, 16.5 h ahead");
        assert!(!may_set_off(at("2030-01-13T03:00:00Z"), now, zone), "days away");
        let evening = at("2030-01-10T14:00:00Z"); // 21:00 local
        assert!(may_set_off(at("2030-01-11T01:00:00Z"), evening, zone), "08:00 tomorrow, 11 h ahead");
    }

    #[test]
    fn review_moves_are_in_the_table() {
        assert!(check(InReview, Approved, Reviewer).is_ok());
        assert!(check(InReview, Returned, Reviewer).is_ok());
        assert!(check(Returned, Scheduled, Dispatcher).is_ok());
        assert!(check(InReview, Approved, Dispatcher).is_err());
        assert!(check(Approved, Returned, Reviewer).is_err());
    }

    #[test]
    fn the_vendors_queue_can_offer_assign_or_dispatch_again_but_not_skip_review() {
        assert!(check(Unassignable, Offered, Dispatcher).is_ok());
        assert!(check(Unassignable, Scheduled, Dispatcher).is_ok());
        assert!(check(Unassignable, Offered, Worker).is_ok());
        assert!(check(Returned, Offered, Worker).is_ok());
        assert!(check(Unassignable, Scheduled, Customer).is_err());
        assert!(check(InReview, Scheduled, Dispatcher).is_err());
    }
}
