//! The tasks, one module each, and what they share: the workspace root, cargo commands, and
//! starting one server for the bench and the demo.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::containers::Sweep;
use crate::demo_server::DemoServer;
use crate::flags;
use crate::provision::{provision, Provisioned};

pub mod bench;
pub mod demo;
mod features;
mod layering;
pub mod server;
pub mod soak;
pub mod test;

pub(crate) fn workspace_root() -> PathBuf {
    // xtask/ lives directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

pub(crate) fn run(step: &str, mut cmd: Command) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("\nxtask: ── {step}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: could not start: {e}"))?;
    eprintln!("xtask: ── {step}: {status} in {:.1?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

pub(crate) fn output(step: &str, mut cmd: Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{step}: could not start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{step} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts a JetStream server for bench/demo on the chosen backend.
pub(crate) fn start_server(
    flags: &flags::Server,
    name: &str,
) -> Result<(Provisioned, DemoServer), String> {
    let backend = provision(flags, &workspace_root())?;
    if matches!(backend, Provisioned::Docker { .. }) {
        // The server's container is removed when it is dropped; this removes what a killed
        // earlier run left behind.
        drop(Sweep::start());
    }
    let server = DemoServer::start(&backend, name)?;
    eprintln!(
        "xtask: started {} on {} (monitoring {})",
        backend.describe(),
        server.url,
        server.monitor_url
    );
    Ok((backend, server))
}
