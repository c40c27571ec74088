//! connect-nats-core against real servers: every auth kind, TLS, server down, reconnect, cluster
//! failover, health, shutdown, and `connect-nats check`.

// Test helpers report failures by panicking, like the tests themselves.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use connect_nats_config::{Auth, Config, ConfigBuilder, Secret};
use connect_nats_core::{
    connect, connect_in_background, connect_or_degrade, ConnectError, Connection, ConnectionState,
    TlsProblem,
};
use connect_nats_testkit::{bounded, subscribe_registered, Cluster, NatsServer, ServerConfig};
use futures::StreamExt;

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Connect timeout used by most tests.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Reconnect quickly: tests wait for reconnects.
const FAST_RECONNECT: common::Reconnect =
    Some((Duration::from_millis(100), Duration::from_millis(500)));

/// A config for these URLs, a unique client id, short timeouts.
fn config(urls: &[String], client_id: &str) -> Config {
    common::client_config(urls, client_id, CONNECT_TIMEOUT, FAST_RECONNECT)
}

/// The builder of [`config`], for tests that set more.
fn builder(urls: &[String], client_id: &str) -> ConfigBuilder {
    common::client_builder(urls, client_id, CONNECT_TIMEOUT, FAST_RECONNECT)
}

fn config_with(server: &NatsServer, client_id: &str, auth: Auth) -> Config {
    common::with_auth(builder(&[server.url()], client_id), &auth)
        .build()
        .expect("config loads")
}

fn tls_builder(server: &NatsServer, client_id: &str, ca: &Path) -> ConfigBuilder {
    builder(&[server.url()], client_id).tls_ca(ca)
}

fn tls_config(server: &NatsServer, client_id: &str, ca: &Path) -> Config {
    tls_builder(server, client_id, ca)
        .build()
        .expect("config loads")
}

/// Connects, proves the connection works with a round trip, and checks the server lists it
/// under the client id.
async fn assert_connects(server: &NatsServer, config: &Config) -> Connection {
    let connection = connect(config)
        .await
        .unwrap_or_else(|e| panic!("expected {} to connect: {e}", config.client_id()));
    assert_eq!(connection.state(), ConnectionState::Connected);
    connection
        .rtt(Duration::from_secs(5))
        .await
        .expect("a round trip works");
    let entry = server.wait_for_client_named(config.client_id());
    assert_eq!(
        entry["name"],
        config.client_id(),
        "/connz shows NATS_CLIENT_ID"
    );
    connection
}

async fn assert_auth_error(config: &Config, why: &str) {
    match connect(config).await {
        Err(e @ ConnectError::Auth { .. }) => {
            let text = e.to_string();
            eprintln!("{why}: {text}");
            for secret in secrets_of(config.auth()) {
                assert!(
                    !text.contains(&secret),
                    "{why}: error shows a secret: {text}"
                );
            }
        }
        Err(other) => panic!("{why}: expected an auth error, got {other:?}"),
        Ok(_) => panic!("{why}: expected an auth error, but it connected"),
    }
}

fn secrets_of(auth: &Auth) -> Vec<String> {
    match auth {
        Auth::Token { token } => vec![token.expose().to_owned()],
        Auth::UserPassword { password, .. } => vec![password.expose().to_owned()],
        Auth::Jwt { jwt, seed } => vec![jwt.expose().to_owned(), seed.expose().to_owned()],
        _ => vec![],
    }
}

fn assert_tls_error(result: Result<Connection, ConnectError>, want: TlsProblem, why: &str) {
    match result {
        Err(e @ ConnectError::Tls { .. }) => {
            eprintln!("{why}: {e}");
            assert!(
                matches!(e, ConnectError::Tls { problem, .. } if problem == want),
                "{why}: {e:?}"
            );
        }
        Err(other) => panic!("{why}: expected a TLS error ({want:?}), got {other:?}"),
        Ok(_) => panic!("{why}: expected a TLS error ({want:?}), but it connected"),
    }
}

