//! A publisher that closes cleanly, against a real nats-server: `close`
//! delivers what the disconnected buffer holds and reports the JetStream
//! publishes in flight, `Connection::shutdown` makes a loss visible, and
//! dropped `PendingAck`s still complete.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use connect_nats_core::{connect, ConnectError, Connection, ConnectionPool, ConnectionState};
use connect_nats_publisher::{
    BufferLimits, CloseReport, CoreDelivery, Event, PooledPublisher, PublishError, Publisher,
    PublisherOptions,
};
use connect_nats_testkit::{bounded, eventually, NatsServer, ServerConfig};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Longest wait for one message, state change or stored count.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seq {
    i: u32,
}

fn config(server: &NatsServer, client_id: &str) -> connect_nats_core::Config {
    common::client_config(
        &[server.url()],
        client_id,
        Duration::from_secs(3),
        Some((Duration::from_millis(50), Duration::from_millis(300))),
    )
}

async fn connection(server: &NatsServer, client_id: &str) -> Connection {
    connect(&config(server, client_id))
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", server.url()))
}

async fn wait_state(connection: &Connection, want: ConnectionState) {
    let mut rx = connection.watch_state();
    tokio::time::timeout(WAIT, rx.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| panic!("connection did not become {want:?}"))
        .expect("state channel closed");
}

