//! Network partitions, frozen servers and rolling restarts, against a three-node cluster of
//! containers with addresses of their own ([`ContainerCluster`]): what only separate network
//! hosts make possible. A cut (`docker network disconnect`) makes packets vanish without a TCP
//! reset, and `docker pause` freezes a node with its sockets open, so the client must notice by
//! itself, through its pings.
//!
//! Each test prints its figures (`partitions: …`); docs/reliability.md quotes them. These tests
//! need a Docker daemon: `cargo xtask test` builds the image and sets it for them with any
//! backend.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::Context;
use connect_nats_config::{Config, StreamSpec};
use connect_nats_core::{connect, Connection, ConnectionState};
use connect_nats_jetstream::{ensure_streams, jetstream_context};
use connect_nats_publisher::{
    BufferLimits, BufferPolicy, PendingAck, PublishAck, PublishError, Publisher,
};
use connect_nats_testkit::{bounded, eventually, poll_until, retrying, ContainerCluster};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde_json::json;

const TEST_TIMEOUT: Duration = Duration::from_secs(240);
/// The client's ping interval in these tests.
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// Unanswered pings after which the client gives a connection up (`NATS_MAX_PINGS_OUT`).
const MAX_PINGS_OUT: u32 = 2;
/// How long the client may take to notice a dead connection: the pings it may leave
/// unanswered, the tick that finds one too many, and a margin for a loaded machine.
const DETECTION_BOUND: Duration =
    Duration::from_secs(PING_INTERVAL.as_secs() * (MAX_PINGS_OUT as u64 + 1) + 2);
const STREAM: &str = "PARTITIONS";

fn config(urls: &[String], client_id: &str) -> Config {
    common::client_builder(
        urls,
        client_id,
        Duration::from_secs(5),
        Some((Duration::from_millis(100), Duration::from_millis(500))),
    )
    .ping_interval(PING_INTERVAL)
    .max_pings_out(MAX_PINGS_OUT)
    .build()
    .expect("the partition tests' config loads")
}

/// A publisher whose retries ride out a partition: the Nats-Msg-Id is reused within the
/// stream's 2-minute duplicate window.
fn publisher(connection: &Connection, service: &str) -> Publisher {
    Publisher::builder(connection.clone())
        .service_name(service)
        .window(64)
        .ack_timeout(Duration::from_secs(2))
        .publish_timeout(Duration::from_secs(30))
        .retry_deadline(Duration::from_secs(90))
        .build()
}

/// Starts an acknowledged JetStream publish of event `id`.
async fn start_publish(publisher: &Publisher, id: u64) -> Result<PendingAck, PublishError> {
    publisher
        .event(
            "partitions.events",
            "partitions.event",
            &json!({ "id": id }),
        )
        .send_async()
        .await
}

/// Creates the R3 stream the tests publish to. Right after a cluster forms, a node the meta
/// leader has just seen may not be placeable yet ("peer offline"): creation is retried until it
/// succeeds, within a deadline.
async fn r3_stream(connection: &Connection) -> Context {
    let js = jetstream_context(connection);
    let mut spec = StreamSpec::new(STREAM, ["partitions.>"]);
    spec.replicas = 3;
    retrying(Duration::from_secs(30), "create the R3 stream", || async {
        let report = ensure_streams(&js, std::slice::from_ref(&spec)).await;
        if report.is_success() {
            Ok(())
        } else {
            Err(report)
        }
    })
    .await;
    js
}

/// What a publishing load saw: every id it published, with the caller's outcome.
#[derive(Debug, Default)]
struct Outcomes {
    acked: BTreeSet<u64>,
    failed: HashMap<u64, String>,
    /// The longest a single publish call took to return its outcome.
    slowest: Duration,
}

