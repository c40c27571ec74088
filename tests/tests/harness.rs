//! The harness's own tests: every server variant works, and rejects what it must.
//!
//! Clients here are async-nats used directly, so these tests check the harness, not our crates.

// Helpers outside #[test] fns fail tests the same way the tests do: by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use async_nats::{Client, ConnectError, ConnectErrorKind, ConnectOptions};
use connect_nats_testkit::{
    bounded, retrying, round_trip, server_caught_up, Cluster, NatsServer, ServerConfig,
};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Connects once (no retries) with a short connection timeout.
async fn connect(url: &str, opts: ConnectOptions) -> Result<Client, ConnectError> {
    opts.connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
}

/// Connects and proves the connection works with a round trip through the server (a probe
/// to the client's own inbox; `flush()` alone only writes the socket).
async fn assert_connects(url: &str, opts: ConnectOptions) -> Client {
    let client = connect(url, opts)
        .await
        .unwrap_or_else(|e| panic!("expected to connect to {url}: {e}"));
    server_caught_up(&client).await;
    client
}

async fn assert_rejected(url: &str, opts: ConnectOptions, why: &str) -> ConnectErrorKind {
    match connect(url, opts).await {
        Ok(client) => {
            // A server may accept the socket and close it right after; a working round trip
            // means it really accepted us.
            let echoed = round_trip(&client, Duration::from_secs(3)).await;
            assert!(
                echoed.is_err(),
                "{why}: expected the server at {url} to reject the client, but it accepted it"
            );
            ConnectErrorKind::Io
        }
        Err(e) => e.kind(),
    }
}

fn port_refuses(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_err()
}

fn other_user_seed() -> String {
    nkeys::KeyPair::new_user().seed().expect("seed")
}

// ---- plain server, lifecycle ------------------------------------------------------------------

#[tokio::test]
async fn plain_server_accepts_clients_and_shows_them_in_connz() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
        let _client =
            assert_connects(&server.url(), ConnectOptions::new().name("harness-plain")).await;

        let conn = server.wait_for_client_named("harness-plain");
        assert_eq!(conn["lang"], "rust");
        assert_eq!(server.num_connections(), 1);
        assert_eq!(
            server.varz()["port"].as_u64(),
            Some(u64::from(server.port()))
        );
        assert!(server.monitor_url().starts_with("http://127.0.0.1:"));
        // No secrets for a plain server.
        assert!(
            server.token().is_none() && server.creds_path().is_none() && server.ca_path().is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn stop_and_restart_keep_the_ports() {
    bounded(TEST_TIMEOUT, async {
        let mut server = NatsServer::start(ServerConfig::plain());
        let (port, monitor) = (server.port(), server.monitor_port());
        server.stop();
        assert!(!server.is_running());
        assert!(port_refuses(port), "a stopped server no longer listens");
        server.restart();
        assert!(server.is_running());
        assert_eq!((server.port(), server.monitor_port()), (port, monitor));
        assert_connects(&server.url(), ConnectOptions::new()).await;
        // restart() on a running server stops it first.
        server.restart();
        assert_eq!(server.port(), port);
        assert_connects(&server.url(), ConnectOptions::new()).await;
    })
    .await;
}

#[tokio::test]
async fn drop_kills_the_server_also_on_panic() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let (port, dir) = (server.port(), server.dir().to_path_buf());
        drop(server);
        assert!(port_refuses(port), "dropped server still listens on {port}");
        assert!(
            !dir.exists(),
            "dropped server's temp dir {} still exists",
            dir.display()
        );

        let port = std::thread::spawn(|| {
            let result = std::panic::catch_unwind(|| {
                let server = NatsServer::start(ServerConfig::plain());
                let port = server.port();
                std::panic::panic_any(port);
            });
            *result
                .expect_err("panicked")
                .downcast::<u16>()
                .expect("port payload")
        })
        .join()
        .expect("thread");
        assert!(
            port_refuses(port),
            "server of a panicking test still listens on {port}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_server_that_cannot_start_panics_with_its_log() {
    bounded(TEST_TIMEOUT, async {
        let message = std::thread::spawn(|| {
            let err = std::panic::catch_unwind(|| {
                NatsServer::start(ServerConfig::plain().extra_config("no_such_option_xyz: {{{"))
            })
            .expect_err("an invalid config must not start");
            err.downcast::<String>().map(|s| *s).unwrap_or_default()
        })
        .join()
        .expect("thread");
        assert!(message.contains("exited during start-up"), "{message}");
        assert!(message.contains("last lines of"), "{message}");
    })
    .await;
}

#[tokio::test]
async fn max_payload_is_applied() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().max_payload(4096));
        assert_eq!(server.varz()["max_payload"].as_u64(), Some(4096));
        let client = assert_connects(&server.url(), ConnectOptions::new()).await;
        assert_eq!(client.server_info().max_payload, 4096);
    })
    .await;
}

