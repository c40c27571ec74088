//! Acknowledged JetStream publishing: pipelined, windowed, retried across
//! disconnects with the same `Nats-Msg-Id`.
//!
//! How it is fast: every publish is a plain publish whose reply subject
//! points into one inbox subscription (see `acks.rs`); a single task routes
//! each acknowledgement to its waiting [`PendingAck`] by token, and missing
//! acks expire through a periodic sweep rather than a timer per message. Up
//! to `window` publishes are in flight (a semaphore); each [`PendingAck`]
//! re-sends with the same `Nats-Msg-Id` when its ack does not come.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::jetstream::context::{Context, ContextBuilder};
use async_nats::{HeaderMap, HeaderValue, Subject};
use bytes::Bytes;
use connect_nats_core::ConnectionState;
use serde::Serialize;
use std::sync::atomic::Ordering;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::acks::{AckOutcome, AckRouter, Registration};
use crate::envelope::DEFAULT_VERSION;
use crate::error::PublishError;
use crate::options::PublisherOptions;
use crate::outcome::PublishAck;
use crate::publisher::{Inner, Publisher};
use crate::subject::validate_publish_subject;
use crate::template::HeaderTemplate;

/// Pause before re-sending after an error seen right after a reconnect
/// (JetStream may still be recovering its streams).
const RECOVERY_PAUSE: Duration = Duration::from_millis(100);
/// The server answers "no responders" both when no stream captures a subject
/// and while a stream elects a new leader (a node lost) or a server shuts
/// down. The JetStream API tells the two apart; when it does not answer
/// either, "no responders" is retried this long before it is taken to mean
/// that no stream captures the subject.
const NO_RESPONDERS_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the JetStream API to say whether a stream captures
/// a subject that got "no responders".
const STREAM_LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);
/// First pause between "no responders" retries; doubles up to a second.
const NO_RESPONDERS_FIRST_PAUSE: Duration = Duration::from_millis(50);
/// Length of a NUID, the `Nats-Msg-Id` of every JetStream publish.
const MSG_ID_LEN: usize = 22;
/// Poll interval while waiting for the client to report a connection.
const STATE_POLL: Duration = Duration::from_millis(20);

pub(crate) struct JsState {
    window: Arc<Semaphore>,
    context: OnceLock<Context>,
    router: tokio::sync::OnceCell<Arc<AckRouter>>,
}

impl JsState {
    pub(crate) fn new(options: &PublisherOptions) -> Self {
        JsState {
            window: Arc::new(Semaphore::new(options.window.max(1))),
            context: OnceLock::new(),
            router: tokio::sync::OnceCell::new(),
        }
    }
}

/// The acknowledgement of one pipelined JetStream publish, still to come.
///
/// Await it to learn the outcome: the [`PublishAck`], or an error after the
/// retries gave up. It holds one slot of the publisher's window until it
/// completes; dropping it frees the slot, but then nobody learns whether
/// the event was stored. Await your `PendingAck`s (or use
/// [`Publisher::publish_all`]): a caller holding `window` of them unawaited
/// gets [`PublishError::Timeout`] from its next publish instead of a hang.
#[must_use = "a PendingAck must be awaited to learn whether the event was stored"]
pub struct PendingAck {
    fut: Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>,
}

impl std::fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAck").finish_non_exhaustive()
    }
}

impl Future for PendingAck {
    type Output = Result<PublishAck, PublishError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl Publisher {
    /// The JetStream context used for publishing (domain / API prefix from
    /// the config; ack timeout and in-flight limit from the options).
    pub fn jetstream_context(&self) -> &Context {
        let inner = &self.inner;
        inner.js.context.get_or_init(|| build_context(inner))
    }

    /// Publishes `data` as JSON (no envelope) to JetStream and waits for the
    /// acknowledgement (retrying across disconnects until the retry deadline).
    pub async fn publish_jetstream<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        data: &T,
    ) -> Result<PublishAck, PublishError> {
        self.publish_jetstream_async(subject, data).await?.await
    }

