//! What a successful publish returns.

/// How a core (fire-and-forget) publish was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreDelivery {
    /// Handed to the client for sending now.
    Sent,
    /// Not connected: held in the disconnected buffer, to be sent in order
    /// once the connection is back.
    Buffered,
}

/// The server's acknowledgement of a JetStream publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishAck {
    /// The stream that stored the event.
    pub stream: String,
    /// Its sequence number in that stream (for a duplicate, the original's).
    pub sequence: u64,
    /// True when the stream had already stored an event with the same
    /// `Nats-Msg-Id` (e.g. a retry after a lost acknowledgement).
    pub duplicate: bool,
    /// The JetStream domain, when the server reports one.
    pub domain: Option<String>,
}

/// Which way an event travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Core NATS, fire and forget.
    Core,
    /// JetStream, acknowledged and persisted.
    JetStream,
}
