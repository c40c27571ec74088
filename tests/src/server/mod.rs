//! [`NatsServer`]: one real `nats-server`, started on random loopback ports and always stopped.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::backend::Backend;
use crate::config::{ports_dir, ClusterSpec, Render, ServerConfig};
use crate::material::Material;
use crate::monitor;
use crate::process::Running;

mod files;

/// How long [`NatsServer::wait_for_monitor`] and friends poll before giving up.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// A running (or stopped) `nats-server` owned by one test.
///
/// The server lives in its own temp dir (config file, log, ports file, generated keys and
/// certificates, JetStream store). Dropping the value kills the process and removes the dir; this
/// also happens when the test panics.
#[derive(Debug)]
pub struct NatsServer {
    config: ServerConfig,
    backend: Backend,
    server_name: String,
    material: Material,
    cluster: Option<ClusterSpec>,
    port: Option<u16>,
    monitor_port: Option<u16>,
    cluster_port: Option<u16>,
    process: Option<Running>,
    // Declared last so it is removed after the process is gone.
    dir: TempDir,
}

fn unique_server_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "testkit-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The port at the end of a URL such as `nats://127.0.0.1:4222`.
fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

impl NatsServer {
    /// Starts a server for `config` and waits until it accepts clients.
    ///
    /// # Panics
    /// When no server backend is available or the server does not come up within
    /// [`START_TIMEOUT`](crate::START_TIMEOUT) (docker: [`DOCKER_START_TIMEOUT`](crate::DOCKER_START_TIMEOUT));
    /// the message includes the config and the end of the server's log.
    pub fn start(config: ServerConfig) -> NatsServer {
        Self::try_start_node(config, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server of the newer binary ([`Backend::newer`], nats-server
    /// [`NEWER_SERVER_VERSION`](crate::NEWER_SERVER_VERSION)) for `config`, always as a local
    /// process whatever the chosen backend, and waits until it accepts clients.
    ///
    /// # Panics
    /// When `CONNECT_NATS_TEST_NEWER_SERVER` is unset or the server does not come up within
    /// [`START_TIMEOUT`](crate::START_TIMEOUT).
    pub fn start_newer(config: ServerConfig) -> NatsServer {
        Self::try_start_with(Backend::newer(), config, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server, optionally as a cluster node; on failure the process is killed and the
    /// error describes it (with the log tail).
    pub(crate) fn try_start_node(
        config: ServerConfig,
        cluster: Option<ClusterSpec>,
    ) -> Result<NatsServer, String> {
        Self::try_start_with(Backend::from_env().clone(), config, cluster)
    }

    /// [`try_start_node`](Self::try_start_node) with the given backend.
    fn try_start_with(
        backend: Backend,
        config: ServerConfig,
        cluster: Option<ClusterSpec>,
    ) -> Result<NatsServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("connect-nats-testkit-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: cannot create a temp dir: {e}"));
        let material = Material::generate(&config, dir.path());
        let server_name = config
            .server_name
            .clone()
            .unwrap_or_else(unique_server_name);
        let cluster_port = cluster.as_ref().map(|c| c.port);
        let mut server = NatsServer {
            config,
            backend,
            server_name,
            material,
            cluster,
            port: None,
            monitor_port: None,
            cluster_port,
            process: None,
            dir,
        };
        server.launch()?;
        Ok(server)
    }

    /// Writes the config (pinning ports learned earlier), runs the server and waits until ready.
    fn launch(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let ports = ports_dir(dir);
        // A fresh ports dir per launch: a SIGKILLed server leaves its old ports file behind.
        let _ = std::fs::remove_dir_all(&ports);
        std::fs::create_dir_all(&ports)
            .unwrap_or_else(|e| panic!("testkit: cannot create {}: {e}", ports.display()));
        let text = Render {
            config: &self.config,
            server_name: &self.server_name,
            dir,
            material: &self.material,
            port: self.port,
            monitor_port: self.monitor_port,
            cluster_port: self.cluster_port,
            cluster: self.cluster.as_ref(),
        }
        .text();
        let config_path = self.config_path();
        std::fs::write(&config_path, text)
            .unwrap_or_else(|e| panic!("testkit: cannot write {}: {e}", config_path.display()));
        self.process = Some(Running::launch(
            &self.backend,
            dir,
            &config_path,
            &self.log_path(),
        ));
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let timeout = self.backend.start_timeout();
        let deadline = Instant::now() + timeout;
        let ports = ports_dir(self.dir.path());
        // 1. The ports file: written once every listener is up.
        let learned = loop {
            self.fail_if_exited()?;
            if let Some(value) = read_ports_file(&ports) {
                break value;
            }
            if Instant::now() > deadline {
                return Err(self.failure(&format!(
                    "no ports file appeared in {} within {timeout:?}",
                    ports.display()
                )));
            }
            std::thread::sleep(POLL_INTERVAL);
        };
        let first_port = |key: &str| {
            learned[key]
                .as_array()
                .and_then(|urls| urls.iter().find_map(|u| u.as_str().and_then(port_of)))
        };
        let Some(port) = first_port("nats") else {
            return Err(self.failure(&format!("the ports file has no client port: {learned}")));
        };
        let Some(monitor_port) = first_port("monitoring") else {
            return Err(self.failure(&format!("the ports file has no monitoring port: {learned}")));
        };
        self.port = Some(port);
        self.monitor_port = Some(monitor_port);
        // 2. The client port accepts connections.
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            self.fail_if_exited()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failure(&format!(
                    "client port {port} does not accept within {timeout:?}"
                )));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn fail_if_exited(&mut self) -> Result<(), String> {
        if let Some(status) = self.process.as_mut().and_then(Running::exited) {
            self.process = None;
            return Err(self.failure(&format!("the server exited during start-up ({status})")));
        }
        Ok(())
    }

    /// Describes a failure: `what`, the backend, the config and the end of the server's log.
    fn failure(&self, what: &str) -> String {
        format!(
            "testkit: nats-server {} ({}) failed: {what}\n--- config {} ---\n{}\n--- last lines of {} ---\n{}",
            self.server_name,
            self.backend.describe(),
            self.config_path().display(),
            std::fs::read_to_string(self.config_path()).unwrap_or_default(),
            self.log_path().display(),
            self.log_tail(40)
        )
    }

    // ---- addresses --------------------------------------------------------------------------

    /// The client URL: `nats://127.0.0.1:PORT`, or `tls://localhost:PORT` for TLS variants (the
    /// certificate is for `localhost` and `127.0.0.1`).
    pub fn url(&self) -> String {
        if self.config.uses_tls() {
            format!("tls://localhost:{}", self.port())
        } else {
            format!("nats://127.0.0.1:{}", self.port())
        }
    }

    /// The client port (stays the same across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
            .expect("testkit bug: a started server always knows its port")
    }

    /// The monitoring port.
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
            .expect("testkit bug: a started server always knows its monitoring port")
    }

    /// `http://127.0.0.1:MONITOR_PORT`.
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port())
    }

    /// The route port, for cluster nodes.
    pub fn cluster_port(&self) -> Option<u16> {
        self.cluster_port
    }

    /// The `server_name` in the config (unique per server unless set with
    /// [`ServerConfig::server_name`]).
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// The config this server was started with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    // ---- monitoring -------------------------------------------------------------------------

    /// `GET` a monitoring endpoint, e.g. `"/connz?subs=1"`, as JSON.
    ///
    /// # Panics
    /// When the endpoint cannot be read (e.g. the server is stopped).
    pub fn monitor(&self, path_and_query: &str) -> Value {
        monitor::get_json(self.monitor_port(), path_and_query).unwrap_or_else(|e| {
            panic!(
                "testkit: monitoring {} of {}: {e}",
                path_and_query, self.server_name
            )
        })
    }

    /// `/connz`: the client connections (each with `name`, `lang`, `version`, …).
    pub fn connz(&self) -> Value {
        self.monitor("/connz")
    }

    /// `/varz`: general server information (version, max_payload, …).
    pub fn varz(&self) -> Value {
        self.monitor("/varz")
    }

    /// `/jsz`: JetStream information.
    pub fn jsz(&self) -> Value {
        self.monitor("/jsz")
    }

    /// `/routez`: cluster routes.
    pub fn routez(&self) -> Value {
        self.monitor("/routez")
    }

    /// Polls a monitoring endpoint until `pred` holds (or [`POLL_TIMEOUT`] passes) and returns the
    /// matching document.
    ///
    /// # Panics
    /// On timeout, with the last document seen.
    pub fn wait_for_monitor(&self, path_and_query: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + POLL_TIMEOUT;
        loop {
            let last = monitor::get_json(self.monitor_port(), path_and_query);
            if let Ok(value) = &last {
                if pred(value) {
                    return value.clone();
                }
            }
            if Instant::now() > deadline {
                let last = match last {
                    Ok(v) => v.to_string(),
                    Err(e) => e,
                };
                panic!(
                    "testkit: {path_and_query} of {} did not reach the expected state within \
                     {POLL_TIMEOUT:?}; last: {last:.2000}",
                    self.server_name
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Polls `/connz` until `pred` holds; see [`wait_for_monitor`](Self::wait_for_monitor).
    ///
    /// ```no_run
    /// # let server = connect_nats_testkit::NatsServer::start(Default::default());
    /// let connz = server.wait_for_connz(|c| {
    ///     c["connections"].as_array().is_some_and(|cs| cs.iter().any(|c| c["name"] == "svc"))
    /// });
    /// # let _ = connz;
    /// ```
    pub fn wait_for_connz(&self, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_monitor("/connz", pred)
    }

    /// Polls `/connz` until a client with this connection name is connected, and returns that
    /// connection's entry.
    pub fn wait_for_client_named(&self, name: &str) -> Value {
        let find = |connz: &Value| {
            connz["connections"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == name).cloned())
        };
        let connz = self.wait_for_connz(|c| find(c).is_some());
        find(&connz).unwrap_or_default()
    }

    /// Number of client connections (`/connz` `num_connections`).
    pub fn num_connections(&self) -> u64 {
        self.connz()["num_connections"].as_u64().unwrap_or(0)
    }

    // ---- lifecycle --------------------------------------------------------------------------

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        let exited = match self.process.as_mut() {
            Some(p) => p.exited().is_some(),
            None => return false,
        };
        if exited {
            self.process = None;
        }
        !exited
    }

    /// Graceful stop: SIGTERM and wait for the process to exit (SIGKILL after 15 s). No-op when
    /// already stopped.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.terminate();
        }
    }

    /// Abrupt stop: SIGKILL (no flush, no goodbye to clients). No-op when already stopped.
    pub fn kill(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill();
        }
    }

    /// Starts the server again on the same ports with the same config, keys and JetStream store
    /// dir; stops it first (SIGTERM) if it is running. Waits until it accepts clients.
    ///
    /// # Panics
    /// When the server does not come back (e.g. its port was taken meanwhile), with its log.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.launch() {
            panic!("{e}");
        }
    }

    /// Puts the server into lame-duck mode: it stops accepting clients and closes the existing
    /// ones over `lame_duck_duration` (see [`ServerConfig::lame_duck_duration`]), then exits.
    pub fn lame_duck(&self) {
        match &self.process {
            Some(p) => p.lame_duck(),
            None => panic!(
                "testkit: lame_duck() on stopped server {}",
                self.server_name
            ),
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // Kill, never wait politely: drop also runs while a failed test unwinds.
        if let Some(p) = self.process.take() {
            p.kill();
        }
    }
}

/// Reads the first `*.ports` file in `dir` (the server names it `<exe>_<pid>.ports`; globbing
/// instead of computing the name also works in docker, where the pid is the container's).
fn read_ports_file(dir: &Path) -> Option<Value> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "ports") {
            // The file may be caught half-written: treat unparsable as "not yet".
            if let Ok(value) = std::fs::read_to_string(&path)
                .map_err(|_| ())
                .and_then(|s| serde_json::from_str::<Value>(&s).map_err(|_| ()))
            {
                return Some(value);
            }
        }
    }
    None
}
