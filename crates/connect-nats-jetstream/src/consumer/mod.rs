//! Durable pull consumers with retries, dead letters, bounded concurrency and
//! graceful stop: [`consume`].

pub mod dead_letter;
mod delivery;
mod outcome;
mod run;
mod spec;
mod stats;

pub use delivery::{Delivery, HandlerError};
pub use outcome::DeadLetterReason;
pub use run::{consume, ConsumerHandle};
pub use spec::{
    ConsumerSpec, StartFrom, DEFAULT_ACK_WAIT, DEFAULT_CONCURRENCY, DEFAULT_MAX_DELIVER,
    DEFAULT_PULL_EXPIRES,
};
pub use stats::ConsumerStats;
