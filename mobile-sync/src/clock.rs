//! Clock-offset correction of phone timestamps (DESIGN.md, Time).
//!
//! Each push carries the phone's clock (`sent_at`); the server measures
//! `offset = server_now - sent_at` and moves every phone timestamp of that
//! push by it. Ordering never uses these times (server order does); they feed
//! time on site, arrival SLAs and position ages.

use chrono::{DateTime, Duration, FixedOffset, Utc};

/// The difference between the server's and a phone's clock at one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    offset: Duration,
    server_now: DateTime<Utc>,
}

impl ClockOffset {
    /// Measures the offset; an app that does not send its clock gets none.
    pub fn measure(server_now: DateTime<Utc>, phone_sent_at: Option<DateTime<FixedOffset>>) -> ClockOffset {
        let offset = phone_sent_at.map_or(Duration::zero(), |sent| server_now - sent.with_timezone(&Utc));
        ClockOffset { offset, server_now }
    }

    /// The offset in milliseconds (positive: the phone is behind).
    pub fn millis(&self) -> i64 {
        self.offset.num_milliseconds()
    }

    /// A phone timestamp in server time, never later than the push itself
    /// (a phone cannot have done something after it sent it).
    pub fn correct(&self, phone_time: DateTime<FixedOffset>) -> DateTime<Utc> {
        let corrected = phone_time.with_timezone(&Utc) + self.offset;
        corrected.min(self.server_now)
    }

    /// A corrected phone timestamp, or the push time when the phone sent none.
    pub fn correct_or_now(&self, phone_time: Option<DateTime<FixedOffset>>) -> DateTime<Utc> {
        phone_time.map_or(self.server_now, |t| self.correct(t))
    }
}
