//! Acknowledged JetStream publishing: pipelined, windowed, retried across
//! disconnects with the same `Nats-Msg-Id`.
//!
//! How it is fast: every publish is a plain publish whose reply subject
//! points into one inbox subscription (see `acks.rs`); a single task routes
//! each acknowledgement to its waiting [`PendingAck`] by token, and missing
//! acks expire through a periodic sweep rather than a timer per message. Up
//! to `window` publishes are in flight (a semaphore); each [`PendingAck`]
//! re-sends with the same `Nats-Msg-Id` when its ack does not come.
//!
//! - this file: the per-publisher state and the first send;
//! - `retry.rs`: re-sending until acknowledged or the retry deadline;
//! - `pending.rs`: the [`PendingAck`] handed to the caller;
//! - `batch.rs`: `publish_all`;
//! - `in_flight.rs`: the acks `publish_all` has in flight.

mod atomic;
mod batch;
mod fast_ingest;
mod in_flight;
mod pending;
mod retry;

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_nats::jetstream::context::Context;
use async_nats::HeaderValue;
use connect_nats_core::ConnectionState;
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

pub use atomic::{BatchAck, MAX_ATOMIC_BATCH};
pub(crate) use batch::with_unsent;
pub(crate) use in_flight::InFlight;
pub use pending::PendingAck;

use crate::acks::AckRouter;
use crate::close::FailedPublish;
use crate::deadline::deadline_after;
use crate::error::PublishError;
use crate::message::Outgoing;
use crate::options::PublisherOptions;
use crate::publisher::{Inner, Publisher};
use crate::template::msg_id_header;
use retry::{send_once, Attempt, Job, MsgId};

/// Length of a NUID, the default `Nats-Msg-Id` of a JetStream publish.
const NUID_LEN: usize = 22;

/// How long `close` waits past its deadline for cut-off publishes to
/// record their outcome.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A publisher's JetStream state: the ack window, the context, the router,
/// and what `close` needs.
pub(crate) struct JsState {
    window: Arc<Semaphore>,
    context: OnceLock<Context>,
    router: tokio::sync::OnceCell<Arc<AckRouter>>,
    fast: fast_ingest::FastIngestSupport,
    /// Set by `close`: when publishes in flight stop retrying.
    stop: watch::Sender<Option<Instant>>,
    /// Outcomes of publishes that finished while closing.
    outcomes: Mutex<ClosingOutcomes>,
}

/// Outcomes of the publishes that finished after `close` began.
#[derive(Default)]
pub(crate) struct ClosingOutcomes {
    acked: u64,
    failed: Vec<FailedPublish>,
}

impl JsState {
    pub(crate) fn new(options: &PublisherOptions) -> Self {
        JsState {
            window: Arc::new(Semaphore::new(options.window.max(1))),
            context: OnceLock::new(),
            router: tokio::sync::OnceCell::new(),
            fast: fast_ingest::FastIngestSupport::default(),
            stop: watch::Sender::new(None),
            outcomes: Mutex::new(ClosingOutcomes::default()),
        }
    }

    fn lock_outcomes(&self) -> MutexGuard<'_, ClosingOutcomes> {
        // Critical sections are single pushes: recover from poison.
        self.outcomes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a finished publish's outcome if the publisher is closing.
    pub(crate) fn record(&self, closing: bool, result: Result<(), FailedPublish>) {
        if !closing {
            return;
        }
        let mut outcomes = self.lock_outcomes();
        match result {
            Ok(()) => outcomes.acked += 1,
            Err(failed) => outcomes.failed.push(failed),
        }
    }
}

/// The JetStream context of `inner`'s connection, built once.
pub(crate) fn context(inner: &Inner) -> &Context {
    inner.js.context.get_or_init(|| {
        connect_nats_jetstream::build_context(
            inner.connection.client().clone(),
            inner.connection.config().jetstream(),
            Some(inner.options.ack_timeout),
        )
    })
}

impl Publisher {
    /// The JetStream context used for publishing (domain / API prefix from
    /// the config, as [`connect_nats_jetstream::build_context`] applies
    /// them; the ack timeout from the options).
    pub fn jetstream_context(&self) -> &Context {
        context(&self.inner)
    }

    /// JetStream send of one message (what `.send()` and `.send_async()`
    /// run).
    pub(crate) async fn publish_jetstream_message<T: Serialize + ?Sized>(
        &self,
        message: Outgoing<'_, T>,
    ) -> Result<PendingAck, PublishError> {
        self.check_open()?;
        let subject = crate::hot_path::subject(message.subject())?;
        let given_id = message.msg_id().map(msg_id_header).transpose()?;
        let (template, payload) = self.parts(&message)?;
        let id_len = message.msg_id().map_or(NUID_LEN, str::len);
        let header_len = self.header_len(message.event_type(), id_len);
        let pending = self
            .send_jetstream_frame(subject, template, header_len, payload, given_id)
            .await;
        self.inner.metrics.jetstream_refused(pending)
    }

