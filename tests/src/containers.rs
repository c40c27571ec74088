//! [`ContainerCluster`]: nats-server nodes as containers with addresses of their own, on two
//! networks of their own, so that one node can be cut off, frozen or restarted while the others
//! go on.
//!
//! - The **client network** carries the service's traffic: the test process (on the host) reaches
//!   each node at the node's address there. Each node keeps a fixed address on it, so a node that
//!   is cut off and joined again is found where it was.
//! - The **route network** carries the cluster routes, under the alias `route-n<i>`.
//!
//! Cutting a node from a network (`docker network disconnect`) makes its packets vanish: no TCP
//! reset reaches either side, as when a cable is pulled or a host freezes. `docker pause` freezes
//! every process of a node. Every container and network carries the label
//! `connect-nats-test=<run>` and is removed when the cluster is dropped, also when the test
//! panics.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::backend::{docker_label, IMAGE_ENV};
use crate::cluster::{distinct_remotes, meta_leader, ready_meta_peers, START_ATTEMPTS};
use crate::monitor;

/// The client port inside every node.
pub const CLIENT_PORT: u16 = 4222;
/// The monitoring port inside every node.
pub const MONITOR_PORT: u16 = 8222;
/// How long [`ContainerCluster::start`] waits for the nodes to accept clients and form.
pub const CONTAINER_FORM_TIMEOUT: Duration = Duration::from_secs(45);
const POLL: Duration = Duration::from_millis(50);

/// Runs `docker ARGS`, returning its trimmed stdout, or its stderr as the error.
pub(crate) fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) -> String {
    docker(args).unwrap_or_else(|e| panic!("testkit: {e}"))
}

fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "cnt-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One node: its container name and its fixed address on the client network.
#[derive(Debug, Clone)]
pub struct ContainerNode {
    /// The container name (also the node's `server_name`).
    pub name: String,
    /// The node's address on the client network.
    pub ip: IpAddr,
}

impl ContainerNode {
    /// `nats://IP:4222`.
    pub fn url(&self) -> String {
        format!("nats://{}:{CLIENT_PORT}", self.ip)
    }
}

/// A cluster of containerized nodes; see the [module docs](self).
#[derive(Debug)]
pub struct ContainerCluster {
    prefix: String,
    client_net: String,
    route_net: String,
    nodes: Vec<ContainerNode>,
    // The config files, mounted read-only into the containers.
    dir: TempDir,
}

