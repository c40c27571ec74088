//! `connect-nats-testkit`: real `nats-server` processes for tests.
//!
//! Every [`NatsServer`] runs in its own temporary directory with a generated config file, listens on
//! random loopback ports (learned from the server's ports file, so parallel tests never race for a
//! port), has its monitoring port enabled, and is always killed when dropped — also when the test
//! panics.
//!
//! ```no_run
//! use connect_nats_testkit::{NatsServer, ServerConfig};
//!
//! let server = NatsServer::start(ServerConfig::token("s3cret").jetstream());
//! let url = server.url(); // nats://127.0.0.1:PORT
//! let connz = server.connz(); // serde_json::Value of /connz
//! # let _ = (url, connz);
//! ```
//!
//! Backends: by default the `nats-server` binary from `NATS_SERVER_BIN` or `PATH`; with
//! `CONNECT_NATS_TEST_BACKEND=docker` servers run as containers (see [`Backend`]).
//! [`NatsServer::start_newer`] runs the newer binary from `CONNECT_NATS_TEST_NEWER_SERVER`
//! ([`NEWER_SERVER_VERSION`]) with either backend, for features the pinned server lacks.
//!
//! This is test code: every function panics with a clear message when the server cannot be had,
//! instead of returning errors a test would unwrap anyway.

// A test harness reports failures by panicking (with a message saying what to do); that is its
// interface, not an accident, so the workspace's panic lints do not apply here.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

mod backend;
mod cluster;
mod config;
mod containers;
mod interest;
mod material;
mod monitor;
mod names;
mod process;
mod server;
mod wait;

pub use backend::{
    Backend, BACKEND_ENV, CONTAINER_LABEL, IMAGE_ENV, NEWER_SERVER_ENV, NEWER_SERVER_VERSION,
    RUN_ENV, SERVER_BIN_ENV,
};
pub use cluster::{Cluster, FORM_TIMEOUT, START_ATTEMPTS};
pub use config::ServerConfig;
pub use containers::{
    ContainerCluster, ContainerNode, CLIENT_PORT, CONTAINER_FORM_TIMEOUT, MONITOR_PORT,
};
pub use interest::{round_trip, server_caught_up, subscribe_registered, PROBE_TIMEOUT};
pub use server::{NatsServer, POLL_TIMEOUT};
pub use wait::{bounded, eventually, poll_until, retrying, POLL_INTERVAL, RETRY_INTERVAL};

/// How long a server binary may take to start (ports file written and client port accepting).
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Start timeout with the docker backend (a container start is slower than a process start).
pub const DOCKER_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The guides in `docs/`, compiled as doc tests: every `rust` code block in them
/// must build against the current crates (`no_run` blocks are compiled, not run).
#[cfg(doctest)]
pub mod docs {
    #[doc = include_str!("../../docs/configuration.md")]
    pub struct Configuration;
    #[doc = include_str!("../../docs/jetstream.md")]
    pub struct JetStream;
    #[doc = include_str!("../../docs/publishing.md")]
    pub struct Publishing;
}
