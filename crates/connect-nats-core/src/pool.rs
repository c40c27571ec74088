//! A pool of connections built from one [`Config`], for services whose
//! publishing outgrows one connection.
//!
//! One async-nats connection writes through one background task; on a busy
//! service that task (one core) becomes the limit long before the network
//! does. A [`ConnectionPool`] opens `size` connections from the same
//! configuration and spreads work across them by subject.
//!
//! ## Names
//! Connection `i` (0-based, as in [`ConnectionPool::get`]) is named
//! `<client id>-<i>`: a pool of 4 for `orders` shows up in the server's
//! `/connz` as `orders-0` … `orders-3`. The same name labels each
//! connection's metrics (`client_id` label) and log lines.
//!
//! ## Ordering
//! [`ConnectionPool::for_subject`] maps a subject to one connection with a
//! fixed hash (FNV-1a, the same in every process, platform and release), so
//! everything published on one subject goes through one connection and keeps
//! the order in which it was published (as on a single connection). There
//! is **no** order between different subjects: two subjects on two
//! connections race. Changing the pool size remaps subjects. Wildcard
//! subscriptions or request/reply have no place in the mapping: use any
//! member (e.g. [`ConnectionPool::get`]`(0)`) for them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use connect_nats_config::Config;
use futures::future::{join_all, try_join_all};

use crate::connection::{self, Connection, ConnectionState};
use crate::error::ConnectError;
use crate::health::{Health, Readiness};

/// N connections made from one [`Config`], each named `<client id>-<i>`;
/// see the [module docs](self) for the naming and ordering rules.
///
/// Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct ConnectionPool {
    connections: Arc<[Connection]>,
    client_id: Arc<str>,
}

impl fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPool")
            .field("client_id", &self.client_id)
            .field("connections", &self.connections)
            .finish()
    }
}

/// The configuration of pool member `index`: the same, renamed.
fn member_config(config: &Config, index: usize) -> Config {
    config.with_client_id(member_name(config.client_id(), index))
}

/// `<client id>-<index>`.
fn member_name(client_id: &str, index: usize) -> String {
    format!("{client_id}-{index}")
}

fn check_size(size: usize) -> Result<(), ConnectError> {
    if size == 0 {
        return Err(ConnectError::invalid(
            "pool size",
            "a connection pool needs at least 1 connection",
        ));
    }
    Ok(())
}

impl ConnectionPool {
    /// Opens `size` connections (concurrently), each as [`crate::connect`]
    /// does: all of them, or none.
    ///
    /// Fails with the error of the first connection that failed (the others
    /// are dropped), or [`ConnectError::InvalidConfig`] when `size` is 0.
    pub async fn connect(config: &Config, size: usize) -> Result<ConnectionPool, ConnectError> {
        check_size(size)?;
        let attempts = (0..size).map(|i| async move {
            let member = member_config(config, i);
            connection::connect(&member).await.inspect_err(|e| {
                tracing::warn!(
                    client_id = %member.client_id(),
                    error = %e,
                    "a pool connection failed; closing the pool's other connections"
                );
            })
        });
        let connections = try_join_all(attempts).await?;
        Ok(Self::from_connections(config, connections))
    }

    /// Returns at once with `size` connections that connect in the
    /// background, as [`crate::connect_in_background`] does; await
    /// [`ConnectionPool::wait_connected`] for all of them to be up.
    ///
    /// Fails only for a configuration that can never work (or `size` 0),
    /// never for a network error.
    pub async fn connect_in_background(
        config: &Config,
        size: usize,
    ) -> Result<ConnectionPool, ConnectError> {
        check_size(size)?;
        let attempts = (0..size).map(|i| async move {
            connection::connect_in_background(&member_config(config, i)).await
        });
        let connections = try_join_all(attempts).await?;
        Ok(Self::from_connections(config, connections))
    }

    fn from_connections(config: &Config, connections: Vec<Connection>) -> ConnectionPool {
        tracing::info!(
            client_id = %config.client_id(),
            size = connections.len(),
            "NATS connection pool ready"
        );
        ConnectionPool {
            connections: connections.into(),
            client_id: config.client_id().into(),
        }
    }

    /// Number of connections.
    pub fn size(&self) -> usize {
        self.connections.len()
    }

    /// The configured client id the member names are made from.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Connection `index` (0-based; named `<client id>-<index>`), or `None`
    /// past the end.
    pub fn get(&self, index: usize) -> Option<&Connection> {
        self.connections.get(index)
    }

    /// All connections, in index order.
    pub fn connections(&self) -> &[Connection] {
        &self.connections
    }

    /// The index of the connection that carries `subject`: a fixed hash of
    /// the subject modulo the pool size (see the module docs).
    pub fn index_for(&self, subject: &str) -> usize {
        subject_slot(subject, self.connections.len())
    }

    /// The connection that carries `subject`; always the same one for the
    /// same subject, so publishes on one subject keep their order.
    pub fn for_subject(&self, subject: &str) -> &Connection {
        // A pool always has at least one connection (checked when made).
        &self.connections[self.index_for(subject)]
    }