    /// Same as [`Publisher::publish_jetstream`]: plain `publish` means
    /// JetStream, as in the original library.
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        data: &T,
    ) -> Result<PublishAck, PublishError> {
        self.publish_jetstream(subject, data).await
    }

    /// Publishes an event in the standard envelope to JetStream and waits
    /// for the acknowledgement.
    pub async fn publish_event<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        event_type: &str,
        data: &T,
    ) -> Result<PublishAck, PublishError> {
        self.publish_event_async(subject, event_type, data)
            .await?
            .await
    }

    /// [`Publisher::publish_event`] with an explicit envelope version.
    pub async fn publish_event_versioned<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        event_type: &str,
        version: u32,
        data: &T,
    ) -> Result<PublishAck, PublishError> {
        self.publish_event_versioned_async(subject, event_type, version, data)
            .await?
            .await
    }

    /// Sends an event to JetStream and returns as soon as it is handed to the
    /// client, with a [`PendingAck`] to await. Waits (at most the publish
    /// timeout) for a slot when `window` acks are already in flight.
    pub async fn publish_event_async<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        event_type: &str,
        data: &T,
    ) -> Result<PendingAck, PublishError> {
        self.publish_event_versioned_async(subject, event_type, DEFAULT_VERSION, data)
            .await
    }

    /// [`Publisher::publish_event_async`] with an explicit envelope version.
    pub async fn publish_event_versioned_async<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        event_type: &str,
        version: u32,
        data: &T,
    ) -> Result<PendingAck, PublishError> {
        validate_publish_subject(subject)?;
        let (template, payload) = self.event_parts(event_type, version, data)?;
        let header_len = self.header_len(Some(event_type), MSG_ID_LEN);
        let pending = self
            .send_jetstream(subject, template, header_len, payload)
            .await;
        self.inner.metrics.jetstream_refused(pending)
    }

    /// [`Publisher::publish_jetstream`] without waiting for the ack.
    pub async fn publish_jetstream_async<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        data: &T,
    ) -> Result<PendingAck, PublishError> {
        validate_publish_subject(subject)?;
        let (template, payload) = self.plain_parts(data)?;
        let header_len = self.header_len(None, MSG_ID_LEN);
        let pending = self
            .send_jetstream(subject, template, header_len, payload)
            .await;
        self.inner.metrics.jetstream_refused(pending)
    }

    /// Publishes a batch of `(subject, event_type, data)` events to
    /// JetStream, pipelined within the window, and returns each one's
    /// outcome in input order. Never stops early: one failure does not
    /// keep the others from being sent.
    pub async fn publish_all<I, S, E, T>(&self, events: I) -> Vec<Result<PublishAck, PublishError>>
    where
        I: IntoIterator<Item = (S, E, T)>,
        S: AsRef<str>,
        E: AsRef<str>,
        T: Serialize,
    {
        let events = events.into_iter();
        let window = self.inner.options.window;
        let mut out = Vec::with_capacity(events.size_hint().0);
        let mut in_flight: std::collections::VecDeque<Result<PendingAck, PublishError>> =
            std::collections::VecDeque::with_capacity(window.min(4096));
        for (subject, event_type, data) in events {
            if in_flight.len() >= window {
                if let Some(oldest) = in_flight.pop_front() {
                    out.push(settle(oldest).await);
                }
            }
            let pending = self
                .publish_event_async(subject.as_ref(), event_type.as_ref(), &data)
                .await;
            in_flight.push_back(pending);
        }
        for pending in in_flight {
            out.push(settle(pending).await);
        }
        out
    }

    /// The ack router, started (inbox subscribed) on first use.
    async fn ack_router(&self) -> Result<&Arc<AckRouter>, PublishError> {
        let inner = &self.inner;
        inner
            .js
            .router
            .get_or_try_init(|| {
                AckRouter::start(inner.connection.client(), inner.options.ack_timeout)
            })
            .await
            .map_err(|e| {
                PublishError::Send(format!("cannot subscribe to the JetStream ack inbox: {e}"))
            })
    }

    async fn send_jetstream(
        &self,
        subject: &str,
        template: Arc<HeaderTemplate>,
        header_len: usize,
        payload: Bytes,
    ) -> Result<PendingAck, PublishError> {
        let (template, header_len) = crate::otel::with_trace_context_template(template, header_len);
        self.check_size(header_len, payload.len())?;
        let inner = &self.inner;
        let router = Arc::clone(self.ack_router().await?);
        let timeout = inner.options.publish_timeout;
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
        if inner.connection.state() == ConnectionState::Closed {
            return Err(PublishError::Closed);
        }
        let msg_id = nuid::next();
        let started = Instant::now();
        let epoch = connects(inner);
        let subject = crate::hot_path::subject(subject);
        let first = if client_connected(&inner.connection) {
            Attempt::Sent(
                send_once(
                    &router,
                    inner.connection.client(),
                    &subject,
                    message_headers(&template, &msg_id),
                    &payload,
                    started,
                    started + inner.options.retry_deadline,
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
            _permit: permit,
        };
        Ok(PendingAck {
            fut: Box::pin(inner.metrics.jetstream_ack(started, job.run(first))),
        })
    }
}

async fn settle(pending: Result<PendingAck, PublishError>) -> Result<PublishAck, PublishError> {
    match pending {
        Ok(ack) => ack.await,
        Err(e) => Err(e),
    }
}

fn build_context(inner: &Inner) -> Context {
    let js = &inner.connection.config().jetstream();
    let timeout = inner.options.ack_timeout;
    let builder = ContextBuilder::new();
    let builder = match (&js.api_prefix, &js.domain) {
        (Some(prefix), _) => builder.api_prefix(prefix.clone()).timeout(timeout),
        (None, Some(domain)) => builder.domain(domain.clone()).timeout(timeout),
        (None, None) => builder.timeout(timeout),
    };
    builder.build(inner.connection.client().clone())
}

fn connects(inner: &Inner) -> u64 {
    inner
        .connection
        .client()
        .statistics()
        .connects
        .load(Ordering::Relaxed)
}

enum Attempt {
    Sent(Result<oneshot::Receiver<AckOutcome>, AttemptError>),
    NotSent,
}

enum AttemptError {
    Send(String),
    Deadline,
}

async fn send_once(
    router: &AckRouter,
    client: &async_nats::Client,
    subject: &Subject,
    headers: HeaderMap,
    payload: &Bytes,
    now: Instant,
    deadline: Instant,
) -> Result<oneshot::Receiver<AckOutcome>, AttemptError> {
    let Registration { reply, token, rx } = router.register(now);
    let limit = deadline.saturating_duration_since(now);
    let send = AckRouter::send(client, subject.clone(), reply, headers, payload.clone());
    match crate::hot_path::timeout(limit, send).await {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(e)) => {
            router.forget(token);
            Err(AttemptError::Send(e.to_string()))
        }
        Err(_) => {
            router.forget(token);
            Err(AttemptError::Deadline)
        }
    }
}

