//! Why a publish failed, and what to do about it.

use std::time::Duration;

/// Why an event was not published (or not acknowledged).
///
/// Every variant says what happened and what to do. The enum is `Clone` so a
/// test double can hand the same failure out more than once; sources are kept
/// as text for that reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The subject cannot be published to.
    #[error("invalid publish subject {subject:?}: {reason}; publish to a concrete subject such as `connect.invite.created`")]
    InvalidSubject {
        /// The subject as given.
        subject: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The event type cannot be used.
    #[error(
        "invalid event type {event_type:?}: {reason}; use a dotted name such as `invite.created`"
    )]
    InvalidEventType {
        /// The event type as given.
        event_type: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The caller-chosen `Nats-Msg-Id` cannot be used.
    #[error("invalid Nats-Msg-Id {msg_id:?}: {reason}; use printable text such as an order id")]
    InvalidMsgId {
        /// The id as given.
        msg_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The message is larger than the server accepts.
    #[error("event of {size} bytes (payload + headers) is over the server's max_payload of {max_payload}; send less (a reference to the data) or raise max_payload")]
    PayloadTooLarge {
        /// Size of payload plus headers, in bytes.
        size: usize,
        /// The server's limit, in bytes.
        max_payload: usize,
    },

    /// The caller's data could not be turned into JSON.
    #[error("could not serialize the event data to JSON: {0}; check the data type's Serialize implementation (maps need string keys)")]
    Serialize(String),

    /// Not connected, and the disconnected buffer has no room under its policy.
    #[error("not connected and the buffer is full ({messages} events, {bytes} bytes; policy {policy}); retry later or raise the buffer limits")]
    BufferFull {
        /// The policy that refused the event.
        policy: &'static str,
        /// Messages buffered when refused.
        messages: usize,
        /// Bytes buffered when refused.
        bytes: usize,
    },

    /// The event alone is larger than the whole disconnected buffer.
    #[error("event of {size} bytes can never fit the disconnected buffer of {max_bytes} bytes; raise the buffer's byte limit or send a smaller event")]
    LargerThanBuffer {
        /// Size of the event, in bytes.
        size: usize,
        /// The buffer's byte limit.
        max_bytes: usize,
    },

    /// A publish call could not complete within its time limit.
    #[error("publish timed out after {after:?} while {during}; check the connection (state, server health) or raise the publisher's timeout")]
    Timeout {
        /// How long it waited.
        after: Duration,
        /// What it was waiting for.
        during: &'static str,
    },

    /// The connection is closed for good.
    #[error("the NATS connection is closed (reconnect attempts exhausted or shut down); events can no longer be published on it — create a new connection")]
    Closed,

    /// The publisher was closed ([`Publisher::close`](crate::Publisher::close)
    /// or the connection's shutdown).
    #[error("this publisher was closed (Publisher::close or Connection::shutdown) and takes no more events; build a new publisher to publish again")]
    PublisherClosed,

    /// The client refused to send.
    #[error("the NATS client could not send the event: {0}; retry once connected (Connection::state), or use a new connection after a shutdown")]
    Send(String),

    /// No JetStream stream captures the subject (the server answered "no
    /// responders" and the JetStream API knows no stream for it).
    #[error("no JetStream stream captures subject {subject:?} (no responders); declare a stream for it (connect-nats-jetstream ensure_streams) or publish with .core()")]
    StreamNotFound {
        /// The subject published to.
        subject: String,
    },

    /// The server answered the JetStream publish with an error.
    #[error("JetStream rejected the publish to {subject:?}: {message}; check the stream's limits and configuration")]
    Rejected {
        /// The subject published to.
        subject: String,
        /// The server's (or client's) error text.
        message: String,
    },

    /// An atomic batch has no events, or more than the server accepts in one batch.
    #[error("an atomic batch holds {count} events; send 1 to {max} events per batch (split larger ones)")]
    BatchSize {
        /// Events given.
        count: usize,
        /// Most events per batch.
        max: usize,
    },

    /// One event of a batch cannot be sent; nothing of the batch was sent.
    #[error("event {index} of the batch cannot be sent, so none was: {source}")]
    BatchEvent {
        /// Its index in the batch, from 0.
        index: usize,
        /// Why.
        source: Box<PublishError>,
    },

    /// The server is too old for this kind of batch.
    #[error("{what} needs nats-server {needed} or later and the server is {server}; upgrade the server or publish with publish_all")]
    BatchUnsupported {
        /// The kind of batch.
        what: &'static str,
        /// The version it needs.
        needed: String,
        /// The server's version.
        server: String,
    },

    /// The stream does not accept this kind of batch.
    #[error("the stream capturing {subject:?} does not accept batches: declare it with `{flag}: true` (StreamSpec) and apply it with ensure_streams")]
    BatchNotAllowed {
        /// The subject of the batch's first event.
        subject: String,
        /// The stream flag it needs.
        flag: &'static str,
    },

    /// An event's `Nats-Msg-Id` is one the stream already holds (or repeats one in the batch);
    /// the server rejected the whole batch and stored nothing.
    #[error("the atomic batch was rejected, nothing stored: an event's Nats-Msg-Id is already in the stream or repeated; drop that event or give it a new id")]
    BatchDuplicate,

    /// Retries could not get an acknowledgement before the retry deadline.
    #[error("JetStream publish to {subject:?} not acknowledged after {attempts} attempt(s) in {elapsed:?} ({last}); resending with Nats-Msg-Id {msg_id:?} is safe")]
    NotAcknowledged {
        /// The subject published to.
        subject: String,
        /// The message id used on every attempt.
        msg_id: String,
        /// How many times it was sent.
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The last attempt's error.
        last: String,
    },

    /// A test double was told to fail.
    #[error("simulated failure (InMemoryPublisher): {0}")]
    Simulated(String),
}

impl PublishError {
    /// Whether trying again later may succeed (timeouts, a full buffer, a
    /// missing acknowledgement) as opposed to a mistake in the call itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PublishError::BufferFull { .. }
                | PublishError::Timeout { .. }
                | PublishError::NotAcknowledged { .. }
        )
    }
}

impl From<serde_json::Error> for PublishError {
    fn from(e: serde_json::Error) -> Self {
        PublishError::Serialize(e.to_string())
    }
}
