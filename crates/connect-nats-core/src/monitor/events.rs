//! Handling async-nats connection events: the state they move the
//! connection to, the counters they bump, and the one log line each gets
//! (see the table in the [monitor](super) docs).

use std::sync::atomic::Ordering;
use std::time::Instant;

use async_nats::{ClientError, Event, ServerError};

use super::{lock, Monitor, Start};
use crate::connection::ConnectionState;
use crate::error::classify_event_text;

impl Monitor {
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
    use std::sync::Mutex;

    use connect_nats_config::Config;

    use super::*;
    use crate::monitor::SERIAL;

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
