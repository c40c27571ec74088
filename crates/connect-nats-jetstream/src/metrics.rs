//! Consumer metrics, emitted through the [`metrics`](https://docs.rs/metrics)
//! facade when the cargo feature `metrics` is on (it also turns on the
//! connection metrics of `connect-nats-core`). Install the exporter before
//! calling [`consume`](crate::consume): handles are registered when the
//! consumer starts.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `connect_nats_consumer_messages_total` | counter | `stream`, `consumer`, `outcome` | messages by what became of them: `ack` (acked, confirmed by the server), `nak` (retryable failure, redelivered after a backoff), `term` (failed for good, terminated without a dead-letter subject), `dead_letter` (published to the dead-letter subject and terminated), `ack_failed` (the server never confirmed the ack/term; redelivered), `dead_letter_failed` (the dead letter could not be published; retried) |
//! | `connect_nats_consumer_handler_duration_seconds` | histogram | `stream`, `consumer` | how long each handler call took |
//! | `connect_nats_consumer_handlers_in_flight` | gauge | `stream`, `consumer` | handlers running now |
//! | `connect_nats_consumer_pull_errors_total` | counter | `stream`, `consumer` | failed pulls or consumer re-creations (server gone, JetStream not ready…) |
//!
//! Every outcome passes through one place (`apply` in the consumer's run
//! loop), so `messages_total` always agrees with
//! [`ConsumerStats`](crate::ConsumerStats).
//!
//! Without the feature nothing is compiled in: every hook below is an empty
//! inline function.

use std::future::Future;

/// `connect_nats_consumer_messages_total`: counter, labels `stream`, `consumer`, `outcome`.
pub const CONSUMER_MESSAGES_TOTAL: &str = "connect_nats_consumer_messages_total";
/// `connect_nats_consumer_handler_duration_seconds`: histogram, labels `stream`, `consumer`.
pub const CONSUMER_HANDLER_DURATION_SECONDS: &str =
    "connect_nats_consumer_handler_duration_seconds";
/// `connect_nats_consumer_handlers_in_flight`: gauge, labels `stream`, `consumer`.
pub const CONSUMER_HANDLERS_IN_FLIGHT: &str = "connect_nats_consumer_handlers_in_flight";
/// `connect_nats_consumer_pull_errors_total`: counter, labels `stream`, `consumer`.
pub const CONSUMER_PULL_ERRORS_TOTAL: &str = "connect_nats_consumer_pull_errors_total";

/// What became of a message: the `outcome` label of
/// [`CONSUMER_MESSAGES_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageOutcome {
    Ack = 0,
    Nak = 1,
    Term = 2,
    DeadLetter = 3,
    AckFailed = 4,
    DeadLetterFailed = 5,
}

impl MessageOutcome {
    /// Every outcome, in discriminant order (the index of its counter).
    #[cfg(feature = "metrics")]
    const ALL: [MessageOutcome; 6] = [
        MessageOutcome::Ack,
        MessageOutcome::Nak,
        MessageOutcome::Term,
        MessageOutcome::DeadLetter,
        MessageOutcome::AckFailed,
        MessageOutcome::DeadLetterFailed,
    ];

    /// The label value.
    #[cfg(feature = "metrics")]
    fn as_str(self) -> &'static str {
        match self {
            MessageOutcome::Ack => "ack",
            MessageOutcome::Nak => "nak",
            MessageOutcome::Term => "term",
            MessageOutcome::DeadLetter => "dead_letter",
            MessageOutcome::AckFailed => "ack_failed",
            MessageOutcome::DeadLetterFailed => "dead_letter_failed",
        }
    }
}

#[cfg(feature = "metrics")]
pub(crate) use enabled::ConsumerMetrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::ConsumerMetrics;

#[cfg(feature = "metrics")]
mod enabled {
    use std::time::Instant;

    use metrics::{
        counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
        Gauge, Histogram, Label, Unit,
    };

    use super::*;

    /// The metric handles of one consumer.
    #[derive(Debug, Clone)]
    pub(crate) struct ConsumerMetrics {
        messages: [Counter; 6],
        handler_duration: Histogram,
        in_flight: Gauge,
        pull_errors: Counter,
    }

    fn describe() {
        describe_counter!(
            CONSUMER_MESSAGES_TOTAL,
            Unit::Count,
            "JetStream consumer messages by outcome (ack, nak, term, dead_letter, ack_failed, dead_letter_failed)"
        );
        describe_histogram!(
            CONSUMER_HANDLER_DURATION_SECONDS,
            Unit::Seconds,
            "How long each consumer handler call took"
        );
        describe_gauge!(CONSUMER_HANDLERS_IN_FLIGHT, "Consumer handlers running now");
        describe_counter!(
            CONSUMER_PULL_ERRORS_TOTAL,
            Unit::Count,
            "Failed pulls or consumer re-creations"
        );
    }

    impl ConsumerMetrics {
        pub(crate) fn new(stream: &str, consumer: &str) -> Self {
            describe();
            let labels = vec![
                Label::new("stream", stream.to_owned()),
                Label::new("consumer", consumer.to_owned()),
            ];
            Self {
                messages: MessageOutcome::ALL.map(|o| {
                    let mut labels = labels.clone();
                    labels.push(Label::from_static_parts("outcome", o.as_str()));
                    counter!(CONSUMER_MESSAGES_TOTAL, labels)
                }),
                handler_duration: histogram!(CONSUMER_HANDLER_DURATION_SECONDS, labels.clone()),
                in_flight: gauge!(CONSUMER_HANDLERS_IN_FLIGHT, labels.clone()),
                pull_errors: counter!(CONSUMER_PULL_ERRORS_TOTAL, labels),
            }
        }

        pub(crate) fn message(&self, outcome: MessageOutcome) {
            if let Some(counter) = self.messages.get(outcome as usize) {
                counter.increment(1);
            }
        }

        pub(crate) async fn time_handler<T>(&self, handler: impl Future<Output = T>) -> T {
            let started = Instant::now();
            let result = handler.await;
            self.handler_duration
                .record(started.elapsed().as_secs_f64());
            result
        }

        pub(crate) fn handler_started(&self) {
            self.in_flight.increment(1.0);
        }

        pub(crate) fn handler_finished(&self) {
            self.in_flight.decrement(1.0);
        }

        pub(crate) fn pull_error(&self) {
            self.pull_errors.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use super::*;

    /// No-op stand-in when the `metrics` feature is off.
    #[derive(Debug, Clone)]
    pub(crate) struct ConsumerMetrics;

    impl ConsumerMetrics {
        #[inline]
        pub(crate) fn new(_stream: &str, _consumer: &str) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn message(&self, _outcome: MessageOutcome) {}
        #[inline]
        pub(crate) async fn time_handler<T>(&self, handler: impl Future<Output = T>) -> T {
            handler.await
        }
        #[inline]
        pub(crate) fn handler_started(&self) {}
        #[inline]
        pub(crate) fn handler_finished(&self) {}
        #[inline]
        pub(crate) fn pull_error(&self) {}
    }
}
