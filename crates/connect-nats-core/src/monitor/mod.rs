//! The connection's life as seen from async-nats events: state, counters, logs.
//!
//! async-nats hands every connection event to one callback, through a small
//! channel that drops events when full. The [`Monitor`] turns them into the
//! [`ConnectionState`] watch, the numbers [`health`](crate::Connection::health)
//! reports, and one log line per event:
//!
//! | event                        | level | fields                                        |
//! |------------------------------|-------|-----------------------------------------------|
//! | connected (first time)       | info  | server, client_id, tls, auth (the kind only)  |
//! | disconnected                 | warn  | reason                                        |
//! | reconnected                  | info  | server, attempts, downtime_ms                 |
//! | closed                       | warn (info when shut down on purpose) | reason |
//! | slow consumer                | warn, at most once per 10 s with a count      |
//! | lame-duck mode               | warn, once per server                         |
//! | server error                 | error, at most once per 10 s with a count     |
//! | failed connect attempt       | debug; warn only for the first failure of a new kind while starting, or when a reconnect fails for a reason other than "unreachable" (auth, TLS) |
//!
//! async-nats logs the same events itself (target `async_nats`, INFO, and an
//! ERROR per failed auth attempt). To get each line once, filter it out:
//! [`RECOMMENDED_LOG_DIRECTIVES`](crate::RECOMMENDED_LOG_DIRECTIVES).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use connect_nats_config::Config;
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::connection::ConnectionState;
use crate::metrics::ConnectionMetrics;
use rate_limit::{RateLimit, REPEAT_LOG_INTERVAL};

mod events;
mod rate_limit;

/// How the connection was started; decides the delay of the first attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// `connect`: the first pass over the servers is made without delays (the
    /// connect timeout bounds it).
    Foreground,
    /// `connect_in_background`: backoff from the start.
    Background,
}

#[derive(Debug)]
struct Inner {
    last_change: Instant,
    disconnected_at: Option<Instant>,
    last_error: Option<String>,
    /// The kind of the last failure logged at warn, so repeats go to debug.
    warned_failure: Option<&'static str>,
    lame_duck_logged: bool,
    slow: RateLimit,
    server_errors: RateLimit,
    closed_reason: Option<String>,
}

/// Shared between the [`Connection`](crate::Connection) handles and the
/// async-nats callbacks.
#[derive(Debug)]
pub(crate) struct Monitor {
    state: watch::Sender<ConnectionState>,
    inner: Mutex<Inner>,
    start: Start,
    backoff: Backoff,
    /// Set once the first connection was made.
    ever_connected: AtomicBool,
    /// Set when `shutdown` was called: closing is then expected.
    shutting_down: AtomicBool,
    /// Mirrors a `Closed` state (which never changes again).
    closed: AtomicBool,
    /// The number of the last attempt async-nats asked a delay for.
    attempt: AtomicUsize,
    reconnects: AtomicU64,
    slow_consumers: AtomicU64,
    /// The current server, once known (filled in by the connection).
    server: Mutex<Option<String>>,
    client_id: String,
    servers: String,
    auth_kind: &'static str,
    tls: bool,
    /// Metric handles (no-ops without the `metrics` feature).
    pub(crate) metrics: ConnectionMetrics,
    /// What `shutdown` drains before closing (publishers).
    pub(crate) drains: crate::shutdown::Drains,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Monitor {
    pub(crate) fn new(config: &Config, start: Start) -> Self {
        let (state, _) = watch::channel(ConnectionState::Pending);
        Self {
            state,
            inner: Mutex::new(Inner {
                last_change: Instant::now(),
                disconnected_at: None,
                last_error: None,
                warned_failure: None,
                lame_duck_logged: false,
                slow: RateLimit::new(REPEAT_LOG_INTERVAL),
                server_errors: RateLimit::new(REPEAT_LOG_INTERVAL),
                closed_reason: None,
            }),
            start,
            backoff: Backoff::from_settings(config.reconnect()),
            ever_connected: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            attempt: AtomicUsize::new(0),
            reconnects: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            server: Mutex::new(None),
            client_id: config.client_id().to_owned(),
            servers: config.server_urls().join(","),
            auth_kind: config.auth().kind(),
            tls: config.tls_wanted(),
            metrics: ConnectionMetrics::new(config.client_id()),
            drains: crate::shutdown::Drains::default(),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<ConnectionState> {
        self.state.subscribe()
    }

    pub(crate) fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// Whether the connection is closed for good (one atomic load, for the
    /// publish path).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn servers(&self) -> &str {
        &self.servers
    }

    pub(crate) fn auth_kind(&self) -> &'static str {
        self.auth_kind
    }

    pub(crate) fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub(crate) fn slow_consumers(&self) -> u64 {
        self.slow_consumers.load(Ordering::Relaxed)
    }

    pub(crate) fn current_attempt(&self) -> usize {
        if self.state() == ConnectionState::Connected {
            0
        } else {
            self.attempt.load(Ordering::Relaxed)
        }
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.inner).last_error.clone()
    }

