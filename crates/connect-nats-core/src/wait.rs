//! Waiting on the connection: until it is up, or up again after a reconnect,
//! always with a bound.
//!
//! async-nats hands connection events to the monitor through a channel that
//! drops them when full, so no wait here relies on events alone: each one
//! wakes on the state watch *and* re-checks the client's own state every
//! [`STATE_POLL`].
//!
//! The **reconnect epoch** is the client's count of successful connects (the
//! first included): it grows by one with every reconnect, however short the
//! outage, and is updated before the client reports itself connected. Read it
//! before sending something a reconnect could lose; a later, larger epoch
//! means a reconnect happened in between.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::connection::{Connection, ConnectionState};
use crate::error::ConnectError;

/// How often a wait re-checks the state besides waiting on the watch, in case
/// async-nats dropped the event that would have woken it.
pub(crate) const STATE_POLL: Duration = Duration::from_millis(100);

/// The reconnect epoch of a bare async-nats client: its number of
/// successful connects so far (the first included). It grows by one with
/// every reconnect, however short the outage, and is updated before the
/// client reports itself connected.
///
/// For code that holds only the client (e.g. through a JetStream context);
/// [`Connection::reconnect_epoch`] is the same number.
pub fn reconnect_epoch(client: &async_nats::Client) -> u64 {
    client.statistics().connects.load(Ordering::Relaxed)
}

/// Waits, without a time limit, until `client` has reconnected since `epoch`
/// (its [`reconnect_epoch`] is larger) and is connected. Checks every
/// 100 ms; resolves at once when that already happened.
///
/// For code that holds only the client; with a [`Connection`], use
/// [`Connection::wait_reconnected_since`], which also wakes on state changes
/// and notices a closed connection. Wrap it in [`tokio::time::timeout`] or a
/// `select!` to bound it.
pub async fn client_reconnected_since(client: &async_nats::Client, epoch: u64) {
    let up = || {
        reconnect_epoch(client) > epoch
            && client.connection_state() == async_nats::connection::State::Connected
    };
    while !up() {
        tokio::time::sleep(STATE_POLL).await;
    }
}

impl Connection {
    /// The reconnect epoch: the number of successful connects so far (the
    /// first included). It grows with every reconnect, however short the
    /// outage. Read it before an operation a reconnect could lose, then ask
    /// [`Connection::wait_reconnected_since`] or compare.
    pub fn reconnect_epoch(&self) -> u64 {
        reconnect_epoch(self.client())
    }

    /// Waits until connected, at most `timeout`.
    ///
    /// Returns at once when already connected; [`ConnectError::Timeout`] (with
    /// the last connection error) when the time is up;
    /// [`ConnectError::Closed`] when the connection closed meanwhile.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), ConnectError> {
        let now = Instant::now();
        match now.checked_add(timeout) {
            Some(deadline) => self.wait_connected_until(deadline).await,
            // Past what an Instant can hold: no deadline at all.
            None => match self.wait_connected_or_closed().await {
                ConnectionState::Connected => Ok(()),
                _ => Err(self.closed_error()),
            },
        }
    }

    /// Like [`Connection::wait_connected`], with a deadline instead of a
    /// timeout: for callers that share one deadline between several steps.
    pub async fn wait_connected_until(&self, deadline: Instant) -> Result<(), ConnectError> {
        let started = Instant::now();
        match tokio::time::timeout_at(deadline, self.wait_connected_or_closed()).await {
            Ok(ConnectionState::Connected) => Ok(()),
            Ok(_) => Err(self.closed_error()),
            Err(_) => Err(self.timeout_error(deadline.saturating_duration_since(started))),
        }
    }

    /// Waits, without a time limit, until the connection is
    /// [`Connected`](ConnectionState::Connected) or
    /// [`Closed`](ConnectionState::Closed), and returns which (at once when it
    /// already is).
    ///
    /// Wakes on every state change, and also re-checks [`Connection::state`]
    /// (which asks the client itself) every 100 ms, so a dropped "connected"
    /// event cannot stall the wait. Wrap it in [`tokio::time::timeout`] to
    /// bound it, or use [`Connection::wait_connected`].
    pub async fn wait_connected_or_closed(&self) -> ConnectionState {
        wait_for(self.watch_state(), || {
            let now = self.state();
            matches!(now, ConnectionState::Connected | ConnectionState::Closed).then_some(now)
        })
        .await
        .unwrap_or(ConnectionState::Closed)
    }

    /// Waits until the connection has reconnected since `epoch` (a value of
    /// [`Connection::reconnect_epoch`] read earlier) and is connected, at most
    /// `timeout` — e.g. to resend what a disconnect may have lost.
    ///
    /// Race-free: a reconnect that completed between reading `epoch` and this
    /// call counts, so it returns at once. [`ConnectError::Timeout`] when the
    /// time is up; [`ConnectError::Closed`] when the connection closed.
    pub async fn wait_reconnected_since(
        &self,
        epoch: u64,
        timeout: Duration,
    ) -> Result<(), ConnectError> {
        let check = || match self.state() {
            ConnectionState::Closed => Some(false),
            ConnectionState::Connected if self.reconnect_epoch() > epoch => Some(true),
            _ => None,
        };
        match tokio::time::timeout(timeout, wait_for(self.watch_state(), check)).await {
            Ok(Some(true)) => Ok(()),
            Ok(_) => Err(self.closed_error()),
            Err(_) => Err(self.timeout_error(timeout)),
        }
    }

    fn closed_error(&self) -> ConnectError {
        ConnectError::Closed {
            reason: self.monitor.closed_reason(),
        }
    }

    fn timeout_error(&self, waited: Duration) -> ConnectError {
        ConnectError::Timeout {
            servers: self.monitor.servers().to_owned(),
            timeout: waited,
            last_error: self.monitor.last_error(),
        }
    }
}

