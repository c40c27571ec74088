//! Re-sending a JetStream publish until it is acknowledged or its retry
//! deadline passes, with the same `Nats-Msg-Id` on every attempt.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, HeaderValue, Subject};
use bytes::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::acks::{stopped, AckOutcome, AckRouter, Registration};
use crate::close::FailedPublish;
use crate::deadline::deadline_after;
use crate::error::PublishError;
use crate::outcome::PublishAck;
use crate::publisher::Inner;
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

pub(super) enum Attempt {
    Sent(Result<oneshot::Receiver<AckOutcome>, AttemptError>),
    NotSent,
}

pub(super) enum AttemptError {
    Send(String),
    Deadline,
}

pub(super) async fn send_once(
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

/// The `Nats-Msg-Id` of one publish, the same on every attempt.
pub(super) enum MsgId {
    /// A fresh NUID (the default).
    Nuid(nuid::NUIDStr),
    /// The caller's, already validated.
    Given(HeaderValue),
}

impl MsgId {
    /// The caller's id, or a fresh NUID.
    pub(super) fn new(given: Option<HeaderValue>) -> MsgId {
        match given {
            Some(value) => MsgId::Given(value),
            None => MsgId::Nuid(nuid::next()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            MsgId::Nuid(id) => id.as_str(),
            MsgId::Given(value) => value.as_str(),
        }
    }

    /// The template's headers plus this id.
    pub(super) fn headers(&self, template: &HeaderTemplate) -> HeaderMap {
        let mut headers = template.headers.clone();
        let value = match self {
            MsgId::Nuid(id) => HeaderValue::from_str(id.as_str()).unwrap_or_default(),
            MsgId::Given(value) => value.clone(),
        };
        headers.insert(async_nats::header::NATS_MESSAGE_ID, value);
        headers
    }
}

/// Everything needed to re-send one publish.
pub(super) struct Job {
    pub(super) inner: Arc<Inner>,
    pub(super) router: Arc<AckRouter>,
    pub(super) subject: Subject,
    pub(super) template: Arc<HeaderTemplate>,
    pub(super) msg_id: MsgId,
    pub(super) payload: Bytes,
    pub(super) started: Instant,
    pub(super) epoch: u64,
    /// How many times it was sent so far.
    pub(super) attempts: AtomicU32,
    /// Its window slot, held until the publish has an outcome.
    pub(super) _permit: OwnedSemaphorePermit,
}

/// What a publish cut off by `close` reports as its last error.
const CUT_OFF: &str = "cut off: the publisher closed before an acknowledgement came";

impl Job {
    /// Runs the publish to its outcome (retrying until the deadline, or until
    /// the publisher's `close` deadline passes), counts it, and records it
    /// for `close`.
    pub(super) async fn finish(self, first: Attempt) -> Result<PublishAck, PublishError> {
        let result = self.run(first).await;
        let result = self.inner.metrics.jetstream_ack(self.started, result);
        let closing = self.inner.closed.load(Ordering::Acquire);
        self.inner.js.record(
            closing,
            match &result {
                Ok(_) => Ok(()),
                Err(e) => Err(FailedPublish {
                    subject: self.subject.to_string(),
                    msg_id: self.msg_id(),
                    error: e.to_string(),
                }),
            },
        );
        result
    }

    /// Awaits the acknowledgement, re-sending until the deadline. Its state is part
    /// of the future behind every `PendingAck` (one allocation per event), so the
    /// awaits only a failing publish reaches (the stream lookup, the pauses,
    /// waiting for the connection, the re-send) are boxed, and the common case
    /// (sent, acknowledged) keeps that future small.
    async fn run(&self, first: Attempt) -> Result<(PublishAck, Instant), PublishError> {
        let deadline = deadline_after(self.started, self.inner.options.retry_deadline);
        let ack_timeout = self.inner.options.ack_timeout;
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
                        > ack_timeout.saturating_add(ack_timeout / 2)
                    {
                        Ok(rx.await)
                    } else {
                        tokio::time::timeout_at(deadline, rx).await
                    };
                    // Asked only when the outcome is not an ack.
                    let reconnected = || self.inner.connection.reconnect_epoch() != self.epoch;
                    match result {
                        Ok(Ok(AckOutcome::Acked { ack, at })) => return Ok((ack, at)),
                        Ok(Ok(AckOutcome::CutOff)) => return Err(self.give_up(CUT_OFF.to_owned())),
                        Ok(Ok(AckOutcome::NoResponders)) if reconnected() => {
                            "no responders right after a reconnect".to_owned()
                        }
                        Ok(Ok(AckOutcome::NoResponders)) => {
                            // Either no stream captures the subject (a caller
                            // mistake: say so at once), or the stream is
                            // there but has no leader right now (a node lost,
                            // a server shutting down: retry until the
                            // deadline). Ask the JetStream API which.
                            if stream_exists != Some(true) {
                                stream_exists =
                                    Box::pin(self.unless_cut_off(self.stream_exists())).await?;
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
                            let pause = pause_before_resend(&mut no_responders_pause, deadline);
                            Box::pin(self.unless_cut_off(pause)).await?;
                            "no responders (the stream had no leader)".to_owned()
                        }
                        Ok(Ok(AckOutcome::Unavailable(text))) => {
                            // The stream is between leaders: a short pause,
                            // then the same publish again (same id).
                            let pause = pause_before_resend(&mut no_responders_pause, deadline);
                            Box::pin(self.unless_cut_off(pause)).await?;
                            text
                        }
                        Ok(Ok(AckOutcome::Rejected(text))) if reconnected() => text,
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
            let connected = Box::pin(self.unless_cut_off(self.wait_connected(deadline))).await??;
            if !connected || Instant::now() >= deadline {
                return Err(self.give_up(last));
            }
            let attempts = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(
                subject = %self.subject,
                msg_id = %self.msg_id(),
                attempt = attempts,
                last_error = %last,
                "re-sending JetStream publish with the same Nats-Msg-Id"
            );
            let resend = send_once(
                &self.router,
                self.inner.connection.client(),
                &self.subject,
                self.msg_id.headers(&self.template),
                &self.payload,
                Instant::now(),
                deadline,
            );
            attempt = Attempt::Sent(Box::pin(self.unless_cut_off(resend)).await?);
        }
    }

    /// Runs `work` unless the publisher's `close` deadline passes first; then
    /// the publish gives up. Only the retry path runs this: an ack still
    /// awaited at that deadline is cut off by the ack router's dispatcher.
    async fn unless_cut_off<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, PublishError> {
        let mut stop = self.inner.js.stop.subscribe();
        tokio::select! {
            biased;
            () = stopped(&mut stop) => Err(self.give_up(CUT_OFF.to_owned())),
            value = work => Ok(value),
        }
    }

    /// Waits until the connection is up; `Ok(false)` when the deadline
    /// passed first, `Err(Closed)` when the connection closed for good.
    /// After a reconnect it gives a just-restarted server's JetStream a
    /// moment ([`RECOVERY_PAUSE`]) before the caller re-sends.
    async fn wait_connected(&self, deadline: Instant) -> Result<bool, PublishError> {
        let connection = &self.inner.connection;
        match connection.wait_connected_until(deadline).await {
            Ok(()) => {}
            Err(connect_nats_core::ConnectError::Closed { .. }) => {
                return Err(PublishError::Closed)
            }
            Err(_) => return Ok(false),
        }
        if connection.reconnect_epoch() != self.epoch {
            tokio::time::sleep_until((Instant::now() + RECOVERY_PAUSE).min(deadline)).await;
        }
        Ok(true)
    }

    /// Whether a stream captures this subject: `None` when the JetStream
    /// API did not answer within a second.
    async fn stream_exists(&self) -> Option<bool> {
        use async_nats::jetstream::context::GetStreamByNameErrorKind;
        let inner = &self.inner;
        let context = super::context(inner);
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

    fn give_up(&self, last: String) -> PublishError {
        let attempts = self.attempts.load(Ordering::Relaxed);
        tracing::warn!(
            subject = %self.subject,
            msg_id = %self.msg_id(),
            attempts,
            "JetStream publish not acknowledged before the retry deadline or close"
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

/// Sleeps for `pause` (never past `deadline`), then doubles it, up to a
/// second: the pause before re-sending to a stream without a leader.
async fn pause_before_resend(pause: &mut Duration, deadline: Instant) {
    tokio::time::sleep_until(deadline_after(Instant::now(), *pause).min(deadline)).await;
    *pause = (*pause * 2).min(Duration::from_secs(1));
}
