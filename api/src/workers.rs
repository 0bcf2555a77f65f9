//! Background workers of every replica: the offer deadline sweep and the
//! dispatch cache's refresh. Both are safe to run in several replicas at once.

use tokio::task::JoinHandle;

use crate::flow;
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
pub async fn sweep_once(state: &AppState) -> Result<usize, crate::error::ApiError> {
    let cache = state.dispatch.clone();
    let now = state.now();
    state.db.run(move |conn| flow::sweep(conn, &cache, now)).await
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
                if let Err(e) = state.db.run(move |conn| flow::refresh_cache(&cache, conn, now)).await {
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
    Workers { tasks }
}

/// One pass of the scheduled re-plan: every technician's route for yesterday,
/// today and tomorrow (UTC dates, so every time zone's "today" is covered) is
/// planned again, orders and ETAs only. Each day in its own transaction.
pub async fn replan_once(state: &AppState) -> Result<usize, crate::error::ApiError> {
    let now = state.now();
    let speed = state.config.travel_speed_kmh;
    state
        .db
        .run(move |conn| {
            let today = now.date_naive();
            let dates: Vec<String> = [today.pred_opt(), Some(today), today.succ_opt()]
                .into_iter()
                .flatten()
                .map(|d| d.to_string())
                .collect();
            let days = crate::storage::routes::days_on(conn, &dates)?;
            for (tech, date) in &days {
                let Ok(date) = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") else { continue };
                let planned = crate::db::write_tx(conn, |conn| {
                    let Some((t, _)) = crate::storage::technicians::find_with_org_path(conn, tech)? else {
                        return Ok(());
                    };
                    crate::planning::plan_days(conn, vec![t], date, false, now, speed).map(drop)
                });
                // A day that fails is logged; the others are still planned.
                if let Err(e) = planned {
                    tracing::error!(technician.id = %tech, %date, error = %e, "Scheduled re-plan of a day failed");
                }
            }
            Ok(days.len())
        })
        .await
}
