//! Service agreements: minutes per priority.

use crate::domain::{Invalid, Priority};

/// Accept deadline when no agreement applies, minutes.
pub const DEFAULT_ACCEPT_MIN: u32 = 60;

/// When an offer made `now` expires under the agreement in effect's minutes to accept (`None`: no agreement
/// applies, [`DEFAULT_ACCEPT_MIN`]).
pub fn accept_deadline(
    accept_within_min: Option<&PerPriority>,
    priority: Priority,
    now: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    let minutes = accept_within_min.map_or(DEFAULT_ACCEPT_MIN, |m| m.get(priority));
    now + chrono::Duration::minutes(i64::from(minutes))
}

/// Minutes per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerPriority {
    pub low: u32,
    pub normal: u32,
    pub high: u32,
    pub urgent: u32,
}

impl PerPriority {
    /// Minutes for one priority.
    pub fn get(&self, p: Priority) -> u32 {
        match p {
            Priority::Low => self.low,
            Priority::Normal => self.normal,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }
}

impl PerPriority {
    /// Every priority between one minute and a year; errors name `field.<priority>`.
    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        for p in Priority::ALL {
            if !(1..=525_600).contains(&self.get(*p)) {
                return Err(Invalid::new(format!("{field}.{p}"), "must be between 1 and 525600 minutes"));
            }
        }
        Ok(())
    }
}