/// Publishes events `0, 1, 2, …` pipelined within the publisher's window until `stop` is set,
/// and returns every call's outcome.
async fn load(publisher: Publisher, stop: Arc<AtomicBool>) -> Outcomes {
    let window = publisher.options().window;
    let mut outcomes = Outcomes::default();
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0u64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if in_flight.len() >= window || (stopping && !in_flight.is_empty()) {
            let (id, started, result): (u64, Instant, Result<PublishAck, PublishError>) =
                in_flight.next().await.expect("in flight");
            outcomes.slowest = outcomes.slowest.max(started.elapsed());
            match result {
                Ok(_) => outcomes.acked.insert(id),
                Err(e) => outcomes.failed.insert(id, e.to_string()).is_none(),
            };
            continue;
        }
        if stopping {
            return outcomes;
        }
        let id = next;
        next += 1;
        let started = Instant::now();
        match start_publish(&publisher, id).await {
            Ok(pending) => in_flight.push(async move { (id, started, pending.await) }),
            Err(e) => {
                outcomes.failed.insert(id, e.to_string());
            }
        }
        // A steady load, not a flood: the figures are about loss, not speed.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The `data.id` of every message in the partition tests' stream, read once it holds at least
/// as many messages as `outcomes` saw acknowledged.
async fn stored_ids(js: &Context, outcomes: &Outcomes) -> Vec<u64> {
    common::stored::stream_ids(js, STREAM, outcomes.acked.len() as u64).await
}

/// Asserts that every acknowledged event is stored exactly once, and returns
/// `(stored, duplicates)`.
fn assert_nothing_acked_lost(outcomes: &Outcomes, stored: &[u64]) -> (usize, usize) {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for id in stored {
        *counts.entry(*id).or_default() += 1;
    }
    let lost: Vec<u64> = outcomes
        .acked
        .iter()
        .filter(|id| !counts.contains_key(id))
        .copied()
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    let duplicated: Vec<(u64, usize)> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| (*id, *n))
        .collect();
    assert!(
        duplicated.is_empty(),
        "stored more than once: {duplicated:?}"
    );
    (stored.len(), duplicated.len())
}

/// The index of the node `connection` is on.
async fn node_of(cluster: &ContainerCluster, connection: &Connection) -> usize {
    let name = connection.health().await.server.expect("connected").name;
    cluster.index_of(&name).expect("a node of the cluster")
}

/// Waits until the client has given its connection up: it is no longer `Connected`, or it has
/// already reconnected (to a healthy node that takes milliseconds, so the `Disconnected` state
/// may come and go between two polls). Returns how long since `since`.
async fn time_to_notice(connection: &Connection, since: Instant, bound: Duration) -> Duration {
    // Cheap reads only (`health()` would measure an RTT, which stalls on a dead connection).
    let before = connection.reconnect_epoch();
    eventually(bound, "the client notices the dead connection", || async {
        (connection.state() != ConnectionState::Connected || connection.reconnect_epoch() > before)
            .then(|| since.elapsed())
    })
    .await
}

/// Waits until the connection is up again on a node other than `not`; returns how long since
/// `since`.
async fn reconnected_elsewhere(
    cluster: &ContainerCluster,
    connection: &Connection,
    not: usize,
    since: Instant,
) -> Duration {
    eventually(
        Duration::from_secs(30),
        "the client reconnects to another node",
        || async {
            if connection.state() != ConnectionState::Connected {
                return None;
            }
            (node_of(cluster, connection).await != not).then(|| since.elapsed())
        },
    )
    .await
}

