//! # connect-nats-jetstream
//!
//! JetStream for connect services, on top of `connect-nats-core`:
//!
//! - **Declared streams kept in sync**: [`ensure_streams`] creates missing
//!   streams, updates drifted ones, leaves identical ones alone and reports
//!   every stream's outcome in an [`EnsureReport`]. It never destroys data:
//!   a change that can lose events (a limit lowered, a subject removed…) is
//!   applied only with `allow_destructive`, otherwise kept and reported; a
//!   change the server cannot make in place is a failure naming the field.
//!   [`default_connect_streams`] are the two streams every environment has,
//!   and a floor: a stream an operator made larger stays as it is.
//! - **One call to connect**: [`connect_with_jetstream`] (and its degrade
//!   variant) connects and ensures the streams.
//! - **Durable consumers**: [`consume`] runs a handler per message with
//!   bounded concurrency, retries with backoff, dead letters, in-progress
//!   acks, graceful stop, and recovery after server restarts.
//! - **Key-value**: [`ensure_kv`] and the typed [`TypedKv`].
//!
//! With the cargo feature `metrics`, consumers count messages by outcome and
//! time their handlers through the `metrics` facade: see [`metrics`].
//!
//! With the cargo feature `otel`, each handler call runs in a
//! `connect_nats.consume` span that continues the publisher's W3C trace
//! context (`traceparent` / `tracestate` headers): see [`otel`].
//!
//! Every helper works through [`jetstream_context`], which honours the
//! configured JetStream domain / API prefix.
//!
//! ```no_run
//! use connect_nats_jetstream::{consume, connect_with_jetstream, ConsumerSpec, HandlerError};
//!
//! # async fn run(config: connect_nats_config::Config) -> Result<(), Box<dyn std::error::Error>> {
//! let js = connect_with_jetstream(&config, &[]).await?;
//! println!("{}", js.report);
//!
//! let spec = ConsumerSpec::new("CONNECT_EVENTS", "notifier")
//!     .filter_subject("connect.invitations.>")
//!     .dead_letter_subject("connect.dead.notifier");
//! let handle = consume(&js.jetstream, spec, |delivery| async move {
//!     let event: serde_json::Value = delivery.json()?;
//!     send_notification(event).await.map_err(HandlerError::retryable)
//! })
//! .await?;
//! // … on shutdown:
//! handle.stop().await;
//! # Ok(()) }
//! # async fn send_notification(_: serde_json::Value) -> Result<(), String> { Ok(()) }
//! ```

mod connect;
mod consumer;
mod context;
mod error;
mod kv;
pub mod metrics;
pub mod otel;
mod server_version;
mod streams;

pub use connect::{connect_with_jetstream, connect_with_jetstream_or_degrade, JetStreamConnection};
pub use connect_nats_config::{DiscardKind, RetentionKind, StorageKind, StreamProblem, StreamSpec};
pub use consumer::dead_letter;
pub use consumer::{
    consume, ConsumerHandle, ConsumerSpec, ConsumerStats, DeadLetterReason, Delivery, HandlerError,
    StartFrom, DEFAULT_ACK_WAIT, DEFAULT_CONCURRENCY, DEFAULT_MAX_DELIVER, DEFAULT_PULL_EXPIRES,
};
pub use context::{api_prefix, build_context, jetstream_context, jetstream_context_for};
pub use error::JetStreamError;
pub use kv::{ensure_kv, KvOperation, KvSpec, TypedEntry, TypedKv, TypedWatch};
pub use server_version::{ServerVersion, ATOMIC_BATCH_VERSION, FAST_INGEST_VERSION};
pub use streams::{
    declared_streams, default_connect_streams, ensure_streams, ensure_streams_dry_run, ChangeKind,
    Counts, EnsureReport, FieldChange, StreamOutcome, StreamReport,
};

/// The async-nats JetStream API, for anything these helpers do not cover.
pub use async_nats::jetstream;
