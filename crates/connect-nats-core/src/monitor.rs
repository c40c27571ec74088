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

use async_nats::{ClientError, Event, ServerError};
use connect_nats_config::Config;
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::connection::ConnectionState;
use crate::error::classify_event_text;
use crate::metrics::ConnectionMetrics;

/// How often a repeated warning (slow consumer, server error) may be logged.
pub(crate) const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Logs the first occurrence at once, then at most once per interval with
/// the number of occurrences swallowed in between.
#[derive(Debug)]
pub(crate) struct RateLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(suppressed_since_last_log)` when this occurrence should be logged.
    pub(crate) fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

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
            attempt: AtomicUsize::new(0),
            reconnects: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            server: Mutex::new(None),
            client_id: config.client_id().to_owned(),
            servers: config.server_urls().join(","),
            auth_kind: config.auth().kind(),
            tls: config.tls_wanted(),
            metrics: ConnectionMetrics::new(config.client_id()),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<ConnectionState> {
        self.state.subscribe()
    }

    pub(crate) fn state(&self) -> ConnectionState {
        *self.state.borrow()
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

    /// Handles one async-nats event. `server` is the connected server's
    /// address, when the caller could learn it.
    pub(crate) fn on_event(&self, event: Event, server: Option<String>) {
        match event {
            Event::Connected => self.on_connected(server),
            Event::Disconnected => self.on_disconnected(),
            Event::Closed => self.mark_closed(None),
            Event::Draining => tracing::debug!("NATS connection draining"),
            Event::LameDuckMode => {
                let mut inner = lock(&self.inner);
                if !std::mem::replace(&mut inner.lame_duck_logged, true) {
                    drop(inner);
                    tracing::warn!(
                        server = self.server_name().as_deref().unwrap_or("unknown"),
                        "NATS server entered lame-duck mode; the client will move to another server when it closes"
                    );
                }
            }
            Event::SlowConsumer(sid) => {
                self.slow_consumers.fetch_add(1, Ordering::Relaxed);
                self.metrics.slow_consumer();
                let logged = lock(&self.inner).slow.hit(Instant::now());
                if let Some(suppressed) = logged {
                    tracing::warn!(
                        sid,
                        suppressed_since_last_log = suppressed,
                        "NATS slow consumer: a subscription is not keeping up and messages were dropped; process messages faster or raise its capacity"
                    );
                }
            }
            Event::ServerError(error) => self.on_server_error(error),
            Event::ClientError(ClientError::MaxReconnects) => {
                {
                    let mut inner = lock(&self.inner);
                    inner.last_error = Some("reached the reconnect limit".to_owned());
                }
                self.mark_closed(Some(
                    "reached the reconnect limit (NATS_MAX_RECONNECTS)".to_owned(),
                ));
            }
            Event::ClientError(ClientError::Other(text)) => self.on_failed_attempt(&text),
            Event::ClientError(other) => tracing::debug!(error = %other, "NATS client event"),
        }
    }

    fn server_name(&self) -> Option<String> {
        lock(&self.server).clone()
    }

    fn on_connected(&self, server: Option<String>) {
        if server.is_some() {
            self.set_server(server);
        }
        let server = self.server_name().unwrap_or_else(|| self.servers.clone());
        let attempts = self.attempt.load(Ordering::Relaxed).max(1);
        let mut inner = lock(&self.inner);
        if self.state() == ConnectionState::Closed {
            return;
        }
        self.set_state(&mut inner, ConnectionState::Connected);
        inner.lame_duck_logged = false;
        inner.warned_failure = None;
        inner.last_error = None;
        let downtime = inner.disconnected_at.take().map(|t| t.elapsed());
        drop(inner);
        let first = !self.ever_connected.swap(true, Ordering::Relaxed);
        if first {
            // `connect` logs its own first connection, with the server's name.
            if self.start == Start::Background {
                tracing::info!(
                    %server,
                    client_id = %self.client_id,
                    tls = self.tls,
                    auth = self.auth_kind,
                    attempts,
                    "connected to NATS"
                );
            }
        } else if let Some(downtime) = downtime {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            self.metrics.reconnected(downtime);
            tracing::info!(
                %server,
                client_id = %self.client_id,
                attempts,
                downtime_ms = u64::try_from(downtime.as_millis()).unwrap_or(u64::MAX),
                "reconnected to NATS"
            );
        }
    }

    fn on_disconnected(&self) {
        let mut inner = lock(&self.inner);
        if !self.set_state(&mut inner, ConnectionState::Disconnected) {
            return;
        }
        inner.disconnected_at = Some(Instant::now());
        let reason = inner
            .last_error
            .clone()
            .unwrap_or_else(|| "connection to the server lost".to_owned());
        drop(inner);
        tracing::warn!(
            server = self.server_name().as_deref().unwrap_or("unknown"),
            client_id = %self.client_id,
            reason,
            "disconnected from NATS; reconnecting in the background"
        );
    }

    fn on_failed_attempt(&self, text: &str) {
        let kind = classify_event_text(text);
        let attempt = self.attempt.load(Ordering::Relaxed);
        let mut inner = lock(&self.inner);
        inner.last_error = Some(text.strip_prefix("nats: ").unwrap_or(text).to_owned());
        let state = self.state();
        let already = inner.warned_failure == Some(kind);
        // While starting, the first failure (and every change of reason) is
        // worth a warning; during a reconnect "unreachable" is expected and
        // already covered by the "disconnected" warning.
        let warn = !already && (state == ConnectionState::Pending || kind != "unreachable");
        if warn {
            inner.warned_failure = Some(kind);
        }
        drop(inner);
        if warn {
            tracing::warn!(
                servers = %self.servers,
                client_id = %self.client_id,
                error = text,
                kind,
                attempt,
                "NATS connection attempt failed; retrying with backoff"
            );
        } else {
            tracing::debug!(
                error = text,
                kind,
                attempt,
                "NATS connection attempt failed"
            );
        }
    }

    fn on_server_error(&self, error: ServerError) {
        let text = error.to_string();
        // Count every occurrence; only the log line is rate-limited.
        if let ServerError::SlowConsumer(_) = error {
            self.slow_consumers.fetch_add(1, Ordering::Relaxed);
            self.metrics.slow_consumer();
        }
        let mut inner = lock(&self.inner);
        inner.last_error = Some(format!("server error: {text}"));
        let logged = inner.server_errors.hit(Instant::now());
        drop(inner);
        if let Some(suppressed) = logged {
            if let ServerError::SlowConsumer(sid) = error {
                tracing::warn!(
                    sid,
                    suppressed_since_last_log = suppressed,
                    "NATS server reports this client as a slow consumer"
                );
            } else {
                tracing::error!(
                    error = %text,
                    suppressed_since_last_log = suppressed,
                    client_id = %self.client_id,
                    "NATS server error"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tracing caches per-callsite interest process-wide: tests that emit the
    /// monitor's log lines run one at a time so the capturing test sees them.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn rate_limit_logs_first_then_counts() {
        let mut rl = RateLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(rl.hit(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(rl.hit(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(rl.hit(t0 + Duration::from_secs(11)), Some(1000));
        assert_eq!(rl.hit(t0 + Duration::from_secs(12)), None);
    }

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
        m.on_event(Event::ClientError(ClientError::MaxReconnects), None);
        assert_eq!(m.state(), ConnectionState::Closed);
        // Closed is final.
        m.on_event(Event::Connected, None);
        assert_eq!(m.state(), ConnectionState::Closed);
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

    /// Captures what the monitor logs at INFO and above.
    fn capture(f: impl FnOnce()) -> String {
        use std::sync::Arc;
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                lock(&self.0).extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = lock(&buf.0).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn count(log: &str, needle: &str) -> usize {
        log.lines().filter(|l| l.contains(needle)).count()
    }

    #[test]
    fn each_event_is_logged_once_and_storms_are_coalesced() {
        let _serial = lock(&SERIAL);
        let config = Config::builder()
            .without_process_env()
            .without_context()
            .token("tok-SECRET-123")
            .build()
            .unwrap();
        let log = capture(|| {
            let m = Monitor::new(&config, Start::Background);
            // Starting while the server is down: one warning, then debug.
            for _ in 0..20 {
                m.on_event(
                    Event::ClientError(ClientError::Other("IO error".into())),
                    None,
                );
            }
            m.on_event(Event::Connected, Some("n1@127.0.0.1:4222".into()));
            m.on_event(Event::LameDuckMode, None);
            m.on_event(Event::LameDuckMode, None);
            m.on_event(Event::Disconnected, None);
            m.on_event(Event::Disconnected, None);
            // Reconnect attempts failing because the server is down: debug only.
            for _ in 0..50 {
                m.on_event(
                    Event::ClientError(ClientError::Other("IO error".into())),
                    None,
                );
            }
            // A reconnect failing for auth is worth one warning.
            for _ in 0..5 {
                m.on_event(
                    Event::ClientError(ClientError::Other("authorization violation".into())),
                    None,
                );
            }
            m.on_event(Event::Connected, Some("n2@127.0.0.1:4223".into()));
            for sid in 0..100_000 {
                m.on_event(Event::SlowConsumer(sid % 3), None);
            }
            for _ in 0..1_000 {
                m.on_event(
                    Event::ServerError(ServerError::Other("Permissions Violation".into())),
                    None,
                );
            }
            m.on_event(Event::ClientError(ClientError::MaxReconnects), None);
            m.on_event(Event::Closed, None);
        });
        assert_eq!(count(&log, "connected to NATS"), 2, "{log}"); // connected + reconnected
        assert_eq!(count(&log, "reconnected to NATS"), 1, "{log}");
        assert_eq!(count(&log, "disconnected from NATS"), 1, "{log}");
        assert_eq!(count(&log, "connection attempt failed"), 2, "{log}");
        assert_eq!(count(&log, "lame-duck"), 1, "{log}");
        assert_eq!(count(&log, "slow consumer"), 1, "{log}");
        assert_eq!(count(&log, "NATS server error"), 1, "{log}");
        assert_eq!(count(&log, "NATS connection closed"), 1, "{log}");
        assert!(
            log.contains("auth=\"token\"") || log.contains("auth=token"),
            "{log}"
        );
        assert!(log.contains("n2@127.0.0.1:4223"), "{log}");
        assert!(!log.contains("tok-SECRET-123"), "{log}");
        assert!(log.lines().count() <= 10, "{log}");
    }

    #[test]
    fn server_reported_slow_consumers_are_all_counted_but_logged_once() {
        let _serial = lock(&SERIAL);
        let m = Monitor::new(&Config::default(), Start::Background);
        let log = capture(|| {
            for sid in 0..500 {
                m.on_event(Event::ServerError(ServerError::SlowConsumer(sid)), None);
            }
        });
        assert_eq!(m.slow_consumers(), 500, "every event counted");
        assert_eq!(
            count(&log, "reports this client as a slow consumer"),
            1,
            "{log}"
        );
    }
}
