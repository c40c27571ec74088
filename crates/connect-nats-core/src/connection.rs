//! The connection a service holds.

use std::ops::Deref;
use std::time::Duration;

use connect_nats_config::Config;
use tokio::sync::watch;

use crate::error::ConnectError;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected yet (background start).
    Pending,
    /// Connected to a server.
    Connected,
    /// Lost the server; reconnecting.
    Disconnected,
    /// Closed for good.
    Closed,
}

/// A live NATS connection; derefs to the async-nats [`async_nats::Client`].
#[derive(Debug, Clone)]
pub struct Connection {
    client: async_nats::Client,
    config: Config,
    state: watch::Receiver<ConnectionState>,
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
        *self.state.borrow()
    }
    /// A receiver of state changes.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }
    /// Waits until connected, at most `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), ConnectError> {
        let mut rx = self.state.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s == ConnectionState::Connected))
            .await
            .map_err(|_| ConnectError::Unreachable("timed out".into()))?
            .map_err(|_| ConnectError::Unreachable("closed".into()))?;
        Ok(())
    }
}

impl Deref for Connection {
    type Target = async_nats::Client;
    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

fn options(config: &Config, tx: watch::Sender<ConnectionState>) -> async_nats::ConnectOptions {
    let mut opts = async_nats::ConnectOptions::new()
        .name(&config.client_id)
        .connection_timeout(config.connect_timeout)
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tx.send_replace(ConnectionState::Connected),
                    async_nats::Event::Disconnected => tx.send_replace(ConnectionState::Disconnected),
                    async_nats::Event::Closed => tx.send_replace(ConnectionState::Closed),
                    _ => return,
                };
            }
        });
    match &config.auth {
        connect_nats_config::Auth::Token { token } => opts = opts.token(token.expose().to_owned()),
        connect_nats_config::Auth::UserPassword { user, password } => {
            opts = opts.user_and_password(user.clone(), password.expose().to_owned())
        }
        _ => {}
    }
    opts
}

/// Connects, within the connect timeout.
pub async fn connect(config: &Config) -> Result<Connection, ConnectError> {
    let (tx, rx) = watch::channel(ConnectionState::Pending);
    let client = options(config, tx.clone())
        .connect(config.server_urls())
        .await
        .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
    tx.send_replace(ConnectionState::Connected);
    Ok(Connection { client, config: config.clone(), state: rx })
}

/// Connects, or logs one warning and returns `None`.
pub async fn connect_or_degrade(config: &Config) -> Option<Connection> {
    match connect(config).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "NATS unavailable; running without it");
            None
        }
    }
}

/// Returns at once and connects in the background.
pub async fn connect_in_background(config: &Config) -> Result<Connection, ConnectError> {
    let (tx, rx) = watch::channel(ConnectionState::Pending);
    let client = options(config, tx)
        .retry_on_initial_connect()
        .connect(config.server_urls())
        .await
        .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
    Ok(Connection { client, config: config.clone(), state: rx })
}
