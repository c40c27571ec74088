//! connect-nats-jetstream against real servers: declared streams, durable consumers with retries
//! and dead letters, stop and restart, a 3-node cluster, key-value.

// Tests report failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::Info as ConsumerInfo;
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use connect_nats_config::{Config, ConfigBuilder, StorageKind, StreamSpec};
use connect_nats_core::{connect, Connection};
use connect_nats_jetstream::{
    connect_with_jetstream, connect_with_jetstream_or_degrade, consume, dead_letter,
    default_connect_streams, ensure_kv, ensure_streams, ensure_streams_dry_run, jetstream_context,
    ConsumerSpec, Delivery, EnsureReport, HandlerError, JetStreamError, KvOperation, KvSpec,
    StreamOutcome, TypedKv,
};
use connect_nats_testkit::{bounded, eventually, retrying, Cluster, NatsServer, ServerConfig};
use futures::StreamExt;

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn config(urls: &[String], client_id: &str) -> Config {
    builder(urls, client_id).build().expect("config loads")
}

fn builder(urls: &[String], client_id: &str) -> ConfigBuilder {
    common::client_builder(
        urls,
        client_id,
        Duration::from_secs(3),
        Some((Duration::from_millis(100), Duration::from_millis(500))),
    )
}

async fn js_for(server: &NatsServer, client_id: &str) -> (Connection, Context) {
    let connection = connect(&config(&[server.url()], client_id))
        .await
        .expect("connects");
    let js = jetstream_context(&connection);
    (connection, js)
}

fn js_server() -> NatsServer {
    NatsServer::start(ServerConfig::plain().jetstream())
}

fn outcome<'a>(report: &'a EnsureReport, name: &str) -> &'a StreamOutcome {
    report
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from the report:\n{report}"))
}

fn changed_fields(outcome: &StreamOutcome) -> Vec<String> {
    match outcome {
        StreamOutcome::Updated { changes } | StreamOutcome::Failed { changes, .. } => {
            changes.iter().map(|c| c.field.clone()).collect()
        }
        _ => Vec::new(),
    }
}

async fn stream_config(js: &Context, name: &str) -> async_nats::jetstream::stream::Config {
    js.get_stream(name)
        .await
        .expect("stream exists")
        .cached_info()
        .config
        .clone()
}

async fn consumer_info(js: &Context, stream: &str, consumer: &str) -> ConsumerInfo {
    js.get_stream(stream)
        .await
        .expect("stream")
        .consumer_info(consumer)
        .await
        .expect("consumer info")
}

/// Waits until the consumer has nothing pending or unacked and its ack floor is `last`.
async fn wait_all_acked(js: &Context, stream: &str, consumer: &str, last: u64) -> ConsumerInfo {
    eventually(
        Duration::from_secs(30),
        "every message acked on the server",
        || async {
            let info = consumer_info(js, stream, consumer).await;
            (info.num_ack_pending == 0
                && info.num_pending == 0
                && info.ack_floor.stream_sequence == last)
                .then_some(info)
        },
    )
    .await
}