// ---- a. the service's node cut from the service -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_node_cut_from_the_service_is_noticed_and_left() {
    bounded(TEST_TIMEOUT, async {
        let cluster = tokio::task::block_in_place(|| ContainerCluster::start(3));
        let connection = connect(&config(&cluster.urls(), "partition-a"))
            .await
            .expect("connects");
        let js = r3_stream(&connection).await;
        let on = node_of(&cluster, &connection).await;

        let stop = Arc::new(AtomicBool::new(false));
        let publishing = tokio::spawn(load(publisher(&connection, "partition-a"), stop.clone()));
        tokio::time::sleep(Duration::from_secs(1)).await; // a load under way before the cut

        let cut = Instant::now();
        tokio::task::block_in_place(|| cluster.cut_from_clients(on));
        let noticed = time_to_notice(&connection, cut, DETECTION_BOUND).await;
        let back = reconnected_elsewhere(&cluster, &connection, on, cut).await;
        assert!(connection.readiness().is_ready());

        tokio::time::sleep(Duration::from_secs(1)).await; // a load under way after the move
        stop.store(true, Ordering::Relaxed);
        let outcomes = publishing.await.expect("publishing task");
        tokio::task::block_in_place(|| cluster.heal_clients(on));
        assert!(
            outcomes.failed.is_empty(),
            "no publish fails across a move: {:?}",
            outcomes.failed
        );
        let stored = stored_ids(&js, &outcomes).await;
        let (stored_n, dup) = assert_nothing_acked_lost(&outcomes, &stored);
        eprintln!(
            "partitions: a. node cut from the service: noticed in {noticed:.1?} (bound \
             {DETECTION_BOUND:?}), reconnected to another node {back:.1?} after the cut; \
             published {} acked {} stored {stored_n} duplicated {dup}",
            outcomes.acked.len() + outcomes.failed.len(),
            outcomes.acked.len()
        );
    })
    .await;
}

