//! The connection a service holds, and the three ways to make one.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::Event;
use connect_nats_config::Config;
use tokio::sync::watch;

use crate::error::{classify, ConnectError, Context};
use crate::monitor::{Monitor, Start};
use crate::options;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Not connected yet (background start, no server reached so far).
    Pending,
    /// Connected to a server.
    Connected,
    /// Lost the server; reconnecting with backoff.
    Disconnected,
    /// Closed for good: shut down, or the reconnect limit was reached.
    Closed,
}

impl ConnectionState {
    /// `pending`, `connected`, `disconnected` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Pending => "pending",
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Closed => "closed",
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client the event callback may look at, for the connected server's
/// name. Emptied when the last [`Connection`] handle is dropped, so the
/// callback never keeps the client (and its background task) alive.
#[derive(Default)]
pub(crate) struct ClientSlot(Mutex<Option<async_nats::Client>>);

impl ClientSlot {
    fn set(&self, client: Option<async_nats::Client>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = client;
    }

    fn server(&self) -> Option<String> {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .and_then(|c| c.try_server_info())
            .map(|i| describe_server(&i))
    }
}

/// `name@host:port`, or the server id when the server has no name.
pub(crate) fn describe_server(info: &async_nats::ServerInfo) -> String {
    let name = if info.server_name.is_empty() {
        &info.server_id
    } else {
        &info.server_name
    };
    format!("{name}@{}:{}", info.host, info.port)
}

/// Empties the client slot when the last handle goes.
struct HandleGuard(Arc<ClientSlot>);

impl Drop for HandleGuard {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

/// A NATS connection made from a [`Config`]; derefs to the async-nats
/// [`async_nats::Client`], so everything the client can do is available.
///
/// Cheap to clone: clones share the one connection.
///
/// Dropping every handle (and every `Client` clone taken from it) closes the
/// connection **without** flushing: publishes still buffered in the client
/// may be lost. Call [`Connection::shutdown`] before the service exits.
#[derive(Clone)]
pub struct Connection {
    client: async_nats::Client,
    config: Arc<Config>,
    pub(crate) monitor: Arc<Monitor>,
    state: watch::Receiver<ConnectionState>,
    _guard: Arc<HandleGuard>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("servers", &self.monitor.servers())
            .field("client_id", &self.config.client_id())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The async-nats client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        let ours = self.monitor.state();
        // The client's own state is updated before its events reach us (and
        // events can be dropped under load): trust it for up/down.
        match (ours, self.client.connection_state()) {
            (ConnectionState::Closed, _) => ConnectionState::Closed,
            (_, async_nats::connection::State::Connected) => ConnectionState::Connected,
            (_, async_nats::connection::State::Disconnected) => ConnectionState::Disconnected,
            (ours, async_nats::connection::State::Pending) => ours,
        }
    }

    /// A receiver of state changes (for "wait until connected" or to react to
    /// a disconnect).
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Waits until connected, at most `timeout`.
    ///
    /// Returns at once when already connected; [`ConnectError::Timeout`] (with
    /// the last connection error) when the time is up;
    /// [`ConnectError::Closed`] when the connection closed meanwhile.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), ConnectError> {
        match tokio::time::timeout(timeout, self.wait_connected_or_closed()).await {
            Ok(ConnectionState::Connected) => Ok(()),
            Ok(_) => Err(ConnectError::Closed {
                reason: self.monitor.closed_reason(),
            }),
            Err(_) => Err(ConnectError::Timeout {
                servers: self.monitor.servers().to_owned(),
                timeout,
                last_error: self.monitor.last_error(),
            }),
        }
    }

    /// Waits, without a time limit, until the connection is
    /// [`Connected`](ConnectionState::Connected) or
    /// [`Closed`](ConnectionState::Closed), and returns which (at once when it
    /// already is).
    ///
    /// Wakes on every state change, and also re-checks [`Connection::state`]
    /// (which asks the client itself) every 100 ms: async-nats drops events
    /// when its event queue is full, so a lost "connected" event cannot stall
    /// the wait. Wrap it in [`tokio::time::timeout`] to bound it.
    pub async fn wait_connected_or_closed(&self) -> ConnectionState {
        wait_up_or_closed(self.state.clone(), || self.state()).await
    }

