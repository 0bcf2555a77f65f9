//! Bounded password hashing. Each argon2 computation takes ~19 MiB (the
//! crate's default `m`); a login storm hashing on every blocking thread at
//! once pushed a server from 30 MB to gigabytes, and the allocator kept it.
//! Here at most `concurrency` hashes run at once (a semaphore sized to the
//! cores), each in one of `concurrency` reused memory buffers, so memory stays
//! flat; a caller waits its turn at most `queue_wait`, then gets 429 with
//! `Retry-After`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Block;
use tokio::sync::Semaphore;

use super::password;
use crate::app_error::ApiError;

/// The shared hashing pool (cheap to clone).
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    queue_wait: Duration,
}

impl Hasher {
    /// At most `concurrency` (≥ 1) hashes at once; a caller queues at most `queue_wait`.
    pub fn new(concurrency: usize, queue_wait: Duration) -> Hasher {
        let concurrency = concurrency.max(1);
        Hasher {
            permits: Arc::new(Semaphore::new(concurrency)),
            buffers: Arc::new(Mutex::new(Vec::with_capacity(concurrency))),
            queue_wait,
        }
    }

    /// Whether `plain` matches the PHC string (429 when the queue is full for too long).
    pub async fn verify(&self, plain: String, phc: String) -> Result<bool, ApiError> {
        self.run(move |memory| password::verify_with(&plain, &phc, memory)).await
    }

    /// A new PHC string for `plain`.
    pub async fn hash(&self, plain: String) -> Result<String, ApiError> {
        self.run(move |_| password::hash(&plain)).await?.map_err(ApiError::Unexpected)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = match tokio::time::timeout(self.queue_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                metrics::counter!("sortie_password_hash_refused_total").increment(1);
                return Err(ApiError::TooManyRequests {
                    message: "too many sign-ins at once; retry shortly".into(),
                    retry_after_secs: 1,
                });
            }
        };
        let buffers = self.buffers.clone();
        tokio::task::spawn_blocking(move || {
            // One buffer per permit: never more than `concurrency` exist.
            let mut memory = buffers.lock().map(|mut b| b.pop()).ok().flatten().unwrap_or_default();
            let out = work(&mut memory);
            if let Ok(mut b) = buffers.lock() {
                b.push(memory);
            }
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("password hashing failed: {e}")))
    }
}