// ---- auth kinds -------------------------------------------------------------------------------

/// The three checks of every auth kind against `server`: `right` connects;
/// `wrong` (with why it is wrong) and no credentials at all are refused as
/// authentication errors. Clients are named `core-<kind>-ok`, `-wrong`, `-none`.
async fn assert_right_wrong_missing(
    server: &NatsServer,
    kind: &str,
    right: Auth,
    (wrong, wrong_why): (Auth, &str),
    missing_why: &str,
) {
    let named =
        |suffix: &str, auth: Auth| config_with(server, &format!("core-{kind}-{suffix}"), auth);
    assert_connects(server, &named("ok", right)).await;
    assert_auth_error(&named("wrong", wrong), wrong_why).await;
    assert_auth_error(&named("none", Auth::None), missing_why).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_right_wrong_and_missing() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::token("s3cret-token"));
        let right = Auth::Token {
            token: Secret::new(server.token().expect("token")),
        };
        let wrong = Auth::Token {
            token: Secret::new("not-the-token"),
        };
        assert_right_wrong_missing(&server, "token", right, (wrong, "wrong token"), "no token")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_password_right_wrong_and_missing() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::user_password("svc", "pa55word"));
        let (user, password) = server.user_password().expect("user/password");
        let right = Auth::UserPassword {
            user: user.to_owned(),
            password: Secret::new(password),
        };
        let wrong = Auth::UserPassword {
            user: user.to_owned(),
            password: Secret::new("wrong-password"),
        };
        assert_right_wrong_missing(
            &server,
            "userpass",
            right,
            (wrong, "wrong password"),
            "no password",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nkey_seed_file_right_wrong_and_missing() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::nkey());
        let right = common::nkey_seed_file(server.nkey_seed_path().expect("seed file"));
        // A valid seed of another user.
        let other = NatsServer::start(ServerConfig::nkey());
        let wrong = common::nkey_seed_file(other.nkey_seed_path().expect("seed file"));
        assert_right_wrong_missing(&server, "nkey", right, (wrong, "foreign nkey"), "no nkey")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_file_right_wrong_and_missing() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::operator());
        let right = common::creds_file(server.creds_path().expect("creds"));
        // Credentials of another operator's user.
        let other = NatsServer::start(ServerConfig::operator());
        let wrong = common::creds_file(other.creds_path().expect("creds"));
        assert_right_wrong_missing(
            &server,
            "creds",
            right,
            (wrong, "foreign creds"),
            "no creds",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_jwt_and_seed_right_wrong_and_missing() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::operator());
        let jwt = server.user_jwt().expect("jwt").to_owned();
        let right = Auth::Jwt {
            jwt: Secret::new(jwt.clone()),
            seed: Secret::new(server.user_seed().expect("seed")),
        };
        // The right JWT signed with another user's seed.
        let other = NatsServer::start(ServerConfig::operator());
        let wrong = Auth::Jwt {
            jwt: Secret::new(jwt),
            seed: Secret::new(other.user_seed().expect("seed")),
        };
        assert_right_wrong_missing(&server, "jwt", right, (wrong, "wrong seed"), "no jwt").await;
    })
    .await;
}

