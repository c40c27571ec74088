//! Stream sync never destroys data, against real servers: an operator-grown default stream
//! survives a service start, the `allow_destructive` opt-in applies the same change, a stream
//! below the defaults is grown back, and a declared stream keeps what its declaration would lose.

// Tests report failures by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::stream::Config as ServerStream;
use async_nats::jetstream::Context;
use connect_nats_config::{Config, StreamSpec};
use connect_nats_jetstream::{
    connect_with_jetstream, default_connect_streams, ensure_streams, ensure_streams_dry_run,
    ChangeKind, EnsureReport, StreamOutcome,
};
use connect_nats_testkit::{bounded, NatsServer, ServerConfig};

/// Upper bound for one test, servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const GIB: i64 = 1024 * 1024 * 1024;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Events published on each subject before a sync.
const EVENTS: u64 = 50;

/// A JetStream server with room for a 10 GiB stream (a reservation, not disk use).
fn roomy_server(store: &tempfile::TempDir) -> NatsServer {
    NatsServer::start(ServerConfig::plain().extra_config(format!(
        "jetstream {{\n  store_dir: \"{}\"\n  max_file_store: 16GB\n  max_memory_store: 64MB\n}}",
        store.path().display()
    )))
}

fn config(server: &NatsServer, client_id: &str) -> Config {
    common::client_config(&[server.url()], client_id, Duration::from_secs(3), None)
}

/// A roomy server on which a first service start created the default streams: the server (and
/// its store, removed on drop), the service's config and a JetStream context.
struct Started {
    _store: tempfile::TempDir,
    _server: NatsServer,
    config: Config,
    js: Context,
}

async fn first_service_start(client_id: &str) -> Started {
    let store = tempfile::tempdir().expect("tempdir");
    let server = roomy_server(&store);
    let config = config(&server, client_id);
    let first = connect_with_jetstream(&config, &[])
        .await
        .expect("connects");
    assert!(first.report.is_success(), "{}", first.report);
    Started {
        js: first.jetstream,
        _store: store,
        _server: server,
        config,
    }
}

fn outcome<'a>(report: &'a EnsureReport, name: &str) -> &'a StreamOutcome {
    report
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from the report:\n{report}"))
}

fn fields(outcome: &StreamOutcome) -> Vec<&str> {
    let changes = match outcome {
        StreamOutcome::Updated { changes } => changes.as_slice(),
        other => other.kept_changes(),
    };
    let mut fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    fields.sort_unstable();
    fields
}

async fn server_stream(js: &Context, name: &str) -> (ServerStream, u64) {
    let mut stream = js.get_stream(name).await.expect("stream exists");
    let info = stream.info().await.expect("stream info");
    (info.config.clone(), info.state.messages)
}

/// Applies `edit` to the stream on the server, as an operator with the `nats` CLI would.
async fn operator_edits(js: &Context, name: &str, edit: impl FnOnce(&mut ServerStream)) {
    let (mut config, _) = server_stream(js, name).await;
    edit(&mut config);
    js.update_stream(&config).await.expect("operator edit");
}

/// The operator's change of the issue: 10 GiB, 30 days, and `audit.>` captured too.
fn grow(config: &mut ServerStream) {
    config.max_bytes = 10 * GIB;
    config.max_age = 30 * DAY;
    config.subjects.push("audit.>".to_owned());
}

async fn publish_events(js: &Context) {
    for subject in ["connect.user.created", "audit.login"] {
        for n in 0..EVENTS {
            js.publish(subject, format!(r#"{{"n":{n}}}"#).into())
                .await
                .expect("publish")
                .await
                .expect("acknowledged");
        }
    }
}

/// Everything the library logs in this test binary (one global subscriber).
fn log_capture() -> &'static Arc<Mutex<Vec<u8>>> {
    static CAPTURE: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        use tracing_subscriber::util::SubscriberInitExt;
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = CaptureWriter(buffer.clone());
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
            .try_init()
            .expect("the stream_sync binary installs the only tracing subscriber");
        buffer
    })
}

