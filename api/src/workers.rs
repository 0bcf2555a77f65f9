//! Background workers of every replica: the offer deadline sweep, the
//! dispatch cache's refresh, the scheduled re-plan, the outbox worker
//! (`crate::outbox`) and the retention pass. All are safe to run in several replicas at once.

use tokio::task::JoinHandle;

use crate::app::{planning, retention, sweep};
use crate::dispatch_cache;
use crate::state::AppState;

/// Running workers; stopped after the HTTP server.
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops every worker.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// One pass of the deadline worker on the shared state.
pub async fn sweep_once(state: &AppState) -> Result<usize, crate::app_error::ApiError> {
    let cache = state.dispatch.clone();
    let now = state.now();
    state.db.run(move |conn| sweep::sweep(conn, &cache, now)).await
}

/// Runs `pass` every `period` until aborted (a slow pass delays the next, never overlaps it).
fn every<F, Fut>(period: std::time::Duration, mut pass: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            pass().await;
        }
    })
}

/// Starts the workers the configuration asks for.
pub fn spawn(state: &AppState) -> Workers {
    let mut tasks = Vec::new();
    if let Some(period) = state.config.deadline_sweep {
        let state = state.clone();
        tasks.push(every(period, move || {
            let state = state.clone();
            async move {
                match sweep_once(&state).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(jobs = n, "Deadline sweep moved {n} job(s)"),
                    Err(e) => tracing::warn!(error = %e, "Deadline sweep failed"),
                }
            }
        }));
    }
    if let Some(period) = state.config.cache_refresh {
        let state = state.clone();
        tasks.push(every(period, move || {
            let state = state.clone();
            async move {
                let (cache, now) = (state.dispatch.clone(), state.now());
                if let Err(e) = state.db.run(move |conn| dispatch_cache::refresh_cache(&cache, conn, now)).await {
                    tracing::warn!(error = %e, "Dispatch cache refresh failed");
                }
            }
        }));
    }
    if let Some(period) = state.config.replan {
        let state = state.clone();
        tasks.push(every(period, move || {
            let state = state.clone();
            async move {
                if let Err(e) = replan_once(&state).await {
                    tracing::warn!(error = %e, "Scheduled re-plan failed");
                }
            }
        }));
    }
    if let Some(poll) = state.config.notify.poll {
        tasks.push(crate::outbox::spawn(state.clone(), poll));
    }
    if let Some(period) = state.config.retention.every {
        let state = state.clone();
        tasks.push(every(period, move || {
            let state = state.clone();
            async move {
                match retention_once(&state).await {
                    Ok(p) if p.total() == 0 => {}
                    Ok(p) => tracing::info!(?p, "Retention pruned {} row(s)", p.total()),
                    Err(e) => tracing::warn!(error = %e, "Retention pass failed"),
                }
            }
        }));
    }
    Workers { tasks }
}

/// One pass of the retention worker at the state's (possibly advanced) clock.
pub async fn retention_once(state: &AppState) -> Result<retention::Pruned, crate::app_error::ApiError> {
    let (r, window, now) = (state.config.retention.clone(), state.config.limits.login_window, state.now());
    state.db.run(move |conn| retention::prune_all(conn, &r, window, now)).await
}

/// One pass of the scheduled re-plan: every technician's route for yesterday,
/// today and tomorrow (UTC dates, so every time zone's "today" is covered) is
/// planned again, orders and ETAs only. Each day in its own transaction.
pub async fn replan_once(state: &AppState) -> Result<usize, crate::app_error::ApiError> {
    let now = state.now();
    let speed = state.config.travel_speed_kmh;
    state.db.run(move |conn| planning::replan_stored_days(conn, now, speed)).await
}
