//! Batch publishing on new servers, against real ones: the stream flags `allow_atomic` and
//! `allow_batched` on nats-server 2.15.1 (the testkit's newer server, beside the pinned one), the
//! version a flag needs named on the pinned 2.10 server, atomic batches (all or nothing, on a
//! pool through one member), and `publish_all` as one fast-ingest batch (each event stored once,
//! through a restart or an outage too) or, without the flag or on the pinned server, pipelined.

// Tests report failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use async_nats::jetstream::Context;
use connect_nats_config::StreamSpec;
use connect_nats_jetstream::{
    connect_with_jetstream, ensure_streams, JetStreamConnection, StreamOutcome,
};
use connect_nats_publisher::{PublishError, Publisher, MAX_ATOMIC_BATCH};
use connect_nats_testkit::{bounded, NatsServer, ServerConfig};
use serde_json::json;

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A connection to `server` with `streams` ensured (none: the defaults).
async fn connect(
    server: &NatsServer,
    client_id: &str,
    streams: &[StreamSpec],
) -> JetStreamConnection {
    let config = common::client_config(&[server.url()], client_id, Duration::from_secs(3), None);
    let connected = connect_with_jetstream(&config, streams)
        .await
        .expect("connects");
    assert!(connected.report.is_success(), "{}", connected.report);
    connected
}

/// A JetStream context on `server`, with the default streams only.
async fn context(server: &NatsServer, client_id: &str) -> Context {
    connect(server, client_id, &[]).await.jetstream
}

/// How many messages `stream` holds.
async fn stored(js: &Context, stream: &str) -> u64 {
    let info: serde_json::Value = js
        .request(format!("STREAM.INFO.{stream}"), &serde_json::Value::Null)
        .await
        .expect("stream info");
    info["state"]["messages"].as_u64().expect("a message count")
}

/// The stream's `allow_atomic` and `allow_batched`, as the server reports them (async-nats 0.51
/// reads them only with its `server_2_12`/`server_2_14` features).
async fn flags(js: &Context, stream: &str) -> (bool, bool) {
    let info: serde_json::Value = js
        .request(format!("STREAM.INFO.{stream}"), &serde_json::Value::Null)
        .await
        .expect("stream info");
    let flag = |name: &str| info["config"][name].as_bool().unwrap_or(false);
    (flag("allow_atomic"), flag("allow_batched"))
}

fn orders(allow_atomic: bool, allow_batched: bool) -> StreamSpec {
    StreamSpec {
        allow_atomic,
        allow_batched,
        ..StreamSpec::new("ORDERS", ["orders.>"])
    }
}

#[tokio::test]
async fn stream_flags_are_created_and_added_on_a_newer_server() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start_newer(ServerConfig::plain().jetstream());
        let js = context(&server, "batch-flags").await;

        let created = ensure_streams(&js, &[orders(true, false)]).await;
        assert!(created.is_success(), "{created}");
        assert_eq!(flags(&js, "ORDERS").await, (true, false));

        let added = ensure_streams(&js, &[orders(false, true)]).await;
        match added.get("ORDERS") {
            Some(StreamOutcome::Updated { changes }) => {
                let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
                assert_eq!(fields, ["allow_batched"]);
            }
            other => panic!("expected an update adding allow_batched, got {other:?}"),
        }
        assert_eq!(
            flags(&js, "ORDERS").await,
            (true, true),
            "an undeclared flag keeps the server's value"
        );
        let again = ensure_streams(&js, &[orders(true, true)]).await;
        assert!(
            matches!(again.get("ORDERS"), Some(StreamOutcome::Unchanged)),
            "{again}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_stream_flag_on_the_pinned_server_names_the_version_needed() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let js = context(&server, "batch-flags-old").await;
        let version = js.client().server_info().version;
        let report = ensure_streams(&js, &[orders(true, false)]).await;
        if connect_nats_jetstream::ServerVersion::parse(&version)
            .is_some_and(|v| v >= connect_nats_jetstream::ATOMIC_BATCH_VERSION)
        {
            // `cargo xtask test --server-version` chose a server that has the flag.
            assert!(
                report.is_success(),
                "{version} takes allow_atomic: {report}"
            );
            return;
        }
        match report.get("ORDERS") {
            Some(StreamOutcome::Failed { field, reason, .. }) => {
                assert_eq!(field.as_deref(), Some("allow_atomic"));
                assert!(reason.contains("2.12.0"), "{reason}");
            }
            other => panic!("expected a failure naming 2.12, got {other:?}"),
        }
        assert!(
            js.get_stream("ORDERS").await.is_err(),
            "nothing was created"
        );
    })
    .await;
}

