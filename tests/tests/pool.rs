//! Connection pool against real servers: member names in `/connz`,
//! one subject → one connection with its order kept, traffic on every connection, the aggregate
//! health, metrics labelled per member, the pooled publisher (core and JetStream), and shutdown.

// Test helpers report failures by panicking, like the tests themselves.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use connect_nats_config::Config;
use connect_nats_core::{ConnectError, ConnectionPool, ConnectionState};
use connect_nats_publisher::{Event, EventPublisher, PooledPublisher, PublishError};
use connect_nats_testkit::{bounded, subscribe_registered, NatsServer, ServerConfig};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for one message or state change.
const WAIT: Duration = Duration::from_secs(15);

fn config(url: &str, client_id: &str) -> Config {
    common::client_config(&[url.to_owned()], client_id, Duration::from_secs(3), None)
}

async fn pool(server: &NatsServer, client_id: &str, size: usize) -> ConnectionPool {
    ConnectionPool::connect(&config(&server.url(), client_id), size)
        .await
        .unwrap_or_else(|e| panic!("pool of {size} to {}: {e}", server.url()))
}

/// The Prometheus recorder of this test binary, installed before any connection is made
/// (connections register their metric handles when they are created).
fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("the pool binary installs the only metrics recorder")
    })
}

/// `/connz` entries whose name starts with `<prefix>-`, by name.
fn members(connz: &Value, prefix: &str) -> BTreeMap<String, Value> {
    connz["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let name = c["name"].as_str()?;
            name.strip_prefix(prefix)?
                .strip_prefix('-')
                .map(|_| (name.to_owned(), c.clone()))
        })
        .collect()
}

/// Polls `/connz` (off the async workers) until `pred` holds for the pool's entries.
fn wait_members(
    server: &NatsServer,
    prefix: &str,
    pred: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    tokio::task::block_in_place(|| {
        let connz = server.wait_for_monitor("/connz?limit=1024", |c| pred(&members(c, prefix)));
        members(&connz, prefix)
    })
}

