//! Running a durable consumer: pulling, bounded concurrency, in-progress
//! acks, outcomes, recovery after server restarts, graceful stop.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{AckKind, Context};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::dead_letter::{dead_letter_headers, DeadLetterFacts};
use super::delivery::{Delivery, HandlerError};
use super::outcome::{decide, retry_delay, Outcome};
use super::spec::ConsumerSpec;
use super::stats::{ConsumerStats, Counters};
use crate::error::JetStreamError;
use crate::metrics::{ConsumerMetrics, MessageOutcome};
use crate::streams::describe_request_error;

type Handler = Arc<dyn Fn(Delivery) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

/// Everything the pulling loop and the message tasks share.
struct Shared {
    js: Context,
    spec: ConsumerSpec,
    handler: Handler,
    counters: Arc<Counters>,
    metrics: ConsumerMetrics,
}

/// A running consumer. Stop it with [`ConsumerHandle::stop`] to let in-flight
/// handlers finish and ack; dropping the handle also stops pulling, but
/// without waiting.
#[derive(Debug)]
pub struct ConsumerHandle {
    stream: String,
    durable_name: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
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

/// Consumes `spec.stream` through the durable pull consumer
/// `spec.durable_name` (created, or updated to match `spec`), calling
/// `handler` for every message with at most `spec.concurrency` in flight.
///
/// Outcomes: `Ok` → ack (confirmed by the server); [`HandlerError::Retryable`]
/// → redelivery after the next [`ConsumerSpec::backoff`] delay;
/// [`HandlerError::Permanent`], or a retryable failure on delivery
/// `max_deliver` → the message is published to
/// [`ConsumerSpec::dead_letter_subject`] with its payload, its headers and
/// the [`dead_letter`](crate::dead_letter) headers, then terminated. A
/// panicking handler counts as a retryable failure. Running handlers get
/// in-progress acks, so a slow handler is not redelivered behind its back.
///
/// The consumer survives server restarts and disconnects: pulls are retried
/// with backoff, the consumer is re-created if the server lost it, and acks
/// are retried until `ack_wait` runs out.
///
/// Fails at once when the spec is invalid, the stream does not exist, or the
/// consumer cannot be created.
pub async fn consume<H, Fut>(
    js: &Context,
    spec: ConsumerSpec,
    handler: H,
) -> Result<ConsumerHandle, JetStreamError>
where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    spec.validate()?;
    let consumer = ensure_consumer(js, &spec).await?;
    let counters = Arc::new(Counters::default());
    let handler: Handler = Arc::new(move |delivery| handler(delivery).boxed());
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        js: js.clone(),
        spec: spec.clone(),
        handler,
        counters: counters.clone(),
        metrics: ConsumerMetrics::new(&spec.stream, &spec.durable_name),
    });
    tracing::info!(
        stream = %spec.stream,
        consumer = %spec.durable_name,
        concurrency = spec.concurrency,
        "JetStream consumer started"
    );
    let task = tokio::spawn(pull_loop(shared, consumer, stop_rx));
    Ok(ConsumerHandle {
        stream: spec.stream,
        durable_name: spec.durable_name,
        stop: stop_tx,
        task: Some(task),
        counters,
    })
}