/// The template's headers plus this publish's `Nats-Msg-Id`.
fn message_headers(template: &HeaderTemplate, msg_id: &nuid::NUIDStr) -> HeaderMap {
    let mut headers = template.headers.clone();
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        HeaderValue::from_str(msg_id.as_str()).unwrap_or_default(),
    );
    headers
}

/// Everything needed to re-send one publish.
struct Job {
    inner: Arc<Inner>,
    router: Arc<AckRouter>,
    subject: Subject,
    template: Arc<HeaderTemplate>,
    msg_id: nuid::NUIDStr,
    payload: Bytes,
    started: Instant,
    epoch: u64,
    _permit: OwnedSemaphorePermit,
}

impl Job {
    async fn run(self, first: Attempt) -> Result<PublishAck, PublishError> {
        let deadline = self.started + self.inner.options.retry_deadline;
        let ack_timeout = self.inner.options.ack_timeout;
        let mut attempts: u32 = u32::from(matches!(first, Attempt::Sent(_)));
        let mut attempt = first;
        // When "no responders" was first seen, and the next pause after it.
        let mut no_responders_since: Option<Instant> = None;
        let mut no_responders_pause = NO_RESPONDERS_FIRST_PAUSE;
        // Whether a stream captures the subject, once the API has said so.
        let mut stream_exists: Option<bool> = None;
        let grace = NO_RESPONDERS_GRACE.min(self.inner.options.retry_deadline);
        loop {
            let last = match attempt {
                Attempt::Sent(Ok(rx)) => {
                    // The router's sweep expires a missing ack after
                    // ack_timeout, and once its dispatcher has stopped every
                    // waiting (and new) registration resolves at once, so a
                    // timer is only armed when the deadline is sooner.
                    let result = if deadline.saturating_duration_since(Instant::now())
                        > ack_timeout + ack_timeout / 2
                    {
                        Ok(rx.await)
                    } else {
                        tokio::time::timeout_at(deadline, rx).await
                    };
                    let reconnected = connects(&self.inner) != self.epoch;
                    match result {
                        Ok(Ok(AckOutcome::Acked(ack))) => return Ok(ack),
                        Ok(Ok(AckOutcome::NoResponders)) if reconnected => {
                            "no responders right after a reconnect".to_owned()
                        }
                        Ok(Ok(AckOutcome::NoResponders)) => {
                            // Either no stream captures the subject (a caller
                            // mistake: say so at once), or the stream is
                            // there but has no leader right now (a node lost,
                            // a server shutting down: retry until the
                            // deadline). Ask the JetStream API which.
                            if stream_exists != Some(true) {
                                stream_exists = self.stream_exists().await;
                            }
                            let since = *no_responders_since.get_or_insert_with(Instant::now);
                            let give_up = match stream_exists {
                                Some(true) => false,
                                Some(false) => true,
                                // The API did not answer either (the meta
                                // leader may be moving too): a bounded grace.
                                None => since.elapsed() >= grace,
                            };
                            if give_up {
                                return Err(PublishError::StreamNotFound {
                                    subject: self.subject.to_string(),
                                });
                            }
                            let until = (Instant::now() + no_responders_pause).min(deadline);
                            tokio::time::sleep_until(until).await;
                            no_responders_pause =
                                (no_responders_pause * 2).min(Duration::from_secs(1));
                            "no responders (the stream had no leader)".to_owned()
                        }
                        Ok(Ok(AckOutcome::Rejected(text))) if reconnected => text,
                        Ok(Ok(AckOutcome::Rejected(text))) => {
                            return Err(PublishError::Rejected {
                                subject: self.subject.to_string(),
                                message: text,
                            })
                        }
                        Ok(Err(_)) if self.router.is_stopped() => return Err(PublishError::Closed),
                        Ok(Err(_)) => format!("no acknowledgement within {ack_timeout:?}"),
                        Err(_) => "no acknowledgement before the retry deadline".to_owned(),
                    }
                }
                Attempt::Sent(Err(AttemptError::Send(text))) => {
                    return Err(PublishError::Send(text))
                }
                Attempt::Sent(Err(AttemptError::Deadline)) => {
                    "could not hand the publish to the client before the retry deadline".to_owned()
                }
                Attempt::NotSent => "not connected".to_owned(),
            };
            if !self.wait_connected(deadline).await? {
                return Err(self.give_up(attempts, last));
            }
            if Instant::now() >= deadline {
                return Err(self.give_up(attempts, last));
            }
            attempts += 1;
            tracing::debug!(
                subject = %self.subject,
                msg_id = %self.msg_id(),
                attempt = attempts,
                last_error = %last,
                "re-sending JetStream publish with the same Nats-Msg-Id"
            );
            attempt = Attempt::Sent(
                send_once(
                    &self.router,
                    self.inner.connection.client(),
                    &self.subject,
                    message_headers(&self.template, &self.msg_id),
                    &self.payload,
                    Instant::now(),
                    deadline,
                )
                .await,
            );
        }
    }