/// A newer server with `ORDERS` (`orders.>`) declared as `spec` says, and a publisher on it.
async fn atomic_setup(spec: StreamSpec, client_id: &str) -> (NatsServer, Context, Publisher) {
    let server = NatsServer::start_newer(ServerConfig::plain().jetstream());
    let connected = connect(&server, client_id, &[spec]).await;
    let publisher = Publisher::new(connected.connection, "batch-tests");
    (server, connected.jetstream, publisher)
}

#[tokio::test]
async fn an_atomic_batch_is_stored_whole_with_one_ack() {
    bounded(TEST_TIMEOUT, async {
        let (_server, js, publisher) = atomic_setup(orders(true, false), "atomic-whole").await;
        let lines: Vec<_> = (0..50).map(|i| json!({ "line": i })).collect();
        let ack = publisher
            .publish_atomic(lines.iter().map(|line| {
                publisher
                    .event("orders.created", "order.created", line)
                    .outgoing()
            }))
            .await
            .expect("the batch is stored");
        assert_eq!(
            (ack.stream.as_str(), ack.count, ack.sequence),
            ("ORDERS", 50, 50)
        );
        assert_eq!(stored(&js, "ORDERS").await, 50);
    })
    .await;
}

#[tokio::test]
async fn an_atomic_batch_with_one_refused_message_stores_none() {
    bounded(TEST_TIMEOUT, async {
        let spec = StreamSpec {
            max_msg_size: Some(512),
            ..orders(true, false)
        };
        let (_server, js, publisher) = atomic_setup(spec, "atomic-refused").await;
        let small = json!({ "ok": true });
        let large = json!({ "blob": "x".repeat(2048) });
        let result = publisher
            .publish_atomic([
                publisher
                    .event("orders.created", "order.created", &small)
                    .outgoing(),
                publisher
                    .event("orders.created", "order.created", &large)
                    .outgoing(),
                publisher
                    .event("orders.created", "order.created", &small)
                    .outgoing(),
            ])
            .await;
        assert!(
            matches!(result, Err(PublishError::Rejected { .. })),
            "{result:?}"
        );
        assert_eq!(
            stored(&js, "ORDERS").await,
            0,
            "nothing of the batch is stored"
        );
    })
    .await;
}

