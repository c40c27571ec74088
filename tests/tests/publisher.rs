//! connect-nats-publisher against real servers: envelope round trips on
//! core and JetStream, headers, 10,000 pipelined JetStream events, a server kill during 5,000
//! publishes, the disconnected-buffer policies, bad subjects and oversize payloads.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use connect_nats_config::Config;
use connect_nats_core::{connect, Connection, ConnectionState};
use connect_nats_publisher::{
    BufferLimits, BufferPolicy, CoreDelivery, Envelope, Event, HeaderPolicy, PublishError,
    Publisher, CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_EVENT_TYPE, HEADER_MSG_ID,
    HEADER_SERVICE,
};
use connect_nats_testkit::{bounded, eventually, NatsServer, ServerConfig};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Longest wait for one message or state change.
const WAIT: Duration = Duration::from_secs(15);

fn config(url: &str, client_id: &str) -> Config {
    common::client_config(
        &[url.to_owned()],
        client_id,
        Duration::from_secs(3),
        Some((Duration::from_millis(50), Duration::from_millis(300))),
    )
}

async fn connection(server: &NatsServer, client_id: &str) -> Connection {
    connect(&config(&server.url(), client_id))
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", server.url()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Invite {
    invite_id: String,
    room: String,
    seats: u32,
}

fn invite() -> Invite {
    Invite {
        invite_id: "inv_123".into(),
        room: "lobby".into(),
        seats: 4,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seq {
    i: u32,
}

fn header<'a>(msg: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    msg.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

fn assert_recent(ts: i64) {
    let now = connect_nats_publisher::now_millis();
    assert!(
        (now - ts).abs() < 60_000,
        "meta.ts {ts} is not close to now {now}"
    );
}

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("no message within the wait")
        .expect("subscription ended")
}

async fn wait_state(connection: &Connection, want: ConnectionState) {
    let mut rx = connection.watch_state();
    tokio::time::timeout(WAIT, rx.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| panic!("connection did not become {want:?}"))
        .expect("state channel closed");
}

/// A file-storage stream `name` on `subjects`, with a 2-minute duplicate window.
async fn create_stream(
    connection: &Connection,
    name: &str,
    subjects: &[&str],
) -> jetstream::Context {
    let js = jetstream::new(connection.client().clone());
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("create stream {name}: {e}"));
    js
}

/// Every message in the stream, in order (payload + headers).
async fn stored_messages(js: &jetstream::Context, name: &str) -> Vec<jetstream::Message> {
    let mut stream = js.get_stream(name).await.expect("get stream");
    let total = stream.info().await.expect("stream info").state.messages as usize;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("create consumer");
    let mut messages = consumer.messages().await.expect("consume");
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let msg = tokio::time::timeout(WAIT, messages.next())
            .await
            .expect("stream messages stalled")
            .expect("consumer ended")
            .expect("consumer error");
        out.push(msg);
    }
    out
}

