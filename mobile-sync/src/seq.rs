//! Per-device sequence rules of a push.
//!
//! Every mutation a device sends carries `seq`, 1, 2, 3 … with no holes over
//! the device's life. The server remembers the last one it processed. In a
//! batch (sent in any order, possibly with repeats), a `seq` at or below it
//! is a retry; the new ones must continue it without a gap, else the whole
//! push is refused before anything is applied, naming `expected_seq`.

/// What to do with one mutation of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Already processed (in an earlier push or earlier in this batch): answer from the record.
    Replay,
    /// Next in line: apply it.
    Apply,
}

/// A batch in processing order: indices into the batch as sent, with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    pub steps: Vec<(usize, Step)>,
}

/// A batch that leaves a hole after the last processed `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mutation seq {expected_seq} is missing")]
pub struct Gap {
    pub expected_seq: u64,
}

/// Orders a batch by `seq` and classifies each mutation. `last_processed` is
/// the device's last processed `seq` (0 for a new device).
pub fn plan_batch(last_processed: u64, seqs: &[u64]) -> Result<BatchPlan, Gap> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| (seqs[i], i));
    let mut next = last_processed + 1;
    let mut steps = Vec::with_capacity(seqs.len());
    for i in order {
        let seq = seqs[i];
        if seq < next {
            steps.push((i, Step::Replay));
        } else if seq == next {
            steps.push((i, Step::Apply));
            next += 1;
        } else {
            return Err(Gap { expected_seq: next });
        }
    }
    Ok(BatchPlan { steps })
}