    /// Waits until the client is connected; `Ok(false)` when the deadline
    /// passed first, `Err(Closed)` when the connection closed for good.
    async fn wait_connected(&self, deadline: Instant) -> Result<bool, PublishError> {
        let connection = &self.inner.connection;
        let mut state = connection.watch_state();
        let mut pause = self.epoch != connects(&self.inner);
        loop {
            match connection.state() {
                ConnectionState::Closed => return Err(PublishError::Closed),
                ConnectionState::Connected if client_connected(connection) => {
                    if pause {
                        // Give a just-restarted server's JetStream a moment.
                        pause = false;
                        let until = (Instant::now() + RECOVERY_PAUSE).min(deadline);
                        tokio::time::sleep_until(until).await;
                        continue;
                    }
                    return Ok(true);
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let wait = (deadline - now).min(STATE_POLL);
            if let Ok(Err(_)) = tokio::time::timeout(wait, state.changed()).await {
                // No more state updates will come; poll the client instead.
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Whether a stream captures this subject: `None` when the JetStream
    /// API did not answer within a second.
    async fn stream_exists(&self) -> Option<bool> {
        use async_nats::jetstream::context::GetStreamByNameErrorKind;
        let inner = &self.inner;
        let context = inner.js.context.get_or_init(|| build_context(inner));
        let lookup = context.stream_by_subject(self.subject.as_str());
        match tokio::time::timeout(STREAM_LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(_)) => Some(true),
            Ok(Err(e)) if e.kind() == GetStreamByNameErrorKind::NotFound => Some(false),
            _ => None,
        }
    }

    fn msg_id(&self) -> String {
        self.msg_id.as_str().to_owned()
    }

    fn give_up(&self, attempts: u32, last: String) -> PublishError {
        tracing::warn!(
            subject = %self.subject,
            msg_id = %self.msg_id(),
            attempts,
            "JetStream publish not acknowledged before the retry deadline"
        );
        PublishError::NotAcknowledged {
            subject: self.subject.to_string(),
            msg_id: self.msg_id(),
            attempts,
            elapsed: self.started.elapsed(),
            last,
        }
    }
}

/// Whether the async-nats client itself reports a live connection.
fn client_connected(connection: &connect_nats_core::Connection) -> bool {
    connection.client().connection_state() == async_nats::connection::State::Connected
}
