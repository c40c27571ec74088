//! Publish metrics, emitted through the [`metrics`](https://docs.rs/metrics)
//! facade when the cargo feature `metrics` is on (it also turns on the
//! metrics of connect-nats-core and, with `jetstream`, of
//! connect-nats-jetstream). Install the exporter before building the
//! [`Publisher`](crate::Publisher): handles are registered then.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `connect_nats_publishes_total` | counter | `client_id`, `kind`, `outcome` | publishes by `kind` (`core`, `jetstream`) and `outcome`: `ok` (core: handed to the client; JetStream: acknowledged), `buffered` (core: held in the disconnected buffer), `duplicate` (JetStream: the stream already had this `Nats-Msg-Id`), `transient_error` ([`PublishError::is_transient`](crate::PublishError::is_transient): timeout, buffer full, not acknowledged) or `error` (anything else: too large, no stream, rejected, closed…) |
//! | `connect_nats_publish_ack_latency_seconds` | histogram | `client_id` | JetStream: from the first send to the acknowledgement's arrival, retries included (successful publishes) |
//! | `connect_nats_publish_buffer_messages` | gauge | `client_id` | events held in the disconnected buffer |
//! | `connect_nats_publish_buffer_bytes` | gauge | `client_id` | bytes held in the disconnected buffer |
//! | `connect_nats_publish_buffer_flushed_total` | counter | `client_id` | buffered events sent after the reconnect |
//! | `connect_nats_publish_buffer_dropped_total` | counter | `client_id`, `reason` | events lost or refused by the buffer: `dropped_oldest`, `rejected` (fail fast), `wait_timeout`, `discarded` (connection closed for good, or refused by the client when flushed) |
//!
//! A publish refused before it reaches the connection because the call
//! itself is wrong (invalid subject or event type, data that does not
//! serialize) is returned as an error and not counted.
//!
//! Without the feature nothing is compiled in: every hook below is an empty
//! inline function (or returns its future unchanged).

/// `connect_nats_publishes_total`: counter, labels `client_id`, `kind`, `outcome`.
pub const PUBLISHES_TOTAL: &str = "connect_nats_publishes_total";
/// `connect_nats_publish_ack_latency_seconds`: histogram, label `client_id`.
pub const PUBLISH_ACK_LATENCY_SECONDS: &str = "connect_nats_publish_ack_latency_seconds";
/// `connect_nats_publish_buffer_messages`: gauge, label `client_id`.
pub const PUBLISH_BUFFER_MESSAGES: &str = "connect_nats_publish_buffer_messages";
/// `connect_nats_publish_buffer_bytes`: gauge, label `client_id`.
pub const PUBLISH_BUFFER_BYTES: &str = "connect_nats_publish_buffer_bytes";
/// `connect_nats_publish_buffer_flushed_total`: counter, label `client_id`.
pub const PUBLISH_BUFFER_FLUSHED_TOTAL: &str = "connect_nats_publish_buffer_flushed_total";
/// `connect_nats_publish_buffer_dropped_total`: counter, labels `client_id`, `reason`.
pub const PUBLISH_BUFFER_DROPPED_TOTAL: &str = "connect_nats_publish_buffer_dropped_total";

/// Why the disconnected buffer lost or refused events: the `reason` label of
/// [`PUBLISH_BUFFER_DROPPED_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufferLoss {
    DroppedOldest = 0,
    Rejected = 1,
    WaitTimeout = 2,
    Discarded = 3,
}

