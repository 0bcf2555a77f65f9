//! Counting statements (issue #14): every connection of a pool reports the
//! statements it starts to the pool's [`StatementTrace`], which keeps them
//! only while a test has switched it on. Off, a statement costs one atomic load.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// The committed top-level transactions of a pool's connections, each as the
/// SQL of its statements from `BEGIN` to `COMMIT`, while switched on.
#[derive(Debug, Default)]
pub struct StatementTrace {
    on: AtomicBool,
    committed: Mutex<Vec<Vec<String>>>,
}

impl StatementTrace {
    /// Starts keeping transactions (forgetting any kept before).
    pub fn start(&self) {
        self.committed.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.on.store(true, Ordering::SeqCst);
    }

    /// Stops and hands back the transactions committed since [`StatementTrace::start`].
    pub fn stop(&self) -> Vec<Vec<String>> {
        self.on.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.committed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(super) fn tracer(self: &Arc<Self>) -> Tracer {
        Tracer { trace: self.clone(), open: Vec::new() }
    }
}

/// One connection's instrumentation: the statements of its open transaction.
pub(super) struct Tracer {
    trace: Arc<StatementTrace>,
    open: Vec<String>,
}

impl Instrumentation for Tracer {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if !self.trace.on.load(Ordering::Relaxed) {
            self.open.clear();
            return;
        }
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let sql = query.to_string();
            if sql.starts_with("BEGIN") {
                self.open.clear();
            }
            let commit = sql == "COMMIT";
            self.open.push(sql);
            if commit {
                let tx = std::mem::take(&mut self.open);
                self.trace.committed.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
            }
        }
    }
}
