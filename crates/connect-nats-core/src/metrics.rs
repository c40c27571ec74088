//! Connection metrics, emitted through the [`metrics`](https://docs.rs/metrics)
//! facade when the cargo feature `metrics` is on: the application installs
//! the exporter (e.g. `metrics-exporter-prometheus`) **before** connecting;
//! handles are registered when the connection is made.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `connect_nats_connection_state` | gauge | `client_id`, `state` | 1 for the current state (`pending`, `connected`, `disconnected`, `closed`), 0 for the others |
//! | `connect_nats_reconnects_total` | counter | `client_id` | successful reconnects |
//! | `connect_nats_disconnect_duration_seconds` | histogram | `client_id` | how long each outage lasted (recorded on reconnect) |
//! | `connect_nats_slow_consumers_total` | counter | `client_id` | slow-consumer events (messages dropped for a subscription that did not keep up) |
//! | `connect_nats_in_messages_total` | counter | `client_id` | messages received (async-nats `Client::statistics`) |
//! | `connect_nats_out_messages_total` | counter | `client_id` | messages sent |
//! | `connect_nats_in_bytes_total` | counter | `client_id` | payload bytes received (protocol overhead not included) |
//! | `connect_nats_out_bytes_total` | counter | `client_id` | payload bytes sent |
//!
//! The four `in_`/`out_` counters copy the client's own statistics. A small
//! task samples them every [`SAMPLE_INTERVAL`] while the connection lives
//! (and once more when it closes); call [`Connection::update_metrics`]
//! before rendering a scrape for exact values.
//!
//! Without the feature nothing is compiled in: every hook below is an empty
//! inline function.

use std::time::Duration;

use crate::connection::Connection;

/// `connect_nats_connection_state`: gauge, labels `client_id`, `state`.
pub const CONNECTION_STATE: &str = "connect_nats_connection_state";
/// `connect_nats_reconnects_total`: counter, label `client_id`.
pub const RECONNECTS_TOTAL: &str = "connect_nats_reconnects_total";
/// `connect_nats_disconnect_duration_seconds`: histogram, label `client_id`.
pub const DISCONNECT_DURATION_SECONDS: &str = "connect_nats_disconnect_duration_seconds";
/// `connect_nats_slow_consumers_total`: counter, label `client_id`.
pub const SLOW_CONSUMERS_TOTAL: &str = "connect_nats_slow_consumers_total";
/// `connect_nats_in_messages_total`: counter, label `client_id`.
pub const IN_MESSAGES_TOTAL: &str = "connect_nats_in_messages_total";
/// `connect_nats_out_messages_total`: counter, label `client_id`.
pub const OUT_MESSAGES_TOTAL: &str = "connect_nats_out_messages_total";
/// `connect_nats_in_bytes_total`: counter, label `client_id`.
pub const IN_BYTES_TOTAL: &str = "connect_nats_in_bytes_total";
/// `connect_nats_out_bytes_total`: counter, label `client_id`.
pub const OUT_BYTES_TOTAL: &str = "connect_nats_out_bytes_total";

/// How often the client's statistics are copied into the `in_`/`out_` counters.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

impl Connection {
    /// Copies the client's statistics (messages and bytes in and out) into
    /// the metrics now. A background task does this every
    /// [`SAMPLE_INTERVAL`]; call this right before rendering a scrape when
    /// the numbers must be exact. Does nothing without the `metrics` feature.
    pub fn update_metrics(&self) {
        self.monitor
            .metrics
            .sample(&self.client().statistics(), self.state());
    }
}

