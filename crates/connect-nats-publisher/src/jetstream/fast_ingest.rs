//! Fast ingest (ADR-50, nats-server 2.14 or later, stream `allow_batched`): `publish_all` sends its
//! events as one fast batch, and the server acknowledges them by flow acks instead of one ack each.
//!
//! Each message's reply subject `<inbox>.<flow>.fail.<batch sequence>.<op>.$FI` tells the server
//! the batch (the inbox), how many messages per flow ack are asked for, the gap mode (`fail`: a
//! lost message ends the batch), the message's place and what it does (start, add, commit, ping).
//! The server answers on the inbox: `{"type":"ack","seq":N,"msgs":F}` once every message up to N
//! is stored, `gap` or `err` when the batch fails, and a publish ack for the commit.
//!
//! Every message carries a `Nats-Msg-Id`, so when the batch fails (a lost ack, a restart) the
//! events no flow ack covered are published again through the pipelined path with the same id,
//! and the stream's duplicate window stores each once; the events the batch never reached are
//! published through the pipelined path for the first time. Each re-sent event retries until
//! the retry deadline counted from its re-send.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use connect_nats_jetstream::{ServerVersion, FAST_INGEST_VERSION};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::PublishError;
use crate::outcome::PublishAck;
use crate::publisher::Publisher;

/// Messages per flow ack asked of the server.
const FLOW: u64 = 500;
/// Flow acks that may be outstanding before sending waits.
const MAX_OUTSTANDING_ACKS: u64 = 2;
/// Distinct subjects of one `publish_all` beyond which fast ingest is not tried.
const MAX_SUBJECTS: usize = 16;
/// Subjects whose stream is remembered; the cache starts afresh beyond this.
const MAX_CACHED_SUBJECTS: usize = 1024;

/// Reply operations of a fast batch message.
const OP_START: u8 = 0;
const OP_ADD: u8 = 1;
const OP_COMMIT: u8 = 2;
const OP_PING: u8 = 4;

/// JetStream error code of a stream without `allow_batched`.
const BATCH_DISABLED: u64 = 10205;

/// Which subjects' streams accept fast batches, detected once per subject.
#[derive(Debug, Default)]
pub(crate) struct FastIngestSupport {
    /// Subject → the stream capturing it, when that stream allows fast batches.
    streams: Mutex<HashMap<String, Option<String>>>,
}

impl FastIngestSupport {
    fn get(&self, subject: &str) -> Option<Option<String>> {
        self.streams.lock().ok()?.get(subject).cloned()
    }

    fn set(&self, subject: &str, stream: Option<String>) {
        if let Ok(mut map) = self.streams.lock() {
            if map.len() >= MAX_CACHED_SUBJECTS {
                map.clear();
            }
            map.insert(subject.to_owned(), stream);
        }
    }

    /// Forgets that `stream` allows fast batches (its flag was turned off).
    fn revoke(&self, stream: &str) {
        if let Ok(mut map) = self.streams.lock() {
            for value in map.values_mut() {
                if value.as_deref() == Some(stream) {
                    *value = None;
                }
            }
        }
    }
}

/// One message of a fast batch, ready to send.
pub(super) struct FastMessage {
    pub(super) subject: Subject,
    pub(super) headers: HeaderMap,
    pub(super) payload: Bytes,
}

/// A reply on the batch's inbox.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FlowReply {
    #[serde(rename = "type")]
    kind: Option<String>,
    seq: u64,
    msgs: u64,
    stream: String,
    domain: Option<String>,
    error: Option<Value>,
}

/// How a fast batch ended.
pub(super) struct FastOutcome {
    /// Events `0..acked` are stored (every message up to this batch sequence).
    pub(super) acked: usize,
    /// The stream, when the server named it.
    pub(super) stream: String,
    /// The JetStream domain, when the server reports one.
    pub(super) domain: Option<String>,
    /// Why the batch ended early, if it did: the events from `acked` on are still to publish.
    pub(super) stopped: Option<String>,
}

