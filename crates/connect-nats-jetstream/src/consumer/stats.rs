//! Counters of what a consumer did.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of a consumer's counters since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerStats {
    /// Handler invocations.
    pub handled: u64,
    /// Messages acknowledged (the server confirmed the ack).
    pub acked: u64,
    /// Retryable failures: messages negatively acknowledged with a delay.
    pub retried: u64,
    /// Messages published to the dead-letter subject and terminated.
    pub dead_lettered: u64,
    /// Messages terminated without a dead letter (no dead-letter subject set).
    pub terminated: u64,
    /// Acks (or terms) the server never confirmed; those messages are
    /// redelivered after `ack_wait`.
    pub ack_failures: u64,
    /// Dead letters that could not be published; those messages are retried.
    pub dead_letter_failures: u64,
    /// Handlers that panicked (counted as retryable failures).
    pub handler_panics: u64,
    /// Failed pulls or consumer re-creations (server gone, JetStream not ready…).
    pub pull_errors: u64,
    /// Handlers running now.
    pub in_flight: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub handled: AtomicU64,
    pub acked: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub terminated: AtomicU64,
    pub ack_failures: AtomicU64,
    pub dead_letter_failures: AtomicU64,
    pub handler_panics: AtomicU64,
    pub pull_errors: AtomicU64,
    pub in_flight: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ConsumerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConsumerStats {
            handled: get(&self.handled),
            acked: get(&self.acked),
            retried: get(&self.retried),
            dead_lettered: get(&self.dead_lettered),
            terminated: get(&self.terminated),
            ack_failures: get(&self.ack_failures),
            dead_letter_failures: get(&self.dead_letter_failures),
            handler_panics: get(&self.handler_panics),
            pull_errors: get(&self.pull_errors),
            in_flight: get(&self.in_flight),
        }
    }
}
