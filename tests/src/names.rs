//! The names `cargo xtask` and the testkit share: the environment variables through which xtask
//! hands the provisioned server backend to the tests, and the label every test container carries.
//!
//! This file is the one home of these names: xtask (standard library only) includes it with
//! `#[path]`, the testkit as a module.

/// Environment variable naming the `nats-server` binary to run.
pub const SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";
/// Environment variable choosing the backend: `binary` (default) or `docker`.
pub const BACKEND_ENV: &str = "CONNECT_NATS_TEST_BACKEND";
/// Environment variable naming the docker image for the `docker` backend.
pub const IMAGE_ENV: &str = "CONNECT_NATS_TEST_IMAGE";
/// The label key every container and network started for tests, benchmarks, the soak or the demo
/// carries; its value is the id of the run that owns it ([`RUN_ENV`]).
pub const CONTAINER_LABEL: &str = "connect-nats-test";
/// Environment variable holding the id of the `cargo xtask` run that starts the tests: the value
/// of [`CONTAINER_LABEL`] on their containers (this process's id when unset).
pub const RUN_ENV: &str = "CONNECT_NATS_TEST_RUN";
/// Environment variable naming a `nats-server` binary of [`NEWER_SERVER_VERSION`], run beside the
/// pinned server for the tests of features older servers lack (batch publishing).
pub const NEWER_SERVER_ENV: &str = "CONNECT_NATS_TEST_NEWER_SERVER";
/// The version `cargo xtask test` installs for [`NEWER_SERVER_ENV`].
pub const NEWER_SERVER_VERSION: &str = "2.15.1";
