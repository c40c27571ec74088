//! # connect-nats-core
//!
//! Turns a [`connect_nats_config::Config`] into a live NATS connection that
//! behaves the same in every service.
//!
//! NOTE: skeleton; the full implementation (every auth kind, TLS, backoff with
//! jitter, health, shutdown) lands with the core issue.

mod connection;
mod error;

pub use connect_nats_config as config;
pub use connect_nats_config::Config;
pub use connection::{connect, connect_in_background, connect_or_degrade, Connection, ConnectionState};
pub use error::ConnectError;
