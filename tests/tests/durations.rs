//! Property test against a real nats-server: publisher durations of any
//! value (`Duration::ZERO` and `Duration::MAX` included) never panic, and
//! every call still returns within its bound.

// Test code reports failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use connect_nats_core::connect;
use connect_nats_publisher::{BufferPolicy, PublishError, Publisher};
use connect_nats_testkit::{NatsServer, ServerConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

/// Cases: each publishes once on core and once on JetStream, then closes.
const CASES: u32 = 48;
/// Longest time one call may take, whatever the durations.
const CALL_BOUND: Duration = Duration::from_secs(10);

/// Any duration: the edges, short ones, and any number of seconds.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0u64..5_000).prop_map(Duration::from_millis),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// Any ack timeout long enough for an ack on a local server to arrive.
fn ack_timeout() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::MAX),
        (1u64..5_000).prop_map(Duration::from_secs),
        (1u64..u64::MAX).prop_map(Duration::from_secs),
    ]
}

#[test]
fn publisher_durations_of_any_value_never_panic() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = NatsServer::start(ServerConfig::plain().jetstream());
    let conn = runtime.block_on(async {
        let config =
            common::client_config(&[server.url()], "durations", Duration::from_secs(3), None);
        let conn = connect(&config).await.expect("connect");
        jetstream::new(conn.client().clone())
            .create_stream(stream::Config {
                name: "DURATIONS".to_owned(),
                subjects: vec!["durations.>".to_owned()],
                ..Default::default()
            })
            .await
            .expect("create stream");
        conn
    });
    let mut runner = TestRunner::new(ProptestConfig {
        cases: CASES,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    });
    let strategy = (
        any_duration(),
        ack_timeout(),
        any_duration(),
        any_duration(),
        any_duration(),
    );
    runner
        .run(&strategy, |(publish, ack, retry, wait, close)| {
            runtime.block_on(async {
                let publisher = Publisher::builder(conn.clone())
                    .publish_timeout(publish)
                    .ack_timeout(ack)
                    .retry_deadline(retry)
                    .buffer_policy(BufferPolicy::Wait { timeout: wait })
                    .build();
                let core = tokio::time::timeout(
                    CALL_BOUND,
                    publisher.message("durations.core", &1).core(),
                )
                .await
                .expect("a core publish returns within its bound");
                prop_assert!(
                    matches!(core, Ok(_) | Err(PublishError::Timeout { .. })),
                    "{core:?}"
                );
                let js =
                    tokio::time::timeout(CALL_BOUND, publisher.message("durations.js", &2).send())
                        .await
                        .expect("a JetStream publish returns within its bound");
                prop_assert!(
                    matches!(
                        js,
                        Ok(_)
                            | Err(
                                PublishError::Timeout { .. } | PublishError::NotAcknowledged { .. }
                            )
                    ),
                    "{js:?}"
                );
                let report = tokio::time::timeout(CALL_BOUND, publisher.close(close))
                    .await
                    .expect("close returns within its bound");
                prop_assert!(report.is_clean(), "{report:?}");
                Ok(())
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
