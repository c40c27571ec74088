//! Trace propagation (feature `otel`): the W3C trace context of the publishing span
//! travels in the message headers — core, JetStream and pooled publishes — and the JetStream
//! consumer runs the handler in a `connect_nats.consume` span whose parent is the publishing span.
//!
//! One OpenTelemetry SDK tracer provider with an in-memory exporter is installed (through
//! `tracing-opentelemetry`) as the global `tracing` subscriber of this test binary; each test
//! finds its own spans by trace id.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use connect_nats_config::Config;
use connect_nats_core::{connect, Connection, ConnectionPool};
use connect_nats_jetstream::{consume, ConsumerSpec, Delivery, HandlerError};
use connect_nats_publisher::otel::{HEADER_TRACEPARENT, HEADER_TRACESTATE};
use connect_nats_publisher::{HeaderPolicy, PooledPublisher, Publisher, PublisherOptions};
use connect_nats_testkit::{bounded, subscribe_registered, NatsServer, ServerConfig};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceId, TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Upper bound for one test, server included.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for one message or one exported span.
const WAIT: Duration = Duration::from_secs(15);

/// The exporter behind the global subscriber (installed on first use).
fn exporter() -> &'static InMemorySpanExporter {
    static TELEMETRY: OnceLock<(SdkTracerProvider, InMemorySpanExporter)> = OnceLock::new();
    &TELEMETRY
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("otel-test"));
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("install the global tracing subscriber");
            (provider, exporter)
        })
        .1
}

/// The OpenTelemetry span context of a `tracing` span.
fn span_context(span: &tracing::Span) -> SpanContext {
    span.context().span().span_context().clone()
}

/// The `traceparent` the publisher must write for `span`.
fn expected_traceparent(span: &SpanContext) -> String {
    format!("00-{}-{}-01", span.trace_id(), span.span_id())
}

/// Polls the exporter until a finished span named `name` in `trace` shows up.
async fn finished_span(name: &str, trace: TraceId) -> SpanData {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let spans = exporter()
            .get_finished_spans()
            .expect("read exported spans");
        if let Some(span) = spans
            .into_iter()
            .find(|s| s.name == name && s.span_context.trace_id() == trace)
        {
            return span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no finished span {name:?} in trace {trace} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn config(url: &str, client_id: &str) -> Config {
    common::client_config(&[url.to_owned()], client_id, Duration::from_secs(3), None)
}

async fn connection(server: &NatsServer, client_id: &str) -> Connection {
    connect(&config(&server.url(), client_id))
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", server.url()))
}

async fn create_stream(
    connection: &Connection,
    name: &str,
    subjects: &[&str],
) -> jetstream::Context {
    let js = jetstream::new(connection.client().clone());
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("create stream {name}: {e}"));
    js
}

fn header<'a>(headers: Option<&'a async_nats::HeaderMap>, name: &str) -> Option<&'a str> {
    headers.and_then(|h| h.get(name)).map(|v| v.as_str())
}

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("no message within the wait")
        .expect("subscription ended")
}

/// What the handler saw: its own span context and the message's `traceparent`.
#[derive(Debug)]
struct Seen {
    handler_span: SpanContext,
    traceparent: Option<String>,
}

