//! # connect-nats-demo
//!
//! A small service written the way a real one uses connect-nats, short
//! enough to copy:
//!
//! 1. install the Prometheus recorder (before connecting: the crates
//!    register their metrics when the connection, consumer and publisher are
//!    made);
//! 2. load the config from the environment (`NATS_URL`, `NATS_TOKEN`, …);
//! 3. connect and ensure the default streams, print the report;
//! 4. start a durable consumer on `connect.>` that prints every event;
//! 5. serve `/metrics` and `/healthz`;
//! 6. publish realistic events, core and JetStream;
//! 7. on Ctrl-C (or after `--events N` events were consumed) stop the
//!    consumer (in-flight messages are acked), print a metrics snapshot,
//!    close the connection.
//!
//! [`run`] does all of it; [`Demo`] exposes the steps (the integration test
//! scrapes `/metrics` between them).

mod events;
mod http;
mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use connect_nats_config::{Config, ConfigError};
use connect_nats_core::Connection;
use connect_nats_jetstream::{
    connect_with_jetstream, consume, ConsumerHandle, ConsumerSpec, ConsumerStats, HandlerError,
    JetStreamError, StartFrom,
};
use connect_nats_publisher::{Envelope, PublishError, Publisher};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

pub use events::{count_by_path, event, DemoEvent, Path};
pub use http::{HttpServer, Response};
pub use telemetry::{install_prometheus, snapshot};

/// The stream the demo consumes (one of the default streams).
pub const STREAM: &str = "CONNECT_EVENTS";
/// The subjects the consumer reads.
pub const FILTER: &str = "connect.>";
/// The durable consumer's default name.
pub const DEFAULT_DURABLE: &str = "connect-demo";
/// Events published when `--events` is not given.
pub const DEFAULT_EVENTS: usize = 10;
/// How long the demo waits for its events to come back through the consumer.
pub const CONSUME_TIMEOUT: Duration = Duration::from_secs(30);
/// How long stopping the consumer and closing the connection may take.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the demo does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Publish this many events, exit once as many were consumed. `None`:
    /// publish [`DEFAULT_EVENTS`] and run until Ctrl-C.
    pub events: Option<usize>,
    /// Where `/metrics` and `/healthz` listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The durable consumer's name.
    pub durable_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            events: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            durable_name: DEFAULT_DURABLE.to_owned(),
        }
    }
}

/// What happened, for the caller (and the tests).
#[derive(Debug, Clone)]
pub struct Summary {
    /// Events published on core NATS.
    pub published_core: usize,
    /// Events published to JetStream (acknowledged).
    pub published_jetstream: usize,
    /// Events whose publish failed.
    pub publish_failures: usize,
    /// Events the consumer's handler saw.
    pub consumed: u64,
    /// The consumer's final counters.
    pub consumer: ConsumerStats,
    /// Where `/metrics` and `/healthz` were served.
    pub listen: SocketAddr,
    /// The non-zero `connect_nats_*` samples of the final `/metrics` page.
    pub metrics: String,
}

/// Why the demo stopped early. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The NATS settings in the environment are invalid.
    #[error("invalid NATS configuration: {0}")]
    Config(#[from] ConfigError),
    /// Connecting or setting up the consumer failed.
    #[error("{0}\n  hint: run `cargo xtask demo` to start a server for the demo, or point NATS_URL at a NATS server with JetStream enabled")]
    Nats(#[from] JetStreamError),
    /// Another metrics recorder was installed first.
    #[error("could not install the Prometheus recorder: {0}; install only one metrics recorder per process")]
    Metrics(String),
    /// The HTTP listener could not bind.
    #[error("could not listen on {addr}: {source}; choose another address with --listen")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// The published events did not all come back through the consumer.
    #[error("only {consumed} of {expected} events were consumed within {waited:?}; check the stream `{STREAM}` (`connect-nats streams ensure`) and the consumer `{durable}`")]
    NotConsumed {
        /// Events consumed.
        consumed: u64,
        /// Events expected.
        expected: u64,
        /// How long the demo waited.
        waited: Duration,
        /// The durable consumer's name.
        durable: String,
    },
}

/// Counts of one publishing round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Sent on core NATS.
    pub core: usize,
    /// Stored by JetStream.
    pub jetstream: usize,
    /// Failed.
    pub failed: usize,
}

/// The running demo: connection, consumer, publisher, HTTP endpoint.
pub struct Demo {
    connection: Connection,
    publisher: Publisher,
    consumer: Option<ConsumerHandle>,
    consumed: watch::Receiver<u64>,
    http: HttpServer,
    prometheus: PrometheusHandle,
    durable: String,
    published: usize,
}

