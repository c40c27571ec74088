//! Client configuration shared by the integration suites (`mod common;` in each).
//!
//! Each suite keeps its own timings (a cluster test waits longer to connect
//! than a unit-sized one; publisher tests reconnect faster); what they share
//! is how a test's `Config` is built: through the loader, as a service's is.

#[allow(dead_code)] // only the suites that read metrics use it
pub mod metrics;
#[allow(dead_code)] // only the suites that read streams back use it
pub mod stored;

use std::time::Duration;

use std::path::Path;

use connect_nats_config::{Auth, Config, ConfigBuilder};

/// How a suite's clients reconnect: first delay and cap of the backoff.
/// `None` keeps the library's defaults.
pub type Reconnect = Option<(Duration, Duration)>;

/// A builder that reads neither the process environment nor a NATS CLI
/// context: a test's configuration is only what the test sets.
pub fn hermetic() -> ConfigBuilder {
    Config::builder().without_process_env().without_context()
}

/// A `Config` for `urls` (the scheme read from each URL) named `client_id`,
/// with `connect_timeout` and the suite's reconnect delays.
#[allow(dead_code)] // a suite may use only client_builder
pub fn client_config(
    urls: &[String],
    client_id: &str,
    connect_timeout: Duration,
    reconnect: Reconnect,
) -> Config {
    client_builder(urls, client_id, connect_timeout, reconnect)
        .build()
        .unwrap_or_else(|e| panic!("test config for {urls:?} does not load: {e}"))
}

/// The builder of [`client_config`], for a suite that sets more.
pub fn client_builder(
    urls: &[String],
    client_id: &str,
    connect_timeout: Duration,
    reconnect: Reconnect,
) -> ConfigBuilder {
    let mut builder = hermetic()
        .servers(urls.iter().cloned())
        .client_id(client_id)
        .connect_timeout(connect_timeout);
    if let Some((wait, max_wait)) = reconnect {
        builder = builder.reconnect_wait(wait).reconnect_max_wait(max_wait);
    }
    builder
}

/// `builder` authenticating as `auth` does (files by their paths, read by the loader).
#[allow(dead_code)] // not every suite sets authentication
pub fn with_auth(builder: ConfigBuilder, auth: &Auth) -> ConfigBuilder {
    match auth {
        Auth::None => builder,
        Auth::Token { token } => builder.token(token.clone()),
        Auth::UserPassword { user, password } => builder.user_password(user, password.clone()),
        Auth::CredsFile { path, .. } => builder.creds_file(path),
        Auth::NkeySeedFile { path, .. } => builder.nkey_seed_file(path),
        Auth::Jwt { jwt, seed } => builder.jwt(jwt.clone(), seed.clone()),
    }
}

/// The [`Auth`] a `.creds` file at `path` loads as.
#[allow(dead_code)] // not every suite uses credential files
pub fn creds_file(path: &Path) -> Auth {
    let contents = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into();
    Auth::CredsFile {
        path: path.to_path_buf(),
        contents,
    }
}

/// The [`Auth`] an nkey seed file at `path` loads as.
#[allow(dead_code)] // not every suite uses seed files
pub fn nkey_seed_file(path: &Path) -> Auth {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let seed = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("SU"))
        .unwrap_or_else(|| panic!("{} holds no user seed", path.display()))
        .into();
    Auth::NkeySeedFile {
        path: path.to_path_buf(),
        seed,
    }
}
