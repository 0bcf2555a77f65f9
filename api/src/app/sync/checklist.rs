//! Checklist templates per job kind (demo defaults until admins define their own).

use crate::domain::JobKind;

/// The checklist template of a job kind (demo defaults until admins define their own).
pub fn checklist_template(kind: JobKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        JobKind::HomeVisit => &[
            ("power_checked", "Power supply checked"),
            ("fault_reproduced", "Fault reproduced"),
            ("device_works", "Device works after the visit"),
            ("customer_briefed", "Customer briefed"),
        ],
        JobKind::PartsReplacement => &[
            ("old_part_removed", "Old part removed"),
            ("new_part_installed", "New part installed"),
            ("serial_recorded", "Serial number recorded"),
            ("device_works", "Device works after the visit"),
        ],
    }
}
