//! [`Cluster`]: several routed `nats-server`s with JetStream, on loopback.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{Auth, ClusterSpec, ServerConfig, TlsMode};
use crate::monitor;
use crate::server::NatsServer;

/// How long [`Cluster::wait_formed`] waits for routes and a JetStream meta leader.
pub const FORM_TIMEOUT: Duration = Duration::from_secs(30);

/// A cluster of `nats-server` nodes routed on loopback, each with its own temp dir, distinct
/// `server_name` and JetStream store. Dropping it kills every node.
///
/// Ports: client and monitoring ports are `-1` (chosen by each server, learned from its ports
/// file). Route ports must be known before any node starts, because a JetStream cluster refuses to
/// start without configured routes, so "start node 0 with no routes and let the others join it"
/// does not work. Instead all route ports are reserved at once by binding `127.0.0.1:0` (holding
/// every listener until all are picked, so they are distinct), released, and every node is started
/// with its own pinned route port and routes to all peers — the same static config a real cluster
/// has, which also makes a restarted node rejoin as it is. The window between releasing a port and
/// the server binding it is tiny, and if another process wins it the node fails with "address
/// already in use": then the whole cluster is started again with fresh ports, as it is when the
/// nodes do not form a cluster in time (up to [`START_ATTEMPTS`] times, each retry's reason on
/// stderr).
#[derive(Debug)]
pub struct Cluster {
    name: String,
    nodes: Vec<NatsServer>,
}

/// How many times [`Cluster::start`] starts a cluster before it gives up: a reserved route port
/// taken meanwhile, or a cluster that did not form (half of [`FORM_TIMEOUT`] for an attempt that is
/// not the last), make it start a fresh one.
pub const START_ATTEMPTS: usize = 3;

fn unique_cluster_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "testkit-cluster-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn route_url(port: u16) -> String {
    format!("nats-route://127.0.0.1:{port}")
}

/// `n` distinct free loopback ports (all listeners are held until every port is picked).
fn reserve_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| {
            TcpListener::bind(("127.0.0.1", 0))
                .unwrap_or_else(|e| panic!("testkit: cannot reserve a loopback port: {e}"))
        })
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .unwrap_or_else(|e| panic!("testkit: reserved port has no address: {e}"))
                .port()
        })
        .collect()
}

impl Cluster {
    /// Starts `size` nodes with JetStream and waits until the cluster has formed
    /// ([`wait_formed`](Self::wait_formed)).
    pub fn start(size: usize) -> Cluster {
        Self::start_with(size, ServerConfig::plain().jetstream())
    }

