//! # connect-nats-config
//!
//! One NATS configuration for every service: environment variables
//! (`NATS_URL`, `NATS_TOKEN`, …), YAML/JSON/TOML files and NATS CLI context
//! files, layered with figment and validated with clear errors.
//!
//! Layers, lowest precedence first: built-in defaults < NATS CLI context <
//! config file < environment variables < values set in code. Every setting,
//! its variable, file key and context field is listed in [`SETTINGS`] (and in
//! `docs/configuration.md`). Loading never falls back silently: a bad value is
//! a [`ConfigError`] naming the variable or key and what to do.
//!
//! This crate depends on neither tokio nor async-nats: a service can parse and
//! validate its NATS settings without pulling the client in.
//!
//! ```
//! use connect_nats_config::{Config, ConfigErrorKind};
//!
//! let config = Config::builder()
//!     .env_vars([("NATS_URL", "tls://nats.internal:4222"), ("NATS_TOKEN", "s3cret")])
//!     .build()
//!     .unwrap();
//! assert!(config.tls().required);
//! assert!(!format!("{config:?}").contains("s3cret"));
//!
//! let err = Config::builder()
//!     .env_vars([("NATS_TOKEN", "a"), ("NATS_USER", "b")])
//!     .build()
//!     .unwrap_err();
//! assert_eq!(err.kind(), ConfigErrorKind::AuthConflict);
//! assert!(err.to_string().contains("NATS_TOKEN") && err.to_string().contains("NATS_USER"));
//! ```

mod builder;
mod context;
pub mod credentials;
pub mod defaults;
pub mod duration;
mod env;
mod error;
mod file;
mod headers;
mod layers;
mod model;
pub mod redact;
mod resolve;
mod secret;
mod settings;
mod source;
mod streams;
mod text;
mod urls;

pub use builder::{ConfigBuilder, Resolved};
pub use context::ContextInfo;
pub use defaults::{
    DefaultValue, DEFAULT_CLIENT_ID, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEADERS,
    DEFAULT_MAX_PINGS_OUT, DEFAULT_PING_INTERVAL, DEFAULT_RECONNECT_MAX_WAIT,
    DEFAULT_RECONNECT_WAIT, DEFAULT_URL, MAX_DURATION,
};
pub use duration::{parse_duration, DurationError};
pub use error::{ConfigError, ConfigErrorKind};
pub use headers::{HeaderPolicy, UnknownHeaderPolicy};
pub use model::{
    Auth, Config, JetStreamSettings, ReconnectSettings, Scheme, ServerUrl, TlsSettings,
};
pub use redact::redact_secrets;
pub use secret::Secret;
pub use settings::{
    setting_by_env, setting_by_key, Setting, CONFIG_FILE_ENV, CONTEXT_ENV, SETTINGS,
};
pub use source::{Layer, Origin, Sources};
pub use streams::{
    streams_problem, DiscardKind, RetentionKind, StorageKind, StreamProblem, StreamSpec,
};
