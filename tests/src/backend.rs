//! Where `nats-server` comes from: a local binary or a docker image.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub use crate::names::{
    BACKEND_ENV, CONTAINER_LABEL, IMAGE_ENV, NEWER_SERVER_ENV, NEWER_SERVER_VERSION, RUN_ENV,
    SERVER_BIN_ENV,
};

/// How test servers are run.
///
/// Both backends run the same config file from the server's temp dir: the docker backend mounts
/// that dir at the same path inside the container and uses `--network host`, so ports, paths and
/// the ports file mean the same thing on both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A local `nats-server` executable.
    Binary(PathBuf),
    /// `docker run --rm --network host <image>`.
    Docker {
        /// The image, e.g. `connect-nats-test/nats-server:2.10.26`.
        image: String,
    },
}

impl Backend {
    /// The backend chosen by the environment (computed once per test binary).
    ///
    /// `CONNECT_NATS_TEST_BACKEND=docker` selects docker (image from `CONNECT_NATS_TEST_IMAGE`,
    /// which `cargo xtask test --server docker` finds or builds);
    /// otherwise the binary from `NATS_SERVER_BIN`, else `nats-server` on `PATH`.
    ///
    /// # Panics
    /// When no server can be found, with a message saying how to provide one.
    pub fn from_env() -> &'static Backend {
        static BACKEND: OnceLock<Backend> = OnceLock::new();
        BACKEND.get_or_init(detect)
    }

    /// The binary backend of the newer server ([`NEWER_SERVER_VERSION`]) named by
    /// `CONNECT_NATS_TEST_NEWER_SERVER`, which `cargo xtask test` installs and sets; the tests of
    /// features older servers lack (batch publishing) run on it beside the pinned server.
    ///
    /// # Panics
    /// When the variable is unset or names no file, with a message saying how to provide it: a
    /// test that needs the newer server fails instead of skipping silently.
    pub fn newer() -> Backend {
        match std::env::var_os(NEWER_SERVER_ENV).filter(|s| !s.is_empty()) {
            Some(bin) if Path::new(&bin).is_file() => Backend::Binary(PathBuf::from(bin)),
            Some(bin) => panic!(
                "{NEWER_SERVER_ENV}={} does not name a file: point it at a nats-server \
                 {NEWER_SERVER_VERSION} executable, or run the tests with `cargo xtask test`",
                PathBuf::from(bin).display()
            ),
            None => panic!(
                "this test needs nats-server {NEWER_SERVER_VERSION}: {NEWER_SERVER_ENV} is not set. \
                 Run the tests with `cargo xtask test` (it installs one), or set \
                 {NEWER_SERVER_ENV}=/path/to/nats-server-{NEWER_SERVER_VERSION}"
            ),
        }
    }

    /// How long a server of this backend may take to start.
    pub fn start_timeout(&self) -> std::time::Duration {
        match self {
            Backend::Binary(_) => crate::START_TIMEOUT,
            Backend::Docker { .. } => crate::DOCKER_START_TIMEOUT,
        }
    }

    /// A short description for messages (`binary /path/nats-server` or `docker nats:…`).
    pub fn describe(&self) -> String {
        match self {
            Backend::Binary(path) => format!("binary {}", path.display()),
            Backend::Docker { image } => format!("docker image {image}"),
        }
    }
}

fn detect() -> Backend {
    match std::env::var(BACKEND_ENV).ok().as_deref() {
        Some("docker") => {
            let Some(image) = std::env::var(IMAGE_ENV).ok().filter(|s| !s.is_empty()) else {
                panic!(
                    "{BACKEND_ENV}=docker needs {IMAGE_ENV} naming a nats-server image: run the \
                     tests with `cargo xtask test --server docker`, which finds or builds one"
                )
            };
            return Backend::Docker { image };
        }
        None | Some("") | Some("binary") | Some("auto") => {}
        Some(other) => panic!(
            "{BACKEND_ENV}={other:?} is not a known test backend: use `binary` (default) or `docker`"
        ),
    }
    if let Some(bin) = std::env::var_os(SERVER_BIN_ENV).filter(|s| !s.is_empty()) {
        let path = PathBuf::from(bin);
        if !path.is_file() {
            panic!(
                "{SERVER_BIN_ENV}={} does not name a file: point it at a nats-server executable, \
                 or run the tests with `cargo xtask test`, which provisions one",
                path.display()
            );
        }
        return Backend::Binary(path);
    }
    if let Some(path) = find_on_path("nats-server") {
        return Backend::Binary(path);
    }
    panic!(
        "no nats-server for the tests: {SERVER_BIN_ENV} is not set and `nats-server` is not on PATH. \
         Run the tests with `cargo xtask test` (it provisions a server), or set \
         {SERVER_BIN_ENV}=/path/to/nats-server, or {BACKEND_ENV}=docker"
    )
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `uid:gid` of this process, so files a container writes into the temp dir stay removable.
pub(crate) fn docker_user() -> Option<String> {
    static USER: OnceLock<Option<String>> = OnceLock::new();
    USER.get_or_init(|| {
        let id = |flag: &str| {
            let out = Command::new("id")
                .arg(flag)
                .stderr(Stdio::null())
                .output()
                .ok()?;
            let s = String::from_utf8(out.stdout).ok()?;
            Some(s.trim().to_string()).filter(|s| !s.is_empty())
        };
        Some(format!("{}:{}", id("-u")?, id("-g")?))
    })
    .clone()
}

/// `--label connect-nats-test=<run>` for a container or network of this test run: the run id
/// `cargo xtask` hands over in [`RUN_ENV`], else this process's id. `cargo xtask` removes what
/// runs that are no longer alive left behind.
pub(crate) fn docker_label() -> String {
    let run = std::env::var(RUN_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::process::id().to_string());
    format!("{CONTAINER_LABEL}={run}")
}