#[tokio::test]
async fn lame_duck_mode_reaches_clients() {
    bounded(TEST_TIMEOUT, async {
        let server =
            NatsServer::start(ServerConfig::plain().lame_duck_duration(Duration::from_secs(30)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let opts = ConnectOptions::new().event_callback(move |event| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(event);
            }
        });
        let _client = assert_connects(&server.url(), opts).await;
        server.lame_duck();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a lame-duck event within 10 s")
                .expect("event channel open");
            if matches!(event, async_nats::Event::LameDuckMode) {
                break;
            }
        }
    })
    .await;
}

// ---- auth variants ----------------------------------------------------------------------------

#[tokio::test]
async fn token_server_accepts_only_the_token() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::token("s3cret-token"));
        let url = server.url();
        assert_eq!(server.token(), Some("s3cret-token"));
        assert_connects(&url, ConnectOptions::with_token("s3cret-token".into())).await;
        let wrong = assert_rejected(
            &url,
            ConnectOptions::with_token("wrong".into()),
            "wrong token",
        )
        .await;
        assert_eq!(wrong, ConnectErrorKind::AuthorizationViolation);
        let none = assert_rejected(&url, ConnectOptions::new(), "no token").await;
        assert_eq!(none, ConnectErrorKind::AuthorizationViolation);
    })
    .await;
}

#[tokio::test]
async fn user_password_server_accepts_only_the_password() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::user_password("svc", "p4ss\"word"));
        let url = server.url();
        let (user, password) = server.user_password().expect("user/password");
        assert_connects(
            &url,
            ConnectOptions::with_user_and_password(user.into(), password.into()),
        )
        .await;
        let wrong = assert_rejected(
            &url,
            ConnectOptions::with_user_and_password(user.into(), "nope".into()),
            "wrong password",
        )
        .await;
        assert_eq!(wrong, ConnectErrorKind::AuthorizationViolation);
        let none = assert_rejected(&url, ConnectOptions::new(), "no credentials").await;
        assert_eq!(none, ConnectErrorKind::AuthorizationViolation);
    })
    .await;
}

#[tokio::test]
async fn nkey_server_accepts_only_its_user_key() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::nkey());
        let url = server.url();
        let seed = server.nkey_seed().expect("nkey seed").to_string();
        assert!(seed.starts_with("SU"));
        let from_file = std::fs::read_to_string(server.nkey_seed_path().expect("seed file"))
            .expect("read seed");
        assert_eq!(from_file.trim(), seed);
        assert_eq!(
            nkeys::KeyPair::from_seed(&seed)
                .expect("valid seed")
                .public_key(),
            server.nkey_public().expect("public key")
        );
        assert_connects(&url, ConnectOptions::with_nkey(seed)).await;
        let wrong = assert_rejected(
            &url,
            ConnectOptions::with_nkey(other_user_seed()),
            "foreign nkey",
        )
        .await;
        assert_eq!(wrong, ConnectErrorKind::AuthorizationViolation);
        let none = assert_rejected(&url, ConnectOptions::new(), "no nkey").await;
        assert_eq!(none, ConnectErrorKind::AuthorizationViolation);
    })
    .await;
}