// ---- b. the stream leader cut from its peers ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_stream_leader_cut_from_its_peers_loses_nothing() {
    bounded(TEST_TIMEOUT, async {
        let cluster = tokio::task::block_in_place(|| ContainerCluster::start(3));
        let setup = connect(&config(&cluster.urls(), "partition-b-setup"))
            .await
            .expect("connects");
        let leader_name = stream_leader(&r3_stream(&setup).await).await;
        let leader = cluster.index_of(&leader_name).expect("leader is a node");
        // The service is on the two other nodes: the cut leaves it a majority to talk to.
        let others: Vec<String> = (0..cluster.len())
            .filter(|i| *i != leader)
            .map(|i| cluster.node(i).url())
            .collect();
        let connection = connect(&config(&others, "partition-b"))
            .await
            .expect("connects");
        // Asked through the majority: the cut node keeps its own, stale view.
        let js = jetstream_context(&connection);
        drop(setup);

        let stop = Arc::new(AtomicBool::new(false));
        let publishing = tokio::spawn(load(publisher(&connection, "partition-b"), stop.clone()));
        tokio::time::sleep(Duration::from_secs(1)).await;

        let cut = Instant::now();
        tokio::task::block_in_place(|| cluster.cut_routes(leader));
        // An election takes seconds; on a loaded 2-core machine, tens of them.
        let moved = eventually(
            Duration::from_secs(90),
            "another node leads the stream",
            || async {
                let now = stream_leader(&js).await;
                (now != leader_name && !now.is_empty()).then(|| cut.elapsed())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await; // publishing goes on under the new leader
        tokio::task::block_in_place(|| cluster.heal_routes(leader));
        stop.store(true, Ordering::Relaxed);
        let outcomes = publishing.await.expect("publishing task");
        assert!(
            outcomes.failed.is_empty(),
            "no publish fails while a majority is up: {:?}",
            outcomes.failed
        );

        // After the heal the cut node catches up: every replica current, with every message.
        let last = js
            .get_stream(STREAM)
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .state
            .last_sequence;
        let caught_up = eventually(
            Duration::from_secs(60),
            "the healed node holds every message",
            || async {
                let jsz = cluster
                    .monitor(leader, "/jsz?streams=true&accounts=true")
                    .ok()?;
                let streams = jsz["account_details"][0]["stream_detail"]
                    .as_array()?
                    .clone();
                let ours = streams.iter().find(|s| s["name"] == STREAM)?;
                (ours["state"]["last_seq"].as_u64()? >= last).then(|| cut.elapsed())
            },
        )
        .await;
        let stored = stored_ids(&js, &outcomes).await;
        let (stored_n, dup) = assert_nothing_acked_lost(&outcomes, &stored);
        eprintln!(
            "partitions: b. stream leader cut from its peers: leadership moved {moved:.1?} after \
             the cut, the node caught up {caught_up:.1?} after it; published {} acked {} stored \
             {stored_n} duplicated {dup}",
            outcomes.acked.len() + outcomes.failed.len(),
            outcomes.acked.len()
        );
    })
    .await;
}

/// The stream's leader as the JetStream API names it now (empty while there is none).
async fn stream_leader(js: &Context) -> String {
    let info = eventually(Duration::from_secs(30), "stream info", || async {
        js.get_stream(STREAM).await.ok()?.info().await.ok().cloned()
    })
    .await;
    info.cluster.and_then(|c| c.leader).unwrap_or_default()
}

// ---- c. the service cut from every node for 20 s ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_service_cut_from_every_node_keeps_its_bounds() {
    const OUTAGE: Duration = Duration::from_secs(20);
    const LIMITS: BufferLimits = BufferLimits {
        max_messages: 200,
        max_bytes: 64 * 1024,
    };
    bounded(TEST_TIMEOUT, async {
        let cluster = tokio::task::block_in_place(|| ContainerCluster::start(3));
        let connection = connect(&config(&cluster.urls(), "partition-c"))
            .await
            .expect("connects");
        let js = r3_stream(&connection).await;
        let policies = [
            BufferPolicy::Wait {
                timeout: Duration::from_millis(200),
            },
            BufferPolicy::FailFast,
            BufferPolicy::DropOldest,
        ];
        let core_publishers: Vec<Publisher> = policies
            .iter()
            .map(|policy| {
                Publisher::builder(connection.clone())
                    .service_name("partition-c")
                    .buffer_limits(LIMITS)
                    .buffer_policy(*policy)
                    .publish_timeout(Duration::from_secs(2))
                    .build()
            })
            .collect();
        let js_publisher = Publisher::builder(connection.clone())
            .service_name("partition-c")
            .ack_timeout(Duration::from_secs(2))
            .publish_timeout(Duration::from_secs(5))
            .retry_deadline(Duration::from_secs(10))
            .build();
        let js_deadline = Duration::from_secs(10 + 5 + 2);

        let cut = Instant::now();
        tokio::task::block_in_place(|| {
            for i in 0..cluster.len() {
                cluster.cut_from_clients(i);
            }
        });
        let noticed = time_to_notice(&connection, cut, DETECTION_BOUND).await;
        assert!(
            !connection.readiness().is_ready(),
            "readiness is false while no server can be reached: {}",
            connection.readiness()
        );

        // During the outage: core events on every policy, and JetStream publishes.
        let mut js_calls = Vec::new();
        let mut slowest_core = Duration::ZERO;
        let mut id = 0u64;
        while cut.elapsed() < OUTAGE {
            for publisher in &core_publishers {
                let started = Instant::now();
                let _ = publisher
                    .event("core.partitions", "partitions.core", &json!({ "id": id }))
                    .core()
                    .await;
                slowest_core = slowest_core.max(started.elapsed());
                let stats = publisher.buffer_stats();
                assert!(
                    stats.messages <= LIMITS.max_messages && stats.bytes <= LIMITS.max_bytes,
                    "{:?} holds {} events / {} bytes, over its limits",
                    publisher.options().buffer_policy,
                    stats.messages,
                    stats.bytes
                );
            }
            if id.is_multiple_of(50) {
                let publisher = js_publisher.clone();
                js_calls.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let result = publisher
                        .event(
                            "partitions.events",
                            "partitions.event",
                            &json!({ "id": id }),
                        )
                        .send()
                        .await;
                    (id, started.elapsed(), result)
                }));
            }
            id += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::task::block_in_place(|| {
            for i in 0..cluster.len() {
                cluster.heal_clients(i);
            }
        });
        let healed = Instant::now();
        let mut js_outcomes = Outcomes::default();
        let mut js_ok = 0;
        let mut js_timeouts = 0;
        let mut slowest_js = Duration::ZERO;
        for call in js_calls {
            let (id, took, result) = call.await.expect("publish task");
            slowest_js = slowest_js.max(took);
            assert!(
                took <= js_deadline + Duration::from_secs(2),
                "publish {id} returned after {took:?}, past its deadline {js_deadline:?}"
            );
            match result {
                Ok(_) => {
                    js_ok += 1;
                    js_outcomes.acked.insert(id);
                }
                Err(e) if e.is_transient() => {
                    js_timeouts += 1;
                    js_outcomes.failed.insert(id, e.to_string());
                }
                Err(e) => panic!("publish {id}: an outage gives a timeout, not: {e}"),
            }
        }
        assert!(
            slowest_core <= Duration::from_secs(2) + Duration::from_millis(500),
            "a core publish blocked for {slowest_core:?}"
        );
        let back = eventually(
            Duration::from_secs(30),
            "the same connection is up again",
            || async {
                (connection.state() == ConnectionState::Connected).then(|| healed.elapsed())
            },
        )
        .await;
        // The same connection and publisher work after the heal.
        let ack = js_publisher
            .event(
                "partitions.events",
                "partitions.event",
                &json!({ "id": u64::MAX }),
            )
            .send()
            .await
            .expect("publishing works after the heal");
        assert!(ack.sequence > 0);
        let stats: Vec<String> = core_publishers
            .iter()
            .map(|p| {
                let s = p.buffer_stats();
                format!(
                    "{}: buffered {} flushed {} dropped_oldest {} rejected {} wait_timeouts {}",
                    p.options().buffer_policy.name(),
                    s.buffered,
                    s.flushed,
                    s.dropped_oldest,
                    s.rejected,
                    s.wait_timeouts
                )
            })
            .collect();
        js_outcomes.acked.insert(u64::MAX);
        let stored = stored_ids(&js, &js_outcomes).await;
        let (stored_n, dup) = assert_nothing_acked_lost(&js_outcomes, &stored);
        eprintln!(
            "partitions: c. service cut from every node for {OUTAGE:?}: noticed in {noticed:.1?}, \
             up again {back:.1?} after the heal; JetStream calls {} ok {js_ok} timed out \
             {js_timeouts}, slowest {slowest_js:.1?}, then 1 after the heal: stored {stored_n} \
             duplicated {dup}; slowest core call {slowest_core:.1?}; {}",
            js_ok + js_timeouts,
            stats.join("; ")
        );
    })
    .await;
}

