//! Starting a durable consumer: the entry point [`consume`], what its tasks
//! share, and creating (or re-creating) the consumer on the server.

use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::Context;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::watch;

use super::delivery::{Delivery, HandlerError};
use super::handle::ConsumerHandle;
use super::pull::pull_loop;
use super::spec::ConsumerSpec;
use super::stats::Counters;
use crate::error::JetStreamError;
use crate::metrics::ConsumerMetrics;

type Handler = Arc<dyn Fn(Delivery) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

/// Everything the pulling loop and the message tasks share.
pub(super) struct Shared {
    pub(super) js: Context,
    pub(super) spec: ConsumerSpec,
    pub(super) handler: Handler,
    pub(super) counters: Arc<Counters>,
    pub(super) metrics: ConsumerMetrics,
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
pub(super) async fn ensure_consumer(
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