fn names(prefix: &str, size: usize) -> Vec<String> {
    (0..size).map(|i| format!("{prefix}-{i}")).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seq {
    i: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_named_client_id_dash_index_in_connz() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let pool = pool(&server, "pool-names", 3).await;
        assert_eq!(pool.size(), 3);
        assert_eq!(pool.client_id(), "pool-names");
        for (i, want) in names("pool-names", 3).iter().enumerate() {
            assert_eq!(&pool.get(i).unwrap().config().client_id(), want);
        }
        assert!(pool.get(3).is_none());
        let seen = wait_members(&server, "pool-names", |m| m.len() == 3);
        assert_eq!(
            seen.keys().cloned().collect::<Vec<_>>(),
            names("pool-names", 3)
        );

        let health = pool.health().await;
        assert_eq!(health.state, ConnectionState::Connected);
        assert!(health.all_connected(), "{health:?}");
        assert_eq!(
            health
                .members
                .iter()
                .map(|m| m.client_id.clone())
                .collect::<Vec<_>>(),
            names("pool-names", 3)
        );
        assert!(health.members.iter().all(|m| m.health.rtt.is_some()));
        assert!(pool.readiness().is_ready(), "{}", pool.readiness());
        pool.shutdown(WAIT).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_subject_keeps_one_connection_and_its_order() {
    bounded(TEST_TIMEOUT, async {
        const BURST: u32 = 3_000;
        let server = NatsServer::start(ServerConfig::plain());
        let pool = pool(&server, "pool-order", 4).await;
        let publisher = PooledPublisher::new(pool.clone(), "pool-order");
        let watcher = connect_nats_core::connect(&config(&server.url(), "pool-order-watcher"))
            .await
            .unwrap();
        // The pool publishes on other connections: registered, not only sent.
        let mut sub = subscribe_registered(&watcher, "pool.order.>").await;

        let subjects: Vec<String> = (0..8).map(|s| format!("pool.order.s{s}")).collect();
        for s in &subjects {
            let index = pool.index_for(s);
            assert!(index < 4);
            assert_eq!(pool.index_for(s), index, "the mapping is stable");
            assert!(std::ptr::eq(
                pool.for_subject(s),
                &pool.connections()[index]
            ));
            assert!(std::ptr::eq(
                publisher.for_subject(s),
                &publisher.publishers()[index]
            ));
        }

        // Bursts on every subject at once, one task per subject.
        let tasks: Vec<_> = subjects
            .iter()
            .cloned()
            .map(|s| {
                let publisher = publisher.clone();
                tokio::spawn(async move {
                    for i in 0..BURST {
                        publisher
                            .event(&s, "pool.seq", &Seq { i })
                            .core()
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        for c in pool.connections() {
            c.flush().await.unwrap();
        }

        // Per subject, the subscriber sees 0, 1, 2, … in order, none missing.
        let mut next: BTreeMap<String, u32> = subjects.iter().map(|s| (s.clone(), 0)).collect();
        let total = BURST as usize * subjects.len();
        for _ in 0..total {
            let msg = tokio::time::timeout(WAIT, sub.next())
                .await
                .expect("a message within the wait")
                .expect("subscription open");
            let seq = Event::<Seq>::from_slice(&msg.payload).unwrap().data;
            let expected = next.get_mut(msg.subject.as_str()).unwrap();
            assert_eq!(seq.i, *expected, "out of order on {}", msg.subject);
            *expected += 1;
        }
        assert!(next.values().all(|n| *n == BURST), "{next:?}");
        pool.shutdown(WAIT).await.unwrap();
        watcher.shutdown(WAIT).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_spread_over_every_connection_and_metrics_are_per_member() {
    metrics();
    bounded(TEST_TIMEOUT, async {
        const PER_SUBJECT: u64 = 50;
        let server = NatsServer::start(ServerConfig::plain());
        let pool = pool(&server, "pool-spread", 4).await;
        let publisher = PooledPublisher::new(pool.clone(), "pool-spread");
        let mut expected = vec![0u64; 4];
        for s in 0..64 {
            let subject = format!("pool.spread.s{s}");
            expected[pool.index_for(&subject)] += PER_SUBJECT;
            for i in 0..PER_SUBJECT {
                publisher
                    .message(&subject, &Seq { i: i as u32 })
                    .core()
                    .await
                    .unwrap();
            }
        }
        assert!(
            expected.iter().all(|n| *n > 0),
            "64 subjects over 4 connections: {expected:?}"
        );
        for c in pool.connections() {
            c.flush().await.unwrap();
        }
        // The server counts what each member sent: exactly its subjects' messages.
        let want: BTreeMap<String, u64> =
            names("pool-spread", 4).into_iter().zip(expected).collect();
        let seen = wait_members(&server, "pool-spread", |m| {
            want.iter()
                .all(|(name, n)| m.get(name).and_then(|c| c["in_msgs"].as_u64()) == Some(*n))
        });
        assert_eq!(seen.len(), 4);

        // Each member's metrics carry its own name.
        pool.update_metrics();
        let text = metrics().render();
        for (name, n) in &want {
            let line = format!(
                "{}{{client_id=\"{name}\"}} {n}",
                connect_nats_core::metrics::OUT_MESSAGES_TOTAL
            );
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        pool.shutdown(WAIT).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_jetstream_publishes_are_acked_and_stored() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let pool = pool(&server, "pool-js", 3).await;
        let js = jetstream::new(pool.get(0).unwrap().client().clone());
        js.create_stream(stream::Config {
            name: "POOL".into(),
            subjects: vec!["pool.js.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let publisher = PooledPublisher::new(pool.clone(), "pool-js");

        let events: Vec<(String, &str, Seq)> = (0..600u32)
            .map(|i| (format!("pool.js.s{}", i % 12), "pool.seq", Seq { i }))
            .collect();
        let results = publisher.publish_all(events).await;
        assert_eq!(results.len(), 600);
        let mut sequences: Vec<u64> = results.into_iter().map(|r| r.unwrap().sequence).collect();
        sequences.sort_unstable();
        assert_eq!(sequences, (1..=600).collect::<Vec<_>>());

        // Through the trait, as service code would.
        async fn emit(p: &impl EventPublisher) -> u64 {
            p.event("pool.js.trait", "pool.seq", &Seq { i: 7 })
                .send()
                .await
                .unwrap()
                .sequence
        }
        assert_eq!(emit(&publisher).await, 601);
        let info = js
            .get_stream("POOL")
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone();
        assert_eq!(info.state.messages, 601);
        pool.shutdown(WAIT).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_connection() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let pool = ConnectionPool::connect_in_background(&config(&server.url(), "pool-close"), 4)
            .await
            .unwrap();
        pool.wait_connected(WAIT).await.unwrap();
        wait_members(&server, "pool-close", |m| m.len() == 4);
        let publisher = PooledPublisher::new(pool.clone(), "pool-close");
        publisher
            .message("pool.close.before", &Seq { i: 1 })
            .core()
            .await
            .unwrap();

        pool.shutdown(WAIT).await.unwrap();
        assert_eq!(pool.state(), ConnectionState::Closed);
        assert!(pool
            .connections()
            .iter()
            .all(|c| c.state() == ConnectionState::Closed));
        assert!(!pool.readiness().is_ready());
        wait_members(&server, "pool-close", |m| m.is_empty());
        for s in 0..8 {
            let err = publisher
                .message(&format!("pool.close.s{s}"), &Seq { i: 2 })
                .core()
                .await
                .unwrap_err();
            assert_eq!(err, PublishError::PublisherClosed);
        }
        // A second shutdown is a no-op.
        pool.shutdown(WAIT).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_all_or_nothing() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let err = ConnectionPool::connect(&config(&server.url(), "pool-zero"), 0)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectError::InvalidConfig { ref setting, .. } if setting == "pool size"
            ),
            "{err:?}"
        );

        // Nothing listens on a stopped server's port.
        let mut gone = NatsServer::start(ServerConfig::plain());
        let url = gone.url();
        gone.stop();
        let err = ConnectionPool::connect(&config(&url, "pool-down"), 3)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "unreachable", "{err}");
    })
    .await;
}
