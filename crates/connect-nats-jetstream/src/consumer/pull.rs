//! The pulling loop: reserve handler slots, pull at most that many messages,
//! hand each to a task, and recover from lost pulls, lost consumers and
//! reconnects.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use connect_nats_core::{client_reconnected_since, reconnect_epoch};
use futures::{FutureExt, StreamExt};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::ack::release;
use super::process::process;
use super::run::{ensure_consumer, Shared};
use super::stats::Counters;

/// How long past `pull_expires` a pull may stay unanswered (not even
/// "expired") before the consumer is taken to be lost on the server.
const PULL_GRACE: Duration = Duration::from_secs(2);

/// How one pull ended.
enum BatchEnd {
    /// A stop was asked for.
    Stopping,
    /// The pull failed.
    Failed(String),
    /// The client reconnected: the pull may have been lost with the old
    /// connection, and the server may have restarted.
    Reconnected,
    /// The server never answered the pull, not even "expired".
    Unanswered,
    /// The server answered (with messages or an expiry).
    Answered,
}

/// Pulls until a stop is asked for, then lets every in-flight handler finish
/// and send its outcome.
pub(super) async fn pull_loop(
    shared: Arc<Shared>,
    mut consumer: PullConsumer,
    mut stop: watch::Receiver<bool>,
) {
    let spec = &shared.spec;
    let semaphore = Arc::new(Semaphore::new(spec.concurrency));
    let mut tasks = JoinSet::new();
    let mut trouble = Trouble::default();
    let mut recreate = false;

    loop {
        while tasks.try_join_next().is_some() {}
        if stopped(&mut stop).now_or_never().is_some() {
            break;
        }
        if recreate {
            match ensure_consumer(&shared.js, spec).await {
                Ok(fresh) => {
                    consumer = fresh;
                    recreate = false;
                }
                Err(e) => {
                    let delay = trouble.failed(&shared, "re-creation", &e.to_string());
                    if sleep_or_stop(delay, &mut stop).await {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some(permits) = reserve(&semaphore, spec.concurrency, &mut stop).await else {
            break;
        };
        let failure = match pull(&shared, &consumer, permits, &mut tasks, &mut stop).await {
            BatchEnd::Stopping => break,
            BatchEnd::Failed(error) => error,
            BatchEnd::Unanswered => "no answer to the pull request".to_owned(),
            BatchEnd::Reconnected => {
                // The server may have restarted: check the consumer before pulling again.
                tracing::debug!(consumer = %spec.durable_name, "reconnected; re-checking the consumer");
                recreate = true;
                continue;
            }
            BatchEnd::Answered => {
                trouble.recovered(&shared);
                continue;
            }
        };
        let delay = trouble.failed(&shared, "pull", &failure);
        recreate = true;
        if sleep_or_stop(delay, &mut stop).await {
            break;
        }
    }

    while tasks.join_next().await.is_some() {}
    tracing::info!(consumer = %spec.durable_name, stream = %spec.stream, "JetStream consumer stopped");
}

/// Reserves handler slots before pulling, so no more is pulled than can run:
/// waits for one, then takes every other free one. `None` when asked to stop.
async fn reserve(
    semaphore: &Arc<Semaphore>,
    concurrency: usize,
    stop: &mut watch::Receiver<bool>,
) -> Option<Vec<OwnedSemaphorePermit>> {
    let first = tokio::select! {
        permit = semaphore.clone().acquire_owned() => permit.ok()?,
        _ = stopped(stop) => return None,
    };
    let mut permits = vec![first];
    while permits.len() < concurrency {
        match semaphore.clone().try_acquire_owned() {
            Ok(permit) => permits.push(permit),
            Err(_) => break,
        }
    }
    Some(permits)
}

/// Sends one pull for `permits.len()` messages and starts a task per message
/// until the pull ends. On a stop, messages already here but not started are
/// released for immediate redelivery.
async fn pull(
    shared: &Arc<Shared>,
    consumer: &PullConsumer,
    mut permits: Vec<OwnedSemaphorePermit>,
    tasks: &mut JoinSet<()>,
    stop: &mut watch::Receiver<bool>,
) -> BatchEnd {
    let spec = &shared.spec;
    let client = shared.js.client();
    let started = Instant::now();
    // Read before the pull is sent: a reconnect from here on may have lost it.
    let epoch = reconnect_epoch(&client);
    let batch = consumer
        .fetch()
        .max_messages(permits.len())
        .expires(spec.pull_expires)
        .messages()
        .await;
    let mut batch = match batch {
        Ok(batch) => batch,
        Err(e) => return BatchEnd::Failed(e.to_string()),
    };
    // A pull request sent before a reconnect is lost with the old connection;
    // the epoch catches outages of any length.
    let reconnected = client_reconnected_since(&client, epoch);
    tokio::pin!(reconnected);
    let mut received = 0usize;
    let end = loop {
        tokio::select! {
            biased;
            _ = stopped(stop) => break BatchEnd::Stopping,
            next = batch.next() => match next {
                Some(Ok(message)) => {
                    received += 1;
                    match permits.pop() {
                        Some(permit) => {
                            tasks.spawn(process(Arc::clone(shared), message, permit));
                        }
                        // The server sent more than asked; let it come again.
                        None => release(&message, Duration::ZERO).await,
                    }
                }
                Some(Err(e)) => break BatchEnd::Failed(e.to_string()),
                None if received == 0 && started.elapsed() > spec.pull_expires + PULL_GRACE => {
                    // It may have lost the consumer.
                    break BatchEnd::Unanswered;
                }
                None => break BatchEnd::Answered,
            },
            () = &mut reconnected => break BatchEnd::Reconnected,
        }
    };
    drop(permits);
    if matches!(end, BatchEnd::Stopping) {
        while let Some(Some(Ok(message))) = batch.next().now_or_never() {
            release(&message, Duration::ZERO).await;
        }
    }
    end
}

/// How the pulling loop tracks trouble, so it logs a lost server once and
/// its recovery once.
#[derive(Default)]
struct Trouble {
    failures: u32,
}

impl Trouble {
    fn failed(&mut self, shared: &Shared, what: &str, error: &str) -> Duration {
        Counters::add(&shared.counters.pull_errors);
        shared.metrics.pull_error();
        self.failures = self.failures.saturating_add(1);
        if self.failures == 1 {
            tracing::warn!(
                consumer = %shared.spec.durable_name,
                stream = %shared.spec.stream,
                error,
                "JetStream consumer {what} failed; retrying with backoff until it works"
            );
        } else {
            tracing::debug!(consumer = %shared.spec.durable_name, error, attempt = self.failures, "{what} failed again");
        }
        error_backoff(self.failures)
    }

    fn recovered(&mut self, shared: &Shared) {
        if self.failures > 0 {
            tracing::info!(
                consumer = %shared.spec.durable_name,
                failed_attempts = self.failures,
                "JetStream consumer resumed"
            );
        }
        self.failures = 0;
    }
}

/// Delay after `failures` consecutive failures: exponential from 100 ms,
/// capped at 5 s, with jitter (half fixed, half random).
pub(super) fn error_backoff(failures: u32) -> Duration {
    let exp = 100u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    let capped = exp.min(5_000);
    let half = capped / 2;
    Duration::from_millis(half + rand::random_range(0..=half))
}

/// Resolves once a stop is asked for (or the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender (the handle) is gone: that is a stop too.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Sleeps, or returns `true` early when asked to stop.
async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stopped(stop) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_backoff_grows_and_is_capped() {
        for failures in 1..40 {
            let d = error_backoff(failures);
            let cap = 100u64
                .saturating_mul(1 << (failures - 1).min(16))
                .min(5_000);
            assert!(d >= Duration::from_millis(cap / 2), "{failures}: {d:?}");
            assert!(d <= Duration::from_millis(cap), "{failures}: {d:?}");
        }
    }
}