/// Waits until `check()` gives an answer: woken by `rx`, and by a
/// [`STATE_POLL`] timer as a fallback for dropped events. `None` when the
/// watch closed (its monitor gone).
async fn wait_for<T>(
    mut rx: watch::Receiver<ConnectionState>,
    check: impl Fn() -> Option<T>,
) -> Option<T> {
    loop {
        rx.mark_unchanged();
        if let Some(answer) = check() {
            return Some(answer);
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            () = tokio::time::sleep(STATE_POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;

    use super::*;

    const BOUND: Duration = Duration::from_secs(5);

    fn read(cell: &AtomicU8) -> ConnectionState {
        match cell.load(Ordering::SeqCst) {
            0 => ConnectionState::Pending,
            1 => ConnectionState::Connected,
            2 => ConnectionState::Disconnected,
            _ => ConnectionState::Closed,
        }
    }

    fn up_or_closed(state: ConnectionState) -> Option<ConnectionState> {
        matches!(state, ConnectionState::Connected | ConnectionState::Closed).then_some(state)
    }

    #[tokio::test]
    async fn returns_at_once_when_already_connected_or_closed() {
        for state in [ConnectionState::Connected, ConnectionState::Closed] {
            let (_tx, rx) = watch::channel(ConnectionState::Pending);
            let got = tokio::time::timeout(BOUND, wait_for(rx, || up_or_closed(state))).await;
            assert_eq!(got.ok().flatten(), Some(state));
        }
    }

    #[tokio::test]
    async fn wakes_on_a_watch_change() {
        let (tx, rx) = watch::channel(ConnectionState::Pending);
        let cell = Arc::new(AtomicU8::new(ConnectionState::Pending as u8));
        let seen = Arc::clone(&cell);
        let waiter = tokio::spawn(async move { wait_for(rx, || up_or_closed(read(&seen))).await });
        tokio::task::yield_now().await;
        cell.store(ConnectionState::Closed as u8, Ordering::SeqCst);
        tx.send_replace(ConnectionState::Closed);
        let got = tokio::time::timeout(BOUND, waiter).await;
        assert!(
            matches!(got, Ok(Ok(Some(ConnectionState::Closed)))),
            "{got:?}"
        );
    }

    /// async-nats drops events when its queue is full: the watch then never
    /// says `Connected`, but the client's own state does. The poll fallback
    /// must notice it.
    #[tokio::test]
    async fn a_dropped_connected_event_does_not_stall_the_wait() {
        let (_tx, rx) = watch::channel(ConnectionState::Disconnected);
        let checks = AtomicU8::new(0);
        // Disconnected at the first check; the client then reconnects but no
        // watch update follows.
        let current = || match checks.fetch_add(1, Ordering::SeqCst) {
            0 => None,
            _ => Some(ConnectionState::Connected),
        };
        let got = tokio::time::timeout(BOUND, wait_for(rx, current)).await;
        assert_eq!(got.ok().flatten(), Some(ConnectionState::Connected));
        assert_eq!(checks.load(Ordering::SeqCst), 2, "woken by the poll, once");
    }

    #[tokio::test]
    async fn a_gone_monitor_ends_the_wait() {
        let (tx, rx) = watch::channel(ConnectionState::Pending);
        drop(tx);
        let got = tokio::time::timeout(BOUND, wait_for(rx, || None::<()>)).await;
        assert_eq!(got.ok(), Some(None));
    }
}