#[tokio::test]
async fn operator_server_accepts_only_its_users_creds() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::operator().jetstream());
        let url = server.url();
        let creds = server.creds_path().expect("creds file");
        let text = std::fs::read_to_string(creds).expect("read creds");
        assert!(
            text.contains("-----BEGIN NATS USER JWT-----")
                && text.contains("-----BEGIN USER NKEY SEED-----")
        );

        let client = assert_connects(
            &url,
            ConnectOptions::with_credentials_file(creds)
                .await
                .expect("creds parse"),
        )
        .await;
        // The account has JetStream.
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "OPS".into(),
            subjects: vec!["ops.>".into()],
            ..Default::default()
        })
        .await
        .expect("JetStream works for the operator-mode account");

        // JWT + seed given separately work too.
        let seed = server.user_seed().expect("user seed").to_string();
        let kp = std::sync::Arc::new(nkeys::KeyPair::from_seed(&seed).expect("seed"));
        let opts = ConnectOptions::with_jwt(server.user_jwt().expect("jwt").into(), move |nonce| {
            let kp = kp.clone();
            async move { kp.sign(&nonce).map_err(async_nats::AuthError::new) }
        });
        assert_connects(&url, opts).await;

        // A user of another operator is not trusted; no credentials fail too.
        let foreign = NatsServer::start(ServerConfig::operator());
        let foreign_creds =
            ConnectOptions::with_credentials_file(foreign.creds_path().expect("creds"))
                .await
                .expect("creds parse");
        let kind = assert_rejected(&url, foreign_creds, "foreign operator's user").await;
        assert_eq!(kind, ConnectErrorKind::AuthorizationViolation);
        let none = assert_rejected(&url, ConnectOptions::new(), "no creds").await;
        assert_eq!(none, ConnectErrorKind::AuthorizationViolation);
    })
    .await;
}

// ---- TLS --------------------------------------------------------------------------------------

fn trusting(ca: &Path) -> ConnectOptions {
    ConnectOptions::new().add_root_certificates(ca.to_path_buf())
}

#[tokio::test]
async fn tls_server_needs_a_client_that_trusts_its_ca() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::tls());
        let url = server.url();
        assert_eq!(url, format!("tls://localhost:{}", server.port()));
        let ca = server.ca_path().expect("CA");
        let client = assert_connects(&url, trusting(ca)).await;
        assert!(client.server_info().tls_required);

        // A client that does not trust the test CA fails the handshake.
        let untrusted = assert_rejected(&url, ConnectOptions::new(), "untrusted CA").await;
        assert_ne!(untrusted, ConnectErrorKind::AuthorizationViolation);
        // Another server's CA is not ours either.
        let other = NatsServer::start(ServerConfig::tls());
        let wrong_ca =
            assert_rejected(&url, trusting(other.ca_path().expect("CA")), "foreign CA").await;
        assert_ne!(wrong_ca, ConnectErrorKind::AuthorizationViolation);
    })
    .await;
}

#[tokio::test]
async fn mtls_server_requires_a_client_cert_from_its_ca() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::mtls());
        let url = server.url();
        let ca = server.ca_path().expect("CA");
        let cert = server
            .client_cert_path()
            .expect("client cert")
            .to_path_buf();
        let key = server.client_key_path().expect("client key").to_path_buf();
        assert_connects(&url, trusting(ca).add_client_certificate(cert, key)).await;

        // No client certificate: the server refuses the handshake.
        assert_rejected(&url, trusting(ca), "no client certificate").await;

        // A client certificate signed by another CA is refused too.
        let other = NatsServer::start(ServerConfig::mtls());
        let foreign = trusting(ca).add_client_certificate(
            other.client_cert_path().expect("cert").to_path_buf(),
            other.client_key_path().expect("key").to_path_buf(),
        );
        assert_rejected(&url, foreign, "client certificate from a foreign CA").await;
    })
    .await;
}

