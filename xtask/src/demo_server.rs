//! One JetStream server for `bench` and `demo`, on a free loopback port,
//! stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::containers::run_id;
use crate::names::CONTAINER_LABEL;
use crate::provision::Provisioned;

/// A running server.
pub struct DemoServer {
    child: Option<Child>,
    container: Option<String>,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    /// `http://127.0.0.1:PORT` of the monitoring endpoint.
    pub monitor_url: String,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

impl DemoServer {
    /// Starts a JetStream server with the given backend.
    pub fn start(backend: &Provisioned, name: &str) -> Result<Self, String> {
        let port = free_port()?;
        let http = free_port()?;
        let dir =
            std::env::temp_dir().join(format!("connect-nats-{name}-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let store = dir.join("jetstream");
        let log = std::fs::File::create(dir.join("server.log"))
            .map_err(|e| format!("cannot create the server log: {e}"))?;
        let args = [
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
            "-m".to_owned(),
            http.to_string(),
            "-js".to_owned(),
            "-sd".to_owned(),
            store.display().to_string(),
            "-n".to_owned(),
            format!("connect-nats-{name}"),
        ];
        let (child, container) = match backend {
            Provisioned::Binary { path, .. } => {
                let child = Command::new(path)
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().map_err(|e| e.to_string())?)
                    .stderr(log)
                    .spawn()
                    .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
                (Some(child), None)
            }
            Provisioned::Docker { image, .. } => {
                let cname = format!("connect-nats-{name}-{}-{port}", std::process::id());
                let mount = format!("{}:{}", dir.display(), dir.display());
                let status = Command::new("docker")
                    .args([
                        "run",
                        "-d",
                        "--rm",
                        "--network",
                        "host",
                        "--name",
                        &cname,
                        "--label",
                        &format!("{CONTAINER_LABEL}={}", run_id()),
                        "-v",
                        &mount,
                        image,
                    ])
                    .args(&args)
                    .stdout(Stdio::null())
                    .status()
                    .map_err(|e| format!("cannot run docker: {e}"))?;
                if !status.success() {
                    return Err(format!("`docker run {image}` failed ({status})"));
                }
                (None, Some(cname))
            }
        };
        let server = DemoServer {
            child,
            container,
            url: format!("nats://127.0.0.1:{port}"),
            monitor_url: format!("http://127.0.0.1:{http}"),
            _dir: TempDir(dir.clone()),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let tail = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                return Err(format!("nats-server did not accept connections on port {port} within 20 s; its log:\n{tail}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(server)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(name) = &self.container {
            let _ = Command::new("docker")
                .args(["kill", name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
