//! Acknowledging messages: confirmed acks (retried across a reconnect until
//! `ack_wait` runs out) and fire-and-forget naks and progress.

use std::time::Duration;

use async_nats::jetstream::AckKind;
use bytes::Bytes;
use tokio::time::Instant;

use super::pull::error_backoff;
use super::run::Shared;
use crate::streams::describe_request_error;

/// Sends an ack-kind payload and waits for the server to confirm it,
/// retrying (across a reconnect) until `ack_wait` has passed. `false` when it
/// was never confirmed: the server then redelivers the message.
pub(super) async fn confirm(
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

/// `+TERM <reason>`: the server stops redelivering the message.
pub(super) fn term(reason: &str) -> Bytes {
    Bytes::from(format!("+TERM {reason}"))
}

/// Negative ack: redeliver after `delay` (fire and forget: if it is lost the
/// server redelivers after `ack_wait` anyway).
pub(super) async fn release(message: &async_nats::jetstream::Message, delay: Duration) {
    let nak = if delay.is_zero() {
        AckKind::Nak(None)
    } else {
        AckKind::Nak(Some(delay))
    };
    send(message, nak.into()).await;
}

/// Sends an ack-kind payload without waiting for a confirmation.
pub(super) async fn send(message: &async_nats::jetstream::Message, payload: Bytes) {
    if let Some(reply) = message.reply.clone() {
        if let Err(e) = message.context.client().publish(reply, payload).await {
            tracing::debug!(error = %e, "could not send ack-kind message");
        }
    }
}