    pub(crate) fn closed_reason(&self) -> Option<String> {
        lock(&self.inner).closed_reason.clone()
    }

    pub(crate) fn since_last_change(&self) -> Duration {
        lock(&self.inner).last_change.elapsed()
    }

    pub(crate) fn disconnected_for(&self) -> Option<Duration> {
        lock(&self.inner).disconnected_at.map(|t| t.elapsed())
    }

    pub(crate) fn set_server(&self, server: Option<String>) {
        *lock(&self.server) = server;
    }

    pub(crate) fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    /// The delay async-nats waits before `attempt` (its reconnect delay callback).
    pub(crate) fn delay(&self, attempt: usize) -> Duration {
        self.attempt.store(attempt, Ordering::Relaxed);
        if self.start == Start::Foreground && !self.ever_connected.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        let delay = self.backoff.delay(attempt);
        if attempt > 1 {
            tracing::debug!(
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "waiting before the next NATS connection attempt"
            );
        }
        delay
    }

    fn set_state(&self, inner: &mut Inner, state: ConnectionState) -> bool {
        let changed = self.state.send_if_modified(|s| {
            if *s == state || *s == ConnectionState::Closed {
                false
            } else {
                if state == ConnectionState::Closed {
                    self.closed.store(true, Ordering::Release);
                }
                *s = state;
                true
            }
        });
        if changed {
            inner.last_change = Instant::now();
            self.metrics.state(state);
        }
        changed
    }

    /// Records a connection made by `connect` (before any event arrives).
    pub(crate) fn connected_now(&self) {
        let mut inner = lock(&self.inner);
        self.set_state(&mut inner, ConnectionState::Connected);
        self.ever_connected.store(true, Ordering::Relaxed);
        inner.last_error = None;
    }

    /// Marks the connection closed and logs it once.
    pub(crate) fn mark_closed(&self, reason: Option<String>) {
        let mut inner = lock(&self.inner);
        if !self.set_state(&mut inner, ConnectionState::Closed) {
            return;
        }
        let shutting_down = self.shutting_down.load(Ordering::Relaxed);
        let reason = reason.unwrap_or_else(|| {
            if shutting_down {
                "shut down"
            } else {
                "closed by the client"
            }
            .to_owned()
        });
        inner.closed_reason = Some(reason.clone());
        drop(inner);
        let reason = reason.as_str();
        if shutting_down {
            tracing::info!(client_id = %self.client_id, reason, "NATS connection closed");
        } else {
            tracing::warn!(client_id = %self.client_id, reason, "NATS connection closed");
        }
    }
}

/// tracing caches per-callsite interest process-wide: tests that emit the
/// monitor's log lines run one at a time so the capturing test sees them.
#[cfg(test)]
static SERIAL: Mutex<()> = Mutex::new(());

#[cfg(test)]
mod tests {
    use async_nats::{ClientError, Event};

    use super::*;

    #[test]
    fn state_machine() {
        let _serial = lock(&SERIAL);
        let m = Monitor::new(&Config::default(), Start::Background);
        assert_eq!(m.state(), ConnectionState::Pending);
        m.on_event(
            Event::ClientError(ClientError::Other("IO error".into())),
            None,
        );
        assert_eq!(m.last_error().as_deref(), Some("IO error"));
        m.on_event(Event::Connected, Some("nats://a:1".into()));
        assert_eq!(m.state(), ConnectionState::Connected);
        assert_eq!(m.last_error(), None);
        assert_eq!(m.reconnects(), 0);
        m.on_event(Event::Disconnected, None);
        assert_eq!(m.state(), ConnectionState::Disconnected);
        assert!(m.disconnected_for().is_some());
        m.on_event(Event::Connected, None);
        assert_eq!(m.reconnects(), 1);
        for sid in 0..10_000 {
            m.on_event(Event::SlowConsumer(sid), None);
        }
        assert_eq!(m.slow_consumers(), 10_000);
        assert!(!m.is_closed());
        m.on_event(Event::ClientError(ClientError::MaxReconnects), None);
        assert_eq!(m.state(), ConnectionState::Closed);
        assert!(m.is_closed());
        // Closed is final.
        m.on_event(Event::Connected, None);
        assert_eq!(m.state(), ConnectionState::Closed);
        assert!(m.is_closed());
        assert!(m
            .closed_reason()
            .unwrap_or_default()
            .contains("reconnect limit"));
    }

    #[test]
    fn foreground_first_pass_has_no_delay() {
        let _serial = lock(&SERIAL);
        let config = Config::builder()
            .without_process_env()
            .without_context()
            .reconnect_wait(Duration::from_secs(5))
            .build()
            .unwrap();
        let m = Monitor::new(&config, Start::Foreground);
        assert_eq!(m.delay(3), Duration::ZERO);
        m.connected_now();
        assert!(m.delay(3) <= Duration::from_secs(10));
        let m = Monitor::new(&config, Start::Background);
        assert_eq!(m.delay(1), Duration::ZERO);
    }
}