impl Publisher {
    /// The stream all of `subjects` go to, when it accepts fast batches and the server is 2.14
    /// or later; `None` sends through the pipelined path.
    pub(crate) async fn fast_ingest_stream(&self, subjects: &[&str]) -> Option<String> {
        let client = self.inner.connection.client();
        if ServerVersion::of(client).is_none_or(|v| v < FAST_INGEST_VERSION) {
            return None;
        }
        let mut distinct: Vec<&str> = subjects.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > MAX_SUBJECTS {
            return None;
        }
        let mut found: Option<String> = None;
        for subject in distinct {
            let stream = match self.inner.js.fast.get(subject) {
                Some(stream) => stream,
                None => {
                    let stream = self.lookup_fast_stream(subject).await?;
                    self.inner.js.fast.set(subject, stream.clone());
                    stream
                }
            };
            match (&found, stream) {
                (_, None) => return None,
                (None, Some(stream)) => found = Some(stream),
                (Some(first), Some(stream)) if *first == stream => {}
                (Some(_), Some(_)) => return None,
            }
        }
        found
    }

    /// Asks the JetStream API which stream captures `subject` and whether it allows fast
    /// batches: `Some(Some(stream))` when it does, `Some(None)` when not, `None` when the API
    /// does not answer (nothing is cached then).
    async fn lookup_fast_stream(&self, subject: &str) -> Option<Option<String>> {
        let js = super::context(&self.inner);
        let names: Value = js
            .request(
                "STREAM.NAMES".to_owned(),
                &serde_json::json!({ "subject": subject }),
            )
            .await
            .ok()?;
        let Some(stream) = names["streams"]
            .as_array()
            .and_then(|s| s.first())
            .and_then(Value::as_str)
        else {
            return Some(None);
        };
        let info: Value = js
            .request(format!("STREAM.INFO.{stream}"), &Value::Null)
            .await
            .ok()?;
        let allowed = info["config"]["allow_batched"].as_bool().unwrap_or(false);
        Some(allowed.then(|| stream.to_owned()))
    }

