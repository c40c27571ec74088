//! `cargo xtask soak --minutes N`: publishers and a consumer through server restarts.

use super::{cargo, workspace_root};
use crate::containers::Sweep;
use crate::flags;
use crate::provision::{provision, Provisioned};

/// `cargo xtask soak --minutes N`: builds the soak binary (release), provisions the server
/// backend `test` would use, and runs the soak against it (the soak starts and restarts its own
/// server through the test harness, so it gets the backend through the same environment). The
/// soak writes its figures to `target/soak/report.json` unless `-- --report PATH` says otherwise.
pub fn run(flags: &flags::Soak) -> Result<(), String> {
    let minutes = flags.minutes.unwrap_or(10);
    if minutes == 0 {
        return Err("soak: --minutes must be at least 1".into());
    }
    let mut build = cargo();
    build.args(["build", "--release", "--package", "connect-nats-soak"]);
    super::run("build the soak (release)", build)?;
    let backend = provision(&flags.server, &workspace_root())?;
    eprintln!("xtask: NATS server backend: {}", backend.describe());
    let _sweep = matches!(backend, Provisioned::Docker { .. }).then(Sweep::start);
    let mut soak = cargo();
    soak.args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "connect-nats-soak",
        "--",
        "--minutes",
        &minutes.to_string(),
    ]);
    if !flags.rest.iter().any(|a| a.starts_with("--report")) {
        soak.arg("--report")
            .arg(workspace_root().join("target/soak/report.json"));
    }
    soak.args(&flags.rest);
    soak.envs(backend.test_env());
    super::run(&format!("soak ({minutes} min)"), soak)
}