#[derive(Clone)]
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_grown_default_stream_survives_a_service_start() {
    let logs = log_capture();
    bounded(TEST_TIMEOUT, async {
        let started = first_service_start("sync-grown").await;
        let (config, js) = (&started.config, &started.js);
        operator_edits(js, "CONNECT_EVENTS", grow).await;
        publish_events(js).await;
        let (before, stored) = server_stream(js, "CONNECT_EVENTS").await;
        assert_eq!(stored, 2 * EVENTS);

        let dry = ensure_streams_dry_run(js, &default_connect_streams()).await;
        let second = connect_with_jetstream(config, &[]).await.expect("connects");

        for report in [&dry, &second.report] {
            let events = outcome(report, "CONNECT_EVENTS");
            assert!(
                matches!(events, StreamOutcome::AboveDefault { applied, .. } if applied.is_empty()),
                "{report}"
            );
            assert_eq!(
                fields(events),
                ["max_age", "max_bytes", "subjects"],
                "{report}"
            );
            assert!(events
                .kept_changes()
                .iter()
                .all(|c| c.kind == ChangeKind::Destructive));
            assert!(
                report.is_success(),
                "above the defaults is not a failure:\n{report}"
            );
        }
        let (after, still_stored) = server_stream(js, "CONNECT_EVENTS").await;
        assert_eq!(after.max_bytes, 10 * GIB);
        assert_eq!(after.max_age, 30 * DAY);
        assert_eq!(after.subjects, before.subjects);
        assert_eq!(still_stored, 2 * EVENTS, "no stored event may be lost");

        let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        let warning = text
            .lines()
            .find(|l| {
                l.contains(" WARN ")
                    && l.contains("CONNECT_EVENTS")
                    && l.contains("above its")
                    && l.contains("dry_run=false")
                    && l.contains("audit.>")
            })
            .unwrap_or_else(|| panic!("no WARN for the kept stream in:\n{text}"));
        for field in ["max_bytes", "max_age", "subjects"] {
            assert!(warning.contains(field), "{field} not named: {warning}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_opt_in_the_defaults_are_applied_exactly() {
    bounded(TEST_TIMEOUT, async {
        let started = first_service_start("sync-opt-in").await;
        let (config, js) = (&started.config, &started.js);
        operator_edits(js, "CONNECT_EVENTS", grow).await;
        publish_events(js).await;

        let exact: Vec<StreamSpec> = default_connect_streams()
            .into_iter()
            .map(|spec| StreamSpec {
                allow_destructive: true,
                ..spec
            })
            .collect();
        let second = connect_with_jetstream(config, &exact)
            .await
            .expect("connects");
        let events = outcome(&second.report, "CONNECT_EVENTS");
        assert!(
            matches!(events, StreamOutcome::Updated { .. }),
            "{}",
            second.report
        );
        assert_eq!(fields(events), ["max_age", "max_bytes", "subjects"]);
        assert_eq!(outcome(&second.report, "CACHE"), &StreamOutcome::Unchanged);

        let (after, _) = server_stream(js, "CONNECT_EVENTS").await;
        assert_eq!(after.max_bytes, GIB);
        assert_eq!(after.max_age, 7 * DAY);
        assert_eq!(after.subjects, ["connect.>"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_stream_below_the_defaults_is_grown_back() {
    bounded(TEST_TIMEOUT, async {
        let started = first_service_start("sync-smaller").await;
        let (config, js) = (&started.config, &started.js);
        operator_edits(js, "CONNECT_EVENTS", |c| {
            c.max_bytes = 100 * 1024 * 1024;
            c.max_age = DAY;
        })
        .await;

        let second = connect_with_jetstream(config, &[]).await.expect("connects");
        let events = outcome(&second.report, "CONNECT_EVENTS");
        assert!(
            matches!(events, StreamOutcome::Updated { .. }),
            "{}",
            second.report
        );
        assert_eq!(fields(events), ["max_age", "max_bytes"]);
        let (after, _) = server_stream(js, "CONNECT_EVENTS").await;
        assert_eq!((after.max_bytes, after.max_age), (GIB, 7 * DAY));

        // Larger on one field, smaller on another: the larger one stays, the other grows back.
        operator_edits(js, "CONNECT_EVENTS", |c| {
            c.max_bytes = 2 * GIB;
            c.max_age = DAY;
        })
        .await;
        let third = connect_with_jetstream(config, &[]).await.expect("connects");
        match outcome(&third.report, "CONNECT_EVENTS") {
            StreamOutcome::AboveDefault { applied, kept } => {
                assert_eq!(applied.len(), 1, "{}", third.report);
                assert_eq!(applied[0].field, "max_age");
                assert_eq!(kept.len(), 1, "{}", third.report);
                assert_eq!(kept[0].field, "max_bytes");
            }
            other => panic!("expected above the defaults, got {other:?}"),
        }
        let (after, _) = server_stream(js, "CONNECT_EVENTS").await;
        assert_eq!((after.max_bytes, after.max_age), (2 * GIB, 7 * DAY));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_stream_keeps_what_its_declaration_would_lose() {
    bounded(TEST_TIMEOUT, async {
        let store = tempfile::tempdir().expect("tempdir");
        let server = roomy_server(&store);
        let connection = connect_nats_core::connect(&config(&server, "sync-declared"))
            .await
            .expect("connects");
        let js = connect_nats_jetstream::jetstream_context(&connection);
        let orders = StreamSpec {
            max_msgs: Some(1000),
            ..StreamSpec::new("ORDERS", ["orders.>", "refunds.>"])
        };
        assert!(ensure_streams(&js, std::slice::from_ref(&orders))
            .await
            .is_success());

        let narrower = StreamSpec {
            description: Some("orders only".into()),
            max_msgs: Some(10),
            subjects: vec!["orders.>".into(), "returns.>".into()],
            ..orders.clone()
        };
        let dry = ensure_streams_dry_run(&js, std::slice::from_ref(&narrower)).await;
        let report = ensure_streams(&js, std::slice::from_ref(&narrower)).await;
        for report in [&dry, &report] {
            match outcome(report, "ORDERS") {
                StreamOutcome::Kept { applied, kept } => {
                    let applied: Vec<_> = applied.iter().map(|c| c.field.as_str()).collect();
                    let kept: Vec<_> = kept.iter().map(|c| c.field.as_str()).collect();
                    assert_eq!(applied, ["subjects", "description"], "{report}");
                    assert_eq!(kept, ["subjects", "max_msgs"], "{report}");
                }
                other => panic!("expected ORDERS kept, got {other:?}\n{report}"),
            }
            assert!(!report.is_success());
            assert!(report.to_string().contains("allow_destructive"), "{report}");
        }
        let (after, _) = server_stream(&js, "ORDERS").await;
        assert_eq!(after.max_messages, 1000, "the lower limit is not applied");
        assert_eq!(after.subjects, ["orders.>", "refunds.>", "returns.>"]);
        assert_eq!(after.description.as_deref(), Some("orders only"));

        let again = ensure_streams(&js, std::slice::from_ref(&narrower)).await;
        assert!(
            again.get("ORDERS").is_some_and(StreamOutcome::is_kept),
            "{again}"
        );
        let (unchanged, _) = server_stream(&js, "ORDERS").await;
        assert_eq!(unchanged.subjects, after.subjects);

        let allowed = StreamSpec {
            allow_destructive: true,
            ..narrower
        };
        let applied = ensure_streams(&js, &[allowed]).await;
        assert!(applied.is_success(), "{applied}");
        let (after, _) = server_stream(&js, "ORDERS").await;
        assert_eq!(after.max_messages, 10);
        assert_eq!(after.subjects, ["orders.>", "returns.>"]);
    })
    .await;
}
