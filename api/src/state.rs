//! What every handler shares: the database, configuration, token keys, the
//! clock and the metrics handle.

use std::sync::Arc;

use crate::auth::jwt::JwtKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;

/// Shared application state (`web::Data<AppState>`).
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub keys: JwtKeys,
    pub clock: Arc<dyn Clock>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// This replica's dispatch cache (organisation tree, territories, technician index).
    pub dispatch: crate::dispatch_cache::SharedCache,
    /// Notification channels the outbox worker sends on (off ones are `None`).
    pub channels: crate::outbox::SharedChannels,
    /// Bounded password hashing (memory stays flat under a login storm).
    pub hasher: crate::auth::hashing::Hasher,
    /// This replica's request limits (per user, per client address).
    pub limiters: Arc<crate::limits::Limiters>,
}

impl AppState {
    /// The injected "now".
    /// Truncated to microseconds, the precision both databases store.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use chrono::SubsecRound as _;
        self.clock.now().trunc_subsecs(6)
    }
}
