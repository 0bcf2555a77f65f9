//! The retention worker's pass: prunes, in small batches (one transaction
//! each), what nobody needs any more: idempotency keys, the phones' change
//! log, processed sync mutations, dispatch explanations, dead refresh tokens,
//! ended login-failure windows and photos no job references. Safe in several
//! replicas at once (each batch deletes whatever is still there; the change
//! log's horizon is updated under a row lock).

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::app_error::ApiError;
use crate::config::Retention;
use crate::db::{DbConnection, write_tx};
use crate::storage::{db_time, login_failures, retention as prune, settings};

/// Most batches per table and pass: a huge backlog is worked off over several passes.
const MAX_BATCHES: usize = 200;

/// Rows deleted by one pass, per kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub idempotency_keys: usize,
    pub change_log: usize,
    pub sync_mutations: usize,
    pub explanations: usize,
    pub refresh_tokens: usize,
    pub login_failures: usize,
    pub photos: usize,
}

impl Pruned {
    /// Every row deleted.
    pub fn total(&self) -> usize {
        self.idempotency_keys
            + self.change_log
            + self.sync_mutations
            + self.explanations
            + self.refresh_tokens
            + self.login_failures
            + self.photos
    }
}

fn ago(now: DateTime<Utc>, keep: std::time::Duration) -> NaiveDateTime {
    db_time(now - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(36_500)))
}

/// Runs `batch` in its own transaction until it deletes fewer than `size` rows.
fn in_batches(
    conn: &mut DbConnection,
    size: i64,
    mut batch: impl FnMut(&mut DbConnection) -> Result<usize, ApiError>,
) -> Result<usize, ApiError> {
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = write_tx(conn, &mut batch)?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < size {
            break;
        }
    }
    Ok(total)
}

/// One pass over every kind, at `now`.
pub fn prune_all(
    conn: &mut DbConnection,
    r: &Retention,
    login_window: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<Pruned, ApiError> {
    let b = r.batch;
    let keys = ago(now, r.idempotency_keys);
    let log = ago(now, r.change_log);
    let mutations = ago(now, r.sync_mutations);
    let explanations = ago(now, r.explanations);
    let tokens = ago(now, r.refresh_tokens);
    let failures = ago(now, login_window);
    let photos = ago(now, r.unattached_photos);
    Ok(Pruned {
        idempotency_keys: in_batches(conn, b, |c| Ok(prune::idempotency_keys(c, keys, b)?))?,
        change_log: in_batches(conn, b, |c| change_log_batch(c, log, b))?,
        sync_mutations: in_batches(conn, b, |c| Ok(prune::sync_mutations(c, mutations, b)?))?,
        explanations: in_batches(conn, b, |c| Ok(prune::explanations(c, explanations, b)?))?,
        refresh_tokens: in_batches(conn, b, |c| Ok(prune::refresh_tokens(c, tokens, b)?))?,
        login_failures: in_batches(conn, b, |c| Ok(login_failures::prune(c, failures, b)?))?,
        photos: in_batches(conn, b, |c| Ok(prune::unattached_photos(c, photos, b)?))?,
    })
}

/// One batch of the change log, raising the horizon past what it deleted.
fn change_log_batch(conn: &mut DbConnection, before: NaiveDateTime, batch: i64) -> Result<usize, ApiError> {
    settings::get_or_insert(conn, prune::CHANGE_LOG_HORIZON, "0:0")?;
    let old = settings::lock(conn, prune::CHANGE_LOG_HORIZON)?.and_then(|t| prune::parse_horizon(&t));
    let (n, top) = prune::change_log(conn, before, batch)?;
    if let Some(top) = top {
        let horizon = old.map_or(top, |o| o.max(top));
        settings::put(conn, prune::CHANGE_LOG_HORIZON, &format!("{}:{}", horizon.0, horizon.1))?;
    }
    Ok(n)
}