// ---- TLS --------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_trusted_ca_connects_untrusted_ca_fails() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::tls());
        assert!(server.url().starts_with("tls://"));
        let ca = server.ca_path().expect("CA");
        let connection = assert_connects(&server, &tls_config(&server, "core-tls-ok", ca)).await;
        assert!(
            connection
                .health()
                .await
                .server
                .expect("server")
                .tls_required
        );

        let other = NatsServer::start(ServerConfig::tls());
        let foreign_ca = other.ca_path().expect("CA");
        assert_tls_error(
            connect(&tls_config(&server, "core-tls-untrusted", foreign_ca)).await,
            TlsProblem::UntrustedCertificate,
            "CA that did not sign the server's certificate",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_wrong_hostname_fails_as_tls() {
    bounded(TEST_TIMEOUT, async {
        // A server whose certificate names another host, signed by a CA we trust.
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::generate(dir.path(), "not-this-host.example");
        let server = NatsServer::start(ServerConfig::plain().extra_config(format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}",
            pki.server_cert, pki.server_key
        )));
        let url = format!("tls://localhost:{}", server.port());
        let config = builder(&[url], "core-tls-hostname")
            .tls_ca(&pki.ca)
            .build()
            .expect("config loads");
        assert_tls_error(
            connect(&config).await,
            TlsProblem::HostnameMismatch,
            "wrong hostname",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_against_plain_text_server_fails_as_tls() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let config = builder(&[server.url()], "core-tls-plain")
            .tls_required(true)
            .build()
            .expect("config loads");
        assert_tls_error(
            connect(&config).await,
            TlsProblem::ServerWithoutTls,
            "plain-text server",
        );
        // The same with a tls:// URL.
        let url = format!("tls://127.0.0.1:{}", server.port());
        assert_tls_error(
            connect(&config_with_url(&url, "core-tls-plain-url")).await,
            TlsProblem::ServerWithoutTls,
            "plain-text server behind a tls:// URL",
        );
    })
    .await;
}

fn config_with_url(url: &str, client_id: &str) -> Config {
    config(&[url.to_owned()], client_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_with_client_cert_connects_without_is_rejected() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::mtls());
        let ca = server.ca_path().expect("CA");
        let with_cert = tls_builder(&server, "core-mtls-ok", ca)
            .tls_client_cert(
                server.client_cert_path().expect("cert"),
                server.client_key_path().expect("key"),
            )
            .build()
            .expect("config loads");
        assert_connects(&server, &with_cert).await;

        assert_tls_error(
            connect(&tls_config(&server, "core-mtls-nocert", ca)).await,
            TlsProblem::ClientCertificateRejected,
            "mTLS without a client certificate",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_first_connects() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::tls().tls_first());
        let config = tls_builder(&server, "core-tls-first", server.ca_path().expect("CA"))
            .tls_first(true)
            .build()
            .expect("config loads");
        assert_connects(&server, &config).await;
    })
    .await;
}

// ---- server down ------------------------------------------------------------------------------

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

