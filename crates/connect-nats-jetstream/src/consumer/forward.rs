//! Forwarding a message that failed for good to its consumer's dead-letter
//! subject, then terminating it.

use std::time::Duration;

use bytes::Bytes;

use super::ack::{release, term};
use super::dead_letter::{dead_letter_headers, DeadLetterFacts};
use super::outcome::{retry_delay, DeadLetterReason};
use super::process::{settle, Facts};
use super::run::Shared;
use super::stats::Counters;
use crate::metrics::MessageOutcome;

/// Publishes the dead letter (payload, headers, and the
/// [`dead_letter`](super::dead_letter) headers) to `subject` and terminates
/// the message. When the dead letter cannot be published, the message is
/// released for a later retry instead: it is never dropped.
pub(super) async fn forward(
    shared: &Shared,
    message: &async_nats::jetstream::Message,
    facts: &Facts,
    subject: &str,
    reason: DeadLetterReason,
    error: &str,
) {
    let counters = &shared.counters;
    let spec = &shared.spec;
    let headers = dead_letter_headers(
        message.headers.as_ref(),
        &DeadLetterFacts {
            reason,
            error,
            delivered: facts.delivered,
            stream: &facts.stream,
            sequence: facts.sequence,
            subject: &facts.subject,
            consumer: &facts.consumer,
        },
    );
    match publish(shared, subject, headers, message.payload.clone()).await {
        Ok(()) => {
            // When the term is not confirmed the message comes again and is
            // dead-lettered again: the dead letter's Nats-Msg-Id stores it once.
            let term = term(reason.as_str());
            let dead = &counters.dead_lettered;
            settle(shared, message, term, dead, MessageOutcome::DeadLetter).await;
            tracing::warn!(
                consumer = %spec.durable_name,
                stream = %facts.stream,
                sequence = facts.sequence,
                delivered = facts.delivered,
                reason = reason.as_str(),
                error = %connect_nats_config::redact_secrets(error),
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

/// Publishes to JetStream and waits for the stream's acknowledgement.
async fn publish(
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