// ---- envelope round trips and headers ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_latency_ends_when_the_ack_arrives_not_when_it_is_awaited() {
    bounded(TEST_TIMEOUT, async {
        const AWAITED_AFTER: Duration = Duration::from_secs(1);
        // Installed before the publisher is made, which registers its handles then.
        common::metrics::recorder();
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let conn = connection(&server, "pub-ack-latency").await;
        let js = create_stream(&conn, "LATENCY", &["connect.latency.>"]).await;
        let publisher = Publisher::new(conn.clone(), "pub-tests");
        let pending = publisher
            .event("connect.latency.event", "latency.event", &Seq { i: 1 })
            .send_async()
            .await
            .expect("sent");
        // The ack is stored (and so on its way) long before the caller awaits it.
        eventually(WAIT, "the event to be stored", || async {
            let mut stream = js.get_stream("LATENCY").await.ok()?;
            (stream.info().await.ok()?.state.messages >= 1).then_some(())
        })
        .await;
        // What is under test: the caller awaits its ack late.
        tokio::time::sleep(AWAITED_AFTER).await;
        pending.await.expect("acknowledged");

        let name = format!(
            "{}_sum",
            connect_nats_publisher::metrics::PUBLISH_ACK_LATENCY_SECONDS
        );
        let sum = common::metrics::value(&name, "pub-ack-latency").unwrap_or_else(|| {
            panic!(
                "no {name} for pub-ack-latency in:\n{}",
                common::metrics::recorder().render()
            )
        });
        assert!(
            sum < AWAITED_AFTER.as_secs_f64() / 2.0,
            "ack latency {sum} s counts the time until the ack was awaited"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_event_round_trip_with_full_headers() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let conn = connection(&server, "pub-core-rt").await;
        let mut sub = conn.subscribe("connect.>").await.expect("subscribe");
        conn.flush().await.expect("flush");
        let publisher = Publisher::builder(conn.clone())
            .service_name("connect-auth")
            .headers(HeaderPolicy::Full)
            .build();

        let sent = publisher
            .event("connect.invite.created", "invite.created", &invite())
            .core()
            .await
            .expect("event().core()");
        assert_eq!(sent, CoreDelivery::Sent);
        let msg = next_msg(&mut sub).await;
        assert_eq!(msg.subject.as_str(), "connect.invite.created");
        let event: Event<Invite> = Event::from_slice(&msg.payload).expect("decode envelope");
        assert_eq!(event.event_type, "invite.created");
        assert_eq!(event.version, 1);
        assert_eq!(event.data, invite());
        assert_eq!(event.meta.by, "connect-auth");
        assert_recent(event.meta.ts);
        // Field order on the wire is fixed.
        let text = std::str::from_utf8(&msg.payload).expect("utf-8");
        assert!(
            text.starts_with(r#"{"type":"invite.created","version":1,"data":{"#),
            "{text}"
        );
        assert_eq!(header(&msg, HEADER_EVENT_TYPE), Some("invite.created"));
        assert_eq!(header(&msg, HEADER_SERVICE), Some("connect-auth"));
        assert_eq!(header(&msg, HEADER_CONTENT_TYPE), Some(CONTENT_TYPE_JSON));
        assert_eq!(
            header(&msg, HEADER_MSG_ID),
            None,
            "core events carry no Nats-Msg-Id"
        );

        // Plain JSON (no envelope) and an explicit version.
        publisher
            .message("connect.cache.flush", &serde_json::json!({"key": "k1"}))
            .core()
            .await
            .expect("message().core()");
        let msg = next_msg(&mut sub).await;
        assert_eq!(&msg.payload[..], br#"{"key":"k1"}"#);
        assert_eq!(header(&msg, HEADER_SERVICE), Some("connect-auth"));
        assert_eq!(header(&msg, HEADER_EVENT_TYPE), None);
        publisher
            .event("connect.invite.created", "invite.created", &invite())
            .version(2)
            .core()
            .await
            .expect("versioned");
        let msg = next_msg(&mut sub).await;
        assert_eq!(
            Envelope::from_slice(&msg.payload).expect("decode").version,
            2
        );

        // The service name defaults to the config's client id.
        let default_named = Publisher::builder(conn.clone()).build();
        assert_eq!(default_named.service_name(), "pub-core-rt");
        default_named
            .event("connect.x.y", "x.y", &1)
            .core()
            .await
            .expect("publish");
        let msg = next_msg(&mut sub).await;
        assert_eq!(
            Envelope::from_slice(&msg.payload).expect("decode").meta.by,
            "pub-core-rt"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_event_round_trip_with_full_headers() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let conn = connection(&server, "pub-js-rt").await;
        let js = create_stream(&conn, "EVENTS", &["connect.>"]).await;
        let publisher = Publisher::builder(conn.clone())
            .service_name("connect-auth")
            .headers(HeaderPolicy::Full)
            .build();

        let ack = publisher
            .event("connect.invite.created", "invite.created", &invite())
            .send()
            .await
            .expect("event().send()");
        assert_eq!(ack.stream, "EVENTS");
        assert_eq!(ack.sequence, 1);
        assert!(!ack.duplicate);
        let ack2 = publisher
            .message("connect.cache.flush", &serde_json::json!({"key": "k1"}))
            .send()
            .await
            .expect("publish (= JetStream)");
        assert_eq!(ack2.sequence, 2);

        let stored = stored_messages(&js, "EVENTS").await;
        assert_eq!(stored.len(), 2);
        let first = &stored[0];
        let event: Event<Invite> = Event::from_slice(&first.payload).expect("decode");
        assert_eq!(event.event_type, "invite.created");
        assert_eq!(event.data, invite());
        assert_eq!(event.meta.by, "connect-auth");
        assert_recent(event.meta.ts);
        assert_eq!(header(first, HEADER_EVENT_TYPE), Some("invite.created"));
        assert_eq!(header(first, HEADER_SERVICE), Some("connect-auth"));
        assert_eq!(header(first, HEADER_CONTENT_TYPE), Some(CONTENT_TYPE_JSON));
        let id1 = header(first, HEADER_MSG_ID).expect("Nats-Msg-Id on a JetStream event");
        let id2 = header(&stored[1], HEADER_MSG_ID).expect("Nats-Msg-Id on a JetStream publish");
        assert_eq!(id1.len(), 22, "a NUID");
        assert_ne!(id1, id2, "each publish has its own Nats-Msg-Id");
        assert_eq!(&stored[1].payload[..], br#"{"key":"k1"}"#);

        // A subject no stream captures: a clear error, not a hang.
        let err = publisher
            .event("nowhere.event", "x", &1)
            .send()
            .await
            .expect_err("no stream");
        assert!(matches!(err, PublishError::StreamNotFound { .. }), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_chosen_msg_id_is_stored_once_and_versions_are_kept() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let conn = connection(&server, "pub-js-msgid").await;
        let js = create_stream(&conn, "EVENTS", &["connect.>"]).await;
        let publisher = Publisher::new(conn.clone(), "connect-orders");

        let first = publisher
            .event("connect.order.created", "order.created", &invite())
            .version(3)
            .msg_id("order-7")
            .send()
            .await
            .expect("first send");
        let pending = publisher
            .event("connect.order.created", "order.created", &invite())
            .version(3)
            .msg_id("order-7")
            .send_async()
            .await
            .expect("second send");
        let second = pending.await.expect("second ack");
        assert!(!first.duplicate);
        assert!(second.duplicate, "the same Nats-Msg-Id is a duplicate");
        assert_eq!(second.sequence, first.sequence);

        let stored = stored_messages(&js, "EVENTS").await;
        assert_eq!(stored.len(), 1, "stored once");
        assert_eq!(header(&stored[0], HEADER_MSG_ID), Some("order-7"));
        let event: Event<Invite> = Event::from_slice(&stored[0].payload).expect("decode");
        assert_eq!(
            (event.event_type.as_str(), event.version),
            ("order.created", 3)
        );

        let err = publisher
            .event("connect.order.created", "order.created", &1)
            .msg_id("bad\r\nid")
            .send()
            .await
            .expect_err("a control character in the id");
        assert!(matches!(err, PublishError::InvalidMsgId { .. }), "{err}");
    })
    .await;
}

/// The names of the headers a message carries, sorted.
fn header_names(headers: Option<&async_nats::HeaderMap>) -> Vec<String> {
    let mut names: Vec<String> = headers
        .map(|h| h.iter().map(|(name, _)| name.to_string()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_header_policies_publish_consume_and_dead_letter() {
    use connect_nats_jetstream::{consume, dead_letter, ConsumerSpec, Delivery, HandlerError};

    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        for policy in [HeaderPolicy::Minimal, HeaderPolicy::Full] {
            let name = policy.name();
            // The policy comes from the config (`NATS_HEADERS`).
            let config = common::client_builder(
                &[server.url()],
                &format!("hp-{name}"),
                Duration::from_secs(3),
                None,
            )
            .headers(policy)
            .build()
            .expect("config");
            let conn = connect(&config).await.expect("connect");
            let publisher = Publisher::builder(conn.clone())
                .service_name("connect-auth")
                .build();
            assert_eq!(publisher.options().headers, policy);
            let stream = format!("HP_{}", name.to_uppercase());
            let js = create_stream(&conn, &stream, &[&format!("hp.{name}.>")]).await;
            let dead_stream = format!("HPDEAD_{}", name.to_uppercase());
            create_stream(&conn, &dead_stream, &[&format!("hpdead.{name}")]).await;
            let full_names = [HEADER_CONTENT_TYPE, HEADER_EVENT_TYPE, HEADER_SERVICE];

            // Core: no header at all with `minimal`, the three with `full`.
            let mut sub = conn.subscribe("hpcore.>").await.expect("subscribe");
            conn.flush().await.expect("flush");
            publisher
                .event("hpcore.invite", "invite.created", &invite())
                .core()
                .await
                .expect("core event");
            let msg = next_msg(&mut sub).await;
            let event: Event<Invite> = Event::from_slice(&msg.payload).expect("envelope");
            assert_eq!(event.event_type, "invite.created");
            assert_eq!(event.meta.by, "connect-auth");
            let mut want: Vec<String> = match policy {
                HeaderPolicy::Minimal => Vec::new(),
                HeaderPolicy::Full => full_names.iter().map(|n| n.to_string()).collect(),
            };
            want.sort();
            assert_eq!(header_names(msg.headers.as_ref()), want, "{name}: core");

            // JetStream: `Nats-Msg-Id` always, the three with `full`.
            for (subject, event_type) in [("ok", "invite.created"), ("bad", "invite.rejected")] {
                publisher
                    .event(&format!("hp.{name}.{subject}"), event_type, &invite())
                    .send()
                    .await
                    .expect("JetStream event");
            }
            want.push(HEADER_MSG_ID.to_owned());
            want.sort();
            let stored = stored_messages(&js, &stream).await;
            assert_eq!(stored.len(), 2);
            for msg in &stored {
                assert_eq!(
                    header_names(msg.headers.as_ref()),
                    want,
                    "{name}: JetStream"
                );
            }

            // The durable consumer decodes both; the rejected one is dead-lettered.
            let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
            let handler = {
                let seen = seen.clone();
                move |delivery: Delivery| {
                    let seen = seen.clone();
                    async move {
                        let event = delivery.event::<Invite>()?;
                        seen.lock().expect("lock").push(event.event_type.clone());
                        if event.event_type == "invite.rejected" {
                            return Err(HandlerError::permanent("rejected"));
                        }
                        Ok(())
                    }
                }
            };
            let spec = ConsumerSpec::new(&stream, format!("hp-{name}"))
                .dead_letter_subject(format!("hpdead.{name}"));
            let handle = consume(&js, spec, handler).await.expect("consumer starts");
            let dead = js.get_stream(&dead_stream).await.expect("dead stream");
            let letter = eventually(WAIT, "a dead letter", || async {
                dead.get_raw_message(1).await.ok()
            })
            .await;
            // Handlers run concurrently: the two events come in either order.
            let both: BTreeSet<String> = ["invite.created", "invite.rejected"]
                .map(String::from)
                .into();
            eventually(WAIT, "both events handled", || async {
                let seen: BTreeSet<String> = seen.lock().expect("lock").iter().cloned().collect();
                (seen == both).then_some(())
            })
            .await;
            handle.stop().await;
            assert_eq!(letter.payload, stored[1].payload, "{name}: payload kept");
            let kept = |h: &str| letter.headers.get_last(h).map(|v| v.as_str().to_owned());
            assert_eq!(kept(dead_letter::REASON).as_deref(), Some("permanent"));
            assert_eq!(
                kept(dead_letter::ORIGINAL_MSG_ID).as_deref(),
                header(&stored[1].message, HEADER_MSG_ID),
                "{name}: the original id"
            );
            assert_eq!(
                kept(HEADER_EVENT_TYPE).as_deref(),
                policy.is_full().then_some("invite.rejected"),
                "{name}: the policy's headers are carried over"
            );
            conn.shutdown(Duration::from_secs(2)).await.ok();
        }
    })
    .await;
}

// ---- pipelining ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_pipelined_events_acked_and_stored_once() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 10_000;
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let conn = connection(&server, "pub-js-10k").await;
        let js = create_stream(&conn, "EVENTS", &["connect.>"]).await;
        let publisher = Publisher::builder(conn.clone()).window(256).build();

        let started = Instant::now();
        let results = publisher
            .publish_all((0..N).map(|i| ("connect.load.event", "load.event", Seq { i })))
            .await;
        let elapsed = started.elapsed();
        assert_eq!(results.len(), N as usize);
        let mut sequences = BTreeSet::new();
        for (i, r) in results.iter().enumerate() {
            let ack = r
                .as_ref()
                .unwrap_or_else(|e| panic!("event {i} not acked: {e}"));
            assert!(!ack.duplicate, "event {i} reported as duplicate");
            sequences.insert(ack.sequence);
        }
        assert_eq!(
            sequences.len(),
            N as usize,
            "every ack has its own sequence"
        );
        eprintln!("10,000 pipelined JetStream events acked in {elapsed:?}");

        let stored = stored_messages(&js, "EVENTS").await;
        assert_eq!(stored.len(), N as usize, "stream holds exactly N events");
        let seen: BTreeSet<u32> = stored
            .iter()
            .map(|m| Event::<Seq>::from_slice(&m.payload).expect("decode").data.i)
            .collect();
        assert_eq!(
            seen,
            (0..N).collect::<BTreeSet<u32>>(),
            "each event stored once"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_window_fails_with_timeout_instead_of_hanging() {
    bounded(TEST_TIMEOUT, async {
        let mut server = NatsServer::start(ServerConfig::plain().jetstream());
        let conn = connection(&server, "pub-js-window").await;
        create_stream(&conn, "EVENTS", &["connect.>"]).await;
        let publisher = Publisher::builder(conn.clone())
            .window(4)
            .publish_timeout(Duration::from_millis(300))
            .retry_deadline(Duration::from_secs(60))
            .build();
        // Warm up (the ack inbox), then take the server away so the next
        // four publishes stay in flight.
        publisher
            .event("connect.w", "w", &Seq { i: 100 })
            .send()
            .await
            .expect("ack");
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;
        let mut held = Vec::new();
        for i in 0..4 {
            held.push(
                publisher
                    .event("connect.w", "w", &Seq { i })
                    .send_async()
                    .await
                    .expect("within the window"),
            );
        }
        let started = Instant::now();
        let err = publisher
            .event("connect.w", "w", &Seq { i: 4 })
            .send_async()
            .await
            .expect_err("window full");
        assert!(matches!(err, PublishError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        tokio::task::block_in_place(|| server.restart());
        for p in held {
            p.await.expect("ack after the restart");
        }
        // Slots are free again.
        publisher
            .event("connect.w", "w", &Seq { i: 5 })
            .send()
            .await
            .expect("ack");
    })
    .await;
}

// ---- server killed during JetStream publishing ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_during_5000_publishes_stores_each_once() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 5_000;
        const WINDOW: usize = 256;
        let mut server = NatsServer::start(ServerConfig::plain().jetstream());
        let conn = connection(&server, "pub-js-kill").await;
        let js = create_stream(&conn, "EVENTS", &["connect.>"]).await;
        let publisher = Publisher::builder(conn.clone())
            .window(WINDOW)
            .ack_timeout(Duration::from_secs(1))
            .publish_timeout(Duration::from_secs(60))
            .retry_deadline(Duration::from_secs(90))
            .build();

        let submitted = Arc::new(AtomicUsize::new(0));
        // Half way, the publishing task waits for the kill, so the kill lands in the
        // middle of publishing however fast the first half went.
        let killed = Arc::new(tokio::sync::Notify::new());
        let task = {
            let publisher = publisher.clone();
            let submitted = Arc::clone(&submitted);
            let killed = Arc::clone(&killed);
            tokio::spawn(async move {
                let mut in_flight = VecDeque::with_capacity(WINDOW);
                let mut results = Vec::with_capacity(N as usize);
                for i in 0..N {
                    if i == N / 2 {
                        killed.notified().await;
                    }
                    if in_flight.len() >= WINDOW {
                        let p: Result<connect_nats_publisher::PendingAck, PublishError> =
                            in_flight.pop_front().expect("non-empty");
                        results.push(match p {
                            Ok(p) => p.await,
                            Err(e) => Err(e),
                        });
                    }
                    in_flight.push_back(
                        publisher
                            .event("connect.kill.event", "kill.event", &Seq { i })
                            .send_async()
                            .await,
                    );
                    submitted.store(i as usize + 1, Ordering::Release);
                }
                for p in in_flight {
                    results.push(match p {
                        Ok(p) => p.await,
                        Err(e) => Err(e),
                    });
                }
                results
            })
        };

        // Wait (poll with deadline) until half is submitted, then kill the server while
        // acks may still be in flight; the second half is published across the restart.
        let deadline = Instant::now() + WAIT;
        while submitted.load(Ordering::Acquire) < (N / 2) as usize {
            assert!(
                Instant::now() < deadline,
                "publishing stalled before the kill"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::task::block_in_place(|| server.kill());
        let at_kill = submitted.load(Ordering::Acquire);
        killed.notify_one();
        eprintln!("kill test: server killed after {at_kill} of {N} publishes were submitted");
        assert!(
            at_kill < N as usize,
            "the kill must land in the middle of publishing"
        );
        wait_state(&conn, ConnectionState::Disconnected).await;
        tokio::task::block_in_place(|| server.restart());

        let results = task.await.expect("publisher task panicked");
        assert_eq!(results.len(), N as usize, "every publish has an outcome");
        let acked = results.iter().filter(|r| r.is_ok()).count();
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
            .collect();
        assert_eq!(acked + errors.len(), N as usize);
        assert!(
            errors.is_empty(),
            "{} publishes failed, first: {:?}",
            errors.len(),
            errors.first()
        );
        let duplicates = results
            .iter()
            .filter(|r| matches!(r, Ok(a) if a.duplicate))
            .count();
        eprintln!("kill test: {acked} acked ({duplicates} reported duplicate after a retry)");

        let stored = stored_messages(&js, "EVENTS").await;
        let seen: BTreeSet<u32> = stored
            .iter()
            .map(|m| Event::<Seq>::from_slice(&m.payload).expect("decode").data.i)
            .collect();
        assert_eq!(
            stored.len(),
            N as usize,
            "exactly N events in the stream (no duplicates)"
        );
        assert_eq!(
            seen,
            (0..N).collect::<BTreeSet<u32>>(),
            "each event stored once"
        );
    })
    .await;
}

// ---- disconnected buffer -------------------------------------------------------------------

/// A server, a connection to it with a subscription on `buf.>`, and a publisher with `policy`.
async fn buffer_setup(
    name: &str,
    limits: BufferLimits,
    policy: BufferPolicy,
) -> (NatsServer, Connection, async_nats::Subscriber, Publisher) {
    let server = NatsServer::start(ServerConfig::plain());
    let conn = connection(&server, name).await;
    let sub = conn.subscribe("buf.>").await.expect("subscribe");
    conn.flush().await.expect("flush");
    let publisher = Publisher::builder(conn.clone())
        .buffer_limits(limits)
        .buffer_policy(policy)
        .publish_timeout(Duration::from_secs(2))
        .build();
    (server, conn, sub, publisher)
}

async fn received_seq(sub: &mut async_nats::Subscriber) -> u32 {
    let msg = next_msg(sub).await;
    Event::<Seq>::from_slice(&msg.payload)
        .expect("decode")
        .data
        .i
}

fn limits(max_messages: usize) -> BufferLimits {
    BufferLimits {
        max_messages,
        max_bytes: 1024 * 1024,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_fail_fast_refuses_when_full_and_flushes_in_order() {
    bounded(TEST_TIMEOUT, async {
        let (mut server, conn, mut sub, publisher) =
            buffer_setup("pub-buf-ff", limits(3), BufferPolicy::FailFast).await;
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;

        for i in 0..3 {
            let d = publisher
                .event("buf.ev", "buf.ev", &Seq { i })
                .core()
                .await
                .expect("room in the buffer");
            assert_eq!(d, CoreDelivery::Buffered);
        }
        let started = Instant::now();
        let err = publisher
            .event("buf.ev", "buf.ev", &Seq { i: 3 })
            .core()
            .await
            .expect_err("buffer full");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "fail_fast must not wait"
        );
        assert!(
            matches!(
                err,
                PublishError::BufferFull {
                    policy: "fail_fast",
                    messages: 3,
                    ..
                }
            ),
            "{err}"
        );
        let stats = publisher.buffer_stats();
        assert_eq!((stats.messages, stats.buffered, stats.rejected), (3, 3, 1));

        tokio::task::block_in_place(|| server.restart());
        for want in 0..3 {
            assert_eq!(received_seq(&mut sub).await, want, "flushed in order");
        }
        // After the flush, publishing goes straight to the server again.
        let d = publisher
            .event("buf.ev", "buf.ev", &Seq { i: 10 })
            .core()
            .await
            .expect("connected");
        assert_eq!(received_seq(&mut sub).await, 10);
        assert_eq!(d, CoreDelivery::Sent);
        let stats = publisher.buffer_stats();
        assert_eq!((stats.messages, stats.flushed, stats.bytes), (0, 3, 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_drop_oldest_keeps_the_newest() {
    bounded(TEST_TIMEOUT, async {
        let (mut server, conn, mut sub, publisher) =
            buffer_setup("pub-buf-do", limits(3), BufferPolicy::DropOldest).await;
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;

        for i in 0..5 {
            let d = publisher
                .event("buf.ev", "buf.ev", &Seq { i })
                .core()
                .await
                .expect("drop_oldest never refuses");
            assert_eq!(d, CoreDelivery::Buffered);
        }
        let stats = publisher.buffer_stats();
        assert_eq!((stats.messages, stats.dropped_oldest), (3, 2));

        tokio::task::block_in_place(|| server.restart());
        for want in 2..5 {
            assert_eq!(
                received_seq(&mut sub).await,
                want,
                "oldest two were dropped"
            );
        }
        publisher
            .event("buf.ev", "buf.ev", &Seq { i: 99 })
            .core()
            .await
            .expect("connected");
        assert_eq!(received_seq(&mut sub).await, 99, "nothing else was flushed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_wait_times_out_or_proceeds_when_room_frees() {
    bounded(TEST_TIMEOUT, async {
        let (mut server, conn, mut sub, short) = buffer_setup(
            "pub-buf-wait",
            limits(2),
            BufferPolicy::Wait {
                timeout: Duration::from_millis(300),
            },
        )
        .await;
        let long = Publisher::builder(conn.clone())
            .buffer_limits(limits(2))
            .buffer_policy(BufferPolicy::Wait {
                timeout: Duration::from_secs(30),
            })
            .build();
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;

        // Short wait: full buffer → BufferFull after about the timeout, not later.
        for i in 0..2 {
            short
                .event("buf.short", "s", &Seq { i })
                .core()
                .await
                .expect("room");
        }
        let started = Instant::now();
        let err = short
            .event("buf.short", "s", &Seq { i: 2 })
            .core()
            .await
            .expect_err("no room within 300 ms");
        let waited = started.elapsed();
        assert!(
            matches!(err, PublishError::BufferFull { policy: "wait", .. }),
            "{err}"
        );
        assert!(
            waited >= Duration::from_millis(290),
            "gave up early: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(2),
            "waited past its timeout: {waited:?}"
        );
        assert_eq!(short.buffer_stats().wait_timeouts, 1);

        // Long wait: the third publish waits until the reconnect flush makes room.
        for i in 100..102 {
            long.event("buf.long", "l", &Seq { i })
                .core()
                .await
                .expect("room");
        }
        let waiting = {
            let long = long.clone();
            tokio::spawn(async move { long.event("buf.long", "l", &Seq { i: 102 }).core().await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await; // let it start waiting (not a sync point)
        assert!(!waiting.is_finished(), "must wait while the buffer is full");
        tokio::task::block_in_place(|| server.restart());
        let d = waiting
            .await
            .expect("task")
            .expect("proceeds once room frees");
        assert_eq!(d, CoreDelivery::Buffered);

        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(received_seq(&mut sub).await);
        }
        let shorts: Vec<u32> = got.iter().copied().filter(|i| *i < 100).collect();
        let longs: Vec<u32> = got.iter().copied().filter(|i| *i >= 100).collect();
        assert_eq!(
            shorts,
            vec![0, 1],
            "short publisher's buffered events, in order"
        );
        assert_eq!(
            longs,
            vec![100, 101, 102],
            "long publisher's events, in order"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_byte_limit_is_enforced() {
    bounded(TEST_TIMEOUT, async {
        let (mut server, conn, _sub, publisher) = buffer_setup(
            "pub-buf-bytes",
            BufferLimits {
                max_messages: 1_000,
                max_bytes: 1_000,
            },
            BufferPolicy::FailFast,
        )
        .await;
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;
        let data = "x".repeat(200);
        let mut buffered = 0;
        let err = loop {
            match publisher.event("buf.big", "big", &data).core().await {
                Ok(_) => buffered += 1,
                Err(e) => break e,
            }
            assert!(buffered < 1_000, "byte limit not enforced");
        };
        assert!(matches!(err, PublishError::BufferFull { .. }), "{err}");
        let stats = publisher.buffer_stats();
        assert!(stats.bytes <= 1_000, "{stats:?}");
        assert!(
            (2..=3).contains(&buffered),
            "about 1000/~330 bytes fit, got {buffered}"
        );
        let err = publisher
            .event("buf.big", "big", &"y".repeat(2_000))
            .core()
            .await
            .expect_err("larger than the buffer");
        assert!(
            matches!(
                err,
                PublishError::LargerThanBuffer {
                    max_bytes: 1_000,
                    ..
                }
            ),
            "{err}"
        );
    })
    .await;
}

// ---- bad input -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subjects_and_oversize_payloads_are_refused_before_sending() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream().max_payload(1024));
        let conn = connection(&server, "pub-bad").await;
        create_stream(&conn, "EVENTS", &["connect.>"]).await;
        let mut sub = conn.subscribe(">").await.expect("subscribe");
        conn.flush().await.expect("flush");
        let publisher = Publisher::new(conn.clone(), "svc");
        assert_eq!(conn.client().server_info().max_payload, 1024);

        for bad in [
            "",
            "a b",
            "connect.*",
            "connect.>",
            ".connect",
            "connect.",
            "a..b",
            "a\tb",
        ] {
            let err = publisher
                .event(bad, "t", &1)
                .core()
                .await
                .expect_err("bad core subject");
            assert!(
                matches!(err, PublishError::InvalidSubject { .. }),
                "{bad:?}: {err}"
            );
            let err = publisher
                .event(bad, "t", &1)
                .send()
                .await
                .expect_err("bad JetStream subject");
            assert!(
                matches!(err, PublishError::InvalidSubject { .. }),
                "{bad:?}: {err}"
            );
        }
        let err = publisher
            .event("connect.ok", "bad\ntype", &1)
            .core()
            .await
            .expect_err("bad event type");
        assert!(
            matches!(err, PublishError::InvalidEventType { .. }),
            "{err}"
        );

        let big = "z".repeat(2_000);
        let err = publisher
            .event("connect.big", "big", &big)
            .core()
            .await
            .expect_err("oversize core");
        match &err {
            PublishError::PayloadTooLarge { size, max_payload } => {
                assert_eq!(*max_payload, 1024);
                assert!(*size > 2_000);
                let text = err.to_string();
                assert!(
                    text.contains(&size.to_string()) && text.contains("1024"),
                    "{text}"
                );
            }
            other => panic!("expected PayloadTooLarge, got {other}"),
        }
        let err = publisher
            .event("connect.big", "big", &big)
            .send()
            .await
            .expect_err("oversize JetStream");
        assert!(
            matches!(
                err,
                PublishError::PayloadTooLarge {
                    max_payload: 1024,
                    ..
                }
            ),
            "{err}"
        );

        // Nothing of the above reached the server: the next message seen is this one.
        publisher
            .event("connect.ok", "ok", &1)
            .core()
            .await
            .expect("valid");
        let msg = next_msg(&mut sub).await;
        assert_eq!(msg.subject.as_str(), "connect.ok");
    })
    .await;
}

/// A JetStream publish after the connection was shut down returns an error
/// promptly: it never waits on an ack router whose subscription is gone (the
/// default 30 s retry deadline would otherwise hide a hang).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_publish_after_shutdown_fails_promptly() {
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let conn = connection(&server, "pub-js-after-shutdown").await;
        create_stream(&conn, "AFTER", &["after.>"]).await;
        let publisher = Publisher::new(conn.clone(), "connect-auth");
        publisher
            .event("after.one", "after.one", &1)
            .send()
            .await
            .expect("first publish starts the ack router");

        conn.clone()
            .shutdown(Duration::from_secs(5))
            .await
            .expect("shutdown");
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            publisher.event("after.two", "after.two", &2).send(),
        )
        .await
        .expect("a publish after shutdown must not hang");
        assert!(
            result.is_err(),
            "publish after shutdown succeeded: {result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    })
    .await;
}
