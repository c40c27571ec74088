//! Short examples of connect-nats, one idea each, 20 to 60 lines, compiled by `cargo xtask test`.
//! Each reads its settings from the environment (`NATS_URL`, …) like a service does; run one with
//! `cargo run -p connect-nats-examples --example NAME` against a server with JetStream
//! (`nats-server -js`):
//!
//! | example | shows |
//! |---|---|
//! | `connect_from_env` | load the configuration from the environment, connect, print health |
//! | `publish_event` | publish an event in the standard envelope on core NATS and acknowledged on JetStream |
//! | `durable_consumer` | a durable consumer with retries and a dead-letter subject |
//! | `typed_kv` | a key-value bucket of typed values |
//! | `ensure_streams_from_file` | declare streams in a YAML file and apply them, reading the report |
//!
//! The full tour is the demo service (`cargo xtask demo`).