#[tokio::test]
async fn a_duplicate_msg_id_rejects_the_whole_atomic_batch() {
    bounded(TEST_TIMEOUT, async {
        let (_server, js, publisher) = atomic_setup(orders(true, false), "atomic-dup").await;
        let data = json!({ "order": 1 });
        publisher
            .event("orders.created", "order.created", &data)
            .msg_id("order-1")
            .send()
            .await
            .expect("the first copy is stored");
        let result = publisher
            .publish_atomic([
                publisher
                    .event("orders.created", "order.created", &data)
                    .msg_id("order-2")
                    .outgoing(),
                publisher
                    .event("orders.created", "order.created", &data)
                    .msg_id("order-1")
                    .outgoing(),
            ])
            .await;
        assert_eq!(result, Err(PublishError::BatchDuplicate));
        assert_eq!(
            stored(&js, "ORDERS").await,
            1,
            "only the earlier copy is stored"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_an_atomic_batch_leaves_none_or_all() {
    bounded(TEST_TIMEOUT, async {
        let (server, js, publisher) = atomic_setup(orders(true, false), "atomic-kill").await;
        let lines: Vec<_> = (0..MAX_ATOMIC_BATCH)
            .map(|n| json!({ "n": n, "pad": "x".repeat(4096) }))
            .collect();
        // The kill comes as soon as the batch's first message reaches the server.
        let mut watch = js.client().subscribe("orders.>").await.expect("subscribes");
        connect_nats_testkit::round_trip(&js.client(), Duration::from_secs(5))
            .await
            .expect("the subscription is registered");
        let sending = tokio::spawn(async move {
            publisher
                .publish_atomic(lines.iter().map(|line| {
                    publisher
                        .event("orders.created", "order.created", line)
                        .outgoing()
                }))
                .await
        });
        futures::StreamExt::next(&mut watch)
            .await
            .expect("the first message");
        drop(watch);
        let server = restart(server).await;
        let result = sending.await.expect("publish_atomic returns");
        let stored = connect_nats_testkit::eventually(
            Duration::from_secs(30),
            "the stream answering after the restart",
            || {
                let js = js.clone();
                async move {
                    let info: serde_json::Value = js
                        .request("STREAM.INFO.ORDERS".to_owned(), &serde_json::Value::Null)
                        .await
                        .ok()?;
                    info["state"]["messages"].as_u64()
                }
            },
        )
        .await;
        match result {
            Ok(ack) => assert_eq!((ack.count, stored), (MAX_ATOMIC_BATCH, 1_000)),
            Err(e) => assert!(
                stored == 0 || stored == 1_000,
                "{stored} of 1,000 stored after {e}"
            ),
        }
        drop(server);
    })
    .await;
}

/// A pooled publisher of `members` connections on `server`.
async fn pooled(
    server: &NatsServer,
    client_id: &str,
    members: usize,
) -> connect_nats_publisher::PooledPublisher {
    let config = common::client_config(&[server.url()], client_id, Duration::from_secs(3), None);
    let pool = connect_nats_core::ConnectionPool::connect(&config, members)
        .await
        .expect("the pool connects");
    connect_nats_publisher::PooledPublisher::new(pool, "batch-tests")
}

/// `count` (at least 2) distinct subjects under `orders.`, the second on another pool member than
/// the first.
fn subjects_across_members(
    pooled: &connect_nats_publisher::PooledPublisher,
    count: usize,
) -> Vec<String> {
    let member = |subject: &str| pooled.pool().index_for(subject);
    let mut subjects: Vec<String> = (0..count).map(|n| format!("orders.line.{n}")).collect();
    let other = (count..count + 1_000)
        .map(|n| format!("orders.line.{n}"))
        .find(|s| member(s) != member(&subjects[0]))
        .expect("a subject on another member");
    subjects[1] = other;
    subjects
}

#[tokio::test]
async fn a_pooled_atomic_batch_goes_through_one_member_and_is_stored_whole() {
    bounded(TEST_TIMEOUT, async {
        let (server, js, _publisher) = atomic_setup(orders(true, false), "pool-atomic-whole").await;
        let pooled = pooled(&server, "pool-atomic-whole-2", 3).await;
        let subjects = subjects_across_members(&pooled, 50);
        let lines: Vec<_> = (0..50).map(|n| json!({ "n": n })).collect();
        let ack = pooled
            .publish_atomic(
                subjects
                    .iter()
                    .zip(&lines)
                    .map(|(subject, line)| pooled.event(subject, "order.line", line).outgoing()),
            )
            .await
            .expect("the batch is stored");
        assert_eq!(
            (ack.stream.as_str(), ack.count, ack.sequence),
            ("ORDERS", 50, 50)
        );
        assert_eq!(
            stored_numbers(&js, "ORDERS").await,
            (0..50).collect::<Vec<_>>(),
            "every event, in batch order"
        );
    })
    .await;
}

#[tokio::test]
async fn a_pooled_atomic_batch_with_one_refused_message_stores_none() {
    bounded(TEST_TIMEOUT, async {
        let spec = StreamSpec {
            max_msg_size: Some(512),
            ..orders(true, false)
        };
        let (server, js, _publisher) = atomic_setup(spec, "pool-atomic-refused").await;
        let pooled = pooled(&server, "pool-atomic-refused-2", 3).await;
        let subjects = subjects_across_members(&pooled, 3);
        let small = json!({ "ok": true });
        let large = json!({ "blob": "x".repeat(2048) });
        let result = pooled
            .publish_atomic([
                pooled.event(&subjects[0], "order.line", &small).outgoing(),
                pooled.event(&subjects[1], "order.line", &large).outgoing(),
                pooled.event(&subjects[2], "order.line", &small).outgoing(),
            ])
            .await;
        assert!(
            matches!(result, Err(PublishError::Rejected { .. })),
            "{result:?}"
        );
        assert_eq!(
            stored(&js, "ORDERS").await,
            0,
            "nothing of the batch is stored"
        );
        let none: Vec<connect_nats_publisher::Outgoing<'_, serde_json::Value>> = Vec::new();
        assert_eq!(
            pooled.publish_atomic(none).await,
            Err(PublishError::BatchSize {
                count: 0,
                max: MAX_ATOMIC_BATCH
            })
        );
    })
    .await;
}

#[tokio::test]
async fn atomic_batches_refuse_bad_sizes_streams_without_the_flag_and_old_servers() {
    bounded(TEST_TIMEOUT, async {
        let (_server, js, publisher) = atomic_setup(orders(false, false), "atomic-refusals").await;
        let data = json!({});
        let too_many = vec![publisher.event("orders.created", "order.created", &data).outgoing(); MAX_ATOMIC_BATCH + 1];
        assert_eq!(
            publisher.publish_atomic(too_many).await,
            Err(PublishError::BatchSize { count: MAX_ATOMIC_BATCH + 1, max: MAX_ATOMIC_BATCH })
        );
        let none: Vec<connect_nats_publisher::Outgoing<'_, serde_json::Value>> = Vec::new();
        assert!(matches!(publisher.publish_atomic(none).await, Err(PublishError::BatchSize { count: 0, .. })));
        let bad = publisher
            .publish_atomic([
                publisher.event("orders.created", "order.created", &data).outgoing(),
                publisher.event("orders.*", "order.created", &data).outgoing(),
            ])
            .await;
        assert!(matches!(bad, Err(PublishError::BatchEvent { index: 1, .. })), "{bad:?}");
        let unflagged = publisher
            .publish_atomic([publisher.event("orders.created", "order.created", &data).outgoing()])
            .await;
        assert_eq!(
            unflagged,
            Err(PublishError::BatchNotAllowed { subject: "orders.created".into(), flag: "allow_atomic" })
        );
        assert_eq!(stored(&js, "ORDERS").await, 0);

        let old = NatsServer::start(ServerConfig::plain().jetstream());
        let connected = connect(&old, "atomic-old", &[orders(false, false)]).await;
        let old_publisher = Publisher::new(connected.connection, "batch-tests");
        let refused = old_publisher
            .publish_atomic([old_publisher.event("orders.created", "order.created", &data).outgoing()])
            .await;
        let old_version = connected.jetstream.client().server_info().version;
        if connect_nats_jetstream::ServerVersion::parse(&old_version)
            .is_some_and(|v| v >= connect_nats_jetstream::ATOMIC_BATCH_VERSION)
        {
            // `cargo xtask test --server-version` chose a server that has atomic batches.
            assert!(matches!(&refused, Err(PublishError::BatchNotAllowed { .. })), "{refused:?}");
        } else {
            assert!(
                matches!(&refused, Err(PublishError::BatchUnsupported { needed, .. }) if needed == "2.12.0"),
                "{refused:?}"
            );
        }
        assert_eq!(stored(&connected.jetstream, "ORDERS").await, 0);
    })
    .await;
}

/// The `data.n` of every message `stream` holds, in stream order.
async fn stored_numbers(js: &Context, stream: &str) -> Vec<u64> {
    stored_messages(js, stream)
        .await
        .into_iter()
        .map(|(_, n)| n)
        .collect()
}

/// The subject and `data.n` of every message `stream` holds, in stream order.
async fn stored_messages(js: &Context, stream: &str) -> Vec<(String, u64)> {
    use async_nats::jetstream::consumer::{pull, AckPolicy};
    use futures::StreamExt;

    let stream = js.get_stream(stream).await.expect("the stream");
    let total = stream.get_info().await.expect("stream info").state.messages;
    let consumer = stream
        .create_consumer(pull::Config {
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("a consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut stored = Vec::new();
    while (stored.len() as u64) < total {
        let message = messages
            .next()
            .await
            .expect("more messages")
            .expect("a message");
        let envelope: serde_json::Value =
            serde_json::from_slice(&message.payload).expect("an envelope");
        let n = envelope["data"]["n"].as_u64().expect("data.n");
        stored.push((message.subject.to_string(), n));
    }
    stored
}

/// Restarts `server` (same ports, same store) off the runtime's threads.
async fn restart(mut server: NatsServer) -> NatsServer {
    tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .expect("restarted")
}

fn numbered(count: u64) -> Vec<(&'static str, &'static str, serde_json::Value)> {
    (0..count)
        .map(|n| ("orders.created", "order.created", json!({ "n": n })))
        .collect()
}

#[tokio::test]
async fn publish_all_sends_one_fast_batch_where_the_stream_allows_it() {
    bounded(TEST_TIMEOUT, async {
        let (_server, js, publisher) = atomic_setup(orders(false, true), "fast-basic").await;
        let results = publisher.publish_all(numbered(2_000)).await;
        for (n, result) in results.iter().enumerate() {
            let ack = result.as_ref().unwrap_or_else(|e| panic!("event {n}: {e}"));
            assert_eq!(
                (ack.stream.as_str(), ack.sequence),
                ("ORDERS", 0),
                "flow-acked"
            );
        }
        let numbers = stored_numbers(&js, "ORDERS").await;
        assert_eq!(numbers, (0..2_000).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test]
async fn a_pooled_publish_all_on_one_subject_is_one_fast_batch() {
    bounded(TEST_TIMEOUT, async {
        let (server, js, _publisher) = atomic_setup(orders(false, true), "fast-pool").await;
        let pooled = pooled(&server, "fast-pool-2", 3).await;
        let results = pooled.publish_all(numbered(1_000)).await;
        let sequences: Vec<u64> = results
            .into_iter()
            .map(|r| r.expect("stored").sequence)
            .collect();
        assert_eq!(sequences, vec![0; 1_000], "flow-acked, not one ack each");
        assert_eq!(
            stored_numbers(&js, "ORDERS").await,
            (0..1_000).collect::<Vec<_>>()
        );
    })
    .await;
}

#[tokio::test]
async fn a_pooled_publish_all_across_members_to_one_stream_is_a_fast_batch_per_member() {
    use std::sync::atomic::Ordering;

    bounded(TEST_TIMEOUT, async {
        let (server, js, _publisher) = atomic_setup(orders(false, true), "fast-pool-across").await;
        let pooled = pooled(&server, "fast-pool-across-2", 3).await;
        let subjects = subjects_across_members(&pooled, 8);
        let events: Vec<_> = (0..1_000u64)
            .map(|n| {
                let subject = subjects[usize::try_from(n).expect("small") % subjects.len()].clone();
                (subject, "order.line.added", json!({ "n": n }))
            })
            .collect();
        let mut share = vec![0u64; pooled.publishers().len()];
        for (subject, _, _) in &events {
            share[pooled.pool().index_for(subject)] += 1;
        }
        let sent_by = |pooled: &connect_nats_publisher::PooledPublisher| -> Vec<u64> {
            pooled
                .pool()
                .connections()
                .iter()
                .map(|c| c.client().statistics().out_messages.load(Ordering::Relaxed))
                .collect()
        };
        let before = sent_by(&pooled);
        let publishing = pooled.publish_all(events);
        assert_send(&publishing);
        let results = publishing.await;
        let after = sent_by(&pooled);

        let sequences: Vec<u64> = results
            .into_iter()
            .map(|r| r.expect("stored").sequence)
            .collect();
        assert_eq!(sequences, vec![0; 1_000], "flow-acked, not one ack each");
        for (member, &count) in share.iter().enumerate() {
            let sent = after[member] - before[member];
            assert!(
                sent >= count,
                "member {member} carries {count} events but sent {sent} messages"
            );
        }
        assert!(
            share.iter().filter(|&&c| c > 0).count() > 1,
            "the events span members"
        );
        let stored = stored_messages(&js, "ORDERS").await;
        let mut numbers: Vec<u64> = stored.iter().map(|(_, n)| *n).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..1_000).collect::<Vec<_>>(), "each stored once");
        for subject in &subjects {
            let on: Vec<u64> = stored
                .iter()
                .filter(|(s, _)| s == subject)
                .map(|(_, n)| *n)
                .collect();
            assert!(
                on.windows(2).all(|w| w[0] < w[1]),
                "{subject}: stored in input order"
            );
        }
    })
    .await;
}

/// Compiles only for a future a runtime can move between threads.
fn assert_send<F: Send>(_: &F) {}

#[tokio::test]
async fn publish_all_falls_back_to_pipelined_acks_without_the_flag_or_on_old_servers() {
    bounded(TEST_TIMEOUT, async {
        let (_server, js, publisher) = atomic_setup(orders(false, false), "fast-unflagged").await;
        let old = NatsServer::start(ServerConfig::plain().jetstream());
        let connected = connect(&old, "fast-old", &[orders(false, false)]).await;
        let old_publisher = Publisher::new(connected.connection, "batch-tests");
        for (publisher, js) in [(&publisher, &js), (&old_publisher, &connected.jetstream)] {
            let results = publisher.publish_all(numbered(300)).await;
            let sequences: Vec<u64> = results
                .into_iter()
                .map(|r| r.expect("stored").sequence)
                .collect();
            assert_eq!(sequences, (1..=300).collect::<Vec<_>>(), "one ack each");
            assert_eq!(stored(js, "ORDERS").await, 300);
        }
    })
    .await;
}

/// A newer server with `ORDERS` allowing fast batches, a connection that reconnects quickly, and
/// a JetStream context on it.
async fn fast_restart_setup(
    client_id: &str,
) -> (NatsServer, Context, connect_nats_core::Connection) {
    let server = NatsServer::start_newer(ServerConfig::plain().jetstream());
    let config = common::client_config(
        &[server.url()],
        client_id,
        Duration::from_secs(3),
        Some((Duration::from_millis(50), Duration::from_millis(250))),
    );
    let connected = connect_with_jetstream(&config, &[orders(false, true)])
        .await
        .expect("connects");
    assert!(connected.report.is_success(), "{}", connected.report);
    (server, connected.jetstream, connected.connection)
}

/// Runs `publish_all` of `events` numbered events on `publisher` and, as soon as the first one
/// reaches `server`, `fault` on it (off the runtime's threads); returns the server and the results.
async fn publish_all_through<F>(
    server: NatsServer,
    js: &Context,
    publisher: &Publisher,
    events: u64,
    fault: F,
) -> (
    NatsServer,
    Vec<Result<connect_nats_publisher::PublishAck, PublishError>>,
)
where
    F: FnOnce(&mut NatsServer) + Send + 'static,
{
    let mut watch = js.client().subscribe("orders.>").await.expect("subscribes");
    connect_nats_testkit::round_trip(&js.client(), Duration::from_secs(5))
        .await
        .expect("the subscription is registered");
    let sending = tokio::spawn({
        let publisher = publisher.clone();
        async move { publisher.publish_all(numbered(events)).await }
    });
    futures::StreamExt::next(&mut watch)
        .await
        .expect("the first event");
    drop(watch);
    assert!(!sending.is_finished(), "the fault must come mid-batch");
    let mut server = server;
    let server = tokio::task::spawn_blocking(move || {
        fault(&mut server);
        server
    })
    .await
    .expect("the fault ran");
    let results = sending.await.expect("publish_all finishes");
    assert_eq!(results.len() as u64, events);
    (server, results)
}

/// Asserts that every one of `events` results is an ack and that `ORDERS` holds each event once.
async fn assert_each_stored_once(
    js: &Context,
    events: u64,
    results: &[Result<connect_nats_publisher::PublishAck, PublishError>],
) {
    for (n, result) in results.iter().enumerate() {
        if let Err(e) = result {
            panic!("event {n} was not acknowledged: {e}");
        }
    }
    let mut numbers = stored_numbers(js, "ORDERS").await;
    numbers.sort_unstable();
    let stored = numbers.len();
    numbers.dedup();
    assert_eq!(stored, numbers.len(), "no event is stored twice");
    let missing: Vec<u64> = (0..events)
        .filter(|n| numbers.binary_search(n).is_err())
        .collect();
    assert!(
        missing.is_empty() && stored as u64 == events,
        "acknowledged but not stored: {} events, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_fast_ingest_events_through_a_restart_are_each_stored_once() {
    const EVENTS: u64 = 50_000;
    bounded(Duration::from_secs(240), async {
        let (server, js, connection) = fast_restart_setup("fast-restart").await;
        // The default options: retries reuse each Nats-Msg-Id within the 2-minute duplicate
        // window, and each re-sent event's 30 s retry deadline counts from its re-send.
        let publisher = Publisher::new(connection, "batch-tests");
        let (server, results) =
            publish_all_through(server, &js, &publisher, EVENTS, NatsServer::restart).await;
        assert_each_stored_once(&js, EVENTS, &results).await;
        drop(server);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_batch_cut_by_an_outage_resends_its_events_each_within_its_own_deadline() {
    const EVENTS: u64 = 20_000;
    // The batch ends without its flow acks (at once, or after the ack timeout) and re-sends a
    // window of events while the server is still down; each retries from its re-send, all side
    // by side, so a retry deadline longer than the outage is enough for every one of them.
    const DOWN: Duration = Duration::from_secs(10);
    const RETRY_DEADLINE: Duration = Duration::from_secs(15);
    bounded(Duration::from_secs(180), async {
        let (server, js, connection) = fast_restart_setup("fast-outage").await;
        let publisher = Publisher::builder(connection)
            .service_name("batch-tests")
            .retry_deadline(RETRY_DEADLINE)
            .build();
        let (server, results) = publish_all_through(server, &js, &publisher, EVENTS, |server| {
            server.stop();
            // The outage itself, not a wait for something to happen.
            std::thread::sleep(DOWN);
            server.restart();
        })
        .await;
        assert_each_stored_once(&js, EVENTS, &results).await;
        drop(server);
    })
    .await;
}
