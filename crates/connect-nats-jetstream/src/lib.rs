//! # connect-nats-jetstream
//!
//! Declared streams kept in sync, durable consumers with retry and dead
//! letters, and key-value helpers.

pub use connect_nats_config::StreamSpec;
