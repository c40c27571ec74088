//! The connection a service holds, and the three ways to make one.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

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
        if self.monitor.is_closed() {
            return ConnectionState::Closed;
        }
        // The client's own state is updated before its events reach us (and
        // events can be dropped under load): trust it for up/down.
        match self.client.connection_state() {
            async_nats::connection::State::Connected => ConnectionState::Connected,
            async_nats::connection::State::Disconnected => ConnectionState::Disconnected,
            async_nats::connection::State::Pending => self.monitor.state(),
        }
    }

    /// A receiver of state changes (for "wait until connected" or to react to
    /// a disconnect).
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
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