#[tokio::test]
async fn tls_first_server_needs_a_tls_first_client() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::tls().tls_first());
        let url = server.url();
        let ca = server.ca_path().expect("CA");
        assert_connects(&url, trusting(ca).tls_first()).await;
        // A client waiting for INFO before TLS never gets it.
        assert_rejected(&url, trusting(ca), "client without tls_first").await;
    })
    .await;
}

#[tokio::test]
async fn token_over_tls_combines_both() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::token("t").with_tls());
        let url = server.url();
        let ca = server.ca_path().expect("CA");
        assert_connects(&url, trusting(ca).token("t".into())).await;
        let kind = assert_rejected(&url, trusting(ca), "no token").await;
        assert_eq!(kind, ConnectErrorKind::AuthorizationViolation);
    })
    .await;
}

// ---- JetStream durability, cluster ------------------------------------------------------------

async fn stream_messages(url: &str, name: &str) -> u64 {
    let client = assert_connects(url, ConnectOptions::new()).await;
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(name).await.expect("stream exists");
    stream.info().await.expect("stream info").state.messages
}

#[tokio::test]
async fn killed_jetstream_server_restarts_on_its_port_with_its_data() {
    bounded(TEST_TIMEOUT, async {
        let mut server = NatsServer::start(ServerConfig::plain().jetstream());
        let port = server.port();
        let store = server.store_dir().expect("store dir");
        {
            let client = assert_connects(&server.url(), ConnectOptions::new()).await;
            let js = async_nats::jetstream::new(client);
            js.create_stream(async_nats::jetstream::stream::Config {
                name: "DURABLE".into(),
                subjects: vec!["durable.>".into()],
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .expect("create stream");
            for i in 0..3 {
                js.publish("durable.x", format!("m{i}").into())
                    .await
                    .expect("publish")
                    .await
                    .expect("ack");
            }
        }
        server.kill();
        assert!(port_refuses(port));
        server.restart();
        assert_eq!(server.port(), port);
        assert_eq!(server.store_dir(), Some(store));
        assert_eq!(stream_messages(&server.url(), "DURABLE").await, 3);
        assert_eq!(server.jsz()["streams"].as_u64(), Some(1));
    })
    .await;
}

#[tokio::test]
async fn three_node_cluster_forms_and_replicates() {
    bounded(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start(3);
        assert_eq!(cluster.len(), 3);
        let urls = cluster.urls();
        // Every node sees both peers, read from its own monitoring port.
        let mut names = std::collections::HashSet::new();
        for node in cluster.nodes() {
            let routez = node.routez();
            let remotes: std::collections::HashSet<_> = routez["routes"]
                .as_array()
                .expect("routes")
                .iter()
                .map(|r| r["remote_name"].as_str().expect("remote_name").to_string())
                .collect();
            assert_eq!(remotes.len(), 2, "{}: {routez}", node.server_name());
            assert!(!remotes.contains(node.server_name()));
            names.insert(node.server_name().to_string());
        }
        assert_eq!(names.len(), 3, "distinct server names");

        // An R3 stream created via node 0 is visible via node 2. Placement may refuse it for a
        // moment after the cluster formed ("peer offline"), so creation is retried.
        let client = assert_connects(&urls[0], ConnectOptions::new()).await;
        let js = async_nats::jetstream::new(client);
        retrying(Duration::from_secs(30), "create the R3 stream", || {
            js.create_stream(async_nats::jetstream::stream::Config {
                name: "R3".into(),
                subjects: vec!["r3.>".into()],
                num_replicas: 3,
                ..Default::default()
            })
        })
        .await;
        js.publish("r3.a", "x".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        assert_eq!(stream_messages(&urls[2], "R3").await, 1);

        // A killed node restarts on its ports and rejoins.
        let port = cluster.node(1).port();
        cluster.node(1).kill();
        cluster.node(1).restart();
        assert_eq!(cluster.node(1).port(), port);
        cluster.wait_formed();
    })
    .await;
}