async fn publish_numbered(js: &Context, subject: &str, count: usize) {
    let mut acks = Vec::with_capacity(count);
    for n in 0..count {
        let payload = format!(r#"{{"n":{n}}}"#);
        acks.push(
            js.publish(subject.to_owned(), payload.into())
                .await
                .expect("publish"),
        );
    }
    for ack in acks {
        ack.await.expect("publish acknowledged");
    }
}

#[derive(serde::Deserialize)]
struct Numbered {
    n: usize,
}

// ---- streams ----------------------------------------------------------------------------------

fn orders() -> StreamSpec {
    StreamSpec {
        description: Some("orders".into()),
        max_age: Some(Duration::from_secs(3600)),
        max_bytes: Some(1024 * 1024),
        ..StreamSpec::new("ORDERS", ["orders.>"])
    }
}

fn refunds() -> StreamSpec {
    StreamSpec {
        max_msgs: Some(1000),
        ..StreamSpec::new("REFUNDS", ["refunds.>"])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_streams_creates_then_leaves_alone_then_updates() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-ensure").await;

        let report = ensure_streams(&js, &[orders(), refunds()]).await;
        assert_eq!(
            outcome(&report, "ORDERS"),
            &StreamOutcome::Created,
            "{report}"
        );
        assert_eq!(
            outcome(&report, "REFUNDS"),
            &StreamOutcome::Created,
            "{report}"
        );
        let created = stream_config(&js, "ORDERS").await;
        assert_eq!(created.max_age, Duration::from_secs(3600));
        assert_eq!(created.max_bytes, 1024 * 1024);
        assert_eq!(created.storage, StorageType::File);
        assert_eq!(created.description.as_deref(), Some("orders"));

        let again = ensure_streams(&js, &[orders(), refunds()]).await;
        assert!(
            again.all_unchanged(),
            "second run must be a no-op:\n{again}"
        );

        let longer = StreamSpec {
            max_age: Some(Duration::from_secs(7200)),
            ..orders()
        };
        let report = ensure_streams(&js, &[longer.clone(), refunds()]).await;
        match outcome(&report, "ORDERS") {
            StreamOutcome::Updated { changes } => {
                assert_eq!(changes.len(), 1, "{report}");
                assert_eq!(changes[0].field, "max_age");
                assert_eq!(changes[0].server, "1h");
                assert_eq!(changes[0].declared, "2h");
            }
            other => panic!("expected ORDERS updated, got {other:?}\n{report}"),
        }
        assert_eq!(outcome(&report, "REFUNDS"), &StreamOutcome::Unchanged);
        assert_eq!(
            stream_config(&js, "ORDERS").await.max_age,
            Duration::from_secs(7200)
        );
        assert!(
            report
                .to_string()
                .contains("ORDERS   updated: max_age 1h -> 2h"),
            "{report}"
        );

        let last = ensure_streams(&js, &[longer, refunds()]).await;
        assert!(last.all_unchanged(), "idempotent after an update:\n{last}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_keeps_settings_the_spec_does_not_express() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-keep").await;
        assert!(ensure_streams(&js, &[orders()]).await.is_success());
        // An operator turned on direct get by hand.
        let mut edited = stream_config(&js, "ORDERS").await;
        edited.allow_direct = true;
        js.update_stream(&edited).await.expect("manual edit");

        let report = ensure_streams(
            &js,
            &[StreamSpec {
                max_msgs: Some(50),
                allow_destructive: true,
                ..orders()
            }],
        )
        .await;
        assert_eq!(
            changed_fields(outcome(&report, "ORDERS")),
            ["max_msgs"],
            "{report}"
        );
        let after = stream_config(&js, "ORDERS").await;
        assert_eq!(after.max_messages, 50);
        assert!(
            after.allow_direct,
            "a setting outside the spec must survive the update"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_updatable_drift_fails_naming_the_field_and_does_not_block_the_others() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-drift").await;
        assert!(ensure_streams(&js, &[orders(), refunds()])
            .await
            .is_success());

        let memory = StreamSpec {
            storage: StorageKind::Memory,
            ..orders()
        };
        let refunds_changed = StreamSpec {
            max_msgs: Some(5000),
            ..refunds()
        };
        let too_many_replicas = StreamSpec {
            replicas: 3,
            ..StreamSpec::new("REPLICATED", ["rep.>"])
        };
        let overlapping = StreamSpec::new("OVERLAP", ["orders.created"]);
        let invalid = StreamSpec::new("BAD.NAME", ["bad.>"]);
        let fresh = StreamSpec::new("AUDIT", ["audit.>"]);
        let specs = [
            memory,
            too_many_replicas,
            overlapping,
            invalid,
            refunds_changed,
            fresh,
        ];
        let report = ensure_streams(&js, &specs).await;

        let failed_field = |name: &str| match outcome(&report, name) {
            StreamOutcome::Failed { field, reason, .. } => {
                assert!(!reason.is_empty());
                field.clone()
            }
            other => panic!("expected {name} to fail, got {other:?}\n{report}"),
        };
        assert_eq!(
            failed_field("ORDERS").as_deref(),
            Some("storage"),
            "{report}"
        );
        assert_eq!(
            failed_field("REPLICATED").as_deref(),
            Some("replicas"),
            "{report}"
        );
        assert_eq!(
            failed_field("OVERLAP").as_deref(),
            Some("subjects"),
            "{report}"
        );
        assert_eq!(
            failed_field("BAD.NAME").as_deref(),
            Some("name"),
            "{report}"
        );
        assert_eq!(
            changed_fields(outcome(&report, "REFUNDS")),
            ["max_msgs"],
            "{report}"
        );
        assert_eq!(
            outcome(&report, "AUDIT"),
            &StreamOutcome::Created,
            "{report}"
        );
        assert!(!report.is_success());
        let counts = report.counts();
        assert_eq!(
            (
                counts.created,
                counts.updated,
                counts.unchanged,
                counts.failed
            ),
            (1, 1, 0, 4)
        );

        // The failure is reported, never applied behind the operator's back.
        assert_eq!(
            stream_config(&js, "ORDERS").await.storage,
            StorageType::File
        );
        let text = report.to_string();
        assert!(text.contains("ORDERS      FAILED (storage)"), "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["streams"][0]["outcome"], "failed");
        assert_eq!(json["streams"][0]["field"], "storage");

        let again = ensure_streams(
            &js,
            &[
                orders(),
                StreamSpec {
                    max_msgs: Some(5000),
                    ..refunds()
                },
            ],
        )
        .await;
        assert!(again.all_unchanged(), "{again}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_without_changing_anything() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-dry").await;
        assert!(ensure_streams(&js, &[orders()]).await.is_success());

        let longer = StreamSpec { max_age: Some(Duration::from_secs(7200)), ..orders() };
        let memory = StreamSpec { storage: StorageKind::Memory, ..refunds() };
        let report = ensure_streams_dry_run(&js, &[longer, refunds()]).await;
        assert!(report.dry_run);
        assert_eq!(changed_fields(outcome(&report, "ORDERS")), ["max_age"], "{report}");
        assert_eq!(outcome(&report, "REFUNDS"), &StreamOutcome::Created, "{report}");
        assert!(report.to_string().contains("would be created"), "{report}");

        assert_eq!(stream_config(&js, "ORDERS").await.max_age, Duration::from_secs(3600));
        assert!(js.get_stream("REFUNDS").await.is_err(), "a dry run must not create");

        // Non-updatable drift is a failure in a dry run too.
        assert!(ensure_streams(&js, &[refunds()]).await.is_success());
        let report = ensure_streams_dry_run(&js, &[memory]).await;
        assert!(matches!(outcome(&report, "REFUNDS"), StreamOutcome::Failed { field: Some(f), .. } if f == "storage"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_jetstream_applies_the_default_streams() {
    bounded(TEST_TIMEOUT, async {
        // The default streams reserve 1 GiB + 1 MiB of file storage.
        let store = tempfile::tempdir().expect("tempdir");
        let server = NatsServer::start(ServerConfig::plain().extra_config(format!(
            "jetstream {{\n  store_dir: \"{}\"\n  max_file_store: 4GB\n  max_memory_store: 64MB\n}}",
            store.path().display()
        )));
        let urls = [server.url()];
        let config = config(&urls, "js-connect");
        let js = connect_with_jetstream(&config, &[]).await.expect("connects");
        assert_eq!(js.report.streams.len(), 2);
        assert_eq!(outcome(&js.report, "CONNECT_EVENTS"), &StreamOutcome::Created);
        assert_eq!(outcome(&js.report, "CACHE"), &StreamOutcome::Created);

        let events = stream_config(&js.jetstream, "CONNECT_EVENTS").await;
        assert_eq!(events.subjects, ["connect.>"]);
        assert_eq!(events.max_age, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(events.max_bytes, 1024 * 1024 * 1024);
        assert_eq!(events.num_replicas, 1);
        assert_eq!(events.storage, StorageType::File);
        let cache = stream_config(&js.jetstream, "CACHE").await;
        assert_eq!(cache.subjects, ["cache.>"]);
        assert_eq!(cache.max_age, Duration::from_secs(300));
        assert_eq!(cache.max_bytes, 1024 * 1024);

        let again = connect_with_jetstream_or_degrade(&config, &default_connect_streams())
            .await
            .expect("connects");
        assert!(again.report.all_unchanged(), "{}", again.report);

        // Streams declared in the config take the place of the defaults.
        let declared = builder(&urls, "js-connect")
            .streams([orders()])
            .build()
            .expect("config loads");
        let with_declared = connect_with_jetstream(&declared, &[]).await.expect("connects");
        assert_eq!(with_declared.report.streams.len(), 1);
        assert_eq!(outcome(&with_declared.report, "ORDERS"), &StreamOutcome::Created);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_problems_never_fail_the_connect() {
    bounded(TEST_TIMEOUT, async {
        // No JetStream on this server: connected, with every stream failed and why.
        let server = NatsServer::start(ServerConfig::plain());
        let js = connect_with_jetstream(&config(&[server.url()], "js-nojs"), &[])
            .await
            .expect("the connect itself succeeds");
        assert_eq!(js.report.failures().count(), 2, "{}", js.report);
        for failure in js.report.failures() {
            let StreamOutcome::Failed { reason, .. } = &failure.outcome else {
                unreachable!()
            };
            assert!(reason.contains("JetStream is not available"), "{reason}");
        }

        // No server at all: the degrade variant returns None within the timeout.
        let port = server.port();
        drop(server);
        let down = builder(&[format!("nats://127.0.0.1:{port}")], "js-down")
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("config loads");
        let started = Instant::now();
        assert!(connect_with_jetstream_or_degrade(&down, &[])
            .await
            .is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            connect_with_jetstream(&down, &[]).await,
            Err(JetStreamError::Connect(_))
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_domain_and_api_prefix_are_honoured() {
    bounded(TEST_TIMEOUT, async {
        let store = tempfile::tempdir().expect("tempdir");
        let server = NatsServer::start(ServerConfig::plain().extra_config(format!(
            "jetstream {{\n  store_dir: \"{}\"\n  domain: hub\n}}",
            store.path().display()
        )));
        let urls = [server.url()];
        let base = || builder(&urls, "js-domain");

        let right = base()
            .jetstream_domain("hub")
            .build()
            .expect("config loads");
        let js = connect_with_jetstream(&right, &[orders()])
            .await
            .expect("connects");
        assert_eq!(
            outcome(&js.report, "ORDERS"),
            &StreamOutcome::Created,
            "{}",
            js.report
        );

        let prefix = base()
            .jetstream_api_prefix("$JS.hub.API")
            .build()
            .expect("config loads");
        let js = connect_with_jetstream(&prefix, &[orders()])
            .await
            .expect("connects");
        assert!(js.report.all_unchanged(), "{}", js.report);

        let wrong = base()
            .jetstream_domain("elsewhere")
            .build()
            .expect("config loads");
        let js = connect_with_jetstream(&wrong, &[orders()])
            .await
            .expect("connects");
        assert!(
            !js.report.is_success(),
            "a wrong domain must not reach the stream:\n{}",
            js.report
        );
    })
    .await;
}

// ---- consumers --------------------------------------------------------------------------------

async fn work_stream(js: &Context, storage: StorageKind) {
    let specs = [
        StreamSpec {
            storage,
            ..StreamSpec::new("WORK", ["work.>"])
        },
        StreamSpec::new("DEAD", ["dead.>"]),
    ];
    let report = ensure_streams(js, &specs).await;
    assert!(report.is_success(), "{report}");
}

fn fast_spec(durable: &str) -> ConsumerSpec {
    ConsumerSpec {
        pull_expires: Duration::from_secs(1),
        ..ConsumerSpec::new("WORK", durable)
            .ack_wait(Duration::from_secs(5))
            .backoff([Duration::from_millis(20)])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_with_every_tenth_failing_once_are_all_acked_once() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-1000").await;
        work_stream(&js, StorageKind::File).await;
        publish_numbered(&js, "work.items", 1000).await;

        // n -> list of delivery counts seen; successes per n.
        let attempts: Arc<Mutex<HashMap<usize, Vec<u64>>>> = Arc::default();
        let successes: Arc<Mutex<HashMap<usize, u32>>> = Arc::default();
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let handler = {
            let (attempts, successes) = (attempts.clone(), successes.clone());
            let (running, max_running) = (running.clone(), max_running.clone());
            move |delivery: Delivery| {
                let (attempts, successes) = (attempts.clone(), successes.clone());
                let (running, max_running) = (running.clone(), max_running.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    max_running.fetch_max(now, Ordering::SeqCst);
                    let item: Numbered = delivery.json()?;
                    attempts
                        .lock()
                        .unwrap()
                        .entry(item.n)
                        .or_default()
                        .push(delivery.delivered());
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    if item.n.is_multiple_of(10) && delivery.delivered() == 1 {
                        return Err(HandlerError::retryable("first attempt of every 10th fails"));
                    }
                    *successes.lock().unwrap().entry(item.n).or_default() += 1;
                    Ok(())
                }
            }
        };
        let handle = consume(&js, fast_spec("thousand").concurrency(16), handler)
            .await
            .expect("consumer starts");

        eventually(Duration::from_secs(60), "1000 messages handled", || async {
            (successes.lock().unwrap().len() == 1000).then_some(())
        })
        .await;
        let info = wait_all_acked(&js, "WORK", "thousand", 1000).await;
        assert_eq!(info.num_ack_pending, 0);
        eventually(Duration::from_secs(10), "acks counted", || async {
            (handle.stats().acked == 1000).then_some(())
        })
        .await;
        handle.stop().await;

        let successes = successes.lock().unwrap();
        assert!(
            successes.values().all(|&count| count == 1),
            "every message handled successfully once"
        );
        let attempts = attempts.lock().unwrap();
        for n in 0..1000_usize {
            let expected: Vec<u64> = if n.is_multiple_of(10) {
                vec![1, 2]
            } else {
                vec![1]
            };
            assert_eq!(attempts[&n], expected, "deliveries of message {n}");
        }
        assert!(
            max_running.load(Ordering::SeqCst) <= 16,
            "concurrency bound"
        );
        assert!(
            max_running.load(Ordering::SeqCst) > 1,
            "handlers ran concurrently"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_always_fails_dead_letters_after_max_deliver() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-dlq").await;
        work_stream(&js, StorageKind::File).await;

        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Event-Type", "work.created");
        js.publish_with_headers("work.one", headers, "the payload".into())
            .await
            .expect("publish")
            .await
            .expect("ack");

        let calls = Arc::new(AtomicU64::new(0));
        let handler = {
            let calls = calls.clone();
            move |_delivery: Delivery| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(HandlerError::retryable("database down")) }
            }
        };
        let spec = fast_spec("always-fails")
            .max_deliver(3)
            .dead_letter_subject("dead.work");
        let handle = consume(&js, spec, handler).await.expect("consumer starts");

        let dead = js.get_stream("DEAD").await.expect("dead stream");
        let letter = eventually(Duration::from_secs(20), "a dead letter", || async {
            dead.get_raw_message(1).await.ok()
        })
        .await;
        assert_eq!(&letter.payload[..], b"the payload");
        let header = |name: &str| letter.headers.get_last(name).map(|v| v.as_str().to_owned());
        assert_eq!(
            header("Event-Type").as_deref(),
            Some("work.created"),
            "original headers kept"
        );
        assert_eq!(header(dead_letter::REASON).as_deref(), Some("max_deliver"));
        assert_eq!(header(dead_letter::ERROR).as_deref(), Some("database down"));
        assert_eq!(header(dead_letter::DELIVERED).as_deref(), Some("3"));
        assert_eq!(header(dead_letter::STREAM).as_deref(), Some("WORK"));
        assert_eq!(header(dead_letter::SEQUENCE).as_deref(), Some("1"));
        assert_eq!(header(dead_letter::SUBJECT).as_deref(), Some("work.one"));
        assert_eq!(
            header(dead_letter::CONSUMER).as_deref(),
            Some("always-fails")
        );

        wait_all_acked(&js, "WORK", "always-fails", 1).await;
        eventually(Duration::from_secs(5), "dead letter counted", || async {
            (handle.stats().dead_lettered == 1).then_some(())
        })
        .await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "exactly max_deliver attempts"
        );
        let stats = handle.stats();
        assert_eq!((stats.retried, stats.acked), (2, 0));
        handle.stop().await;
        assert_eq!(
            dead.get_info().await.expect("info").state.messages,
            1,
            "one dead letter"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_and_undecodable_payloads_dead_letter_at_once() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-permanent").await;
        work_stream(&js, StorageKind::Memory).await;
        js.publish("work.bad", "not json".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        js.publish("work.rejected", r#"{"n":1}"#.into())
            .await
            .expect("publish")
            .await
            .expect("ack");

        let calls = Arc::new(AtomicU64::new(0));
        let handler = {
            let calls = calls.clone();
            move |delivery: Delivery| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    let _item: Numbered = delivery.json()?;
                    Err(HandlerError::permanent("rejected by business rules"))
                }
            }
        };
        let handle = consume(
            &js,
            fast_spec("permanent").dead_letter_subject("dead.work"),
            handler,
        )
        .await
        .expect("consumer starts");
        let dead = js.get_stream("DEAD").await.expect("dead stream");
        let letters = eventually(Duration::from_secs(20), "two dead letters", || async {
            match (dead.get_raw_message(1).await, dead.get_raw_message(2).await) {
                (Ok(a), Ok(b)) => Some([a, b]),
                _ => None,
            }
        })
        .await;
        let by_subject: HashMap<String, _> = letters
            .iter()
            .map(|l| {
                (
                    l.headers
                        .get_last(dead_letter::SUBJECT)
                        .expect("subject")
                        .to_string(),
                    l,
                )
            })
            .collect();
        let bad = by_subject["work.bad"];
        assert_eq!(
            bad.headers
                .get_last(dead_letter::REASON)
                .map(|v| v.as_str()),
            Some("permanent")
        );
        let error = bad
            .headers
            .get_last(dead_letter::ERROR)
            .expect("error")
            .to_string();
        assert!(
            error.contains("not a valid") && error.contains("Numbered"),
            "{error}"
        );
        let rejected = by_subject["work.rejected"];
        assert_eq!(
            rejected
                .headers
                .get_last(dead_letter::ERROR)
                .map(|v| v.as_str()),
            Some("rejected by business rules")
        );
        assert_eq!(
            rejected
                .headers
                .get_last(dead_letter::DELIVERED)
                .map(|v| v.as_str()),
            Some("1")
        );
        wait_all_acked(&js, "WORK", "permanent", 2).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "no retry for permanent failures"
        );
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handlers_are_kept_alive_by_progress_acks() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-slow").await;
        work_stream(&js, StorageKind::Memory).await;
        publish_numbered(&js, "work.slow", 3).await;

        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let handler = {
            let deliveries = deliveries.clone();
            move |delivery: Delivery| {
                deliveries
                    .lock()
                    .unwrap()
                    .push((delivery.stream_sequence(), delivery.delivered()));
                async {
                    tokio::time::sleep(Duration::from_millis(2500)).await;
                    Ok(())
                }
            }
        };
        // ack_wait 1 s, handlers take 2.5 s: without in-progress acks each would be redelivered.
        let spec = ConsumerSpec {
            pull_expires: Duration::from_secs(1),
            ..ConsumerSpec::new("WORK", "slow")
        }
        .ack_wait(Duration::from_secs(1))
        .concurrency(3);
        let handle = consume(&js, spec, handler).await.expect("consumer starts");
        wait_all_acked(&js, "WORK", "slow", 3).await;
        handle.stop().await;
        let mut seen = deliveries.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(
            seen,
            vec![(1, 1), (2, 1), (3, 1)],
            "each message delivered once"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_handling_loses_nothing() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-stop").await;
        work_stream(&js, StorageKind::File).await;
        publish_numbered(&js, "work.stop", 100).await;

        let started: Arc<Mutex<Vec<usize>>> = Arc::default();
        let finished: Arc<Mutex<Vec<usize>>> = Arc::default();
        let slow = {
            let (started, finished) = (started.clone(), finished.clone());
            move |delivery: Delivery| {
                let (started, finished) = (started.clone(), finished.clone());
                async move {
                    let item: Numbered = delivery.json()?;
                    started.lock().unwrap().push(item.n);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    finished.lock().unwrap().push(item.n);
                    Ok(())
                }
            }
        };
        let spec = fast_spec("stopper")
            .concurrency(8)
            .ack_wait(Duration::from_secs(2));
        let handle = consume(&js, spec.clone(), slow)
            .await
            .expect("consumer starts");
        eventually(Duration::from_secs(20), "some messages handled", || async {
            (finished.lock().unwrap().len() >= 20).then_some(())
        })
        .await;
        // Stop while handlers are running.
        eventually(Duration::from_secs(5), "handlers in flight", || async {
            (handle.stats().in_flight > 0).then_some(())
        })
        .await;
        let final_stats = tokio::time::timeout(Duration::from_secs(10), handle.stop())
            .await
            .expect("stop returns once in-flight handlers finish");

        let first_run: Vec<usize> = finished.lock().unwrap().clone();
        {
            let started = started.lock().unwrap();
            assert_eq!(
                started.len(),
                first_run.len(),
                "every started handler finished before stop returned"
            );
        }
        assert_eq!(final_stats.in_flight, 0);
        assert_eq!(
            final_stats.acked as usize,
            first_run.len(),
            "each finished handler acked: {final_stats:?}"
        );

        // A second instance picks up exactly the rest.
        let second: Arc<Mutex<Vec<usize>>> = Arc::default();
        let fast = {
            let second = second.clone();
            move |delivery: Delivery| {
                let second = second.clone();
                async move {
                    let item: Numbered = delivery.json()?;
                    second.lock().unwrap().push(item.n);
                    Ok(())
                }
            }
        };
        let handle = consume(&js, spec, fast).await.expect("consumer restarts");
        wait_all_acked(&js, "WORK", "stopper", 100).await;
        handle.stop().await;

        let second_run = second.lock().unwrap().clone();
        let all: HashSet<usize> = first_run.iter().chain(second_run.iter()).copied().collect();
        assert_eq!(all.len(), 100, "every message handled");
        assert_eq!(
            first_run.len() + second_run.len(),
            100,
            "none handled twice: {first_run:?} / {second_run:?}"
        );
    })
    .await;
}

/// Consumes 300 messages with a server restart after the first 100; returns how often each
/// message was handled successfully and the consumer's stats.
async fn consume_across_a_restart(
    kill: bool,
    durable: &str,
) -> (HashMap<usize, u32>, connect_nats_jetstream::ConsumerStats) {
    let mut server = js_server();
    let (connection, js) = js_for(&server, durable).await;
    work_stream(&js, StorageKind::File).await;
    publish_numbered(&js, "work.restart", 300).await;

    let successes: Arc<Mutex<HashMap<usize, u32>>> = Arc::default();
    let handler = {
        let successes = successes.clone();
        move |delivery: Delivery| {
            let successes = successes.clone();
            async move {
                let item: Numbered = delivery.json()?;
                tokio::time::sleep(Duration::from_millis(5)).await;
                *successes.lock().unwrap().entry(item.n).or_default() += 1;
                Ok(())
            }
        }
    };
    let handle = consume(&js, fast_spec(durable).concurrency(4), handler)
        .await
        .expect("consumer starts");
    eventually(Duration::from_secs(20), "a third handled", || async {
        (successes.lock().unwrap().len() >= 100).then_some(())
    })
    .await;

    if kill {
        tokio::task::block_in_place(|| server.kill());
    }
    tokio::task::block_in_place(|| server.restart());
    connection
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("reconnected");

    eventually(
        Duration::from_secs(60),
        "all 300 handled after the restart",
        || async { (successes.lock().unwrap().len() == 300).then_some(()) },
    )
    .await;
    wait_all_acked(&js, "WORK", durable, 300).await;
    let stats = eventually(
        Duration::from_secs(10),
        "every handled message has its outcome",
        || async {
            let stats = handle.stats();
            (stats.in_flight == 0 && stats.acked + stats.ack_failures == stats.handled)
                .then_some(stats)
        },
    )
    .await;
    handle.stop().await;
    let successes = successes.lock().unwrap().clone();
    (successes, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_resumes_after_a_graceful_restart_with_each_message_acked_once() {
    bounded(TEST_TIMEOUT, async {
        let (successes, stats) = consume_across_a_restart(false, "graceful").await;
        assert_eq!(successes.len(), 300, "nothing lost");
        let twice: Vec<_> = successes
            .iter()
            .filter(|(_, &c)| c > 1)
            .map(|(n, _)| *n)
            .collect();
        assert!(twice.is_empty(), "handled twice: {twice:?} ({stats:?})");
        assert_eq!(stats.acked, 300, "each message acked once: {stats:?}");
        assert_eq!(stats.ack_failures, 0, "{stats:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_resumes_after_the_server_is_killed_and_restarted() {
    bounded(TEST_TIMEOUT, async {
        let (successes, stats) = consume_across_a_restart(true, "survivor").await;
        // At least once: nothing lost. A SIGKILL can lose the server's last ~100 ms of
        // consumer state (nats-server writes it at most ten times a second), so the
        // messages acked in that window are delivered again.
        assert_eq!(successes.len(), 300, "nothing lost ({stats:?})");
        let extra: u32 = successes.values().map(|c| c - 1).sum();
        assert_eq!(u64::from(300 + extra), stats.handled, "{stats:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_refuses_a_missing_stream_and_an_invalid_spec() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-refuse").await;
        let noop = |_d: Delivery| async { Ok(()) };
        match consume(&js, ConsumerSpec::new("NOPE", "d"), noop).await {
            Err(e @ JetStreamError::StreamNotFound { .. }) => {
                assert!(e.to_string().contains("ensure_streams"), "{e}")
            }
            other => panic!("expected StreamNotFound, got {other:?}"),
        }
        match consume(&js, ConsumerSpec::new("NOPE", "d").concurrency(0), noop).await {
            Err(JetStreamError::InvalidSpec {
                field: "concurrency",
                ..
            }) => {}
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    })
    .await;
}

// ---- cluster ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_stream_on_three_nodes_survives_losing_one() {
    bounded(TEST_TIMEOUT, async {
        let mut cluster = tokio::task::block_in_place(|| Cluster::start(3));
        let urls = cluster.urls();
        let connection = connect(&config(&urls, "js-cluster"))
            .await
            .expect("connects");
        let js = jetstream_context(&connection);
        let spec = StreamSpec {
            replicas: 3,
            ..StreamSpec::new("REPLICATED", ["rep.>"])
        };

        // JetStream needs a meta leader before it answers.
        let report = retrying(Duration::from_secs(30), "creating the stream", || async {
            let report = ensure_streams(&js, std::slice::from_ref(&spec)).await;
            if report.is_success() {
                Ok(report)
            } else {
                Err(report)
            }
        })
        .await;
        assert_eq!(
            outcome(&report, "REPLICATED"),
            &StreamOutcome::Created,
            "{report}"
        );
        let info = js
            .get_stream("REPLICATED")
            .await
            .expect("stream")
            .cached_info()
            .clone();
        assert_eq!(info.config.num_replicas, 3);
        for i in 0..10 {
            js.publish("rep.a", format!("{i}").into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }

        tokio::task::block_in_place(|| cluster.node(0).kill());
        for i in 10..20 {
            eventually(
                Duration::from_secs(30),
                "a publish acknowledged with one node down",
                || async {
                    let ack = js.publish("rep.a", format!("{i}").into()).await.ok()?;
                    ack.await.ok()
                },
            )
            .await;
        }
        let state = eventually(
            Duration::from_secs(30),
            "stream info with one node down",
            || async {
                js.get_stream("REPLICATED")
                    .await
                    .ok()
                    .map(|s| s.cached_info().state.clone())
            },
        )
        .await;
        assert!(state.messages >= 20, "messages kept: {}", state.messages);
        let again = ensure_streams(&js, &[spec]).await;
        assert!(again.all_unchanged(), "{again}");
    })
    .await;
}

// ---- key-value --------------------------------------------------------------------------------

async fn next_entry<T>(
    watch: &mut connect_nats_jetstream::TypedWatch<T>,
) -> connect_nats_jetstream::TypedEntry<T> {
    tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("watch event")
        .expect("watch open")
        .expect("decodes")
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Session {
    user: String,
    visits: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_key_value_round_trips_and_names_undecodable_keys() {
    bounded(TEST_TIMEOUT, async {
        let server = js_server();
        let (_c, js) = js_for(&server, "js-kv").await;
        let spec = KvSpec {
            history: 5,
            ..KvSpec::new("sessions")
        };
        let store = ensure_kv(&js, spec.clone()).await.expect("bucket");
        ensure_kv(&js, spec.clone())
            .await
            .expect("ensuring twice is fine");
        let kv: TypedKv<Session> = TypedKv::new(store);

        let mut watch = kv.watch("user.>").await.expect("watch");
        let alice = Session {
            user: "alice".into(),
            visits: 1,
        };
        let rev = kv.put("user.alice", &alice).await.expect("put");
        assert_eq!(
            kv.get("user.alice").await.expect("get"),
            Some(alice.clone())
        );
        let entry = kv
            .entry("user.alice")
            .await
            .expect("entry")
            .expect("present");
        assert_eq!(entry.revision, rev);

        let more = Session {
            visits: 2,
            ..alice.clone()
        };
        let rev2 = kv
            .update("user.alice", &more, rev)
            .await
            .expect("update at the right revision");
        assert!(
            kv.update("user.alice", &more, rev).await.is_err(),
            "stale revision refused"
        );
        assert!(
            kv.create("user.alice", &alice).await.is_err(),
            "create refuses an existing key"
        );
        assert!(rev2 > rev);

        kv.delete("user.alice").await.expect("delete");
        assert_eq!(kv.get("user.alice").await.expect("get"), None);
        assert_eq!(kv.get("user.nobody").await.expect("get"), None);

        let first = next_entry(&mut watch).await;
        assert_eq!(
            (first.operation, first.value),
            (KvOperation::Put, Some(alice))
        );
        let second = next_entry(&mut watch).await;
        assert_eq!(second.value, Some(more));
        let third = next_entry(&mut watch).await;
        assert_eq!(
            (third.key.as_str(), third.operation, third.value),
            ("user.alice", KvOperation::Delete, None)
        );

        kv.store()
            .put("user.broken", "not json".into())
            .await
            .expect("raw put");
        match kv.get("user.broken").await {
            Err(e @ JetStreamError::KvDecode { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("user.broken") && text.contains("sessions"),
                    "{text}"
                );
            }
            other => panic!("expected a decode error, got {other:?}"),
        }

        let memory = KvSpec {
            storage: StorageKind::Memory,
            ..spec
        };
        assert!(matches!(
            ensure_kv(&js, memory).await,
            Err(JetStreamError::Bucket { .. })
        ));
    })
    .await;
}

/// A kill and restart shorter than the pull loop's state check: the consumer re-pulls as soon as
/// the client has reconnected, instead of waiting out its lost pull request (~`pull_expires`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_resumes_at_once_after_a_quick_kill_and_restart() {
    bounded(TEST_TIMEOUT, async {
        let mut server = js_server();
        let (connection, js) = js_for(&server, "quick").await;
        work_stream(&js, StorageKind::File).await;

        let handled: Arc<Mutex<HashSet<u64>>> = Arc::default();
        let handler = {
            let handled = handled.clone();
            move |delivery: Delivery| {
                let handled = handled.clone();
                async move {
                    handled.lock().unwrap().insert(delivery.stream_sequence());
                    Ok(())
                }
            }
        };
        // The default pull_expires (5 s): a lost pull request stalls for longer than the bound below.
        let spec = ConsumerSpec::new("WORK", "quick");
        assert!(spec.pull_expires >= Duration::from_secs(5), "{spec:?}");
        let handle = consume(&js, spec, handler).await.expect("consumer starts");

        publish_numbered(&js, "work.quick", 10).await;
        eventually(Duration::from_secs(10), "the first 10 handled", || async {
            (handled.lock().unwrap().len() == 10).then_some(())
        })
        .await;

        let before = connection.reconnect_epoch();
        let outage = Instant::now();
        tokio::task::block_in_place(|| {
            server.kill();
            server.restart();
        });
        let outage = outage.elapsed();
        connection
            .wait_reconnected_since(before, Duration::from_secs(10))
            .await
            .expect("the client reconnected");

        publish_numbered(&js, "work.quick", 10).await;
        let published = Instant::now();
        eventually(
            Duration::from_secs(3),
            "the 10 new messages handled within 3 s of publishing (no wait for a lost pull)",
            || async { (handled.lock().unwrap().len() == 20).then_some(()) },
        )
        .await;
        eprintln!(
            "server down for {outage:?}; new messages handled {:?} after publishing",
            published.elapsed()
        );
        handle.stop().await;
    })
    .await;
}