#[cfg(feature = "metrics")]
pub(crate) use enabled::ConnectionMetrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::ConnectionMetrics;

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    use async_nats::Statistics;
    use metrics::{
        counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
        Gauge, Histogram, Unit,
    };
    use tokio::sync::watch;

    use super::*;
    use crate::connection::ConnectionState;

    const STATES: [ConnectionState; 4] = [
        ConnectionState::Pending,
        ConnectionState::Connected,
        ConnectionState::Disconnected,
        ConnectionState::Closed,
    ];

    /// The metric handles of one connection (labelled with its client id).
    #[derive(Debug, Clone)]
    pub(crate) struct ConnectionMetrics {
        states: [Gauge; 4],
        reconnects: Counter,
        downtime: Histogram,
        slow_consumers: Counter,
        in_messages: Counter,
        out_messages: Counter,
        in_bytes: Counter,
        out_bytes: Counter,
    }

    fn describe() {
        describe_gauge!(
            CONNECTION_STATE,
            "1 for the connection's current state (label state), 0 for the others"
        );
        describe_counter!(
            RECONNECTS_TOTAL,
            Unit::Count,
            "Successful reconnects to NATS"
        );
        describe_histogram!(
            DISCONNECT_DURATION_SECONDS,
            Unit::Seconds,
            "How long each NATS outage lasted, recorded on reconnect"
        );
        describe_counter!(
            SLOW_CONSUMERS_TOTAL,
            Unit::Count,
            "Slow-consumer events: messages dropped for a subscription that did not keep up"
        );
        describe_counter!(
            IN_MESSAGES_TOTAL,
            Unit::Count,
            "Messages received from NATS"
        );
        describe_counter!(OUT_MESSAGES_TOTAL, Unit::Count, "Messages sent to NATS");
        describe_counter!(
            IN_BYTES_TOTAL,
            Unit::Bytes,
            "Payload bytes received from NATS"
        );
        describe_counter!(OUT_BYTES_TOTAL, Unit::Bytes, "Payload bytes sent to NATS");
    }

    impl ConnectionMetrics {
        pub(crate) fn new(client_id: &str) -> Self {
            describe();
            let id = client_id.to_owned();
            let metrics = Self {
                states: STATES.map(
                    |s| gauge!(CONNECTION_STATE, "client_id" => id.clone(), "state" => s.as_str()),
                ),
                reconnects: counter!(RECONNECTS_TOTAL, "client_id" => id.clone()),
                downtime: histogram!(DISCONNECT_DURATION_SECONDS, "client_id" => id.clone()),
                slow_consumers: counter!(SLOW_CONSUMERS_TOTAL, "client_id" => id.clone()),
                in_messages: counter!(IN_MESSAGES_TOTAL, "client_id" => id.clone()),
                out_messages: counter!(OUT_MESSAGES_TOTAL, "client_id" => id.clone()),
                in_bytes: counter!(IN_BYTES_TOTAL, "client_id" => id.clone()),
                out_bytes: counter!(OUT_BYTES_TOTAL, "client_id" => id),
            };
            metrics.state(ConnectionState::Pending);
            metrics
        }

        pub(crate) fn state(&self, state: ConnectionState) {
            for (gauge, s) in self.states.iter().zip(STATES) {
                gauge.set(if s == state { 1.0 } else { 0.0 });
            }
        }

        pub(crate) fn reconnected(&self, downtime: Duration) {
            self.reconnects.increment(1);
            self.downtime.record(downtime.as_secs_f64());
        }

        pub(crate) fn slow_consumer(&self) {
            self.slow_consumers.increment(1);
        }

        pub(crate) fn sample(&self, stats: &Statistics, state: ConnectionState) {
            self.in_messages
                .absolute(stats.in_messages.load(Ordering::Relaxed));
            self.out_messages
                .absolute(stats.out_messages.load(Ordering::Relaxed));
            self.in_bytes
                .absolute(stats.in_bytes.load(Ordering::Relaxed));
            self.out_bytes
                .absolute(stats.out_bytes.load(Ordering::Relaxed));
            // The event that last changed the state may have been dropped by
            // async-nats' event channel: re-assert the state seen now.
            self.state(state);
        }

        /// Samples the statistics every [`SAMPLE_INTERVAL`] until the
        /// connection closes (or its monitor is gone). Holds neither the
        /// client nor the monitor, so it never keeps the connection alive.
        pub(crate) fn spawn_sampler(
            &self,
            stats: Arc<Statistics>,
            mut state: watch::Receiver<ConnectionState>,
        ) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let metrics = self.clone();
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        changed = state.changed() => {
                            if changed.is_err() {
                                break;
                            }
                        }
                    }
                    let now = *state.borrow_and_update();
                    metrics.sample(&stats, now);
                    if now == ConnectionState::Closed {
                        break;
                    }
                }
            });
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use std::sync::Arc;
    use std::time::Duration;

    use async_nats::Statistics;
    use tokio::sync::watch;

    use crate::connection::ConnectionState;

    /// No-op stand-in when the `metrics` feature is off.
    #[derive(Debug, Clone)]
    pub(crate) struct ConnectionMetrics;

    impl ConnectionMetrics {
        #[inline]
        pub(crate) fn new(_client_id: &str) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn state(&self, _state: ConnectionState) {}
        #[inline]
        pub(crate) fn reconnected(&self, _downtime: Duration) {}
        #[inline]
        pub(crate) fn slow_consumer(&self) {}
        #[inline]
        pub(crate) fn sample(&self, _stats: &Statistics, _state: ConnectionState) {}
        #[inline]
        pub(crate) fn spawn_sampler(
            &self,
            _stats: Arc<Statistics>,
            _state: watch::Receiver<ConnectionState>,
        ) {
        }
    }
}
