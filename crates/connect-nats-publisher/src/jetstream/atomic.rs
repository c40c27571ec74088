//! Atomic batches (ADR-50, nats-server 2.12 or later, stream `allow_atomic`): every event of a
//! batch is stored, or none is, with one acknowledgement for the batch.
//!
//! Each message carries `Nats-Batch-Id` (a NUID) and `Nats-Batch-Sequence` (1, 2, …); the last
//! one also `Nats-Batch-Commit: 1`. The first is a request, so a stream without the flag answers
//! before the rest is sent; the middle ones are published without a reply; the last is a request
//! whose reply is the batch's ack (`{"stream","seq","batch","count"}`) or its error. The server
//! stages the batch and stores it only on the commit, so an error anywhere stores nothing.

use async_nats::{HeaderMap, HeaderName, HeaderValue, Subject};
use bytes::Bytes;
use connect_nats_jetstream::{ServerVersion, ATOMIC_BATCH_VERSION};
use serde::{Deserialize, Serialize};

use crate::error::PublishError;
use crate::message::Outgoing;
use crate::publisher::Publisher;
use crate::template::msg_id_header;

/// Most events in one atomic batch: the server's default limit (ADR-50).
pub const MAX_ATOMIC_BATCH: usize = 1000;

const BATCH_ID: HeaderName = HeaderName::from_static("Nats-Batch-Id");
const BATCH_SEQUENCE: HeaderName = HeaderName::from_static("Nats-Batch-Sequence");
const BATCH_COMMIT: HeaderName = HeaderName::from_static("Nats-Batch-Commit");

/// Wire bytes of a header block besides its lines: `NATS/1.0\r\n` and the closing `\r\n`.
const HEADER_FRAME: usize = 12;
/// Wire bytes of a header line besides its name and value: `: ` and `\r\n`.
const LINE_EXTRA: usize = 4;

/// JetStream error codes of atomic batches (nats-server `server/errors.json`).
const ATOMIC_DISABLED: u64 = 10174;
const DUPLICATE_MSG_ID: u64 = 10201;

/// The acknowledgement of a stored atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAck {
    /// The stream that stored the batch.
    pub stream: String,
    /// The stream sequence of the batch's last event (the first is `sequence - count + 1`).
    pub sequence: u64,
    /// The number of events stored: all of them.
    pub count: usize,
    /// The batch's `Nats-Batch-Id`.
    pub batch_id: String,
}

/// One message of a batch, built and checked before anything is sent.
struct Prepared {
    subject: Subject,
    headers: HeaderMap,
    payload: Bytes,
}

/// A JetStream reply: an ack or an `error`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reply {
    stream: String,
    seq: u64,
    batch: String,
    count: usize,
    error: Option<ServerError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServerError {
    err_code: u64,
    description: String,
}

