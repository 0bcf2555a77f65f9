//! The job lifecycle as a phone may drive it.

use serde::{Deserialize, Serialize};

/// Every job status (DESIGN.md, Job lifecycle); the same words as the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Offered,
    Accepted,
    Scheduled,
    EnRoute,
    OnSite,
    Completed,
    InReview,
    Approved,
    Returned,
    Incomplete,
    Unassignable,
    Cancelled,
}

impl Status {
    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// Whether the work report may still change (before completion, not cancelled).
    pub fn report_open(self) -> bool {
        matches!(self, Status::Scheduled | Status::EnRoute | Status::OnSite)
    }
}

/// A status a technician may set from the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    EnRoute,
    OnSite,
    Completed,
    Incomplete,
}

impl TargetStatus {
    /// The job status this target names.
    pub fn status(self) -> Status {
        match self {
            TargetStatus::EnRoute => Status::EnRoute,
            TargetStatus::OnSite => Status::OnSite,
            TargetStatus::Completed => Status::Completed,
            TargetStatus::Incomplete => Status::Incomplete,
        }
    }
}

/// Why a visit could not finish (`job.set_status` to `incomplete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    CustomerAbsent,
    PartMissing,
    SecondVisitNeeded,
}

/// A status change the lifecycle does not allow from the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a technician cannot move a job from {from:?} to {to:?}")]
pub struct TransitionError {
    pub from: Status,
    pub to: TargetStatus,
}

/// Checks a technician's status change: `scheduled → en_route → on_site →
/// completed`, and `on_site → incomplete`. Nothing else; in particular no
/// status is set twice (a second device repeating it is told the current state).
pub fn technician_transition(from: Status, to: TargetStatus) -> Result<(), TransitionError> {
    let ok = matches!(
        (from, to),
        (Status::Scheduled, TargetStatus::EnRoute)
            | (Status::EnRoute, TargetStatus::OnSite)
            | (Status::OnSite, TargetStatus::Completed)
            | (Status::OnSite, TargetStatus::Incomplete)
    );
    if ok { Ok(()) } else { Err(TransitionError { from, to }) }
}