impl Demo {
    /// Steps 1–5: recorder, connect, streams, consumer, HTTP endpoint.
    /// Prints what it does.
    pub async fn start(config: &Config, options: &Options) -> Result<Demo, DemoError> {
        let prometheus = install_prometheus()?;

        println!(
            "[1/5] config: servers {} · client id `{}` · auth {} · tls {}",
            config.server_urls().join(","),
            config.client_id(),
            config.auth().kind(),
            if config.tls_wanted() { "on" } else { "off" }
        );

        let js = connect_with_jetstream(config, &[]).await?;
        let health = js.connection.health().await;
        let server = health
            .server
            .map(|s| format!("{} (nats-server {})", s.name, s.version))
            .unwrap_or_else(|| "unknown server".to_owned());
        println!("[2/5] connected to {server}");
        println!("[3/5] streams ensured:");
        for line in js.report.to_string().lines() {
            println!("        {line}");
        }

        let (count, consumed) = watch::channel(0u64);
        let count = Arc::new(count);
        let spec = ConsumerSpec::new(STREAM, &options.durable_name)
            .filter_subject(FILTER)
            .start(StartFrom::New)
            // One at a time keeps the printed events in stream order; a real
            // service keeps the default (8) or raises it.
            .concurrency(1);
        let consumer = consume(&js.jetstream, spec, move |delivery| {
            let count = Arc::clone(&count);
            async move {
                let n = *count.borrow() + 1;
                let seq = delivery.stream_sequence();
                match delivery.json::<Envelope>() {
                    Ok(event) => println!(
                        "  ← consumed  #{n:<3} {:<17} seq {seq:<4} {} {}",
                        event.event_type,
                        delivery.subject(),
                        event.data
                    ),
                    // Not ours to reject: someone else's message on connect.>.
                    Err(_) => println!(
                        "  ← consumed  #{n:<3} {:<17} seq {seq:<4} {} {}",
                        "(not an envelope)",
                        delivery.subject(),
                        String::from_utf8_lossy(delivery.payload())
                    ),
                }
                count.send_modify(|n| *n += 1);
                Ok::<(), HandlerError>(())
            }
        })
        .await?;
        println!(
            "[4/5] durable consumer `{}` on {STREAM} ({FILTER}) started",
            options.durable_name
        );

        let http = HttpServer::bind(
            options.listen,
            routes(js.connection.clone(), prometheus.clone()),
        )
        .await
        .map_err(|source| DemoError::Listen {
            addr: options.listen,
            source,
        })?;
        println!(
            "[5/5] serving http://{0}/metrics and http://{0}/healthz",
            http.addr()
        );

        let publisher = Publisher::new(js.connection.clone(), config.client_id().to_owned());
        Ok(Demo {
            connection: js.connection,
            publisher,
            consumer: Some(consumer),
            consumed,
            http,
            prometheus,
            durable: options.durable_name.clone(),
            published: 0,
        })
    }

    /// The address of `/metrics` and `/healthz`.
    pub fn listen_addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Publishes the next `count` events of the rotation ([`event`]),
    /// printing each.
    pub async fn publish(&mut self, count: usize) -> Published {
        let range = self.published..self.published + count;
        let core = range
            .clone()
            .filter(|n| event(*n).path == Path::Core)
            .count();
        println!(
            "publishing {count} events ({core} core, {} JetStream):",
            count - core
        );
        let mut done = Published::default();
        for n in range {
            let event = event(n);
            let result: Result<String, PublishError> = match event.path {
                Path::Core => self
                    .publisher
                    .event(event.subject, event.event_type, &event.data)
                    .core()
                    .await
                    .map(|delivery| format!("{delivery:?}").to_lowercase()),
                Path::JetStream => self
                    .publisher
                    .event(event.subject, event.event_type, &event.data)
                    .send()
                    .await
                    .map(|ack| format!("stored as {} seq {}", ack.stream, ack.sequence)),
            };
            match result {
                Ok(outcome) => {
                    match event.path {
                        Path::Core => done.core += 1,
                        Path::JetStream => done.jetstream += 1,
                    }
                    println!(
                        "  → published {:<9} {:<17} {:<29} {outcome}",
                        event.path.as_str(),
                        event.event_type,
                        event.subject
                    );
                }
                Err(e) => {
                    done.failed += 1;
                    println!(
                        "  ✗ failed    {:<9} {}: {e}",
                        event.path.as_str(),
                        event.event_type
                    );
                }
            }
        }
        self.published += count;
        done
    }