    /// The ack router, started (inbox subscribed) on first use.
    async fn ack_router(&self) -> Result<&Arc<AckRouter>, PublishError> {
        let inner = &self.inner;
        inner
            .js
            .router
            .get_or_try_init(|| {
                AckRouter::start(
                    inner.connection.client(),
                    inner.options.ack_timeout,
                    inner.js.stop.subscribe(),
                )
            })
            .await
            .map_err(|e| {
                PublishError::Send(format!("cannot subscribe to the JetStream ack inbox: {e}"))
            })
    }

    async fn send_jetstream_frame(
        &self,
        subject: async_nats::Subject,
        template: Arc<crate::template::HeaderTemplate>,
        header_len: usize,
        payload: bytes::Bytes,
        given_id: Option<HeaderValue>,
    ) -> Result<PendingAck, PublishError> {
        let (template, header_len) = crate::otel::with_trace_context_template(template, header_len);
        self.check_size(header_len, payload.len())?;
        let inner = &self.inner;
        let timeout = inner.options.publish_timeout;
        // The first publish subscribes to the ack inbox: bounded too.
        let router = match tokio::time::timeout(timeout, self.ack_router()).await {
            Ok(router) => Arc::clone(router?),
            Err(_) => {
                return Err(PublishError::Timeout {
                    after: timeout,
                    during: "subscribing to the JetStream ack inbox (the first JetStream publish)",
                })
            }
        };
        let permit = match Arc::clone(&inner.js.window).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                match tokio::time::timeout(timeout, Arc::clone(&inner.js.window).acquire_owned())
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(PublishError::Closed),
                    Err(_) => {
                        return Err(PublishError::Timeout {
                            after: timeout,
                            during: "waiting for a free slot in the ack window (are PendingAcks being awaited?)",
                        })
                    }
                }
            }
        };
        // `close` may have begun while this waited for its slot.
        self.check_open()?;
        let state = inner.connection.state();
        if state == ConnectionState::Closed {
            return Err(PublishError::Closed);
        }
        let msg_id = MsgId::new(given_id);
        let started = Instant::now();
        let epoch = inner.connection.reconnect_epoch();
        let first = if state == ConnectionState::Connected {
            Attempt::Sent(
                send_once(
                    &router,
                    inner.connection.client(),
                    &subject,
                    msg_id.headers(&template),
                    &payload,
                    started,
                    deadline_after(started, inner.options.retry_deadline),
                )
                .await,
            )
        } else {
            Attempt::NotSent
        };
        let job = Job {
            inner: Arc::clone(inner),
            router,
            subject,
            template,
            msg_id,
            payload,
            started,
            epoch,
            attempts: AtomicU32::new(u32::from(matches!(first, Attempt::Sent(_)))),
            _permit: permit,
        };
        // Awaited, the publish runs in the caller's task; a PendingAck dropped
        // unawaited hands it to a task of its own, so its retries still run to
        // the deadline.
        Ok(PendingAck::detachable(job.finish(first)))
    }
}

/// Stops taking JetStream publishes, lets those in flight retry until
/// `deadline` (then cuts them off), and reports their outcomes.
pub(crate) async fn close(inner: &Inner, deadline: Instant) -> JsCloseOutcome {
    // At the deadline the ack router's dispatcher resolves the acks still
    // awaited as cut off; publishes in their retry path watch `stop` too.
    inner.js.stop.send_replace(Some(deadline));
    let window = u32::try_from(inner.options.window.max(1)).unwrap_or(u32::MAX);
    // A cut-off publish records its failure at once; the grace only covers
    // the tasks' scheduling.
    let grace = deadline_after(deadline, CLOSE_GRACE);
    let all_done = tokio::time::timeout_at(grace, inner.js.window.acquire_many(window)).await;
    let unresolved = match all_done {
        Ok(_) => 0,
        Err(_) => (inner.options.window - inner.js.window.available_permits()) as u64,
    };
    let mut outcomes = inner.js.lock_outcomes();
    JsCloseOutcome {
        acked: std::mem::take(&mut outcomes.acked),
        failed: std::mem::take(&mut outcomes.failed),
        unresolved,
    }
}

/// What `close` learned about the JetStream publishes in flight.
pub(crate) struct JsCloseOutcome {
    pub(crate) acked: u64,
    pub(crate) failed: Vec<FailedPublish>,
    pub(crate) unresolved: u64,
}
