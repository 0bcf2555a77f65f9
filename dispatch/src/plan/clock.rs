//! The clock the planner measures its time limit with, injected so tests can drive it.

use std::time::{Duration, Instant};

/// Time elapsed since some fixed origin; the planner only compares two readings.
pub trait Clock {
    /// Time since this clock's origin.
    fn elapsed(&self) -> Duration;
}

/// The real monotonic clock, from its creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        MonotonicClock { origin: Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl<F: Fn() -> Duration> Clock for F {
    fn elapsed(&self) -> Duration {
        self()
    }
}