impl Publisher {
    /// Publishes `events` as one atomic batch: the stream stores every one of them, or none, and
    /// acknowledges the batch once.
    ///
    /// Needs nats-server 2.12 or later and a stream declared with `allow_atomic: true`
    /// (`StreamSpec::allow_atomic`); all events go to that one stream. Build each event with the
    /// publish builder and take its [`outgoing`](crate::PublishBuilder::outgoing):
    ///
    /// ```no_run
    /// # async fn run(publisher: connect_nats_publisher::Publisher) -> Result<(), connect_nats_publisher::PublishError> {
    /// let (a, b) = (serde_json::json!({"line": 1}), serde_json::json!({"line": 2}));
    /// let ack = publisher
    ///     .publish_atomic([
    ///         publisher.event("orders.created", "order.created", &a).msg_id("order-1").outgoing(),
    ///         publisher.event("orders.created", "order.created", &b).msg_id("order-2").outgoing(),
    ///     ])
    ///     .await?;
    /// assert_eq!(ack.count, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// An event carries a `Nats-Msg-Id` only when the caller gives one. Every event is checked
    /// before the first is sent; an atomic batch is sent once, never retried.
    ///
    /// # Errors
    /// [`PublishError::BatchSize`] for no events or more than [`MAX_ATOMIC_BATCH`];
    /// [`PublishError::BatchEvent`] for an event that cannot be sent (its index and why);
    /// [`PublishError::BatchUnsupported`] on a server older than 2.12;
    /// [`PublishError::BatchNotAllowed`] on a stream without `allow_atomic`;
    /// [`PublishError::BatchDuplicate`] when an event's `Nats-Msg-Id` is one the stream already
    /// holds (the whole batch is rejected); [`PublishError::Rejected`] for any other refusal and
    /// [`PublishError::StreamNotFound`] when no stream captures the first subject: in all of
    /// these nothing is stored. [`PublishError::Timeout`] when the commit is not answered in
    /// time: the batch may or may not be stored.
    pub async fn publish_atomic<'a, I, T>(&self, events: I) -> Result<BatchAck, PublishError>
    where
        I: IntoIterator<Item = Outgoing<'a, T>>,
        T: Serialize + ?Sized + 'a,
    {
        let events: Vec<Outgoing<'a, T>> = events.into_iter().collect();
        if events.is_empty() || events.len() > MAX_ATOMIC_BATCH {
            return Err(PublishError::BatchSize {
                count: events.len(),
                max: MAX_ATOMIC_BATCH,
            });
        }
        let client = self.inner.connection.client();
        let version = ServerVersion::of(client);
        if version.is_none_or(|v| v < ATOMIC_BATCH_VERSION) {
            return Err(PublishError::BatchUnsupported {
                what: "an atomic batch",
                needed: ATOMIC_BATCH_VERSION.to_string(),
                server: version.map_or_else(|| "of unknown version".to_owned(), |v| v.to_string()),
            });
        }
        let batch_id = nuid::next().as_str().to_owned();
        let mut prepared = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let message = self
                .prepare(event, &batch_id, index + 1, index + 1 == events.len())
                .map_err(|source| PublishError::BatchEvent {
                    index,
                    source: Box::new(source),
                })?;
            prepared.push(message);
        }
        let last = prepared.len() - 1;
        for (index, message) in prepared.into_iter().enumerate() {
            if index == last {
                let reply = match self.request(message).await {
                    // The server never saw the commit, so it drops the staged batch.
                    Err(PublishError::StreamNotFound { subject }) if last > 0 => {
                        return Err(PublishError::Rejected {
                            subject,
                            message: "no responders for the commit (JetStream restarting or \
                                      unavailable); nothing of the atomic batch was stored"
                                .to_owned(),
                        })
                    }
                    other => other?,
                };
                return match reply {
                    Reply {
                        error: Some(error), ..
                    } => Err(refusal(error, &events[0])),
                    Reply {
                        stream,
                        seq,
                        batch,
                        count,
                        ..
                    } if !stream.is_empty() && batch == batch_id && count == events.len() => {
                        Ok(BatchAck {
                            stream,
                            sequence: seq,
                            count,
                            batch_id,
                        })
                    }
                    other => Err(PublishError::Rejected {
                        subject: events[last].subject().to_owned(),
                        message: format!(
                            "the commit was answered without the batch's ack ({other:?}); the \
                             batch may or may not be stored"
                        ),
                    }),
                };
            }
            if index == 0 {
                if let Some(error) = self.request(message).await?.error {
                    return Err(refusal(error, &events[0]));
                }
                continue;
            }
            client
                .publish_with_headers(message.subject, message.headers, message.payload)
                .await
                .map_err(|e| PublishError::Send(e.to_string()))?;
        }
        Err(PublishError::BatchSize {
            count: 0,
            max: MAX_ATOMIC_BATCH,
        })
    }

    /// The message of event number `sequence` (from 1) of batch `batch_id`.
    fn prepare<T: Serialize + ?Sized>(
        &self,
        event: &Outgoing<'_, T>,
        batch_id: &str,
        sequence: usize,
        commit: bool,
    ) -> Result<Prepared, PublishError> {
        let subject = crate::hot_path::subject(event.subject())?;
        let msg_id = event.msg_id().map(msg_id_header).transpose()?;
        let (template, payload) = self.parts(event)?;
        let (template, _) = crate::otel::with_trace_context_template(template, 0);
        let mut headers = template.headers.clone();
        if let Some(id) = msg_id {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        }
        headers.insert(BATCH_ID, HeaderValue::from(batch_id));
        headers.insert(
            BATCH_SEQUENCE,
            HeaderValue::from(sequence.to_string().as_str()),
        );
        if commit {
            headers.insert(BATCH_COMMIT, HeaderValue::from("1"));
        }
        let header_len: usize = headers
            .iter()
            .map(|(name, values)| {
                values
                    .iter()
                    .map(|v| AsRef::<str>::as_ref(name).len() + v.as_str().len() + LINE_EXTRA)
                    .sum::<usize>()
            })
            .sum();
        self.check_size(HEADER_FRAME + header_len, payload.len())?;
        Ok(Prepared {
            subject,
            headers,
            payload,
        })
    }

    /// Sends `message` as a request bounded by the ack timeout and reads the JetStream reply (an
    /// empty one, a flow ack, reads as no error).
    async fn request(&self, message: Prepared) -> Result<Reply, PublishError> {
        let timeout = self.inner.options.ack_timeout;
        let subject = message.subject.to_string();
        let request = self.inner.connection.client().request_with_headers(
            message.subject,
            message.headers,
            message.payload,
        );
        let response =
            match tokio::time::timeout(timeout, request).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                    return Err(PublishError::StreamNotFound { subject })
                }
                Ok(Err(e)) => return Err(PublishError::Send(e.to_string())),
                Err(_) => return Err(PublishError::Timeout {
                    after: timeout,
                    during:
                        "waiting for the atomic batch's reply (the batch may or may not be stored)",
                }),
            };
        if response.payload.is_empty() {
            return Ok(Reply::default());
        }
        serde_json::from_slice(&response.payload).map_err(|e| PublishError::Rejected {
            subject,
            message: format!("unreadable reply to the atomic batch ({e})"),
        })
    }
}

/// The typed error of a server refusal of the batch whose first event is `first`.
fn refusal<T: ?Sized>(error: ServerError, first: &Outgoing<'_, T>) -> PublishError {
    match error.err_code {
        ATOMIC_DISABLED => PublishError::BatchNotAllowed {
            subject: first.subject().to_owned(),
            flag: "allow_atomic",
        },
        DUPLICATE_MSG_ID => PublishError::BatchDuplicate,
        code => PublishError::Rejected {
            subject: first.subject().to_owned(),
            message: format!(
                "{} (JetStream error {code}); nothing of the atomic batch was stored",
                error.description
            ),
        },
    }
}