/// Creates the durable consumer, or updates it to match the spec.
async fn ensure_consumer(
    js: &Context,
    spec: &ConsumerSpec,
) -> Result<PullConsumer, JetStreamError> {
    let stream = js
        .get_stream(&spec.stream)
        .await
        .map_err(|e| match e.kind() {
            GetStreamErrorKind::JetStream(ref err) if err.code() == 404 => {
                JetStreamError::StreamNotFound {
                    stream: spec.stream.clone(),
                }
            }
            GetStreamErrorKind::Request => JetStreamError::Unavailable {
                reason: e.to_string(),
            },
            _ => JetStreamError::ConsumerSetup {
                stream: spec.stream.clone(),
                consumer: spec.durable_name.clone(),
                reason: e.to_string(),
            },
        })?;
    stream
        .create_consumer(spec.server_config())
        .await
        .map_err(|e| JetStreamError::ConsumerSetup {
            stream: spec.stream.clone(),
            consumer: spec.durable_name.clone(),
            reason: e.to_string(),
        })
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
fn error_backoff(failures: u32) -> Duration {
    let exp = 100u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    let capped = exp.min(5_000);
    let half = capped / 2;
    Duration::from_millis(half + rand::random_range(0..=half))
}

/// How many times the client has connected (the first connect included):
/// changes with every reconnect, however short the outage was.
fn connects(client: &async_nats::Client) -> u64 {
    client.statistics().connects.load(Ordering::Relaxed)
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

async fn pull_loop(
    shared: Arc<Shared>,
    mut consumer: PullConsumer,
    mut stop: watch::Receiver<bool>,
) {
    let spec = &shared.spec;
    let client = shared.js.client();
    let semaphore = Arc::new(Semaphore::new(spec.concurrency));
    let mut tasks = JoinSet::new();
    let mut trouble = Trouble::default();
    let mut recreate = false;

    'pulling: loop {
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

        // Reserve handler slots first: never pull more than can run.
        let first = tokio::select! {
            permit = semaphore.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let mut permits: Vec<OwnedSemaphorePermit> = vec![first];
        while permits.len() < spec.concurrency {
            match semaphore.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }

        let started = Instant::now();
        // Read before the pull is sent: a reconnect from here on may have lost it.
        let epoch = connects(&client);
        let batch = consumer
            .fetch()
            .max_messages(permits.len())
            .expires(spec.pull_expires)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                drop(permits);
                let delay = trouble.failed(&shared, "pull", &e.to_string());
                recreate = true;
                if sleep_or_stop(delay, &mut stop).await {
                    break;
                }
                continue;
            }
        };

        let mut received = 0usize;
        let mut reconnected = false;
        let mut failure: Option<String> = None;
        let mut stopping = false;
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => {
                    stopping = true;
                    break;
                }
                next = batch.next() => match next {
                    Some(Ok(message)) => {
                        received += 1;
                        match permits.pop() {
                            Some(permit) => {
                                tasks.spawn(process(shared.clone(), message, permit));
                            }
                            // The server sent more than asked; let it come again.
                            None => release(&message, Duration::ZERO).await,
                        }
                    }
                    Some(Err(e)) => {
                        failure = Some(e.to_string());
                        break;
                    }
                    None => break,
                },
                // A pull request sent before a reconnect is lost with the old
                // connection. Compare reconnect counts rather than sampling the
                // connection state, which misses outages shorter than a tick.
                _ = ticker.tick() => {
                    if connects(&client) != epoch {
                        reconnected = true;
                        break;
                    }
                }
            }
        }
        drop(permits);

        if stopping {
            // Messages already here but not started: release them for redelivery now.
            while let Some(Some(Ok(message))) = batch.next().now_or_never() {
                release(&message, Duration::ZERO).await;
            }
            break 'pulling;
        }
        drop(batch);

        if let Some(error) = failure {
            let delay = trouble.failed(&shared, "pull", &error);
            recreate = true;
            if sleep_or_stop(delay, &mut stop).await {
                break;
            }
        } else if reconnected {
            // The server may have restarted: check the consumer before pulling again.
            tracing::debug!(consumer = %spec.durable_name, "reconnected; re-checking the consumer");
            recreate = true;
        } else if received == 0 && started.elapsed() > spec.pull_expires + Duration::from_secs(2) {
            // The server never answered the pull (not even "expired"): it may
            // have lost the consumer.
            let delay = trouble.failed(&shared, "pull", "no answer to the pull request");
            recreate = true;
            if sleep_or_stop(delay, &mut stop).await {
                break;
            }
        } else {
            trouble.recovered(&shared);
        }
    }

    // Let every in-flight handler finish and send its outcome.
    while tasks.join_next().await.is_some() {}
    tracing::info!(consumer = %spec.durable_name, stream = %spec.stream, "JetStream consumer stopped");
}

