//! Publisher options: header policy, window, timeouts, disconnected buffer.

use std::fmt;
use std::time::Duration;

pub use connect_nats_core::config::HeaderPolicy;

/// What a core publish does when the connection is down and the
/// disconnected buffer is full.
///
/// While there is room, a core publish made while disconnected is buffered
/// and returns [`CoreDelivery::Buffered`](crate::CoreDelivery::Buffered) at
/// once, whatever the policy; the buffer is flushed in order once the
/// connection is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferPolicy {
    /// Wait up to `timeout` for room (the buffer drains after the reconnect),
    /// then fail with [`PublishError::BufferFull`](crate::PublishError::BufferFull).
    Wait {
        /// Longest wait for room.
        timeout: Duration,
    },
    /// Fail at once with [`PublishError::BufferFull`](crate::PublishError::BufferFull).
    FailFast,
    /// Drop the oldest buffered events until the new one fits (each drop is
    /// counted in [`BufferStats::dropped_oldest`](crate::BufferStats::dropped_oldest)).
    DropOldest,
}

impl BufferPolicy {
    /// Short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            BufferPolicy::Wait { .. } => "wait",
            BufferPolicy::FailFast => "fail_fast",
            BufferPolicy::DropOldest => "drop_oldest",
        }
    }
}

impl Default for BufferPolicy {
    fn default() -> Self {
        BufferPolicy::Wait {
            timeout: Duration::from_secs(5),
        }
    }
}

impl fmt::Display for BufferPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Limits of the disconnected buffer; both are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Most events held.
    pub max_messages: usize,
    /// Most bytes held (subject + headers + payload of each event).
    pub max_bytes: usize,
}

impl Default for BufferLimits {
    fn default() -> Self {
        BufferLimits {
            max_messages: 10_000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Default number of JetStream acknowledgements in flight.
pub const DEFAULT_WINDOW: usize = 512;
/// Default longest time one publish call blocks handing an event over.
pub const DEFAULT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default wait for one JetStream acknowledgement before re-sending.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a JetStream publish keeps retrying before giving up.
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(30);

/// All publisher settings, with their defaults in [`Default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherOptions {
    /// The `meta.by` and `Connect-Service` value.
    pub service_name: String,
    /// Which headers each message carries; [`Publisher::builder`](crate::Publisher::builder)
    /// takes it from the config (`NATS_HEADERS`, default `minimal`).
    pub headers: HeaderPolicy,
    /// Most JetStream acknowledgements awaited at once (pipelining window).
    pub window: usize,
    /// Longest time a publish call blocks handing the event over: a core
    /// publish, to the client's queue (or to the disconnected buffer); a
    /// JetStream publish, waiting for a free slot in the ack window. It does
    /// not bound the wait for a JetStream acknowledgement: that is
    /// [`retry_deadline`](Self::retry_deadline), counted from the first send,
    /// so `.send()` returns within about `publish_timeout + retry_deadline`.
    pub publish_timeout: Duration,
    /// Wait for one JetStream acknowledgement before sending again.
    pub ack_timeout: Duration,
    /// Time from the first send (once the event has a window slot) after
    /// which a JetStream publish stops retrying and returns
    /// [`PublishError::NotAcknowledged`](crate::PublishError::NotAcknowledged).
    /// Keep it below the stream's duplicate window so retries are de-duplicated.
    /// In `publish_all` it bounds each event from that event's own send (an
    /// event a failed fast-ingest batch publishes again: from the re-send),
    /// not the whole call.
    pub retry_deadline: Duration,
    /// Disconnected-buffer limits (core publishes).
    pub buffer_limits: BufferLimits,
    /// What a core publish does when the buffer is full.
    pub buffer_policy: BufferPolicy,
}

impl Default for PublisherOptions {
    fn default() -> Self {
        PublisherOptions {
            service_name: connect_nats_core::config::DEFAULT_CLIENT_ID.to_owned(),
            headers: HeaderPolicy::default(),
            window: DEFAULT_WINDOW,
            publish_timeout: DEFAULT_PUBLISH_TIMEOUT,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            retry_deadline: DEFAULT_RETRY_DEADLINE,
            buffer_limits: BufferLimits::default(),
            buffer_policy: BufferPolicy::default(),
        }
    }
}