// ---- d. a rolling restart under load ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_rolling_restart_under_load_loses_nothing() {
    bounded(TEST_TIMEOUT, async {
        let cluster = tokio::task::block_in_place(|| ContainerCluster::start(3));
        let connection = connect(&config(&cluster.urls(), "partition-d"))
            .await
            .expect("connects");
        let js = r3_stream(&connection).await;
        let stop = Arc::new(AtomicBool::new(false));
        let publishing = tokio::spawn(load(publisher(&connection, "partition-d"), stop.clone()));
        let started = Instant::now();
        for i in 0..cluster.len() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tokio::task::block_in_place(|| cluster.restart(i));
            // The next node goes only once the stream is whole again (a leader and every
            // replica current), as an operator would check with `nats stream info`.
            stream_whole(&js).await;
        }
        let took = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::Relaxed);
        let outcomes = publishing.await.expect("publishing task");
        assert!(
            outcomes.failed.is_empty(),
            "no error reaches the caller in a rolling restart: {:?}",
            outcomes.failed
        );
        let stored = stored_ids(&js, &outcomes).await;
        let (stored_n, dup) = assert_nothing_acked_lost(&outcomes, &stored);
        eprintln!(
            "partitions: d. rolling restart of 3 nodes in {took:.1?}: published {} acked {} \
             stored {stored_n} duplicated {dup}, slowest call {:.1?}, reconnects {}",
            outcomes.acked.len() + outcomes.failed.len(),
            outcomes.acked.len(),
            outcomes.slowest,
            connection.health().await.reconnects
        );
    })
    .await;
}

