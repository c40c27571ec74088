//! `cargo xtask bench`: this library against raw async-nats on one server.

use super::{cargo, start_server, workspace_root};
use crate::flags;

/// `cargo xtask bench`.
pub fn run(flags: &flags::Bench) -> Result<(), String> {
    let root = workspace_root();
    let out = root.join("target").join("bench").join("results.json");
    let mut build = cargo();
    build.args(["build", "--release", "--package", "connect-nats-bench"]);
    super::run("build the benchmark (release)", build)?;
    let (_backend, server) = start_server(&flags.server, "bench")?;
    let mut bench = cargo();
    bench.args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "connect-nats-bench",
        "--",
    ]);
    bench.args(["--nats-url", &server.url, "--out"]);
    bench.arg(&out);
    bench.args(&flags.rest);
    super::run("benchmark", bench)?;
    eprintln!("xtask: results written to {}", out.display());
    Ok(())
}
