//! The tasks themselves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::args::Options;
use crate::containers::Sweep;
use crate::provision::{provision, Provisioned};
use crate::server::DemoServer;

fn workspace_root() -> PathBuf {
    // xtask/ lives directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn run(step: &str, mut cmd: Command) -> Result<(), String> {
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

fn output(step: &str, mut cmd: Command) -> Result<String, String> {
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

/// `cargo xtask test`.
pub fn test(opts: &Options) -> Result<(), String> {
    let root = workspace_root();
    let started = Instant::now();

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run("rustfmt --check", fmt)?;

    layering_check()?;

    let backend = provision(opts, &root)?;
    eprintln!("xtask: NATS server backend: {}", backend.describe());
    let _sweep = matches!(backend, Provisioned::Docker { .. }).then(Sweep::start);

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run("clippy -D warnings", clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace", "--all-features"]);
    test.args(&opts.rest);
    test.envs(backend.test_env());
    run("cargo test (unit, integration, doc)", test)?;

    eprintln!(
        "\nxtask: all checks passed in {:.0?} (server: {})",
        started.elapsed(),
        backend.describe()
    );
    Ok(())
}

/// The layers must be real in `cargo tree`, not only in names.
fn layering_check() -> Result<(), String> {
    let tree = |args: &[&str]| -> Result<String, String> {
        let mut cmd = cargo();
        cmd.args([
            "tree", "--edges", "normal", "--prefix", "none", "--format", "{p} {f}",
        ]);
        cmd.args(args);
        output("cargo tree", cmd)
    };
    let has = |text: &str, krate: &str| text.lines().any(|l| l.starts_with(&format!("{krate} v")));
    let features_of = |text: &str, krate: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(&format!("{krate} v")))
            .unwrap_or_default()
            .to_owned()
    };

    eprintln!("\nxtask: ── layering check (cargo tree)");
    let config = tree(&["-p", "connect-nats-config"])?;
    for forbidden in ["tokio", "async-nats"] {
        if has(&config, forbidden) {
            return Err(format!(
                "layering: connect-nats-config must not depend on {forbidden}"
            ));
        }
    }
    let publisher = tree(&["-p", "connect-nats-publisher"])?;
    if has(&publisher, "connect-nats-jetstream") {
        return Err(
            "layering: connect-nats-publisher without features pulls connect-nats-jetstream".into(),
        );
    }
    if features_of(&publisher, "async-nats").contains("jetstream") {
        return Err(
            "layering: connect-nats-publisher without features turns on async-nats/jetstream"
                .into(),
        );
    }
    for optional in ["opentelemetry", "metrics"] {
        if has(&publisher, optional) {
            return Err(format!(
                "layering: connect-nats-publisher without features pulls {optional}"
            ));
        }
    }
    let with_js = tree(&["-p", "connect-nats-publisher", "--features", "jetstream"])?;
    if !has(&with_js, "connect-nats-jetstream")
        || !features_of(&with_js, "async-nats").contains("jetstream")
    {
        return Err("layering: connect-nats-publisher --features jetstream should pull connect-nats-jetstream".into());
    }
    let core = tree(&["-p", "connect-nats-core"])?;
    if features_of(&core, "async-nats").contains("jetstream") {
        return Err("layering: connect-nats-core turns on async-nats/jetstream".into());
    }
    // The envelope lives in core: its readers (the consumer) need no publisher.
    let jetstream = tree(&["-p", "connect-nats-jetstream", "--all-features"])?;
    if has(&jetstream, "connect-nats-publisher") {
        return Err("layering: connect-nats-jetstream must not depend on connect-nats-publisher (the envelope is in connect-nats-core)".into());
    }
    eprintln!("xtask: ── layering check: ok (config without tokio/async-nats; publisher's JetStream only with its feature)");
    Ok(())
}

/// Starts a JetStream server for bench/demo on the chosen backend.
fn start_server(opts: &Options, name: &str) -> Result<(Provisioned, DemoServer), String> {
    let backend = provision(opts, &workspace_root())?;
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

/// `cargo xtask bench`.
pub fn bench(opts: &Options) -> Result<(), String> {
    let root = workspace_root();
    let out = root.join("target").join("bench").join("results.json");
    let mut build = cargo();
    build.args(["build", "--release", "--package", "connect-nats-bench"]);
    run("build the benchmark (release)", build)?;
    let (_backend, server) = start_server(opts, "bench")?;
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
    bench.args(&opts.rest);
    run("benchmark", bench)?;
    eprintln!("xtask: results written to {}", out.display());
    Ok(())
}

/// `cargo xtask demo`.
pub fn demo(opts: &Options) -> Result<(), String> {
    let mut demo = cargo();
    demo.args(["run", "--quiet", "--package", "connect-nats-demo", "--"]);
    if let Some(events) = opts.events {
        demo.args(["--events", &events.to_string()]);
    }
    demo.args(&opts.rest);
    if let Ok(url) = std::env::var("NATS_URL") {
        eprintln!("xtask: NATS_URL is set ({url}); the demo runs against that server");
        return run("demo service", demo);
    }
    let mut build = cargo();
    build.args(["build", "--quiet", "--package", "connect-nats-demo"]);
    run("build the demo service", build)?;
    let (_backend, server) = start_server(opts, "demo")?;
    demo.env("NATS_URL", &server.url);
    demo.env("NATS_CLIENT_ID", "connect-demo");
    run("demo service", demo)
}

/// `cargo xtask server`: provisions the backend `test` would use and prints it.
pub fn server(opts: &Options) -> Result<(), String> {
    let backend = provision(opts, &workspace_root())?;
    println!("{}", backend.describe());
    for (key, value) in backend.test_env() {
        println!("{key}={value}");
    }
    Ok(())
}

/// `cargo xtask soak --minutes N`: builds the soak binary (release), provisions the server
/// backend `test` would use, and runs the soak against it (the soak starts and restarts its own
/// server through the test harness, so it gets the backend through the same environment).
pub fn soak(opts: &Options) -> Result<(), String> {
    let minutes = opts.minutes.unwrap_or(10);
    if minutes == 0 {
        return Err("soak: --minutes must be at least 1".into());
    }
    let mut build = cargo();
    build.args(["build", "--release", "--package", "connect-nats-soak"]);
    run("build the soak (release)", build)?;
    let backend = provision(opts, &workspace_root())?;
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
    soak.args(&opts.rest);
    soak.envs(backend.test_env());
    run(&format!("soak ({minutes} min)"), soak)
}