impl ContainerCluster {
    /// The image the nodes run: [`IMAGE_ENV`], which `cargo xtask test` sets whenever a Docker
    /// daemon answers, whatever the backend of the other tests.
    ///
    /// # Panics
    /// When it is not set, with a message saying how to run these tests.
    pub fn image() -> String {
        std::env::var(IMAGE_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                panic!(
                    "testkit: the container cluster tests need a Docker daemon and {IMAGE_ENV} \
                     naming a nats-server image: run them with `cargo xtask test`, which builds \
                     one when a daemon answers"
                )
            })
    }

    /// Starts `size` JetStream nodes and waits until every node accepts clients and the cluster
    /// has formed (routes to every peer, and a meta leader that reports every peer current).
    ///
    /// A cluster that does not form within half of [`CONTAINER_FORM_TIMEOUT`] is removed and
    /// started again (up to [`START_ATTEMPTS`] times, each retry's reason on stderr).
    ///
    /// # Panics
    /// When docker fails or no attempt forms, with the nodes' logs.
    pub fn start(size: usize) -> ContainerCluster {
        // Now and then a node's JetStream meta peer stays behind for a minute after a start
        // (nats-server 2.10): a fresh cluster forms in seconds, so start one again, and say why.
        let mut attempt = 1;
        loop {
            match Self::try_start(size, CONTAINER_FORM_TIMEOUT / 2) {
                Ok(cluster) => return cluster,
                Err(e) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "testkit: starting the container cluster again (attempt {attempt}): {e}"
                    );
                    attempt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn try_start(size: usize, form_timeout: Duration) -> Result<ContainerCluster, String> {
        assert!(size >= 1, "testkit: a cluster needs at least one node");
        let image = Self::image();
        let prefix = unique_prefix();
        let label = docker_label();
        let dir = tempfile::Builder::new()
            .prefix("connect-nats-containers-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: cannot create a temp dir: {e}"));
        let route_net = format!("{prefix}-routes");
        let client_net = format!("{prefix}-clients");
        let mut cluster = ContainerCluster {
            prefix: prefix.clone(),
            client_net: client_net.clone(),
            route_net: route_net.clone(),
            nodes: Vec::new(),
            dir,
        };
        must(&["network", "create", "--label", &label, &route_net]);
        let subnet = create_with_fixed_subnet(&client_net, &label);
        let routes: Vec<String> = (0..size)
            .map(|i| format!("\"nats-route://route-n{i}:6222\""))
            .collect();
        for i in 0..size {
            let name = format!("{prefix}-n{i}");
            let ip = host_in(&subnet, i + 2);
            let config_path = cluster.dir.path().join(format!("n{i}.conf"));
            let config = format!(
                "server_name: {name:?}\nlisten: \"0.0.0.0:{CLIENT_PORT}\"\nhttp: \"0.0.0.0:{MONITOR_PORT}\"\n\
                 jetstream {{ store_dir: \"/data/jetstream\" }}\n\
                 cluster {{\n  name: {prefix:?}\n  listen: \"0.0.0.0:6222\"\n  no_advertise: true\n  routes: [{}]\n}}\n",
                routes.join(", ")
            );
            std::fs::write(&config_path, config)
                .unwrap_or_else(|e| panic!("testkit: cannot write {}: {e}", config_path.display()));
            let mount = format!("{0}:{0}:ro", cluster.dir.path().display());
            let alias = format!("route-n{i}");
            must(&[
                "create",
                "--name",
                &name,
                "--hostname",
                &name,
                "--label",
                &label,
                "--network",
                &route_net,
                "--network-alias",
                &alias,
                "-v",
                &mount,
                &image,
                "-c",
                &config_path.display().to_string(),
            ]);
            must(&[
                "network",
                "connect",
                "--ip",
                &ip.to_string(),
                &client_net,
                &name,
            ]);
            cluster.nodes.push(ContainerNode { name, ip });
        }
        for node in &cluster.nodes {
            must(&["start", &node.name]);
        }
        // On an error the cluster is dropped here, removing its containers and networks.
        cluster.wait_formed(form_timeout)?;
        Ok(cluster)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &ContainerNode {
        &self.nodes[i]
    }

    /// The client URLs of all nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(ContainerNode::url).collect()
    }

    /// The index of the node whose `server_name` is `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// `GET` a monitoring endpoint of node `i` through the client network.
    pub fn monitor(&self, i: usize, path: &str) -> Result<Value, String> {
        monitor::get_json_at(self.nodes[i].ip, MONITOR_PORT, path)
    }

    /// Cuts node `i` from the client network: the service's packets to and from it vanish.
    pub fn cut_from_clients(&self, i: usize) {
        must(&[
            "network",
            "disconnect",
            "--force",
            &self.client_net,
            &self.nodes[i].name,
        ]);
    }

    /// Joins node `i` to the client network again, at its old address.
    pub fn heal_clients(&self, i: usize) {
        let ip = self.nodes[i].ip.to_string();
        must(&[
            "network",
            "connect",
            "--ip",
            &ip,
            &self.client_net,
            &self.nodes[i].name,
        ]);
    }

    /// Cuts node `i` from the route network: it loses its routes to the other nodes, while
    /// clients still reach it.
    pub fn cut_routes(&self, i: usize) {
        must(&[
            "network",
            "disconnect",
            "--force",
            &self.route_net,
            &self.nodes[i].name,
        ]);
    }

    /// Joins node `i` to the route network again, under its alias.
    pub fn heal_routes(&self, i: usize) {
        let alias = format!("route-n{i}");
        must(&[
            "network",
            "connect",
            "--alias",
            &alias,
            &self.route_net,
            &self.nodes[i].name,
        ]);
    }

    /// Freezes every process of node `i` (`docker pause`): connections stay open, nothing
    /// answers.
    pub fn pause(&self, i: usize) {
        must(&["pause", &self.nodes[i].name]);
    }

    /// Thaws node `i` (`docker unpause`).
    pub fn unpause(&self, i: usize) {
        must(&["unpause", &self.nodes[i].name]);
    }

    /// Restarts node `i` (`docker restart`: SIGTERM, then start again with the same store) and
    /// waits until it accepts clients again.
    pub fn restart(&self, i: usize) {
        must(&["restart", "--time", "10", &self.nodes[i].name]);
        self.wait_accepting(i, CONTAINER_FORM_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The last `lines` lines of node `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        // The server logs to stderr, which `docker logs` passes on as its own stderr.
        Command::new("docker")
            .args(["logs", "--tail", &lines.to_string(), &self.nodes[i].name])
            .stdin(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr)
            })
            .unwrap_or_else(|e| format!("cannot run docker logs: {e}"))
    }

    fn wait_accepting(&self, i: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::new(self.nodes[i].ip, CLIENT_PORT);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "testkit: node {} does not accept clients at {addr} within {timeout:?}:\n{}",
                    self.nodes[i].name,
                    self.log_tail(i, 20)
                ));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Waits until every node accepts clients, has routes to every other node, and the meta
    /// leader reports every other node as a current, online peer.
    pub fn wait_formed(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.nodes.len() {
            self.wait_accepting(i, timeout)?;
        }
        let peers = self.nodes.len().saturating_sub(1);
        loop {
            let mut problems = Vec::new();
            for (i, node) in self.nodes.iter().enumerate() {
                match self.monitor(i, "/routez") {
                    Ok(routez) if distinct_remotes(&routez) >= peers => {}
                    Ok(routez) => problems.push(format!(
                        "{} has routes to {} of {peers} peers",
                        node.name,
                        distinct_remotes(&routez)
                    )),
                    Err(e) => problems.push(format!("{}: {e}", node.name)),
                }
                match self.monitor(i, "/jsz") {
                    Ok(jsz) if meta_leader(&jsz) == Some(node.name.as_str()) => {
                        let ready = ready_meta_peers(&jsz);
                        if ready < peers {
                            problems.push(format!(
                                "meta leader {} sees {ready} of {peers} peers current",
                                node.name
                            ));
                        }
                    }
                    Ok(jsz) if meta_leader(&jsz).is_some() => {}
                    Ok(_) => problems.push(format!("{} knows no meta leader yet", node.name)),
                    Err(e) => problems.push(format!("{}: {e}", node.name)),
                }
            }
            if problems.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = (0..self.nodes.len())
                    .map(|i| format!("--- {} ---\n{}", self.nodes[i].name, self.log_tail(i, 12)))
                    .collect();
                return Err(format!(
                    "testkit: container cluster {} did not form within {timeout:?}: {}\n{}",
                    self.prefix,
                    problems.join("; "),
                    logs.join("\n")
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for ContainerCluster {
    fn drop(&mut self) {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        if !names.is_empty() {
            // A paused container cannot be removed until it is thawed.
            let mut unpause = vec!["unpause"];
            unpause.extend(&names);
            let _ = docker(&unpause);
            let mut rm = vec!["rm", "--force", "--volumes"];
            rm.extend(&names);
            let _ = docker(&rm);
        }
        let _ = docker(&["network", "rm", &self.client_net, &self.route_net]);
    }
}

/// Creates `name` on a subnet of its own given at creation, so that addresses on it can be fixed
/// (`--ip`): the subnet docker would choose is learned from a first network, which is removed and
/// made again with that subnet.
fn create_with_fixed_subnet(name: &str, label: &str) -> String {
    let mut last = String::new();
    for _ in 0..5 {
        must(&["network", "create", "--label", label, name]);
        let subnet = must(&[
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            name,
        ]);
        must(&["network", "rm", name]);
        match docker(&[
            "network", "create", "--label", label, "--subnet", &subnet, name,
        ]) {
            Ok(_) => return subnet,
            // Another network took the subnet meanwhile: learn a new one.
            Err(e) => last = e,
        }
    }
    panic!("testkit: cannot create network {name} with a fixed subnet: {last}")
}

/// The `n`-th host address of an IPv4 `subnet` such as `172.19.0.0/16`.
fn host_in(subnet: &str, n: usize) -> IpAddr {
    let base: std::net::Ipv4Addr = subnet
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("testkit: docker gave a subnet that is not IPv4: {subnet:?}"));
    let n = u32::try_from(n).unwrap_or_else(|_| panic!("testkit: node index {n} too large"));
    IpAddr::V4(std::net::Ipv4Addr::from(u32::from(base) + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_count_from_the_subnet_base() {
        assert_eq!(
            host_in("172.19.0.0/16", 2),
            "172.19.0.2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            host_in("10.0.3.0/24", 4),
            "10.0.3.4".parse::<IpAddr>().unwrap()
        );
    }
}
