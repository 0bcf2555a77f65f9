//! Sortie's offline-first sync protocol for technicians' phones: the messages
//! (their serde form *is* the wire format `api` serves), opaque cursors, the
//! mutation catalogue with argument validation, the technician-side job
//! lifecycle, per-device sequence rules, last-writer-wins merging by server
//! order, and clock-offset correction of phone timestamps.
//!
//! A pure library: no sockets, no database, no clock reads. "Now" is always
//! an argument.
//!
//! # Layout
//! - [`protocol`]: request and response bodies of `/v1/devices`, `/v1/sync/pull`, `/v1/sync/push`, and the
//!   views a pull carries (`JobView`, `WorkReport`, `RouteView`).
//! - [`cursor`]: `Cursor`, the server-ordered position of a pull, encoded as an opaque versioned string.
//! - [`mutation`]: `Mutation::parse(name, args)`, every mutation a phone may push, validated.
//! - [`lifecycle`]: `Status` and `technician_transition` (scheduled → en_route → on_site → completed | incomplete).
//! - [`seq`]: `plan_batch`, which mutations of a push are new, which are retries, and gaps.
//! - [`merge`]: `Stamped` and `merge_lww`, per-field last writer wins by server order.
//! - [`clock`]: `ClockOffset`, correcting phone timestamps by the offset measured at each push.
//!
//! # Example
//! ```
//! use mobile_sync::mutation::Mutation;
//! use mobile_sync::lifecycle::{Status, TargetStatus, technician_transition};
//!
//! let m = Mutation::parse(
//!     "job.set_status",
//!     &serde_json::json!({"job_id": "7f1c1c0e-3d0b-4a39-9a51-5d4b3c2a1f00", "status": "en_route"}),
//! )?;
//! let Mutation::SetStatus(s) = m else { unreachable!() };
//! assert_eq!(s.status, TargetStatus::EnRoute);
//! assert!(technician_transition(Status::Scheduled, s.status).is_ok());
//! assert!(technician_transition(Status::Completed, TargetStatus::OnSite).is_err());
//! # Ok::<(), mobile_sync::mutation::MutationError>(())
//! ```

pub mod clock;
pub mod cursor;
pub mod lifecycle;
pub mod merge;
pub mod mutation;
pub mod protocol;
pub mod seq;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod proptests;