    /// Sends `messages` as one fast batch on `stream` and reports how far the flow acks got.
    ///
    /// Each message is taken from the iterator as the batch reaches it, and the one after it
    /// before it is sent (to know whether this one commits the batch), so building messages
    /// overlaps with the server storing the earlier ones. When the batch stops early, the
    /// iterator is dropped with the messages not yet taken; the one taken ahead is not sent.
    pub(super) async fn send_fast_batch(
        &self,
        stream: &str,
        messages: impl Iterator<Item = FastMessage>,
    ) -> FastOutcome {
        let client = self.inner.connection.client();
        let ack_timeout = self.inner.options.ack_timeout;
        let mut messages = messages.peekable();
        let mut outcome = FastOutcome {
            acked: 0,
            stream: stream.to_owned(),
            domain: None,
            stopped: None,
        };
        let inbox = client.new_inbox();
        let mut replies = match client.subscribe(format!("{inbox}.>")).await {
            Ok(sub) => sub,
            Err(e) => {
                outcome.stopped = Some(format!("cannot subscribe to the batch's inbox: {e}"));
                return outcome;
            }
        };
        let reply_prefix = format!("{inbox}.{FLOW}.fail.");
        let reply = |seq: u64, op: u8| {
            let mut text = String::with_capacity(reply_prefix.len() + 28);
            text.push_str(&reply_prefix);
            // Writing to a String cannot fail.
            let _ = write!(text, "{seq}.{op}.$FI");
            Subject::from(text)
        };
        let mut flow = FLOW;
        let mut acked: u64 = 0;
        let mut committed = false;
        let mut first_subject: Option<Subject> = None;
        let mut sent: u64 = 0;
        while let Some(message) = messages.next() {
            sent += 1;
            let last = messages.peek().is_none();
            let op = match (sent, last) {
                (_, true) => OP_COMMIT,
                (1, false) => OP_START,
                _ => OP_ADD,
            };
            if first_subject.is_none() {
                first_subject = Some(message.subject.clone());
            }
            let send = client.publish_with_reply_and_headers(
                message.subject,
                reply(sent, op),
                message.headers,
                message.payload,
            );
            if let Err(e) = send.await {
                outcome.stopped = Some(format!("the client could not send: {e}"));
                break;
            }
            // The first message waits for the server's first flow ack (sequence 0: the batch is
            // open); later ones while too many acks are due; the commit for the batch's ack.
            let wait_until = if sent == 1 && op == OP_START {
                Some(0)
            } else if op == OP_COMMIT {
                Some(sent)
            } else if acked + flow * MAX_OUTSTANDING_ACKS <= sent {
                Some(sent.saturating_sub(flow * MAX_OUTSTANDING_ACKS) + 1)
            } else {
                None
            };
            let Some(target) = wait_until else {
                continue;
            };
            let deadline = Instant::now() + ack_timeout;
            let mut next_ping = Instant::now() + ack_timeout / 3;
            let mut opened = target > 0;
            while !opened || (acked < target && !committed) {
                let now = Instant::now();
                if now >= deadline {
                    outcome.stopped = Some(format!(
                        "no flow ack for batch sequence {target} within {ack_timeout:?}"
                    ));
                    break;
                }
                let wake = next_ping.min(deadline);
                match tokio::time::timeout(wake - now, replies.next()).await {
                    Err(_) => {
                        if let Some(subject) = &first_subject {
                            let _ = client
                                .publish_with_reply(
                                    subject.clone(),
                                    reply(sent, OP_PING),
                                    Bytes::new(),
                                )
                                .await;
                        }
                        next_ping = Instant::now() + ack_timeout / 3;
                    }
                    Ok(None) => {
                        outcome.stopped = Some("the batch's inbox subscription ended".to_owned());
                        break;
                    }
                    Ok(Some(msg)) => {
                        // A status without a body (no responders while the server restarts)
                        // or anything unreadable ends the batch: only a reply naming the stream
                        // is the commit's ack.
                        let Ok(parsed) = serde_json::from_slice::<FlowReply>(&msg.payload) else {
                            outcome.stopped = Some(match msg.status {
                                Some(status) => format!("the server answered with status {status}"),
                                None => "an unreadable reply on the batch's inbox".to_owned(),
                            });
                            break;
                        };
                        match parsed.kind.as_deref() {
                            Some("ack") => {
                                opened = true;
                                acked = acked.max(parsed.seq);
                                if parsed.msgs > 0 {
                                    flow = parsed.msgs;
                                }
                            }
                            Some(kind) => {
                                outcome.stopped = Some(format!(
                                    "the server ended the batch ({kind} at batch sequence {}): {}",
                                    parsed.seq,
                                    parsed.error.unwrap_or(Value::Null)
                                ));
                                break;
                            }
                            None => match parsed.error {
                                Some(error) => {
                                    if error["err_code"].as_u64() == Some(BATCH_DISABLED) {
                                        self.inner.js.fast.revoke(stream);
                                    }
                                    outcome.stopped =
                                        Some(format!("the server refused the batch: {error}"));
                                    break;
                                }
                                None if parsed.stream.is_empty() => {
                                    outcome.stopped = Some(
                                        "a reply on the batch's inbox that is no ack".to_owned(),
                                    );
                                    break;
                                }
                                None => {
                                    opened = true;
                                    committed = true;
                                    acked = sent;
                                    if !parsed.stream.is_empty() {
                                        outcome.stream = parsed.stream;
                                    }
                                    outcome.domain = parsed.domain;
                                }
                            },
                        }
                    }
                }
            }
            if outcome.stopped.is_some() {
                break;
            }
        }
        drop(messages);
        let _ = replies.unsubscribe().await;
        outcome.acked = usize::try_from(acked.min(sent)).unwrap_or(usize::MAX);
        outcome
    }
}

/// The result of an event a flow ack covered: stored in `stream`. Flow acks carry no stream
/// sequence, so `sequence` is 0.
pub(super) fn flow_acked(outcome: &FastOutcome) -> Result<PublishAck, PublishError> {
    Ok(PublishAck {
        stream: outcome.stream.clone(),
        sequence: 0,
        duplicate: false,
        domain: outcome.domain.clone(),
    })
}
