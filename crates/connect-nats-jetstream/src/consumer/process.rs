//! Handling one message: run the handler (with in-progress acks), decide the
//! outcome, carry it out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_nats::jetstream::AckKind;
use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::ack::{confirm, release, send, term};
use super::delivery::{Delivery, HandlerError};
use super::forward::forward;
use super::outcome::{decide, Outcome};
use super::run::Shared;
use super::stats::Counters;
use crate::metrics::MessageOutcome;

/// What is known about a message once it is taken apart, for logs and its
/// dead letter.
pub(super) struct Facts {
    pub subject: String,
    pub stream: String,
    pub consumer: String,
    pub sequence: u64,
    pub delivered: u64,
}

/// Handles one message: run the handler (with in-progress acks), decide, apply.
pub(super) async fn process(
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
            let ack = AckKind::Ack.into();
            settle(shared, message, ack, &counters.acked, MessageOutcome::Ack).await;
        }
        Outcome::Retry { delay } => {
            Counters::add(&counters.retried);
            shared.metrics.message(MessageOutcome::Nak);
            tracing::debug!(consumer = %spec.durable_name, sequence = facts.sequence, delivered = facts.delivered, ?delay, "retrying message");
            release(message, delay).await;
        }
        Outcome::DeadLetter { reason, error } => {
            let Some(subject) = spec.dead_letter_subject.as_deref() else {
                let term = term(reason.as_str());
                settle(
                    shared,
                    message,
                    term,
                    &counters.terminated,
                    MessageOutcome::Term,
                )
                .await;
                tracing::error!(
                    consumer = %spec.durable_name,
                    stream = %facts.stream,
                    sequence = facts.sequence,
                    subject = %facts.subject,
                    delivered = facts.delivered,
                    reason = reason.as_str(),
                    error = %connect_nats_config::redact_secrets(&error),
                    "message failed for good and no dead-letter subject is set; terminated (it stays in the stream)"
                );
                return;
            };
            forward(shared, message, facts, subject, reason, &error).await;
        }
    }
}

/// Sends a confirmed ack-kind payload and counts what became of it: `done`
/// and `outcome` when the server confirmed it, an ack failure otherwise (the
/// server then redelivers the message). Returns whether it was confirmed.
pub(super) async fn settle(
    shared: &Shared,
    message: &async_nats::jetstream::Message,
    payload: Bytes,
    done: &AtomicU64,
    outcome: MessageOutcome,
) -> bool {
    if confirm(shared, message, payload).await {
        Counters::add(done);
        shared.metrics.message(outcome);
        true
    } else {
        Counters::add(&shared.counters.ack_failures);
        shared.metrics.message(MessageOutcome::AckFailed);
        false
    }
}