    /// Starts `size` nodes from `config` (each node gets its own `server_name`) and waits until
    /// the cluster has formed.
    ///
    /// # Panics
    /// For variants whose keys or certificates are generated per server (nkey, operator, TLS): the
    /// nodes would not share them. Use plain, token or user/password. Also when a node does not
    /// start (with its log).
    pub fn start_with(size: usize, config: ServerConfig) -> Cluster {
        assert!(size >= 1, "testkit: a cluster needs at least one node");
        assert!(
            matches!(
                config.auth,
                Auth::None | Auth::Token(_) | Auth::UserPassword(..)
            ) && config.tls == TlsMode::Off,
            "testkit: Cluster supports plain, token and user/password configs (got {config:?})"
        );
        let mut attempt = 1;
        loop {
            // Formation takes a few seconds; an attempt that is not the last gives up sooner.
            let timeout = if attempt < START_ATTEMPTS {
                FORM_TIMEOUT / 2
            } else {
                FORM_TIMEOUT
            };
            let started = Self::try_start(size, &config)
                .and_then(|cluster| cluster.try_wait_formed(timeout).map(|()| cluster));
            match started {
                Ok(cluster) => return cluster,
                Err(e) if attempt < START_ATTEMPTS => {
                    // A node whose reserved route port was taken meanwhile, or a meta group that
                    // did not take in every node: start a fresh cluster, and say why.
                    eprintln!("testkit: starting the cluster again (attempt {attempt}): {e}");
                    attempt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn try_start(size: usize, config: &ServerConfig) -> Result<Cluster, String> {
        let name = unique_cluster_name();
        let ports = reserve_ports(size);
        let mut nodes = Vec::with_capacity(size);
        for (i, port) in ports.iter().enumerate() {
            let routes = ports
                .iter()
                .filter(|p| *p != port)
                .map(|p| route_url(*p))
                .collect();
            let spec = ClusterSpec {
                name: name.clone(),
                port: *port,
                routes,
            };
            let node_config = config.clone().server_name(format!("{name}-n{i}"));
            // On error, the nodes started so far are dropped (killed) here.
            nodes.push(NatsServer::try_start_node(node_config, Some(spec))?);
        }
        Ok(Cluster { name, nodes })
    }

    /// The cluster name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The client URLs of all nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// Node `i`, to stop, kill, restart or inspect it.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn node(&mut self, i: usize) -> &mut NatsServer {
        let len = self.nodes.len();
        self.nodes
            .get_mut(i)
            .unwrap_or_else(|| panic!("testkit: node {i} of a {len}-node cluster"))
    }

    /// All nodes.
    pub fn nodes(&self) -> &[NatsServer] {
        &self.nodes
    }

    /// Waits (up to [`FORM_TIMEOUT`]) until every running node has routes to all other nodes
    /// (distinct remote server ids in `/routez`, so route pooling does not inflate the count) and,
    /// with JetStream, every node knows the JetStream meta leader and the leader reports every
    /// other node as a current, online peer. Stream placement can still answer "no suitable
    /// peers for placement, peer offline" for a moment after that, so a test that creates a
    /// replicated stream right away retries the creation within a deadline.
    ///
    /// # Panics
    /// On timeout, with each node's last `/routez` summary.
    pub fn wait_formed(&self) {
        if let Err(e) = self.try_wait_formed(FORM_TIMEOUT) {
            panic!("{e}");
        }
    }

    /// [`wait_formed`](Self::wait_formed), failing with the diagnosis instead of panicking.
    fn try_wait_formed(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let peers = self.nodes.len().saturating_sub(1);
        loop {
            let mut problems = Vec::new();
            for node in &self.nodes {
                let port = node.monitor_port();
                match monitor::get_json(port, "/routez") {
                    Ok(routez) => {
                        let remotes = distinct_remotes(&routez);
                        if remotes < peers {
                            problems.push(format!(
                                "{} has routes to {remotes} of {peers} peers",
                                node.server_name()
                            ));
                        }
                    }
                    Err(e) => problems.push(format!("{}: {e}", node.server_name())),
                }
                if node.config().jetstream && problems.is_empty() {
                    match monitor::get_json(port, "/jsz") {
                        Ok(jsz) if meta_leader(&jsz) == Some(node.server_name()) => {
                            let ready = ready_meta_peers(&jsz);
                            if ready < peers {
                                problems.push(format!(
                                    "meta leader {} sees {ready} of {peers} peers current and online ({})",
                                    node.server_name(),
                                    jsz["meta_cluster"]["replicas"]
                                ));
                            }
                        }
                        Ok(jsz) if meta_leader(&jsz).is_some() => {}
                        Ok(_) => problems.push(format!(
                            "{} does not know a JetStream meta leader yet",
                            node.server_name()
                        )),
                        Err(e) => problems.push(format!("{}: {e}", node.server_name())),
                    }
                }
            }
            if problems.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| {
                        let meta = monitor::get_json(n.monitor_port(), "/jsz")
                            .map(|jsz| jsz["meta_cluster"].to_string())
                            .unwrap_or_else(|e| e);
                        format!(
                            "--- {} meta {meta} ---\n{}",
                            n.server_name(),
                            n.log_tail(12)
                        )
                    })
                    .collect();
                return Err(format!(
                    "testkit: cluster {} did not form within {timeout:?}: {}\n{}",
                    self.name,
                    problems.join("; "),
                    logs.join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Distinct remote servers in a `/routez` document.
pub(crate) fn distinct_remotes(routez: &Value) -> usize {
    routez["routes"]
        .as_array()
        .map(|routes| {
            routes
                .iter()
                .filter_map(|r| r["remote_id"].as_str())
                .collect::<HashSet<_>>()
                .len()
        })
        .unwrap_or(0)
}

/// Peers that a meta leader's `/jsz` lists as current and not offline (only the leader's
/// document lists them).
pub(crate) fn ready_meta_peers(jsz: &Value) -> usize {
    jsz["meta_cluster"]["replicas"]
        .as_array()
        .map(|replicas| {
            replicas
                .iter()
                .filter(|r| r["current"] == true && r["offline"] != true)
                .count()
        })
        .unwrap_or(0)
}

/// The JetStream meta leader named in a `/jsz` document.
pub(crate) fn meta_leader(jsz: &Value) -> Option<&str> {
    jsz["meta_cluster"]["leader"]
        .as_str()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_current_online_peers_of_the_leader_count() {
        // The shape nats-server 2.10 gives on the meta leader's /jsz.
        let jsz = serde_json::json!({"meta_cluster": {
            "name": "C", "leader": "n3", "cluster_size": 3,
            "replicas": [
                {"name": "n1", "current": true, "active": 376467316, "peer": "fjFyEjc1"},
                {"name": "n2", "current": false, "active": 376463288, "peer": "44jzkV9D"},
                {"name": "n4", "current": true, "offline": true, "peer": "x"},
            ],
        }});
        assert_eq!(meta_leader(&jsz), Some("n3"));
        assert_eq!(ready_meta_peers(&jsz), 1);
        // A follower's document has no replicas.
        let follower = serde_json::json!({"meta_cluster": {"leader": "n3", "cluster_size": 3}});
        assert_eq!(ready_meta_peers(&follower), 0);
    }
}