    /// Events the consumer has handled so far.
    pub fn consumed(&self) -> u64 {
        *self.consumed.borrow()
    }

    /// Waits until the consumer has handled `count` events, at most `timeout`.
    pub async fn wait_consumed(&self, count: u64, timeout: Duration) -> Result<(), DemoError> {
        let mut rx = self.consumed.clone();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|n| *n >= count))
            .await
            .is_ok_and(|r| r.is_ok());
        if reached {
            return Ok(());
        }
        Err(DemoError::NotConsumed {
            consumed: self.consumed(),
            expected: count,
            waited: timeout,
            durable: self.durable.clone(),
        })
    }

    /// Stops the consumer, letting in-flight handlers finish and ack; returns
    /// its final counters.
    pub async fn stop_consumer(&mut self) -> ConsumerStats {
        let Some(consumer) = self.consumer.take() else {
            return ConsumerStats::default();
        };
        match consumer.stop_within(SHUTDOWN_TIMEOUT).await {
            Ok(stats) => stats,
            Err(e) => {
                eprintln!("warning: {e}");
                ConsumerStats::default()
            }
        }
    }

    /// The non-zero `connect_nats_*` samples of `/metrics` now (see [`snapshot`]).
    pub fn metrics_snapshot(&self) -> String {
        self.connection.update_metrics();
        snapshot(&self.prometheus.render())
    }

    /// Stops the consumer (if still running), the HTTP endpoint and the
    /// connection (flushing what is buffered).
    pub async fn shutdown(mut self) -> ConsumerStats {
        let stats = self.stop_consumer().await;
        self.http.stop().await;
        if let Err(e) = self.connection.shutdown(SHUTDOWN_TIMEOUT).await {
            eprintln!("warning: {e}");
        }
        stats
    }
}

/// The two HTTP handlers a service exposes: `/metrics` (Prometheus text
/// format) and `/healthz` (200 when NATS is usable, 503 with the reason
/// otherwise).
pub fn routes(connection: Connection, prometheus: PrometheusHandle) -> http::Router {
    Arc::new(move |path: &str| match path {
        "/metrics" => {
            connection.update_metrics();
            Response {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: prometheus.render(),
            }
        }
        "/healthz" => {
            let readiness = connection.readiness();
            let status = if readiness.is_ready() { 200 } else { 503 };
            Response::text(status, format!("{readiness}\n"))
        }
        _ => Response::text(404, "try /metrics or /healthz\n"),
    })
}

/// Runs the whole demo: start, publish, print events as they are consumed,
/// and stop after `options.events` events were consumed, or when `shutdown`
/// resolves (Ctrl-C).
pub async fn run(
    config: &Config,
    options: &Options,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DemoError> {
    let mut demo = Demo::start(config, options).await?;
    let count = options.events.unwrap_or(DEFAULT_EVENTS);
    let published = demo.publish(count).await;

    tokio::pin!(shutdown);
    let waited = match options.events {
        Some(n) => {
            let expected = u64::try_from(n).unwrap_or(u64::MAX);
            tokio::select! {
                waited = demo.wait_consumed(expected, CONSUME_TIMEOUT) => waited,
                _ = &mut shutdown => Ok(()),
            }
        }
        None => {
            let addr = demo.listen_addr();
            println!("running; press Ctrl-C to stop. Meanwhile, in another terminal:");
            println!("  curl http://{addr}/metrics      # Prometheus metrics");
            println!("  curl -i http://{addr}/healthz   # readiness (503 while NATS is down)");
            let url = config.server_urls().join(",");
            println!("  NATS_URL={url} cargo run -q -p connect-nats-cli -- tail 'connect.>'");
            println!("  NATS_URL={url} cargo run -q -p connect-nats-cli -- publish connect.invitations.created invite.created '{{\"invite_id\":\"inv-x\"}}'");
            shutdown.await;
            Ok(())
        }
    };
    println!("stopping: waiting for in-flight events to be acknowledged…");
    let consumer = demo.stop_consumer().await;
    let metrics = demo.metrics_snapshot();
    let listen = demo.listen_addr();
    let summary = Summary {
        published_core: published.core,
        published_jetstream: published.jetstream,
        publish_failures: published.failed,
        consumed: demo.consumed(),
        consumer,
        listen,
        metrics,
    };
    demo.shutdown().await;
    waited.map(|()| summary)
}