/// Waits until the stream has a leader and both other replicas are current and online. When a
/// replica is still not current after [`CATCH_UP`], the stream leader is asked to step down, as
/// an operator would with `nats stream cluster step-down`, and the wait starts again, at most
/// [`STEP_DOWNS`] times.
async fn stream_whole(js: &Context) {
    const CATCH_UP: Duration = Duration::from_secs(40);
    const STEP_DOWNS: usize = 2;
    let whole = || async {
        let info = js.get_stream(STREAM).await.ok()?.info().await.ok()?.clone();
        let cluster = info.cluster?;
        let whole = cluster.leader.is_some()
            && cluster.replicas.len() == 2
            && cluster.replicas.iter().all(|r| r.current && !r.offline);
        whole.then_some(())
    };
    for step_down in 0..=STEP_DOWNS {
        if poll_until(CATCH_UP, &whole).await.is_some() {
            return;
        }
        if step_down < STEP_DOWNS {
            let asked = js
                .client()
                .request(
                    format!("$JS.API.STREAM.LEADER.STEPDOWN.{STREAM}"),
                    Vec::new().into(),
                )
                .await;
            eprintln!(
                "partitions: the stream was not whole after {CATCH_UP:?}; asked its leader to \
                 step down: {}",
                match asked {
                    Ok(reply) => String::from_utf8_lossy(&reply.payload).into_owned(),
                    Err(error) => error.to_string(),
                }
            );
        }
    }
    panic!(
        "the stream did not have a leader and two current replicas within {CATCH_UP:?}, nor \
         within {CATCH_UP:?} of each of {STEP_DOWNS} leader step-downs"
    );
}

// ---- e. a frozen server -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_frozen_node_is_noticed_and_never_hangs_a_caller() {
    bounded(TEST_TIMEOUT, async {
        let cluster = tokio::task::block_in_place(|| ContainerCluster::start(3));
        let connection = connect(&config(&cluster.urls(), "partition-e"))
            .await
            .expect("connects");
        let js = r3_stream(&connection).await;
        let on = node_of(&cluster, &connection).await;
        let publisher = publisher(&connection, "partition-e");

        let frozen = Instant::now();
        tokio::task::block_in_place(|| cluster.pause(on));
        // A caller publishing into the frozen connection gets its answer within the deadline.
        let call = tokio::spawn({
            let publisher = publisher.clone();
            async move {
                let started = Instant::now();
                let result = publisher
                    .event("partitions.events", "partitions.event", &json!({ "id": 1 }))
                    .send()
                    .await;
                (started.elapsed(), result)
            }
        });
        let noticed = time_to_notice(&connection, frozen, DETECTION_BOUND).await;
        let back = reconnected_elsewhere(&cluster, &connection, on, frozen).await;
        let (took, result) = call.await.expect("publish task");
        result.expect("the publish is retried on another node");
        // Read through the majority before the frozen node (maybe the old stream leader, with
        // its stale view for a moment) is thawed.
        let stored = common::stored::stream_ids(&js, STREAM, 1).await;
        tokio::task::block_in_place(|| cluster.unpause(on));
        assert_eq!(stored, vec![1], "the event is stored once");
        eprintln!(
            "partitions: e. frozen node: noticed in {noticed:.1?} (bound {DETECTION_BOUND:?}), \
             reconnected elsewhere {back:.1?} after the freeze; the publish in flight returned \
             acked after {took:.1?}, stored once"
        );
    })
    .await;
}