    /// Waits for the next successful (re)connect after this call, at most
    /// `timeout` — e.g. to resend what was lost in a disconnect.
    pub async fn wait_reconnected(&self, timeout: Duration) -> Result<(), ConnectError> {
        let mut rx = self.state.clone();
        rx.mark_unchanged();
        let result = tokio::time::timeout(timeout, async {
            loop {
                if rx.changed().await.is_err() {
                    return ConnectionState::Closed;
                }
                let state = *rx.borrow_and_update();
                if matches!(state, ConnectionState::Connected | ConnectionState::Closed) {
                    return state;
                }
            }
        })
        .await;
        match result {
            Ok(ConnectionState::Connected) => Ok(()),
            Ok(_) => Err(ConnectError::Closed {
                reason: self.monitor.closed_reason(),
            }),
            Err(_) => Err(ConnectError::Timeout {
                servers: self.monitor.servers().to_owned(),
                timeout,
                last_error: self.monitor.last_error(),
            }),
        }
    }
}

/// How often [`wait_up_or_closed`] re-checks the state besides waiting on the
/// watch, in case async-nats dropped the event that would have woken it.
const STATE_POLL: Duration = Duration::from_millis(100);

/// Waits until `current()` is `Connected` or `Closed`: woken by `rx`, and by a
/// [`STATE_POLL`] timer as a fallback for dropped events. A closed watch
/// (its monitor gone) counts as `Closed`.
async fn wait_up_or_closed(
    mut rx: watch::Receiver<ConnectionState>,
    current: impl Fn() -> ConnectionState,
) -> ConnectionState {
    loop {
        rx.mark_unchanged();
        let now = current();
        if matches!(now, ConnectionState::Connected | ConnectionState::Closed) {
            return now;
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return ConnectionState::Closed;
                }
            }
            () = tokio::time::sleep(STATE_POLL) => {}
        }
    }
}

