//! # connect-nats-publisher
//!
//! The standard connect event envelope and its publisher.
//!
//! - [`Event`] / [`Envelope`]: the wire format shared with the Go services,
//!   `{"type":…,"version":1,"data":…,"meta":{"ts":…,"by":…}}`, defined in
//!   [`connect_nats_core::envelope`] and re-exported here.
//! - [`Publisher`]: one publish API, a [`PublishBuilder`] from
//!   `publisher.event(subject, event_type, &data)` (or
//!   `publisher.message(subject, &data)` for plain JSON), with
//!   `.version(n)` and `.msg_id(…)`, finished by the transport:
//!   - `.core()`: core NATS, fire and forget (bounded buffer while
//!     disconnected, see [`BufferPolicy`]);
//!   - `.send()` (feature `jetstream`): acknowledged JetStream publishing,
//!     retried across disconnects with the same `Nats-Msg-Id` until the
//!     retry deadline;
//!   - `.send_async()` (feature `jetstream`): the same, pipelined, returning
//!     a `PendingAck`; `publish_all` pipelines a batch.
//! - [`PooledPublisher`]: the same over a
//!   [`ConnectionPool`](connect_nats_core::ConnectionPool), each subject on
//!   one of its connections (order kept per subject only).
//! - [`EventPublisher`]: the trait service code is written against;
//!   [`InMemoryPublisher`] implements it for unit tests without a server.
//!
//! ## Headers: a policy
//!
//! The envelope already holds the event type and the service, so by default
//! ([`HeaderPolicy::Minimal`], `NATS_HEADERS=minimal`) a JetStream message
//! carries only `Nats-Msg-Id` and a core message carries no header at all.
//! [`HeaderPolicy::Full`] adds the other three, as the Go library did:
//!
//! | header | value | sent with |
//! |---|---|---|
//! | `Nats-Msg-Id` ([`HEADER_MSG_ID`]) | a unique NUID on JetStream, or the id given with `.msg_id(…)` (also sent on core then); the same on every retry | both policies |
//! | `Connect-Event-Type` ([`HEADER_EVENT_TYPE`]) | the event type (events only) | `full` |
//! | `Connect-Service` ([`HEADER_SERVICE`]) | the publishing service's name | `full` |
//! | `Content-Type` | `application/json` | `full` |
//!
//! Headers cost: async-nats clones and encodes a header map per message,
//! which on a small core publish costs more than the publish itself (see
//! docs/publishing.md).
//!
//! ## Guarantees
//!
//! - JetStream: a publish returns only when the server acknowledged it, or
//!   with an error once the retry deadline passed (the caller always learns
//!   the outcome). Retries reuse the `Nats-Msg-Id`, so the stream stores the
//!   event once as long as the deadline is shorter than the stream's
//!   duplicate window (2 minutes by default).
//! - Core: at most once. While disconnected, events wait in a bounded buffer
//!   (messages and bytes) and are flushed in order after the reconnect;
//!   when it is full the [`BufferPolicy`] decides (wait up to a timeout, fail
//!   at once, or drop the oldest), and every such event is counted
//!   ([`BufferStats`]) and logged. A publish never blocks past its timeout.
//!   Events already written to a socket that dies are lost (async-nats
//!   discards unflushed bytes on reconnect); use JetStream when that matters.
//! - Closing: [`Publisher::close`] flushes the buffer and waits for the
//!   JetStream publishes in flight, within a timeout, and returns a
//!   [`CloseReport`] of what was lost. `Connection::shutdown` closes every
//!   publisher on the connection first and returns an error when events
//!   were lost. A dropped `PendingAck` still retries to its deadline.
//!
//! With the cargo feature `otel`, a message published inside a span also
//! carries its W3C trace context (`traceparent`, `tracestate`), whatever the
//! policy: see [`otel`].
//!
//! Building with no features compiles no JetStream code: `.send()`,
//! `.send_async()` and `publish_all` do not exist without the `jetstream`
//! feature (a compile error, not a runtime one).

#[cfg(feature = "jetstream")]
mod acks;
mod buffer;
mod close;
mod deadline;
mod error;
mod event_publisher;
mod hot_path;
#[cfg(feature = "jetstream")]
mod jetstream;
mod memory;
mod message;
pub mod metrics;
mod options;
pub mod otel;
mod outcome;
mod pool;
mod publisher;
mod subject;
mod template;

pub use buffer::BufferStats;
pub use close::{CloseReport, FailedPublish};
/// The wire format, defined in `connect-nats-core` (re-exported here for
/// publishing code).
pub use connect_nats_core::envelope::{
    now_millis, Envelope, EnvelopeError, Event, Meta, CONTENT_TYPE_JSON, DEFAULT_VERSION,
    HEADER_CONTENT_TYPE, HEADER_EVENT_TYPE, HEADER_MSG_ID, HEADER_SERVICE, HEADER_TRACEPARENT,
    HEADER_TRACESTATE,
};
pub use error::PublishError;
pub use event_publisher::EventPublisher;
#[cfg(feature = "jetstream")]
pub use jetstream::{BatchAck, PendingAck, MAX_ATOMIC_BATCH};
pub use memory::{InMemoryPublisher, RecordedEvent, IN_MEMORY_STREAM};
pub use message::{Outgoing, PublishBuilder};
pub use options::{
    BufferLimits, BufferPolicy, HeaderPolicy, PublisherOptions, DEFAULT_ACK_TIMEOUT,
    DEFAULT_PUBLISH_TIMEOUT, DEFAULT_RETRY_DEADLINE, DEFAULT_WINDOW,
};
pub use outcome::{CoreDelivery, PublishAck, Route};
pub use pool::PooledPublisher;
pub use publisher::{Publisher, PublisherBuilder};
pub use subject::validate_publish_subject;
