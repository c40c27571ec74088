//! The demo against a real nats-server: known traffic in, exact counts out of
//! `/metrics` (scraped over HTTP while the demo is still running).

// Tests report failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use connect_nats_config::Config;
use connect_nats_demo::{count_by_path, run, Demo, Options};
use connect_nats_testkit::{NatsServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

fn config(server: &NatsServer, client_id: &str) -> Config {
    Config::builder()
        .without_process_env()
        .without_context()
        .url(server.url())
        .client_id(client_id)
        .build()
        .expect("test config")
}

/// GET `path` over plain HTTP/1.1: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to the demo");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, body.to_owned())
}

/// The value of the sample `name{labels…}` (every given label must match).
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn must(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(page, name, labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in /metrics:\n{page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_the_traffic_sent() {
    let server = NatsServer::start(ServerConfig::plain().jetstream());
    let client_id = "demo-scrape-test";
    let durable = "scrape-test";
    let events = 15;
    let (core, jetstream) = count_by_path(events);
    tokio::time::timeout(TEST_TIMEOUT, async {
        let options = Options {
            durable_name: durable.to_owned(),
            ..Options::default()
        };
        let mut demo = Demo::start(&config(&server, client_id), &options)
            .await
            .expect("demo starts");
        let published = demo.publish(events).await;
        assert_eq!(
            (published.core, published.jetstream, published.failed),
            (core, jetstream, 0)
        );
        demo.wait_consumed(events as u64, Duration::from_secs(20))
            .await
            .expect("every event consumed");
        let stats = demo.stop_consumer().await;
        assert_eq!(stats.acked, events as u64, "{stats:?}");

        let addr = demo.listen_addr();
        let (status, health) = get(addr, "/healthz").await;
        assert_eq!((status, health.trim()), (200, "ok: connected"));
        let (status, page) = get(addr, "/metrics").await;
        assert_eq!(status, 200);

        let consumer = [("stream", "CONNECT_EVENTS"), ("consumer", durable)];
        let outcome = |o: &'static str| {
            let mut labels = consumer.to_vec();
            labels.push(("outcome", o));
            must(&page, "connect_nats_consumer_messages_total", &labels)
        };
        assert_eq!(outcome("ack"), events as f64);
        for other in [
            "nak",
            "term",
            "dead_letter",
            "ack_failed",
            "dead_letter_failed",
        ] {
            assert_eq!(outcome(other), 0.0, "outcome {other}");
        }
        assert_eq!(
            must(
                &page,
                "connect_nats_consumer_handler_duration_seconds_count",
                &consumer
            ),
            events as f64
        );
        assert_eq!(
            must(&page, "connect_nats_consumer_handlers_in_flight", &consumer),
            0.0
        );
        assert_eq!(
            must(&page, "connect_nats_consumer_pull_errors_total", &consumer),
            0.0
        );

        let id = [("client_id", client_id)];
        let state = |s: &'static str| {
            must(
                &page,
                "connect_nats_connection_state",
                &[("client_id", client_id), ("state", s)],
            )
        };
        assert_eq!(state("connected"), 1.0);
        for other in ["pending", "disconnected", "closed"] {
            assert_eq!(state(other), 0.0, "state {other}");
        }
        assert_eq!(must(&page, "connect_nats_reconnects_total", &id), 0.0);
        assert_eq!(must(&page, "connect_nats_slow_consumers_total", &id), 0.0);
        assert_eq!(
            must(&page, "connect_nats_disconnect_duration_seconds_count", &id),
            0.0
        );
        // Every event went out once and came back once; the rest is
        // JetStream API traffic, acks and pulls.
        assert!(must(&page, "connect_nats_out_messages_total", &id) >= events as f64);
        assert!(must(&page, "connect_nats_in_messages_total", &id) >= events as f64);
        assert!(must(&page, "connect_nats_out_bytes_total", &id) > 0.0);
        assert!(must(&page, "connect_nats_in_bytes_total", &id) > 0.0);

        // Publisher: exactly the events sent, by path; nothing buffered or lost.
        let publishes = |kind: &'static str, outcome: &'static str| {
            must(
                &page,
                "connect_nats_publishes_total",
                &[
                    ("client_id", client_id),
                    ("kind", kind),
                    ("outcome", outcome),
                ],
            )
        };
        assert_eq!(publishes("core", "ok"), core as f64);
        assert_eq!(publishes("jetstream", "ok"), jetstream as f64);
        for (kind, outcome) in [
            ("core", "buffered"),
            ("core", "transient_error"),
            ("core", "error"),
            ("jetstream", "duplicate"),
            ("jetstream", "transient_error"),
            ("jetstream", "error"),
        ] {
            assert_eq!(publishes(kind, outcome), 0.0, "{kind} {outcome}");
        }
        assert_eq!(
            must(&page, "connect_nats_publish_ack_latency_seconds_count", &id),
            jetstream as f64
        );
        assert_eq!(
            must(&page, "connect_nats_publish_buffer_messages", &id),
            0.0
        );
        assert_eq!(must(&page, "connect_nats_publish_buffer_bytes", &id), 0.0);
        assert_eq!(
            must(&page, "connect_nats_publish_buffer_flushed_total", &id),
            0.0
        );
        for reason in ["dropped_oldest", "rejected", "wait_timeout", "discarded"] {
            assert_eq!(
                must(
                    &page,
                    "connect_nats_publish_buffer_dropped_total",
                    &[("client_id", client_id), ("reason", reason)]
                ),
                0.0,
                "{reason}"
            );
        }

        documented_exactly(&page);
        demo.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

/// Every metric family on the page is in the table of docs/operations.md,
/// and every metric of the table is on the page.
fn documented_exactly(page: &str) {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/operations.md"
    ))
    .expect("docs/operations.md");
    let documented: std::collections::BTreeSet<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `connect_nats_"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let exported: std::collections::BTreeSet<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE connect_nats_"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        exported, documented,
        "the metrics table of docs/operations.md and /metrics disagree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_after_n_events_with_a_snapshot() {
    let server = NatsServer::start(ServerConfig::plain().jetstream());
    let options = Options {
        events: Some(7),
        durable_name: "run-test".to_owned(),
        ..Options::default()
    };
    let summary = tokio::time::timeout(
        TEST_TIMEOUT,
        run(
            &config(&server, "demo-run-test"),
            &options,
            std::future::pending(),
        ),
    )
    .await
    .expect("run finished in time")
    .expect("run succeeds");
    let (core, jetstream) = count_by_path(7);
    assert_eq!(
        (
            summary.published_core,
            summary.published_jetstream,
            summary.publish_failures
        ),
        (core, jetstream, 0)
    );
    assert_eq!(summary.consumed, 7);
    assert_eq!(summary.consumer.acked, 7);
    assert_eq!(
        must(
            &summary.metrics,
            "connect_nats_consumer_messages_total",
            &[("consumer", "run-test"), ("outcome", "ack")]
        ),
        7.0,
        "{}",
        summary.metrics
    );
}