/// Handles one message: run the handler (with in-progress acks), decide, apply.
async fn process(
    shared: Arc<Shared>,
    message: async_nats::jetstream::Message,
    permit: OwnedSemaphorePermit,
) {
    let counters = &shared.counters;
    counters.in_flight.fetch_add(1, Ordering::Relaxed);
    shared.metrics.handler_started();
    let Some(delivery) = Delivery::from_message(&message) else {
        tracing::error!(subject = %message.subject, "message without JetStream metadata; terminating it");
        send(&message, Bytes::from_static(b"+TERM")).await;
        counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        shared.metrics.handler_finished();
        return;
    };
    let spec = &shared.spec;
    let delivered = delivery.delivered();
    let facts = Facts {
        subject: delivery.subject().to_owned(),
        stream: delivery.stream().to_owned(),
        consumer: delivery.consumer().to_owned(),
        sequence: delivery.stream_sequence(),
        delivered,
    };

    let result = if delivered > u64::from(spec.max_deliver) {
        None
    } else {
        Counters::add(&counters.handled);
        let handler = run_handler(&shared, delivery, &message);
        Some(shared.metrics.time_handler(handler).await)
    };
    let outcome = decide(result.as_ref(), delivered, spec.max_deliver, &spec.backoff);
    apply(&shared, &message, &facts, outcome).await;
    counters.in_flight.fetch_sub(1, Ordering::Relaxed);
    shared.metrics.handler_finished();
    drop(permit);
}

struct Facts {
    subject: String,
    stream: String,
    consumer: String,
    sequence: u64,
    delivered: u64,
}

/// Runs the handler in its own task (a panic becomes a retryable failure),
/// sending in-progress acks while it runs.
async fn run_handler(
    shared: &Shared,
    delivery: Delivery,
    message: &async_nats::jetstream::Message,
) -> Result<(), HandlerError> {
    let mut task = tokio::spawn(crate::otel::instrument_handler(
        message,
        (shared.handler)(delivery),
    ));
    let period = shared.spec.effective_progress_interval();
    let mut progress = tokio::time::interval_at(Instant::now() + period, period);
    loop {
        tokio::select! {
            joined = &mut task => {
                return match joined {
                    Ok(result) => result,
                    Err(e) => {
                        Counters::add(&shared.counters.handler_panics);
                        tracing::error!(consumer = %shared.spec.durable_name, error = %e, "handler panicked");
                        Err(HandlerError::Retryable(format!("handler panicked: {e}")))
                    }
                };
            }
            _ = progress.tick() => send(message, AckKind::Progress.into()).await,
        }
    }
}

/// Carries out an outcome. Every outcome of every message passes here: the
/// place for counters and metrics.
async fn apply(
    shared: &Shared,
    message: &async_nats::jetstream::Message,
    facts: &Facts,
    outcome: Outcome,
) {
    let counters = &shared.counters;
    let spec = &shared.spec;
    match outcome {
        Outcome::Ack => {
            if confirm(shared, message, AckKind::Ack.into()).await {
                Counters::add(&counters.acked);
                shared.metrics.message(MessageOutcome::Ack);
            } else {
                Counters::add(&counters.ack_failures);
                shared.metrics.message(MessageOutcome::AckFailed);
            }
        }
        Outcome::Retry { delay } => {
            Counters::add(&counters.retried);
            shared.metrics.message(MessageOutcome::Nak);
            tracing::debug!(consumer = %spec.durable_name, sequence = facts.sequence, delivered = facts.delivered, ?delay, "retrying message");
            release(message, delay).await;
        }
        Outcome::DeadLetter { reason, error } => {
            let Some(subject) = spec.dead_letter_subject.as_deref() else {
                let term = Bytes::from(format!("+TERM {}", reason.as_str()));
                if confirm(shared, message, term).await {
                    Counters::add(&counters.terminated);
                    shared.metrics.message(MessageOutcome::Term);
                } else {
                    Counters::add(&counters.ack_failures);
                    shared.metrics.message(MessageOutcome::AckFailed);
                }
                tracing::error!(
                    consumer = %spec.durable_name,
                    stream = %facts.stream,
                    sequence = facts.sequence,
                    subject = %facts.subject,
                    delivered = facts.delivered,
                    reason = reason.as_str(),
                    error = %error,
                    "message failed for good and no dead-letter subject is set; terminated (it stays in the stream)"
                );
                return;
            };
            let headers = dead_letter_headers(
                message.headers.as_ref(),
                &DeadLetterFacts {
                    reason,
                    error: &error,
                    delivered: facts.delivered,
                    stream: &facts.stream,
                    sequence: facts.sequence,
                    subject: &facts.subject,
                    consumer: &facts.consumer,
                },
            );
            match publish_dead_letter(shared, subject, headers, message.payload.clone()).await {
                Ok(()) => {
                    let term = Bytes::from(format!("+TERM {}", reason.as_str()));
                    if confirm(shared, message, term).await {
                        Counters::add(&counters.dead_lettered);
                        shared.metrics.message(MessageOutcome::DeadLetter);
                    } else {
                        // Redelivered later, then dead-lettered again: the
                        // dead letter's Nats-Msg-Id stores it once.
                        Counters::add(&counters.ack_failures);
                        shared.metrics.message(MessageOutcome::AckFailed);
                    }
                    tracing::warn!(
                        consumer = %spec.durable_name,
                        stream = %facts.stream,
                        sequence = facts.sequence,
                        delivered = facts.delivered,
                        reason = reason.as_str(),
                        error = %error,
                        dead_letter_subject = subject,
                        "message dead-lettered"
                    );
                }
                Err(e) => {
                    Counters::add(&counters.dead_letter_failures);
                    shared.metrics.message(MessageOutcome::DeadLetterFailed);
                    tracing::error!(
                        consumer = %spec.durable_name,
                        sequence = facts.sequence,
                        dead_letter_subject = subject,
                        error = %e,
                        "could not publish the dead letter; the message will be retried. Check that a \
                         stream captures the dead-letter subject"
                    );
                    release(
                        message,
                        retry_delay(u64::MAX, &spec.backoff).max(Duration::from_secs(1)),
                    )
                    .await;
                }
            }
        }
    }
}