    /// Waits until every connection is connected, at most `timeout` in all;
    /// fails with the error of the first one that is not.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), ConnectError> {
        try_join_all(self.connections.iter().map(|c| c.wait_connected(timeout)))
            .await
            .map(|_| ())
    }

    /// The current aggregate state: the worst member's, in the order
    /// connected < pending < disconnected < closed.
    pub fn state(&self) -> ConnectionState {
        aggregate_state(self.connections.iter().map(Connection::state))
    }

    /// Every connection's health (measured concurrently, each bounded by
    /// [`crate::RTT_TIMEOUT`]) and the aggregate.
    pub async fn health(&self) -> PoolHealth {
        let members = join_all(self.connections.iter().map(|c| async move {
            MemberHealth {
                client_id: c.config().client_id().to_owned(),
                health: c.health().await,
            }
        }))
        .await;
        PoolHealth {
            state: aggregate_state(members.iter().map(|m| m.health.state)),
            connected: members
                .iter()
                .filter(|m| m.health.state == ConnectionState::Connected)
                .count(),
            members,
        }
    }

    /// Ready when every connection is (a subject mapped to a down connection
    /// cannot be published); otherwise the members that are not, and why.
    pub fn readiness(&self) -> Readiness {
        let not_ready: Vec<String> = self
            .connections
            .iter()
            .filter_map(|c| {
                let r = c.readiness();
                (!r.ready).then(|| format!("{}: {}", c.config().client_id(), r.reason))
            })
            .collect();
        if not_ready.is_empty() {
            Readiness {
                ready: true,
                reason: format!("all {} pool connections connected", self.size()),
            }
        } else {
            Readiness {
                ready: false,
                reason: format!(
                    "{} of {} pool connections not ready ({})",
                    not_ready.len(),
                    self.size(),
                    not_ready.join("; ")
                ),
            }
        }
    }

    /// Shuts every connection down concurrently (flush, drain, close; see
    /// [`Connection::shutdown`]), all within `timeout`. Every connection is
    /// closed either way; the first error (a
    /// [`ConnectError::ShutdownTimeout`]) is returned.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), ConnectError> {
        let results = join_all(self.connections.iter().map(|c| c.shutdown(timeout))).await;
        results.into_iter().collect()
    }

    /// Copies every connection's client statistics into the metrics now
    /// (see [`Connection::update_metrics`]).
    pub fn update_metrics(&self) {
        for c in self.connections.iter() {
            c.update_metrics();
        }
    }
}

impl<'a> IntoIterator for &'a ConnectionPool {
    type Item = &'a Connection;
    type IntoIter = std::slice::Iter<'a, Connection>;
    fn into_iter(self) -> Self::IntoIter {
        self.connections.iter()
    }
}

/// One pool member's health.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberHealth {
    /// Its name, `<client id>-<index>`.
    pub client_id: String,
    /// Its health.
    pub health: Health,
}

/// The health of a [`ConnectionPool`].
#[derive(Debug, Clone, PartialEq)]
pub struct PoolHealth {
    /// The worst member state (connected < pending < disconnected < closed).
    pub state: ConnectionState,
    /// How many members are connected.
    pub connected: usize,
    /// Each member's health, in index order.
    pub members: Vec<MemberHealth>,
}

impl PoolHealth {
    /// Whether every member is connected.
    pub fn all_connected(&self) -> bool {
        self.connected == self.members.len()
    }
}

fn severity(state: ConnectionState) -> u8 {
    match state {
        ConnectionState::Connected => 0,
        ConnectionState::Pending => 1,
        ConnectionState::Disconnected => 2,
        ConnectionState::Closed => 3,
    }
}

fn aggregate_state(states: impl Iterator<Item = ConnectionState>) -> ConnectionState {
    states
        .max_by_key(|s| severity(*s))
        .unwrap_or(ConnectionState::Closed)
}

/// FNV-1a (64 bit) of the subject, then a 64-bit finalizer so every bit
/// counts before the modulo. Fixed forever: the mapping must not change
/// between releases, processes or platforms.
fn subject_hash(subject: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in subject.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    // murmur3 fmix64
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// `subject`'s slot among `size` (0 when `size` is 0).
fn subject_slot(subject: &str, size: usize) -> usize {
    let size = u64::try_from(size).unwrap_or(u64::MAX).max(1);
    // The result is below `size`, which came from a usize.
    usize::try_from(subject_hash(subject) % size).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_client_id_dash_index() {
        let config = Config::default().with_client_id("orders");
        assert_eq!(member_config(&config, 0).client_id(), "orders-0");
        assert_eq!(member_config(&config, 3).client_id(), "orders-3");
        assert_eq!(member_config(&config, 3).servers(), config.servers());
    }

    #[test]
    fn hash_is_fixed() {
        // Pinned values: a change here remaps subjects for running services.
        let pinned: Vec<usize> = ["a", "connect.invite.created", "connect.presence.42", ""]
            .iter()
            .map(|s| subject_slot(s, 1024))
            .collect();
        assert_eq!(pinned, PINNED);
    }

    /// Computed independently (Python) from the definition.
    const PINNED: [usize; 4] = [603, 550, 909, 294];

    #[test]
    fn subjects_spread_evenly() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[subject_slot(&format!("connect.user.{i}.updated"), 4)] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        assert_eq!(subject_slot("anything", 1), 0);
        assert_eq!(subject_slot("anything", 0), 0);
    }

    #[test]
    fn zero_size_is_invalid() {
        assert!(matches!(
            check_size(0),
            Err(ConnectError::InvalidConfig { setting, .. }) if setting == "pool size"
        ));
        assert!(check_size(1).is_ok());
    }

    #[test]
    fn aggregate_is_the_worst() {
        use ConnectionState::*;
        assert_eq!(
            aggregate_state([Connected, Connected].into_iter()),
            Connected
        );
        assert_eq!(aggregate_state([Connected, Pending].into_iter()), Pending);
        assert_eq!(
            aggregate_state([Disconnected, Pending].into_iter()),
            Disconnected
        );
        assert_eq!(aggregate_state([Closed, Connected].into_iter()), Closed);
    }
}
