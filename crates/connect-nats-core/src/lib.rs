//! # connect-nats-core
//!
//! Turns a [`connect_nats_config::Config`] into a live NATS connection that
//! behaves the same in every service: every auth kind (token, user/password,
//! `.creds` file, nkey seed file, inline JWT + seed), TLS with rustls (custom
//! CA, mutual TLS, `tls://` URLs, TLS-first; never a silent fallback to plain
//! text), reconnects with exponential backoff and full jitter, classified
//! errors, health and readiness, and a bounded shutdown.
//!
//! ```no_run
//! # async fn run() -> Result<(), connect_nats_core::ConnectError> {
//! use std::time::Duration;
//! use connect_nats_core::{connect_in_background, Config};
//!
//! let config = Config::default(); // in a service: Config::load()
//! // Kubernetes-friendly start: returns at once, connects when NATS is up.
//! let nats = connect_in_background(&config).await?;
//! nats.wait_connected(Duration::from_secs(30)).await?;
//! nats.publish("greet.joe", "hello".into()).await.ok(); // Deref to async_nats::Client
//! println!("{}", nats.readiness());
//! nats.shutdown(Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! ## Three ways to connect
//! - [`connect`]: returns within the connect timeout, or a [`ConnectError`]
//!   saying whether the server was unreachable, rejected the credentials,
//!   failed TLS, or the configuration is invalid.
//! - [`connect_or_degrade`]: the original library's `MustConnect`; logs one
//!   warning and returns `None` on failure.
//! - [`connect_in_background`]: returns at once and keeps trying.
//!
//! ## Reconnecting
//! Forever by default (`NATS_MAX_RECONNECTS=-1`); a finite limit is honoured
//! and the connection then reports [`ConnectionState::Closed`]. Delays follow
//! [`backoff`]: full jitter between zero and a ceiling that starts at
//! `NATS_RECONNECT_WAIT` and doubles up to `NATS_RECONNECT_MAX_WAIT`.
//! `NATS_MAX_RECONNECTS=0` means a single attempt (async-nats cannot express
//! "none").
//!
//! ## While disconnected
//! async-nats keeps accepting publishes into its command channel (2048
//! commands) and then makes `publish` wait until reconnected; bytes not yet
//! written to the old socket are lost on reconnect. To bound this, read
//! [`Connection::reconnect_epoch`] before sending and, on trouble, await
//! [`Connection::wait_reconnected_since`] (connect-nats-publisher does);
//! [`Connection::wait_connected`] and [`Connection::wait_connected_until`]
//! wait, with a bound, until the connection is up. Code that holds only the
//! async-nats client has [`reconnect_epoch`] and [`client_reconnected_since`].
//!
//! ## Logging
//! Events are logged once each with `tracing` (target `connect_nats_core`):
//! connected/reconnected at INFO, disconnected/closed at WARN, slow consumers
//! and server errors rate-limited (see the `monitor` table in the source).
//! async-nats logs the same events itself at INFO (and an ERROR for every
//! failed auth attempt); add [`RECOMMENDED_LOG_DIRECTIVES`] to your
//! `EnvFilter` so each appears once. Secrets are never logged.
//!
//! ## Metrics
//! With the cargo feature `metrics`, the connection's state, reconnects,
//! outage durations, slow consumers and traffic are emitted through the
//! `metrics` facade; see [`metrics`] for the names.
//!
//! ## Connection pool
//! [`ConnectionPool`] opens N connections from one config (named
//! `<client id>-<i>`) and maps each subject to one of them, so order is kept
//! per subject; see [`pool`].
//!
//! ## The event envelope
//! [`envelope`] holds the wire format every connect service shares (the
//! JSON envelope, its header names and the trace header names), so readers
//! decode it without depending on the publisher.
//!
//! ## Shutting down
//! Call [`Connection::shutdown`] before exiting: dropping the connection
//! without it may lose publishes still buffered in the client.

pub mod backoff;
mod connection;
pub mod envelope;
mod error;
pub mod go_json;
mod health;
pub mod metrics;
mod monitor;
mod options;
pub mod pool;
mod shutdown;
mod wait;

/// The async-nats crate this connection is built on (same version), for its types.
pub use async_nats;
pub use connect_nats_config as config;
pub use connect_nats_config::Config;
pub use connection::{
    connect, connect_in_background, connect_or_degrade, Connection, ConnectionState,
};
pub use error::{ConnectError, TlsProblem};
pub use health::{Health, Readiness, ServerSummary, RTT_TIMEOUT};
pub use options::connect_options;
pub use pool::{ConnectionPool, MemberHealth, PoolHealth};
pub use shutdown::Drain;
pub use wait::{client_reconnected_since, reconnect_epoch};

/// `tracing_subscriber::EnvFilter` directives that silence async-nats' own
/// event logging, which this crate replaces (each event once, no per-attempt
/// error spam): e.g. `EnvFilter::new(format!("info,{RECOMMENDED_LOG_DIRECTIVES}"))`.
pub const RECOMMENDED_LOG_DIRECTIVES: &str = "async_nats=off";
