//! `connect-nats tail` against a real server: it prints events published under either header
//! policy, since it reads the envelope and not the headers.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use connect_nats_config::{Config, HeaderPolicy};
use connect_nats_core::connect;
use connect_nats_publisher::Publisher;
use connect_nats_testkit::{bounded, eventually, NatsServer, ServerConfig};

/// Upper bound for the test, server included.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_events_published_with_either_header_policy() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let home = tempfile::tempdir().expect("home");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_connect-nats"));
        // A probe, then one event per policy.
        cmd.args(["tail", "tail.>", "--count", "3", "--json"]);
        for (key, _) in std::env::vars() {
            if key.starts_with("NATS_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("NO_COLOR", "1")
            .env("NATS_URL", server.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run connect-nats tail");
        // Read stderr to its end (tail must never write to a closed pipe), saying when tail
        // listens.
        let stderr = child.stderr.take().expect("stderr");
        let (listening_tx, listening_rx) = tokio::sync::oneshot::channel();
        let stderr_reader = std::thread::spawn(move || {
            let mut listening_tx = Some(listening_tx);
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    if let Some(tx) = listening_tx.take() {
                        let _ = tx.send(());
                    }
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        listening_rx.await.expect("tail says it listens");

        let config = Config::builder()
            .without_process_env()
            .without_context()
            .url(server.url())
            .build()
            .expect("config");
        let conn = connect(&config).await.expect("connect");
        // The server has tail's subscription once a request on its subject finds a
        // subscriber (no "no responders" answer; tail never replies, so it times out).
        let client = conn.client().clone();
        eventually(Duration::from_secs(20), "tail's subscription", || {
            let client = client.clone();
            async move {
                let probe = client.request("tail.probe", "probe".into());
                tokio::time::timeout(Duration::from_secs(2), probe)
                    .await
                    .is_err()
                    .then_some(())
            }
        })
        .await;
        for policy in [HeaderPolicy::Minimal, HeaderPolicy::Full] {
            Publisher::builder(conn.clone())
                .service_name("connect-auth")
                .headers(policy)
                .build()
                .event(&format!("tail.{}", policy.name()), "invite.created", &7)
                .core()
                .await
                .expect("publish");
        }
        conn.flush().await.expect("flush");

        let mut stdout = child.stdout.take().expect("stdout");
        let output = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).map(|_| text)
        })
        .await
        .expect("stdout reader")
        .expect("read stdout");
        let status = child.wait().expect("tail exits");
        let errors = stderr_reader.join().expect("stderr reader");
        assert!(
            status.success(),
            "tail exit {status:?}; stdout:\n{output}\nstderr:\n{errors}"
        );
        for policy in ["minimal", "full"] {
            let line = output
                .lines()
                .find(|l| l.contains(&format!("\"tail.{policy}\"")))
                .unwrap_or_else(|| panic!("no line for tail.{policy} in:\n{output}"));
            let json: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(json["type"], "invite.created", "{policy}: {line}");
            assert_eq!(json["data"], 7, "{policy}: {line}");
            assert_eq!(json["meta"]["by"], "connect-auth", "{policy}: {line}");
        }
    })
    .await;
}