#[cfg(feature = "metrics")]
pub(crate) use enabled::PublishMetrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::PublishMetrics;

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::Arc;

    use metrics::{
        counter, describe_counter, describe_gauge, describe_histogram, gauge, Counter, Gauge, Unit,
    };
    #[cfg(feature = "jetstream")]
    use metrics::{histogram, Histogram};

    use super::*;
    use crate::error::PublishError;
    use crate::outcome::CoreDelivery;

    /// Index of the `outcome` counters: ok, buffered/duplicate, transient_error, error.
    const OK: usize = 0;
    const HELD: usize = 1;
    const TRANSIENT: usize = 2;
    const ERROR: usize = 3;

    struct Handles {
        core: [Counter; 4],
        #[cfg(feature = "jetstream")]
        jetstream: [Counter; 4],
        #[cfg(feature = "jetstream")]
        ack_latency: Histogram,
        buffer_messages: Gauge,
        buffer_bytes: Gauge,
        flushed: Counter,
        dropped: [Counter; 4],
    }

    /// The metric handles of one publisher (shared by its clones).
    #[derive(Clone)]
    pub(crate) struct PublishMetrics(Arc<Handles>);

    impl std::fmt::Debug for PublishMetrics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("PublishMetrics")
        }
    }

    fn describe() {
        describe_counter!(
            PUBLISHES_TOTAL,
            Unit::Count,
            "Publishes by kind (core, jetstream) and outcome (ok, buffered, duplicate, transient_error, error)"
        );
        describe_histogram!(
            PUBLISH_ACK_LATENCY_SECONDS,
            Unit::Seconds,
            "JetStream publish: time from the first send to the acknowledgement's arrival, retries included"
        );
        describe_gauge!(
            PUBLISH_BUFFER_MESSAGES,
            Unit::Count,
            "Events held in the disconnected buffer"
        );
        describe_gauge!(
            PUBLISH_BUFFER_BYTES,
            Unit::Bytes,
            "Bytes held in the disconnected buffer"
        );
        describe_counter!(
            PUBLISH_BUFFER_FLUSHED_TOTAL,
            Unit::Count,
            "Buffered events sent after the reconnect"
        );
        describe_counter!(
            PUBLISH_BUFFER_DROPPED_TOTAL,
            Unit::Count,
            "Events lost or refused by the disconnected buffer, by reason"
        );
    }

    fn outcomes(id: &str, kind: &'static str, held: &'static str) -> [Counter; 4] {
        ["ok", held, "transient_error", "error"].map(|outcome| {
            counter!(PUBLISHES_TOTAL, "client_id" => id.to_owned(), "kind" => kind, "outcome" => outcome)
        })
    }

    fn slot(error: &PublishError) -> usize {
        if error.is_transient() {
            TRANSIENT
        } else {
            ERROR
        }
    }

    impl PublishMetrics {
        pub(crate) fn new(client_id: &str) -> Self {
            describe();
            let id = || client_id.to_owned();
            Self(Arc::new(Handles {
                core: outcomes(client_id, "core", "buffered"),
                #[cfg(feature = "jetstream")]
                jetstream: outcomes(client_id, "jetstream", "duplicate"),
                #[cfg(feature = "jetstream")]
                ack_latency: histogram!(PUBLISH_ACK_LATENCY_SECONDS, "client_id" => id()),
                buffer_messages: gauge!(PUBLISH_BUFFER_MESSAGES, "client_id" => id()),
                buffer_bytes: gauge!(PUBLISH_BUFFER_BYTES, "client_id" => id()),
                flushed: counter!(PUBLISH_BUFFER_FLUSHED_TOTAL, "client_id" => id()),
                dropped: ["dropped_oldest", "rejected", "wait_timeout", "discarded"].map(
                    |reason| counter!(PUBLISH_BUFFER_DROPPED_TOTAL, "client_id" => id(), "reason" => reason),
                ),
            }))
        }

        /// Counts a core publish's result and hands it back.
        pub(crate) fn core(
            &self,
            result: Result<CoreDelivery, PublishError>,
        ) -> Result<CoreDelivery, PublishError> {
            let index = match &result {
                Ok(CoreDelivery::Sent) => OK,
                Ok(CoreDelivery::Buffered) => HELD,
                Err(e) => slot(e),
            };
            if let Some(c) = self.0.core.get(index) {
                c.increment(1);
            }
            result
        }

        /// Counts a JetStream publish refused before it was sent.
        #[cfg(feature = "jetstream")]
        pub(crate) fn jetstream_refused<T>(
            &self,
            result: Result<T, PublishError>,
        ) -> Result<T, PublishError> {
            if let Err(e) = &result {
                if let Some(c) = self.0.jetstream.get(slot(e)) {
                    c.increment(1);
                }
            }
            result
        }

        /// Counts a JetStream publish's outcome and, on success, the time
        /// from `started` (its first send) to its acknowledgement's arrival.
        #[cfg(feature = "jetstream")]
        pub(crate) fn jetstream_ack(
            &self,
            started: tokio::time::Instant,
            result: Result<(crate::outcome::PublishAck, tokio::time::Instant), PublishError>,
        ) -> Result<crate::outcome::PublishAck, PublishError> {
            let (index, result) = match result {
                Ok((ack, at)) => {
                    let latency = at.saturating_duration_since(started);
                    self.0.ack_latency.record(latency.as_secs_f64());
                    (if ack.duplicate { HELD } else { OK }, Ok(ack))
                }
                Err(e) => (slot(&e), Err(e)),
            };
            if let Some(c) = self.0.jetstream.get(index) {
                c.increment(1);
            }
            result
        }

        /// The buffer's fill after a change.
        pub(crate) fn buffer_fill(&self, messages: usize, bytes: usize) {
            self.0.buffer_messages.set(messages as f64);
            self.0.buffer_bytes.set(bytes as f64);
        }

        pub(crate) fn buffer_flushed(&self) {
            self.0.flushed.increment(1);
        }

        pub(crate) fn buffer_dropped(&self, reason: BufferLoss, count: u64) {
            if let Some(c) = self.0.dropped.get(reason as usize) {
                c.increment(count);
            }
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use super::*;
    use crate::error::PublishError;
    use crate::outcome::CoreDelivery;

    /// No-op stand-in when the `metrics` feature is off.
    #[derive(Debug, Clone)]
    pub(crate) struct PublishMetrics;

    impl PublishMetrics {
        #[inline]
        pub(crate) fn new(_client_id: &str) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn core(
            &self,
            result: Result<CoreDelivery, PublishError>,
        ) -> Result<CoreDelivery, PublishError> {
            result
        }
        #[cfg(feature = "jetstream")]
        #[inline]
        pub(crate) fn jetstream_refused<T>(
            &self,
            result: Result<T, PublishError>,
        ) -> Result<T, PublishError> {
            result
        }
        #[cfg(feature = "jetstream")]
        #[inline]
        pub(crate) fn jetstream_ack(
            &self,
            _started: tokio::time::Instant,
            result: Result<(crate::outcome::PublishAck, tokio::time::Instant), PublishError>,
        ) -> Result<crate::outcome::PublishAck, PublishError> {
            result.map(|(ack, _)| ack)
        }
        #[inline]
        pub(crate) fn buffer_fill(&self, _messages: usize, _bytes: usize) {}
        #[inline]
        pub(crate) fn buffer_flushed(&self) {}
        #[inline]
        pub(crate) fn buffer_dropped(&self, _reason: BufferLoss, _count: u64) {}
    }
}
