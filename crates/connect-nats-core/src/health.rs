//! Health and readiness: what an operator or a probe needs to know.

use std::fmt;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::connection::{Connection, ConnectionState};

/// The longest [`Connection::health`] waits for its round-trip measurement.
pub const RTT_TIMEOUT: Duration = Duration::from_secs(2);

/// The server the client is (or was last) connected to, from its INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSummary {
    /// Server id.
    pub id: String,
    /// Server name (`server_name` in its config; the id when unset).
    pub name: String,
    /// nats-server version.
    pub version: String,
    /// Host the server says it listens on.
    pub host: String,
    /// Client port.
    pub port: u16,
    /// Cluster name, when clustered.
    pub cluster: Option<String>,
    /// JetStream domain the server announced, if any.
    pub domain: Option<String>,
    /// Whether the server announced JetStream.
    pub jetstream: bool,
    /// Whether the server requires TLS.
    pub tls_required: bool,
    /// Largest payload the server accepts, in bytes.
    pub max_payload: usize,
    /// The client's address as the server sees it.
    pub client_ip: String,
}

impl From<&async_nats::ServerInfo> for ServerSummary {
    fn from(info: &async_nats::ServerInfo) -> Self {
        Self {
            id: info.server_id.clone(),
            name: if info.server_name.is_empty() {
                info.server_id.clone()
            } else {
                info.server_name.clone()
            },
            version: info.version.clone(),
            host: info.host.clone(),
            port: info.port,
            cluster: info.cluster.clone().filter(|c| !c.is_empty()),
            domain: info.domain.clone().filter(|d| !d.is_empty()),
            jetstream: info.jetstream,
            tls_required: info.tls_required,
            max_payload: info.max_payload,
            client_ip: info.client_ip.clone(),
        }
    }
}

/// A snapshot of the connection's health.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Current state.
    pub state: ConnectionState,
    /// The connected (or last connected) server; `None` before the first connection.
    pub server: Option<ServerSummary>,
    /// Round-trip time to the server, measured now; `None` when not connected
    /// or when the measurement did not complete within [`RTT_TIMEOUT`].
    pub rtt: Option<Duration>,
    /// Successful reconnects since the connection was made.
    pub reconnects: u64,
    /// Connection attempts made in the current outage (0 when connected).
    pub reconnect_attempts: usize,
    /// The last connection error, cleared on (re)connect.
    pub last_error: Option<String>,
    /// Time since the state last changed.
    pub since_state_change: Duration,
    /// Slow-consumer events seen (messages dropped for a subscription that did not keep up).
    pub slow_consumer_events: u64,
}

/// A readiness verdict for HTTP probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Whether the service can use NATS now.
    pub ready: bool,
    /// `connected` when ready; otherwise why not, in words.
    pub reason: String,
}

impl Readiness {
    /// Whether the service can use NATS now.
    pub fn is_ready(&self) -> bool {
        self.ready
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ready {
            write!(f, "ok: {}", self.reason)
        } else {
            write!(f, "not ready: {}", self.reason)
        }
    }
}

impl Connection {
    /// The connection's health, with a fresh round-trip measurement when
    /// connected (bounded by [`RTT_TIMEOUT`]).
    pub async fn health(&self) -> Health {
        let state = self.state();
        let rtt = if state == ConnectionState::Connected {
            self.rtt(RTT_TIMEOUT).await.ok()
        } else {
            None
        };
        Health {
            state: self.state(),
            server: self
                .client()
                .try_server_info()
                .map(|i| ServerSummary::from(&i)),
            rtt,
            reconnects: self.monitor.reconnects(),
            reconnect_attempts: self.monitor.current_attempt(),
            last_error: self.monitor.last_error(),
            since_state_change: self.monitor.since_last_change(),
            slow_consumer_events: self.monitor.slow_consumers(),
        }
    }

    /// Measures one round trip to the server: a message to a fresh inbox of
    /// this client and back. Needs publish and subscribe permission on the
    /// client's inbox prefix (as request/reply does).
    pub async fn rtt(&self, timeout: Duration) -> Result<Duration, crate::ConnectError> {
        let probe = async {
            let inbox = self.client().new_inbox();
            let mut sub = self.client().subscribe(inbox.clone()).await.ok()?;
            let started = Instant::now();
            self.client()
                .publish(inbox, Vec::<u8>::new().into())
                .await
                .ok()?;
            sub.next().await?;
            let rtt = started.elapsed();
            sub.unsubscribe().await.ok();
            Some(rtt)
        };
        match tokio::time::timeout(timeout, probe).await {
            Ok(Some(rtt)) => Ok(rtt),
            Ok(None) if self.state() == ConnectionState::Closed => {
                Err(crate::ConnectError::Closed {
                    reason: self.monitor.closed_reason(),
                })
            }
            _ => Err(crate::ConnectError::Timeout {
                servers: self.monitor.servers().to_owned(),
                timeout,
                last_error: self.monitor.last_error(),
            }),
        }
    }

    /// Ready when connected; otherwise not ready, with the reason (pending
    /// first connection, disconnected for how long and why, or closed).
    /// Cheap and synchronous: meant for HTTP readiness probes.
    pub fn readiness(&self) -> Readiness {
        let last = |prefix: &str| match self.monitor.last_error() {
            Some(e) => format!("{prefix}; last error: {e}"),
            None => prefix.to_owned(),
        };
        match self.state() {
            ConnectionState::Connected => Readiness {
                ready: true,
                reason: "connected".to_owned(),
            },
            ConnectionState::Pending => Readiness {
                ready: false,
                reason: last(&format!(
                    "not connected yet to {} (connecting in the background)",
                    self.monitor.servers()
                )),
            },
            ConnectionState::Disconnected => {
                let down = self.monitor.disconnected_for().unwrap_or_default();
                Readiness {
                    ready: false,
                    reason: last(&format!(
                        "disconnected for {:.1}s, reconnecting",
                        down.as_secs_f64()
                    )),
                }
            }
            ConnectionState::Closed => Readiness {
                ready: false,
                reason: format!(
                    "connection closed{}",
                    self.monitor
                        .closed_reason()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            },
        }
    }
}
