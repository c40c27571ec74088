//! Batch publishing on new servers, against real ones: the stream flags `allow_atomic` and
//! `allow_batched` on nats-server 2.15.1 (the testkit's newer server, beside the pinned one), and
//! the version a flag needs named on the pinned 2.10 server.

// Tests report failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use async_nats::jetstream::Context;
use connect_nats_config::StreamSpec;
use connect_nats_jetstream::{connect_with_jetstream, ensure_streams, StreamOutcome};
use connect_nats_testkit::{bounded, NatsServer, ServerConfig};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A JetStream context on `server`, with no stream declared yet.
async fn context(server: &NatsServer, client_id: &str) -> Context {
    let config = common::client_config(&[server.url()], client_id, Duration::from_secs(3), None);
    connect_with_jetstream(&config, &[])
        .await
        .expect("connects")
        .jetstream
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
        if connect_nats_jetstream::ServerVersion::parse(&version)
            .is_some_and(|v| v >= connect_nats_jetstream::ATOMIC_BATCH_VERSION)
        {
            panic!("this test needs the pinned server older than 2.12; it runs {version}");
        }
        let report = ensure_streams(&js, &[orders(true, false)]).await;
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
