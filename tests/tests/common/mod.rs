//! Client configuration shared by the integration suites (`mod common;` in each).
//!
//! Each suite keeps its own timings (a cluster test waits longer to connect
//! than a unit-sized one; publisher tests reconnect faster); what they share
//! is how a test's `Config` is built.

use std::time::Duration;

use connect_nats_config::{Config, Scheme, ServerUrl};

/// How a suite's clients reconnect: first delay and cap of the backoff.
/// `None` keeps the library's defaults.
pub type Reconnect = Option<(Duration, Duration)>;

/// A `Config` for `urls` (the scheme read from each URL) named `client_id`,
/// with `connect_timeout` and the suite's reconnect delays.
pub fn client_config(
    urls: &[String],
    client_id: &str,
    connect_timeout: Duration,
    reconnect: Reconnect,
) -> Config {
    let mut config = Config {
        servers: urls.iter().map(|u| server_url(u)).collect(),
        client_id: client_id.to_owned(),
        connect_timeout,
        ..Config::default()
    };
    if let Some((wait, max_wait)) = reconnect {
        config.reconnect.wait = wait;
        config.reconnect.max_wait = max_wait;
    }
    config
}

/// `url` as a [`ServerUrl`], its scheme read from its prefix.
fn server_url(url: &str) -> ServerUrl {
    let scheme = match url.split("://").next() {
        Some("tls") => Scheme::Tls,
        Some("ws") => Scheme::Ws,
        Some("wss") => Scheme::Wss,
        _ => Scheme::Nats,
    };
    ServerUrl {
        url: url.to_owned(),
        scheme,
    }
}
