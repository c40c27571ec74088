//! The handle of a running consumer: its counters, and a graceful stop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::stats::{ConsumerStats, Counters};
use crate::error::JetStreamError;

/// A running consumer. Stop it with [`ConsumerHandle::stop`] to let in-flight
/// handlers finish and ack; dropping the handle also stops pulling, but
/// without waiting.
#[derive(Debug)]
pub struct ConsumerHandle {
    pub(super) stream: String,
    pub(super) durable_name: String,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: Option<JoinHandle<()>>,
    pub(super) counters: Arc<Counters>,
}

impl ConsumerHandle {
    /// What the consumer did so far.
    pub fn stats(&self) -> ConsumerStats {
        self.counters.snapshot()
    }

    /// The stream consumed.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The durable consumer name.
    pub fn durable_name(&self) -> &str {
        &self.durable_name
    }

    /// Whether the consumer has stopped (after [`ConsumerHandle::stop`], or
    /// when the task ended).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops pulling and waits until every in-flight handler has finished
    /// and its outcome (ack, retry, dead letter) has been sent. Messages
    /// pulled but not yet handed to a handler are released for immediate
    /// redelivery. Nothing is lost: every message is either acked or
    /// redelivered later.
    ///
    /// Returns the final counters.
    pub async fn stop(mut self) -> ConsumerStats {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(consumer = %self.durable_name, error = %e, "consumer task failed");
            }
        }
        self.counters.snapshot()
    }

    /// Like [`ConsumerHandle::stop`], waiting at most `timeout`. On timeout
    /// the remaining handlers go on in the background (their messages are
    /// still acked when they finish, or redelivered after `ack_wait`).
    ///
    /// Returns the final counters.
    pub async fn stop_within(mut self, timeout: Duration) -> Result<ConsumerStats, JetStreamError> {
        self.stop.send_replace(true);
        let Some(mut task) = self.task.take() else {
            return Ok(self.counters.snapshot());
        };
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(_) => Ok(self.counters.snapshot()),
            Err(_) => Err(JetStreamError::StopTimeout {
                consumer: self.durable_name.clone(),
                waited_ms: timeout.as_millis(),
                in_flight: usize::try_from(self.counters.in_flight.load(Ordering::Relaxed))
                    .unwrap_or(usize::MAX),
            }),
        }
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
