//! Per-replica request limits: a fixed window per key (user or client
//! address) kept in this process. Replicas behind a load balancer each count
//! their own share, so N replicas allow up to N times the limit: a documented
//! approximation for limits against overload. The limit that protects
//! accounts (failed logins per account) is kept in the database instead
//! (`storage::login_failures`), shared by every replica.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::app_error::ApiError;

/// At most `limit` hits per key in each `period` (0: no limit).
pub struct Window {
    limit: u32,
    period: Duration,
    what: &'static str,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

impl Window {
    /// A limit of `limit` per `period`; `what` names it in the 429's message.
    pub fn new(limit: u32, period: Duration, what: &'static str) -> Window {
        Window { limit, period, what, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts a hit; 429 with `Retry-After` once the key is over the limit.
    pub fn hit(&self, key: &str) -> Result<(), ApiError> {
        self.check_and(key, true)
    }

    /// 429 if the key is already at the limit (counts nothing).
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.check_and(key, false)
    }

    /// Counts a hit without refusing (e.g. a failed login, refused on the next try).
    pub fn record(&self, key: &str) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counts.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.period {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    fn check_and(&self, key: &str, count: bool) -> Result<(), ApiError> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() >= SWEEP_AT {
            let period = self.period;
            counts.retain(|_, (start, _)| now.duration_since(*start) < period);
        }
        let entry = counts.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.period {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = self.period.saturating_sub(now.duration_since(entry.0));
            metrics::counter!("sortie_rate_limited_total", "limit" => self.what).increment(1);
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "too many {} (at most {} in {} s); retry later",
                    self.what,
                    self.limit,
                    self.period.as_secs()
                ),
                retry_after_secs: left.as_secs().max(1),
            });
        }
        if count {
            entry.1 += 1;
        }
        Ok(())
    }
}

/// The replica's limits, shared by every handler.
pub struct Limiters {
    pub login_per_address: Window,
    pub bookings: Window,
    pub sync: Window,
}

impl Limiters {
    pub fn new(limits: &crate::config::Limits) -> Limiters {
        Limiters {
            login_per_address: Window::new(
                limits.login_failures_per_address,
                limits.login_window,
                "failed sign-ins from this address",
            ),
            bookings: Window::new(limits.bookings_per_minute, Duration::from_secs(60), "bookings"),
            sync: Window::new(limits.sync_per_minute, Duration::from_secs(60), "sync calls"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_refuses_past_its_limit_with_a_retry_time_and_keys_are_separate() {
        let w = Window::new(2, Duration::from_secs(60), "probes");
        assert!(w.hit("a").is_ok() && w.hit("a").is_ok());
        match w.hit("a") {
            Err(ApiError::TooManyRequests { retry_after_secs, .. }) => assert!((1..=60).contains(&retry_after_secs)),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(w.hit("b").is_ok());
        let off = Window::new(0, Duration::from_secs(60), "probes");
        assert!((0..100).all(|_| off.hit("a").is_ok()));
    }
}