/// A handler that reports, from inside its future (where the handler's work runs), what it saw.
fn report_to(
    tx: tokio::sync::mpsc::UnboundedSender<Seen>,
) -> impl Fn(Delivery) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync + 'static {
    move |delivery: Delivery| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(Seen {
                handler_span: span_context(&tracing::Span::current()),
                traceparent: header(delivery.headers(), HEADER_TRACEPARENT).map(str::to_owned),
            });
            Ok(())
        }
        .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_id_survives_publisher_to_jetstream_to_consumer() {
    exporter();
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let connection = connection(&server, "otel-js").await;
        let js = create_stream(&connection, "OTEL_ORDERS", &["otel.orders.>"]).await;
        let publisher = Publisher::new(connection.clone(), "orders");

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let spec = ConsumerSpec::new("OTEL_ORDERS", "tracer").filter_subject("otel.orders.>");
        let handle = consume(&js, spec, report_to(tx))
            .await
            .expect("consumer starts");

        let publish_span = tracing::info_span!("place_order");
        let published = span_context(&publish_span);
        assert!(
            published.is_valid(),
            "the SDK gave the publishing span a context"
        );
        publisher
            .event(
                "otel.orders.created",
                "order.created",
                &serde_json::json!({"id": 7}),
            )
            .send()
            .instrument(publish_span.clone())
            .await
            .expect("JetStream publish acknowledged");
        drop(publish_span);

        let seen = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("the handler ran within the wait")
            .expect("handler channel open");
        assert_eq!(
            seen.traceparent.as_deref(),
            Some(expected_traceparent(&published).as_str()),
            "the stored message carries the publishing span's traceparent"
        );
        assert_eq!(
            seen.handler_span.trace_id(),
            published.trace_id(),
            "the handler runs in the publisher's trace"
        );
        assert_ne!(seen.handler_span.span_id(), published.span_id());

        let stats = handle.stop().await;
        assert_eq!(stats.acked, 1, "{stats:?}");

        let consumed = finished_span("connect_nats.consume", published.trace_id()).await;
        assert_eq!(consumed.span_context.span_id(), seen.handler_span.span_id());
        assert_eq!(
            consumed.parent_span_id,
            published.span_id(),
            "the consume span's parent is the publishing span"
        );
        assert!(consumed.parent_span_is_remote);
        assert_eq!(consumed.span_kind, SpanKind::Consumer);
        assert_eq!(
            attribute(&consumed, "stream").as_deref(),
            Some("OTEL_ORDERS")
        );
        assert_eq!(attribute(&consumed, "consumer").as_deref(), Some("tracer"));
        assert_eq!(
            attribute(&consumed, "subject").as_deref(),
            Some("otel.orders.created")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_without_trace_context_starts_a_new_trace_in_the_consumer() {
    exporter();
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain().jetstream());
        let connection = connection(&server, "otel-untraced").await;
        let js = create_stream(&connection, "OTEL_PLAIN", &["otel.plain.>"]).await;
        let publisher = Publisher::new(connection.clone(), "plain");

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let spec = ConsumerSpec::new("OTEL_PLAIN", "untraced").filter_subject("otel.plain.>");
        let handle = consume(&js, spec, report_to(tx))
            .await
            .expect("consumer starts");

        // No span around the publish: nothing to propagate.
        publisher
            .event(
                "otel.plain.created",
                "plain.created",
                &serde_json::json!({"id": 1}),
            )
            .send()
            .await
            .expect("JetStream publish acknowledged");

        let seen = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("the handler ran within the wait")
            .expect("handler channel open");
        assert_eq!(seen.traceparent, None, "no span, no traceparent header");
        assert!(
            seen.handler_span.is_valid(),
            "the handler still runs in a span"
        );
        handle.stop().await;

        let consumed = finished_span("connect_nats.consume", seen.handler_span.trace_id()).await;
        assert_eq!(consumed.parent_span_id, SpanId::INVALID, "a root span");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_and_pooled_publishes_carry_the_current_trace_context() {
    exporter();
    bounded(TEST_TIMEOUT, async {
        let server = NatsServer::start(ServerConfig::plain());
        let connection = connection(&server, "otel-core").await;
        let publisher = Publisher::new(connection.clone(), "notifier");
        let pool = ConnectionPool::connect(&config(&server.url(), "otel-pool"), 2)
            .await
            .expect("pool connects");
        // The plain publisher has the default `minimal` headers, the pooled
        // one `full`: the trace context is added under both policies.
        assert_eq!(publisher.options().headers, HeaderPolicy::Minimal);
        let pooled = PooledPublisher::with_options(
            pool,
            PublisherOptions {
                service_name: "notifier".into(),
                headers: HeaderPolicy::Full,
                ..PublisherOptions::default()
            },
        );
        // The pool publishes on other connections: the subscription must be
        // registered on the server, not only written to the socket.
        let mut sub = subscribe_registered(connection.client(), "otel.core.>").await;

        let span = tracing::info_span!("notify");
        let traced = span_context(&span);
        async {
            publisher
                .event("otel.core.event", "note.sent", &serde_json::json!({"n": 1}))
                .core()
                .await
                .expect("core event");
            publisher
                .message("otel.core.plain", &serde_json::json!({"n": 2}))
                .core()
                .await
                .expect("core plain");
            pooled
                .event(
                    "otel.core.pooled",
                    "note.sent",
                    &serde_json::json!({"n": 3}),
                )
                .core()
                .await
                .expect("pooled core event");
        }
        .instrument(span)
        .await;
        // Outside any span: no trace context.
        publisher
            .message("otel.core.untraced", &serde_json::json!({"n": 4}))
            .core()
            .await
            .expect("untraced core");

        let want = expected_traceparent(&traced);
        let mut by_subject = std::collections::HashMap::new();
        for _ in 0..4 {
            let msg = next_msg(&mut sub).await;
            by_subject.insert(msg.subject.to_string(), msg);
        }
        for subject in ["otel.core.event", "otel.core.plain", "otel.core.pooled"] {
            let msg = by_subject
                .get(subject)
                .unwrap_or_else(|| panic!("{subject} received"));
            assert_eq!(
                header(msg.headers.as_ref(), HEADER_TRACEPARENT),
                Some(want.as_str()),
                "{subject}"
            );
            assert_eq!(
                header(msg.headers.as_ref(), HEADER_TRACESTATE),
                None,
                "{subject}"
            );
            let full = subject == "otel.core.pooled";
            assert_eq!(
                header(msg.headers.as_ref(), "Connect-Service"),
                full.then_some("notifier"),
                "{subject}: the policy's headers beside the trace context"
            );
        }
        let untraced = &by_subject["otel.core.untraced"];
        assert!(
            untraced.headers.as_ref().is_none_or(|h| h.is_empty()),
            "minimal, outside any span: no header at all"
        );
    })
    .await;
}