impl Deref for Connection {
    type Target = async_nats::Client;
    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl AsRef<async_nats::Client> for Connection {
    fn as_ref(&self) -> &async_nats::Client {
        &self.client
    }
}

impl From<Connection> for async_nats::Client {
    fn from(connection: Connection) -> Self {
        connection.client.clone()
    }
}

/// Options plus the callbacks that feed the monitor.
fn prepare(
    config: &Config,
    start: Start,
) -> Result<(async_nats::ConnectOptions, Arc<Monitor>, Arc<ClientSlot>), ConnectError> {
    let opts = options::build(config)?;
    let monitor = Arc::new(Monitor::new(config, start));
    let slot = Arc::new(ClientSlot::default());
    let delay_monitor = Arc::clone(&monitor);
    let event_monitor = Arc::clone(&monitor);
    let event_slot = Arc::clone(&slot);
    let opts = opts
        .reconnect_delay_callback(move |attempt| delay_monitor.delay(attempt))
        .event_callback(move |event| {
            let monitor = Arc::clone(&event_monitor);
            let slot = Arc::clone(&event_slot);
            async move {
                let server = if matches!(event, Event::Connected) {
                    // async-nats announces the connection just before it
                    // stores the new server's INFO: let it finish.
                    tokio::task::yield_now().await;
                    slot.server()
                } else {
                    None
                };
                monitor.on_event(event, server);
            }
        });
    Ok((opts, monitor, slot))
}

fn finish(
    client: async_nats::Client,
    config: &Config,
    monitor: Arc<Monitor>,
    slot: Arc<ClientSlot>,
) -> Connection {
    slot.set(Some(client.clone()));
    monitor
        .metrics
        .spawn_sampler(client.statistics(), monitor.subscribe());
    Connection {
        state: monitor.subscribe(),
        client,
        config: Arc::new(config.clone()),
        monitor,
        _guard: Arc::new(HandleGuard(slot)),
    }
}

/// Connects, returning within the connect timeout (`NATS_TIMEOUT`).
///
/// The configured servers are tried once each, without backoff delays
/// between them, all within the one timeout (a server that accepts the socket
/// but never answers uses the whole budget). On failure the [`ConnectError`] says what happened: unreachable,
/// auth rejected, TLS failure, invalid configuration, or timeout. Once
/// connected, the connection reconnects by itself with backoff (see
/// [`crate::backoff`]).
pub async fn connect(config: &Config) -> Result<Connection, ConnectError> {
    let (opts, monitor, slot) = prepare(config, Start::Foreground)?;
    let servers = config.server_urls();
    let cx = Context {
        servers: monitor.servers(),
        auth_kind: monitor.auth_kind(),
        tls_wanted: config.tls_wanted(),
        timeout: config.connect_timeout(),
    };
    let client = match tokio::time::timeout(config.connect_timeout(), opts.connect(servers)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(classify(&e, cx)),
        Err(_) => {
            return Err(ConnectError::Timeout {
                servers: cx.servers.to_owned(),
                timeout: config.connect_timeout(),
                last_error: None,
            })
        }
    };
    let server = client.try_server_info().map(|i| describe_server(&i));
    monitor.set_server(server.clone());
    monitor.connected_now();
    tracing::info!(
        server = server.as_deref().unwrap_or("unknown"),
        client_id = %config.client_id(),
        tls = config.tls_wanted(),
        auth = config.auth().kind(),
        "connected to NATS"
    );
    Ok(finish(client, config, monitor, slot))
}

/// Connects, or logs one warning with the reason and returns `None`.
///
/// The original library's `MustConnect`: never panics, never exits; the
/// service goes on without real-time events.
pub async fn connect_or_degrade(config: &Config) -> Option<Connection> {
    match connect(config).await {
        Ok(connection) => Some(connection),
        Err(error) => {
            tracing::warn!(
                error = %error,
                kind = error.kind(),
                "NATS unavailable; the service continues without real-time events"
            );
            None
        }
    }
}

/// Returns at once, even when no server is up, and connects in the background
/// with backoff until a server appears (or the reconnect limit is reached).
///
/// The connection starts [`ConnectionState::Pending`]; watch it with
/// [`Connection::watch_state`] or await [`Connection::wait_connected`].
/// Publishing before the connection is up queues in the client (see the
/// crate docs).
///
/// It returns a `Result`: the [`Config`] was validated when it was loaded,
/// and what only the client can tell before the network (a seed whose
/// checksum is wrong) is returned as [`ConnectError::InvalidConfig`] (or
/// [`ConnectError::Tls`] for an unusable TLS setup) instead of retrying
/// forever a connection that can never work. No network error is ever
/// returned here.
pub async fn connect_in_background(config: &Config) -> Result<Connection, ConnectError> {
    let (opts, monitor, slot) = prepare(config, Start::Background)?;
    let cx = Context {
        servers: monitor.servers(),
        auth_kind: monitor.auth_kind(),
        tls_wanted: config.tls_wanted(),
        timeout: config.connect_timeout(),
    };
    let client = opts
        .retry_on_initial_connect()
        .connect(config.server_urls())
        .await
        .map_err(|e| classify(&e, cx))?;
    Ok(finish(client, config, monitor, slot))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::*;

    const BOUND: Duration = Duration::from_secs(5);

    fn shared(state: ConnectionState) -> Arc<AtomicU8> {
        Arc::new(AtomicU8::new(state as u8))
    }

    fn read(cell: &AtomicU8) -> ConnectionState {
        match cell.load(Ordering::SeqCst) {
            0 => ConnectionState::Pending,
            1 => ConnectionState::Connected,
            2 => ConnectionState::Disconnected,
            _ => ConnectionState::Closed,
        }
    }

    #[tokio::test]
    async fn returns_at_once_when_already_connected_or_closed() {
        for state in [ConnectionState::Connected, ConnectionState::Closed] {
            let (_tx, rx) = watch::channel(ConnectionState::Pending);
            let got = tokio::time::timeout(BOUND, wait_up_or_closed(rx, || state)).await;
            assert_eq!(got.ok(), Some(state));
        }
    }

    #[tokio::test]
    async fn wakes_on_a_watch_change() {
        let (tx, rx) = watch::channel(ConnectionState::Pending);
        let cell = shared(ConnectionState::Pending);
        let seen = Arc::clone(&cell);
        let waiter = tokio::spawn(async move { wait_up_or_closed(rx, || read(&seen)).await });
        tokio::task::yield_now().await;
        cell.store(ConnectionState::Closed as u8, Ordering::SeqCst);
        tx.send_replace(ConnectionState::Closed);
        let got = tokio::time::timeout(BOUND, waiter).await;
        assert!(matches!(got, Ok(Ok(ConnectionState::Closed))), "{got:?}");
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
            0 => ConnectionState::Disconnected,
            _ => ConnectionState::Connected,
        };
        let got = tokio::time::timeout(BOUND, wait_up_or_closed(rx, current)).await;
        assert_eq!(got.ok(), Some(ConnectionState::Connected));
        assert_eq!(checks.load(Ordering::SeqCst), 2, "woken by the poll, once");
    }

    #[tokio::test]
    async fn a_gone_monitor_counts_as_closed() {
        let (tx, rx) = watch::channel(ConnectionState::Pending);
        drop(tx);
        let got =
            tokio::time::timeout(BOUND, wait_up_or_closed(rx, || ConnectionState::Pending)).await;
        assert_eq!(got.ok(), Some(ConnectionState::Closed));
    }
}
