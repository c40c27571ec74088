//! # connect-nats-publisher
//!
//! The standard connect event envelope and its publisher.