async fn publish_dead_letter(
    shared: &Shared,
    subject: &str,
    headers: async_nats::HeaderMap,
    payload: Bytes,
) -> Result<(), String> {
    let ack = shared
        .js
        .publish_with_headers(subject.to_owned(), headers, payload)
        .await
        .map_err(|e| e.to_string())?;
    ack.await.map(|_| ()).map_err(|e| e.to_string())
}

/// Sends an ack-kind payload and waits for the server to confirm it,
/// retrying (across a reconnect) until `ack_wait` has passed. `false` when it
/// was never confirmed: the server then redelivers the message.
async fn confirm(
    shared: &Shared,
    message: &async_nats::jetstream::Message,
    payload: Bytes,
) -> bool {
    let Some(reply) = message.reply.clone() else {
        return false;
    };
    let spec = &shared.spec;
    let client = shared.js.client();
    let deadline = Instant::now() + spec.ack_wait;
    let per_try = (spec.ack_wait / 5).clamp(Duration::from_millis(250), Duration::from_secs(2));
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let request = async_nats::Request::new()
            .payload(payload.clone())
            .timeout(Some(per_try));
        match client.send_request(reply.clone(), request).await {
            Ok(_) => return true,
            Err(e) => {
                let now = Instant::now();
                if now >= deadline {
                    tracing::warn!(
                        consumer = %spec.durable_name,
                        error = %describe_request_error(jetstream_kind(&e), &e.to_string()),
                        attempts = attempt,
                        "the server never confirmed an ack; the message will be redelivered"
                    );
                    return false;
                }
                tracing::debug!(consumer = %spec.durable_name, error = %e, attempt, "ack not confirmed; retrying");
                let pause = error_backoff(attempt).min(deadline - now);
                tokio::time::sleep(pause).await;
            }
        }
    }
}

fn jetstream_kind(
    e: &async_nats::RequestError,
) -> async_nats::jetstream::context::RequestErrorKind {
    use async_nats::jetstream::context::RequestErrorKind as Js;
    match e.kind() {
        async_nats::RequestErrorKind::NoResponders => Js::NoResponders,
        async_nats::RequestErrorKind::TimedOut => Js::TimedOut,
        _ => Js::Other,
    }
}

/// Negative ack: redeliver after `delay` (fire and forget: if it is lost the
/// server redelivers after `ack_wait` anyway).
async fn release(message: &async_nats::jetstream::Message, delay: Duration) {
    let nak = if delay.is_zero() {
        AckKind::Nak(None)
    } else {
        AckKind::Nak(Some(delay))
    };
    send(message, nak.into()).await;
}

async fn send(message: &async_nats::jetstream::Message, payload: Bytes) {
    if let Some(reply) = message.reply.clone() {
        if let Err(e) = message.context.client().publish(reply, payload).await {
            tracing::debug!(error = %e, "could not send ack-kind message");
        }
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
