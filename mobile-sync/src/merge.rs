//! Per-field last writer wins, by server order.
//!
//! Two devices editing the same field of a job (a checklist answer, the
//! signature) do not compare their clocks: whichever edit the server applied
//! later wins. The server applies a job's mutations one at a time under the
//! job's row lock, so its order is the `order` stamp here; a phone overlays
//! its own unacknowledged edits on the pulled value until the server answers.

use serde::{Deserialize, Serialize};

/// A field value with the server order it was written in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub value: T,
    /// Server order of the write (greater is later).
    pub order: u64,
}

/// The winner of two writes of one field: the later by server order; on a
/// tie (the same write seen twice) the current one stays.
pub fn merge_lww<T>(current: Option<Stamped<T>>, incoming: Stamped<T>) -> Stamped<T> {
    match current {
        Some(c) if c.order >= incoming.order => c,
        _ => incoming,
    }
}