/// A file-storage stream `EVENTS` on `close.>` with a 2-minute duplicate window.
async fn events_stream(connection: &Connection) -> jetstream::Context {
    let js = jetstream::new(connection.client().clone());
    js.create_stream(stream::Config {
        name: "EVENTS".to_owned(),
        subjects: vec!["close.>".to_owned()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .expect("create stream EVENTS");
    js
}

/// The `i` of every event stored in `EVENTS`, once `count` are stored;
/// panics on a duplicate.
async fn stored_once(js: &jetstream::Context, count: usize) -> BTreeSet<u32> {
    eventually(WAIT, "the stream to hold every event", || async {
        let mut stream = js.get_stream("EVENTS").await.ok()?;
        let stored = stream.info().await.ok()?.state.messages as usize;
        (stored >= count).then_some(())
    })
    .await;
    let stream = js.get_stream("EVENTS").await.expect("get stream");
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("create consumer");
    let mut messages = consumer.messages().await.expect("consume");
    let mut seen = BTreeSet::new();
    for _ in 0..count {
        let msg = tokio::time::timeout(WAIT, messages.next())
            .await
            .expect("stream messages stalled")
            .expect("consumer ended")
            .expect("consumer error");
        let i = Event::<Seq>::from_slice(&msg.payload)
            .expect("decode")
            .data
            .i;
        assert!(seen.insert(i), "event {i} stored twice");
    }
    let total = js
        .get_stream("EVENTS")
        .await
        .expect("get stream")
        .info()
        .await
        .expect("stream info")
        .state
        .messages;
    assert_eq!(total as usize, count, "no event stored twice");
    seen
}

/// A JetStream server with the `EVENTS` stream, a connection to it, and a
/// publisher with room for `window` publishes in flight that retries for
/// 90 seconds.
async fn jetstream_setup(
    name: &str,
    window: usize,
) -> (NatsServer, Connection, jetstream::Context, Publisher) {
    let server = NatsServer::start(ServerConfig::plain().jetstream());
    let conn = connection(&server, name).await;
    let js = events_stream(&conn).await;
    let publisher = Publisher::builder(conn.clone())
        .window(window)
        .ack_timeout(Duration::from_secs(1))
        .retry_deadline(Duration::from_secs(90))
        .build();
    (server, conn, js, publisher)
}

/// A subscriber on `subject` that takes every publish and never answers: a
/// JetStream publish there gets no ack, and no "no responders" either.
async fn silent_subscriber(client: &async_nats::Client, subject: &str) -> async_nats::Subscriber {
    let subscriber = client
        .subscribe(subject.to_owned())
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    subscriber
}

/// Every publish `report` lists as failed says it was cut off by the close.
fn assert_each_cut_off(report: &CloseReport) {
    assert!(
        report
            .jetstream_failed
            .iter()
            .all(|f| f.error.contains("cut off")),
        "each says it was cut off: {:?}",
        report.jetstream_failed.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_2000_core_events_buffered_during_an_outage() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 2_000;
        let mut server = NatsServer::start(ServerConfig::plain());
        let conn = connection(&server, "close-core").await;
        let mut sub = conn.subscribe("close.core").await.expect("subscribe");
        conn.flush().await.expect("flush");
        let publisher = Publisher::builder(conn.clone())
            .buffer_limits(BufferLimits::default())
            .build();
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;
        for i in 0..N {
            let delivery = publisher
                .event("close.core", "close.core", &Seq { i })
                .core()
                .await
                .expect("room in the buffer");
            assert_eq!(delivery, CoreDelivery::Buffered);
        }
        tokio::task::block_in_place(|| server.restart());

        let report = publisher.close(Duration::from_secs(5)).await;
        assert!(report.is_clean(), "{report:?}");
        // The flush may begin with the reconnect, before `close` is called.
        assert!(report.core_flushed <= u64::from(N), "{report:?}");
        assert_eq!(publisher.buffer_stats().flushed, u64::from(N));
        for want in 0..N {
            let msg = tokio::time::timeout(WAIT, sub.next())
                .await
                .expect("no message within the wait")
                .expect("subscription ended");
            let got = Event::<Seq>::from_slice(&msg.payload).expect("decode");
            assert_eq!(got.data.i, want, "delivered in order");
        }
        let err = publisher
            .event("close.core", "close.core", &Seq { i: N })
            .core()
            .await
            .expect_err("a closed publisher takes no events");
        assert!(matches!(err, PublishError::PublisherClosed), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_5000_jetstream_events_in_flight() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 5_000;
        let (mut server, conn, js, publisher) = jetstream_setup("close-js", N as usize).await;
        // Warm up (the ack inbox), then take the server away: every event
        // below stays in flight until the close.
        publisher
            .event("close.js", "close.js", &Seq { i: N })
            .send()
            .await
            .expect("ack");
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;
        for i in 0..N {
            let pending = publisher
                .event("close.js", "close.js", &Seq { i })
                .msg_id(&format!("close-{i}"))
                .send_async()
                .await
                .expect("within the window");
            drop(pending);
        }
        let closing = tokio::spawn({
            let publisher = publisher.clone();
            async move { publisher.close(Duration::from_secs(60)).await }
        });
        tokio::task::block_in_place(|| server.restart());
        let report = closing.await.expect("close task panicked");

        let failed: BTreeSet<&str> = report
            .jetstream_failed
            .iter()
            .map(|f| f.msg_id.as_str())
            .collect();
        assert_eq!(
            report.jetstream_acked + failed.len() as u64 + report.jetstream_unresolved,
            u64::from(N),
            "every event in flight has an outcome: {} acked, {} failed, {} unresolved",
            report.jetstream_acked,
            failed.len(),
            report.jetstream_unresolved
        );
        assert_eq!(report.jetstream_unresolved, 0);
        let stored = stored_once(&js, report.jetstream_acked as usize + 1).await;
        for i in 0..N {
            assert!(
                stored.contains(&i) || failed.contains(format!("close-{i}").as_str()),
                "event {i} neither stored nor listed as failed"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_cuts_off_acks_still_awaited_at_its_deadline() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 200;
        // No ack ever comes (see `silent_subscriber`), so each publish waits
        // for its ack (for a minute) until `close` cuts it off.
        let server = NatsServer::start(ServerConfig::plain());
        let conn = connection(&server, "close-cut").await;
        let _silent = silent_subscriber(conn.client(), "close.cut").await;
        let publisher = Publisher::builder(conn.clone())
            .window(N as usize)
            .ack_timeout(Duration::from_secs(60))
            .retry_deadline(Duration::from_secs(120))
            .build();
        let mut awaited = Vec::new();
        for i in 0..N {
            let pending = publisher
                .event("close.cut", "close.cut", &Seq { i })
                .msg_id(&format!("cut-{i}"))
                .send_async()
                .await
                .expect("within the window");
            if i % 2 == 0 {
                awaited.push(tokio::spawn(pending));
            } else {
                drop(pending);
            }
        }
        let started = std::time::Instant::now();
        let report = publisher.close(Duration::from_millis(500)).await;
        let took = started.elapsed();

        assert!(
            took < Duration::from_secs(10),
            "close returned {took:?} after it began: the 60 s ack timeout was not cut off"
        );
        assert_eq!(report.jetstream_acked, 0);
        assert_eq!(report.jetstream_unresolved, 0);
        let failed: BTreeSet<&str> = report
            .jetstream_failed
            .iter()
            .map(|f| f.msg_id.as_str())
            .collect();
        let expected: BTreeSet<String> = (0..N).map(|i| format!("cut-{i}")).collect();
        assert_eq!(
            failed,
            expected
                .iter()
                .map(String::as_str)
                .collect::<BTreeSet<&str>>(),
            "every publish in flight is listed as failed"
        );
        assert_each_cut_off(&report);
        for task in awaited {
            let err = task
                .await
                .expect("awaiting task panicked")
                .expect_err("no ack ever came");
            match err {
                PublishError::NotAcknowledged { last, .. } => {
                    assert!(last.contains("cut off"), "{last}")
                }
                other => panic!("expected NotAcknowledged, got {other}"),
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_pending_acks_complete_across_a_server_restart() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 1_000;
        let (mut server, conn, js, publisher) = jetstream_setup("close-dropped", N as usize).await;
        for i in 0..N {
            if i == N / 2 {
                tokio::task::block_in_place(|| server.kill());
                wait_state(&conn, ConnectionState::Disconnected).await;
            }
            // Fire and forget: the PendingAck is dropped at once.
            drop(
                publisher
                    .event("close.dropped", "close.dropped", &Seq { i })
                    .send_async()
                    .await
                    .expect("within the window"),
            );
        }
        tokio::task::block_in_place(|| server.restart());
        let stored = stored_once(&js, N as usize).await;
        assert_eq!(
            stored,
            (0..N).collect::<BTreeSet<u32>>(),
            "each stored once"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_buffered_events_it_could_not_deliver() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 100;
        let mut server = NatsServer::start(ServerConfig::plain());
        let conn = connection(&server, "close-shutdown").await;
        let publisher = Publisher::new(conn.clone(), "close-shutdown");
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;
        for i in 0..N {
            publisher
                .event("close.shutdown", "close.shutdown", &Seq { i })
                .core()
                .await
                .expect("room in the buffer");
        }
        let err = conn
            .shutdown(Duration::from_millis(500))
            .await
            .expect_err("the server is down: the buffered events are lost");
        assert_eq!(err, ConnectError::ShutdownLostEvents { lost: N.into() });
        assert_eq!(publisher.buffer_stats().discarded, u64::from(N));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_a_publishers_buffer_first() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 200;
        let mut server = NatsServer::start(ServerConfig::plain().jetstream());
        // The server keeps what reaches it in a stream: a subscriber on the closing connection
        // could not be asked afterwards (shutdown closes it before the echo of the last events).
        let setup = async_nats::connect(server.url())
            .await
            .expect("setup connects");
        jetstream::new(setup.clone())
            .create_stream(stream::Config {
                name: "CLOSE_OK".into(),
                subjects: vec!["close.ok".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
        drop(setup);
        let conn = connection(&server, "close-shutdown-ok").await;
        let publisher = Publisher::new(conn.clone(), "close-shutdown-ok");
        tokio::task::block_in_place(|| server.kill());
        wait_state(&conn, ConnectionState::Disconnected).await;
        for i in 0..N {
            publisher
                .event("close.ok", "close.ok", &Seq { i })
                .core()
                .await
                .expect("room in the buffer");
        }
        tokio::task::block_in_place(|| server.restart());
        conn.shutdown(Duration::from_secs(10))
            .await
            .expect("everything delivered");
        assert_eq!(publisher.buffer_stats().flushed, u64::from(N));
        let reader = async_nats::connect(server.url())
            .await
            .expect("reader connects");
        let js = jetstream::new(reader);
        let stored = eventually(WAIT, "the server holds every event", || async {
            let mut stream = js.get_stream("CLOSE_OK").await.ok()?;
            let n = stream.info().await.ok()?.state.messages;
            (n >= u64::from(N)).then_some(n)
        })
        .await;
        assert_eq!(
            stored,
            u64::from(N),
            "every buffered event reached the server once"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_close_cuts_off_every_members_acks_at_one_deadline() {
    bounded(TEST_TIMEOUT, async {
        const MEMBERS: usize = 3;
        const PER_MEMBER: u32 = 50;
        // No ack ever comes (see `silent_subscriber`).
        let server = NatsServer::start(ServerConfig::plain());
        let pool = ConnectionPool::connect(&config(&server, "close-pool-cut"), MEMBERS)
            .await
            .expect("connect the pool");
        let admin = pool.connections()[0].client();
        let _silent = silent_subscriber(admin, "close.poolcut.>").await;
        let publisher = PooledPublisher::with_options(
            pool.clone(),
            PublisherOptions {
                service_name: "close-pool-cut".to_owned(),
                window: PER_MEMBER as usize,
                ack_timeout: Duration::from_secs(60),
                retry_deadline: Duration::from_secs(120),
                ..PublisherOptions::default()
            },
        );
        // One subject per member.
        let mut subjects: Vec<Option<String>> = vec![None; MEMBERS];
        for k in 0..1_000 {
            let subject = format!("close.poolcut.s{k}");
            let member = pool.index_for(&subject);
            subjects[member].get_or_insert(subject);
        }
        let subjects: Vec<String> = subjects
            .into_iter()
            .map(|s| s.expect("a subject for every member"))
            .collect();
        // The first member's first publish is held unawaited: it never gets
        // its outcome, so that member's close waits out its grace.
        let mut held = None;
        for (member, subject) in subjects.iter().enumerate() {
            for i in 0..PER_MEMBER {
                let pending = publisher
                    .event(subject, "close.poolcut", &Seq { i })
                    .msg_id(&format!("poolcut-{member}-{i}"))
                    .send_async()
                    .await
                    .expect("within the window");
                if member == 0 && i == 0 {
                    held = Some(pending);
                } else {
                    drop(pending);
                }
            }
        }
        let report = publisher.close(Duration::from_millis(500)).await;

        assert_eq!(
            report.jetstream_unresolved,
            1,
            "only the held publish has no outcome ({} failed)",
            report.jetstream_failed.len()
        );
        assert_eq!(report.jetstream_acked, 0);
        assert_eq!(
            report.jetstream_failed.len(),
            MEMBERS * PER_MEMBER as usize - 1,
            "every other member's publishes are cut off within the one deadline"
        );
        assert_each_cut_off(&report);
        drop(held);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_close_flushes_every_members_buffer() {
    bounded(TEST_TIMEOUT, async {
        const N: u32 = 400;
        let mut server = NatsServer::start(ServerConfig::plain());
        let pool = ConnectionPool::connect(&config(&server, "close-pool"), 3)
            .await
            .expect("connect the pool");
        let publisher = PooledPublisher::new(pool.clone(), "close-pool");
        tokio::task::block_in_place(|| server.kill());
        for member in pool.connections() {
            wait_state(member, ConnectionState::Disconnected).await;
        }
        for i in 0..N {
            // Eight subjects, spread over the members.
            publisher
                .event(&format!("close.pool.s{}", i % 8), "close.pool", &Seq { i })
                .core()
                .await
                .expect("room in the buffer");
        }
        tokio::task::block_in_place(|| server.restart());
        let report = publisher.close(Duration::from_secs(5)).await;
        assert!(report.is_clean(), "{report:?}");
        let members = publisher.publishers();
        let flushed: u64 = members.iter().map(|p| p.buffer_stats().flushed).sum();
        assert_eq!(flushed, u64::from(N), "every member flushed its buffer");
        assert!(
            members
                .iter()
                .filter(|p| p.buffer_stats().flushed > 0)
                .count()
                > 1,
            "the events were spread over several members"
        );
        let err = publisher
            .event("close.pool.s0", "close.pool", &Seq { i: N })
            .core()
            .await
            .expect_err("a closed pooled publisher takes no events");
        assert!(matches!(err, PublishError::PublisherClosed), "{err}");
        pool.shutdown(Duration::from_secs(5))
            .await
            .expect("nothing left to lose");
    })
    .await;
}