fn within(elapsed: Duration, limit: Duration, what: &str) {
    assert!(
        elapsed <= limit,
        "{what} took {elapsed:?}, more than {limit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_connect_fails_within_the_timeout() {
    bounded(TEST_TIMEOUT, async {
        let limit = CONNECT_TIMEOUT + CONNECT_TIMEOUT / 10;
        // Nobody listening: refused at once.
        let config = config_with_url(&format!("nats://127.0.0.1:{}", closed_port()), "core-down");
        let started = Instant::now();
        let result = connect(&config).await;
        within(started.elapsed(), limit, "connect to a closed port");
        match result {
            Err(ConnectError::Unreachable { .. }) => {}
            other => panic!("expected unreachable, got {other:?}"),
        }

        // A socket that accepts but never speaks NATS: the timeout must cut it.
        let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "nats://127.0.0.1:{}",
            hung.local_addr().expect("addr").port()
        );
        let started = Instant::now();
        let result = connect(&config_with_url(&url, "core-hung")).await;
        within(started.elapsed(), limit, "connect to a silent server");
        assert!(
            matches!(result, Err(ConnectError::Timeout { .. })),
            "expected a timeout, got {result:?}"
        );

        let started = Instant::now();
        assert!(connect_or_degrade(&config_with_url(&url, "core-degrade"))
            .await
            .is_none());
        within(started.elapsed(), limit, "connect_or_degrade");
        drop(hung);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_connect_returns_at_once_and_connects_when_the_server_starts() {
    bounded(TEST_TIMEOUT, async {
        let mut server = NatsServer::start(ServerConfig::plain());
        server.stop();
        let config = config(&[server.url()], "core-background");

        // A connect that waited for the server would never return here, since the server is
        // down until the test restarts it: any bound far below the test's own timeout shows it
        // returned without waiting, and leaves room for a loaded machine.
        let started = Instant::now();
        let connection = connect_in_background(&config).await.expect("valid config");
        within(
            started.elapsed(),
            Duration::from_secs(1),
            "connect_in_background",
        );
        assert_eq!(connection.state(), ConnectionState::Pending);
        assert!(!connection.readiness().is_ready());
        // Publishing while pending queues in the client.
        connection
            .publish("core.background", "early".into())
            .await
            .expect("queued");

        // Let a few attempts fail so the backoff reaches its cap.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(connection.state(), ConnectionState::Pending);
        assert!(connection.readiness().reason.contains("not connected yet"));

        tokio::task::block_in_place(|| server.restart());
        let started = Instant::now();
        connection
            .wait_connected(config.reconnect().max_wait + Duration::from_secs(1))
            .await
            .expect("connected within max_wait + 1 s of the server starting");
        within(
            started.elapsed(),
            config.reconnect().max_wait + Duration::from_secs(1),
            "background connect after the server started",
        );
        assert!(connection.readiness().is_ready());
        server.wait_for_client_named("core-background");
        connection
            .shutdown(Duration::from_secs(5))
            .await
            .expect("shutdown");
    })
    .await;
}

// ---- reconnect --------------------------------------------------------------------------------

async fn next_payload(sub: &mut async_nats::Subscriber) -> String {
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a message within 10 s")
        .expect("subscription open");
    String::from_utf8_lossy(&msg.payload).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_server_the_connection_comes_back_by_itself() {
    bounded(TEST_TIMEOUT, async {
        let mut server = NatsServer::start(ServerConfig::plain());
        let config = config(&[server.url()], "core-restart");
        let connection = connect(&config).await.expect("connects");
        let mut sub = connection
            .subscribe("core.restart")
            .await
            .expect("subscribe");
        connection
            .publish("core.restart", "before".into())
            .await
            .expect("publish");
        assert_eq!(next_payload(&mut sub).await, "before");

        let epoch = connection.reconnect_epoch();
        assert!(
            matches!(
                connection
                    .wait_reconnected_since(epoch, Duration::from_millis(200))
                    .await,
                Err(ConnectError::Timeout { .. })
            ),
            "no reconnect yet"
        );
        let mut states = connection.watch_state();
        tokio::task::block_in_place(|| server.kill());
        tokio::time::timeout(
            Duration::from_secs(10),
            states.wait_for(|s| *s == ConnectionState::Disconnected),
        )
        .await
        .expect("disconnect noticed")
        .expect("watch open");
        let readiness = connection.readiness();
        assert!(!readiness.is_ready());
        assert!(readiness.reason.contains("disconnected"), "{readiness}");

        tokio::task::block_in_place(|| server.restart());
        connection
            .wait_connected(Duration::from_secs(10))
            .await
            .expect("reconnected by itself");
        // The reconnect completed before this call: it still counts.
        connection
            .wait_reconnected_since(epoch, Duration::from_millis(1))
            .await
            .expect("a reconnect since the epoch");
        assert_eq!(connection.reconnect_epoch(), epoch + 1);
        connection
            .publish("core.restart", "after".into())
            .await
            .expect("publish");
        assert_eq!(next_payload(&mut sub).await, "after");

        let health = connection.health().await;
        assert_eq!(health.state, ConnectionState::Connected);
        assert_eq!(health.reconnects, 1);
        assert!(health.rtt.is_some());
        assert!(health.last_error.is_none());
        connection
            .shutdown(Duration::from_secs(5))
            .await
            .expect("shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finite_reconnect_limit_then_closed() {
    bounded(TEST_TIMEOUT, async {
        let mut server = NatsServer::start(ServerConfig::plain());
        let config = builder(&[server.url()], "core-limit")
            .max_reconnects(Some(3))
            .build()
            .expect("config loads");
        let connection = connect(&config).await.expect("connects");
        tokio::task::block_in_place(|| server.kill());
        let mut states = connection.watch_state();
        tokio::time::timeout(
            Duration::from_secs(10),
            states.wait_for(|s| *s == ConnectionState::Closed),
        )
        .await
        .expect("closed after 3 failed attempts")
        .expect("watch open");
        assert_eq!(connection.state(), ConnectionState::Closed);
        let readiness = connection.readiness();
        assert!(readiness.reason.contains("reconnect limit"), "{readiness}");
        assert!(matches!(
            connection.wait_connected(Duration::from_millis(100)).await,
            Err(ConnectError::Closed { .. })
        ));
        let epoch = connection.reconnect_epoch();
        assert!(matches!(
            connection
                .wait_reconnected_since(epoch, Duration::from_secs(5))
                .await,
            Err(ConnectError::Closed { .. })
        ));
        // Stays closed when the server comes back.
        tokio::task::block_in_place(|| server.restart());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(connection.state(), ConnectionState::Closed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_node_killed_the_client_moves_and_keeps_working() {
    bounded(TEST_TIMEOUT, async {
        let mut cluster = tokio::task::block_in_place(|| {
            let cluster = Cluster::start(3);
            cluster.wait_formed();
            cluster
        });
        let urls = cluster.urls();
        let connection = connect(&config(&urls, "core-cluster"))
            .await
            .expect("connects");
        let mut sub = connection
            .subscribe("core.cluster")
            .await
            .expect("subscribe");
        connection.flush().await.expect("flush");
        connection
            .publish("core.cluster", "before".into())
            .await
            .expect("publish");
        assert_eq!(next_payload(&mut sub).await, "before");

        let on = (0..cluster.len())
            .find(|&i| {
                cluster.nodes()[i].connz()["connections"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["name"] == "core-cluster"))
            })
            .expect("the client is on one node");
        let first_server = connection.health().await.server.expect("server").name;
        assert_eq!(first_server, cluster.nodes()[on].server_name());

        // A witness on another node sees the messages published after the move.
        let other = (on + 1) % cluster.len();
        let witness = async_nats::connect(cluster.nodes()[other].url())
            .await
            .expect("witness");
        let mut witness_sub = subscribe_registered(&witness, "core.cluster").await;

        let epoch = connection.reconnect_epoch();
        tokio::task::block_in_place(|| cluster.node(on).kill());
        // The reconnect may complete before kill() returns (a container's kill takes longer than
        // the client's move): waiting from the epoch read before the kill counts it.
        connection
            .wait_reconnected_since(epoch, Duration::from_secs(10))
            .await
            .expect("moved to another node");
        let moved_to = connection.health().await.server.expect("server").name;
        assert_ne!(moved_to, first_server, "the client left the killed node");

        // Interest must propagate across the routes before publishing.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            connection
                .publish("core.cluster", "after".into())
                .await
                .expect("publish");
            let got = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
            if let Ok(Some(msg)) = got {
                assert_eq!(&msg.payload[..], b"after");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no message received after the move"
            );
        }
        assert_eq!(next_payload(&mut witness_sub).await, "after");
        assert_eq!(connection.health().await.reconnects, 1);
    })
    .await;
}

// ---- health and shutdown ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_server_rtt_and_state() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let connection = connect(&config(&[server.url()], "core-health"))
            .await
            .expect("connects");
        let health = connection.health().await;
        assert_eq!(health.state, ConnectionState::Connected);
        let summary = health.server.expect("server");
        assert_eq!(summary.name, server.server_name());
        assert!(summary.jetstream);
        assert!(!summary.version.is_empty());
        assert!(health.rtt.expect("rtt") < Duration::from_secs(1));
        assert_eq!(health.reconnects, 0);
        assert!(health.since_state_change < Duration::from_secs(60));
        let readiness = connection.readiness();
        assert!(readiness.is_ready(), "{readiness}");
        assert_eq!(readiness.to_string(), "ok: connected");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_buffered_publishes_then_closes() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let receiver = async_nats::connect(server.url()).await.expect("receiver");
        // Another connection publishes: registered on the server, not only sent.
        let mut sub = subscribe_registered(&receiver, "core.shutdown").await;

        let connection = connect(&config(&[server.url()], "core-shutdown"))
            .await
            .expect("connects");
        let mut own_sub = connection.subscribe("core.other").await.expect("subscribe");
        const N: usize = 5_000;
        for i in 0..N {
            connection
                .publish("core.shutdown", i.to_string().into())
                .await
                .expect("publish");
        }
        let started = Instant::now();
        connection
            .shutdown(Duration::from_secs(5))
            .await
            .expect("shutdown");
        within(started.elapsed(), Duration::from_secs(5), "shutdown");
        assert_eq!(connection.state(), ConnectionState::Closed);
        assert!(own_sub.next().await.is_none(), "subscriptions are drained");

        for i in 0..N {
            assert_eq!(next_payload(&mut sub).await, i.to_string());
        }
        // Idempotent.
        connection
            .shutdown(Duration::from_secs(1))
            .await
            .expect("second shutdown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_server_down_never_hangs_past_the_timeout() {
    bounded(TEST_TIMEOUT, async {
        let mut server = NatsServer::start(ServerConfig::plain());
        let config = builder(&[server.url()], "core-shutdown-down")
            .reconnect_wait(Duration::from_secs(5))
            .reconnect_max_wait(Duration::from_secs(5))
            .build()
            .expect("config loads");
        let connection = connect(&config).await.expect("connects");
        let mut states = connection.watch_state();
        tokio::task::block_in_place(|| server.kill());
        tokio::time::timeout(
            Duration::from_secs(10),
            states.wait_for(|s| *s == ConnectionState::Disconnected),
        )
        .await
        .expect("disconnect noticed")
        .expect("watch open");
        connection
            .publish("core.lost", "x".into())
            .await
            .expect("queued");
        let timeout = Duration::from_millis(500);
        let started = Instant::now();
        let result = connection.shutdown(timeout).await;
        within(
            started.elapsed(),
            timeout + Duration::from_secs(1),
            "shutdown while down",
        );
        assert!(
            matches!(result, Err(ConnectError::ShutdownTimeout { .. })),
            "{result:?}"
        );
        assert_eq!(connection.state(), ConnectionState::Closed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_storm_is_counted_and_the_connection_survives() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let connection = connect(&config(&[server.url()], "core-slow"))
            .await
            .expect("connects");
        // Never read: the subscription's buffer (65,536 messages) overflows.
        let _stuck = connection.subscribe("core.slow").await.expect("subscribe");
        for _ in 0..100_000 {
            connection
                .publish("core.slow", "x".into())
                .await
                .expect("publish");
        }
        connection.flush().await.expect("flush");
        let deadline = Instant::now() + Duration::from_secs(20);
        while connection.health().await.slow_consumer_events == 0 {
            assert!(Instant::now() < deadline, "no slow-consumer event counted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let health = connection.health().await;
        assert_eq!(health.state, ConnectionState::Connected);
        assert!(health.rtt.is_some(), "the connection still answers");
    })
    .await;
}

// ---- test PKI for the hostname test -----------------------------------------------------------

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl Pki {
    /// A CA and a server certificate for `host` only, written into `dir`.
    fn generate(dir: &Path, host: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::new(ca_params, ca_key);
        let params = CertificateParams::new(vec![host.to_owned()]).expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("cert");
        let pki = Pki {
            ca: dir.join("other-ca.pem"),
            server_cert: dir.join("other-server.pem"),
            server_key: dir.join("other-server-key.pem"),
        };
        std::fs::write(&pki.ca, ca_cert.pem()).expect("write");
        std::fs::write(&pki.server_cert, cert.pem()).expect("write");
        std::fs::write(&pki.server_key, key.serialize_pem()).expect("write");
        pki
    }
}
