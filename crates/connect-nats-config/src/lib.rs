//! # connect-nats-config
//!
//! One NATS configuration for every service: environment variables
//! (`NATS_URL`, `NATS_TOKEN`, …), YAML/JSON/TOML files and NATS CLI context
//! files, layered with figment and validated with clear errors.
//!
//! This crate depends on neither tokio nor async-nats: a service can parse and
//! validate its NATS settings without pulling the client in.
//!
//! ```
//! use connect_nats_config::Config;
//!
//! let config = Config::default();
//! assert_eq!(config.client_id, "connect-service");
//! ```

pub mod duration;
mod model;
mod secret;
mod streams;

pub use duration::{parse_duration, DurationError};
pub use model::{
    Auth, Config, JetStreamSettings, ReconnectSettings, Scheme, ServerUrl, TlsSettings,
    DEFAULT_CLIENT_ID, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_MAX_WAIT,
    DEFAULT_RECONNECT_WAIT, DEFAULT_URL,
};
pub use secret::Secret;
pub use streams::{DiscardKind, RetentionKind, StorageKind, StreamSpec};
