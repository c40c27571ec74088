//! Loading and validation tests (no server needed).

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

mod context;
mod docs;
mod env;
mod errors;
mod files;
mod headers;
mod precedence;
mod redaction;
mod support;
