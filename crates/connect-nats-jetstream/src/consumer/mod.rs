//! Durable pull consumers with retries, dead letters, bounded concurrency and
//! graceful stop: [`consume`].

mod ack;
pub mod dead_letter;
mod delivery;
mod forward;
mod handle;
mod outcome;
mod process;
mod pull;
mod run;
mod spec;
mod stats;

pub use delivery::{Delivery, HandlerError};
pub use handle::ConsumerHandle;
pub use outcome::DeadLetterReason;
pub use run::consume;
pub use spec::{
    ConsumerSpec, StartFrom, DEFAULT_ACK_WAIT, DEFAULT_CONCURRENCY, DEFAULT_MAX_DELIVER,
    DEFAULT_PULL_EXPIRES,
};
pub use stats::ConsumerStats;
