//! One launch of `nats-server` (a child process, or a `docker run` child plus its container).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::backend::{docker_label, docker_user, Backend};

/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running server process.
#[derive(Debug)]
pub(crate) struct Running {
    child: Child,
    /// The container name, in docker mode.
    container: Option<String>,
    /// `nats-server` binary, in binary mode (for `--signal`).
    binary: Option<std::path::PathBuf>,
    /// Set once the process is known to be gone and reaped.
    reaped: bool,
}

fn unique_container_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "connect-nats-testkit-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn log_file(log_path: &Path) -> (File, File) {
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap_or_else(|e| panic!("testkit: cannot open log {}: {e}", log_path.display()))
    };
    (open(), open())
}

/// The host paths a container sees at the same path: the system temp dir and `dir` when it is
/// outside it.
fn mounts(dir: &Path) -> Vec<String> {
    let tmp = std::env::temp_dir();
    let mut paths = vec![tmp.display().to_string()];
    if !dir.starts_with(&tmp) {
        paths.push(dir.display().to_string());
    }
    paths
}

impl Running {
    /// Starts the server on `config_path`, stdout and stderr appended to `log_path`.
    pub(crate) fn launch(
        backend: &Backend,
        dir: &Path,
        config_path: &Path,
        log_path: &Path,
    ) -> Running {
        let (out, err) = log_file(log_path);
        match backend {
            Backend::Binary(bin) => {
                let child = Command::new(bin)
                    .arg("-c")
                    .arg(config_path)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .unwrap_or_else(|e| {
                        panic!(
                            "testkit: cannot run {}: {e} (check NATS_SERVER_BIN)",
                            bin.display()
                        )
                    });
                Running {
                    child,
                    container: None,
                    binary: Some(bin.clone()),
                    reaped: false,
                }
            }
            Backend::Docker { image } => {
                let name = unique_container_name();
                let mut cmd = Command::new("docker");
                cmd.args(["run", "--rm", "--name", &name, "--network", "host"])
                    .args(["--label", &docker_label()]);
                // The server's dir, and the temp dir that holds it and the files tests write
                // (keys, certificates, other servers' material), at the same paths as outside.
                for mount in mounts(dir) {
                    cmd.args(["-v", &format!("{mount}:{mount}")]);
                }
                // Run as the test's user so the files the server writes (JetStream store, ports
                // file) stay removable when the temp dir is dropped.
                if let Some(user) = docker_user() {
                    cmd.args(["--user", &user]);
                }
                let child = cmd
                    .arg(image)
                    .arg("-c")
                    .arg(config_path)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .unwrap_or_else(|e| {
                        panic!(
                            "testkit: cannot run `docker run {image}`: {e} (is docker installed?)"
                        )
                    });
                Running {
                    child,
                    container: Some(name),
                    binary: None,
                    reaped: false,
                }
            }
        }
    }

    /// The exit status if the process (or `docker run`) has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Graceful stop: SIGTERM (`nats-server --signal term=<pid>`, or `docker stop`), wait, and
    /// SIGKILL if it takes too long.
    pub(crate) fn terminate(mut self) {
        match &self.container {
            Some(name) => {
                let _ = Command::new("docker")
                    .args(["stop", "-t", &STOP_TIMEOUT.as_secs().to_string(), name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            None => {
                if let Some(bin) = &self.binary {
                    let _ = Command::new(bin)
                        .arg("--signal")
                        .arg(format!("term={}", self.child.id()))
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                self.reaped = true;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_now();
    }

    /// SIGKILL (`docker kill`) and reap.
    pub(crate) fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        if let Some(name) = &self.container {
            let _ = Command::new("docker")
                .args(["kill", name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Puts the server into lame-duck mode (`nats-server --signal ldm=<pid>`, or
    /// `docker kill --signal USR2` in docker mode).
    pub(crate) fn lame_duck(&self) {
        let status = match (&self.container, &self.binary) {
            (Some(name), _) => Command::new("docker")
                .args(["kill", "--signal", "USR2", name])
                .stdout(Stdio::null())
                .status(),
            (None, Some(bin)) => Command::new(bin)
                .arg("--signal")
                .arg(format!("ldm={}", self.child.id()))
                .status(),
            (None, None) => unreachable!("a binary launch always records its binary"),
        };
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("testkit: sending lame-duck signal failed with {s}"),
            Err(e) => panic!("testkit: cannot send lame-duck signal: {e}"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_now();
        }
    }
}
