//! `connect-nats-soak`: a long run of the library against a server that keeps restarting.
//!
//! JetStream events are published at a steady rate (pipelined, through
//! `connect-nats-publisher`) and consumed by a durable consumer
//! (`connect-nats-jetstream::consume`), while core events flow alongside; every
//! `--restart-every` seconds the server is restarted, alternately by SIGKILL and gracefully
//! (file storage, same port). At the end the publishers stop, every pending ack is awaited,
//! failed publishes are republished, the consumer catches up, the stream is read back, and a
//! summary is printed: published / acked / stored / consumed / lost, reconnects, memory.
//! The same figures are written as JSON to `--report` (default
//! `target/soak/report.json`). The exit status is non-zero when an acknowledged event was lost.
//!
//! Run it with `cargo xtask soak --minutes N`, which provisions the server.

mod args;
mod tally;
mod workload;

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::Context;
use clap::Parser;
use connect_nats_config::{Config, ConfigError, StreamSpec};
use connect_nats_core::{connect, Connection};
use connect_nats_jetstream::{consume, ensure_streams, jetstream_context, ConsumerSpec};
use connect_nats_publisher::{BufferPolicy, Publisher};
use connect_nats_testkit::{NatsServer, ServerConfig};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::args::Args;
use crate::tally::{lock, peak_rss_kib, Summary, Tally};
use crate::workload::event_id;

const STREAM: &str = "SOAK";
const DURABLE: &str = "soak-worker";
/// Bound of each wait in the drain phase.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("connect-nats-soak: {e}");
        return ExitCode::from(2);
    }
    init_logging();
    let report_path = args.report.clone();
    let settings = args.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("connect-nats-soak: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(summary) => {
            println!("{summary}");
            match write_report(&report_path, &summary.to_json(&settings)) {
                Ok(()) => println!("soak: report written to {}", report_path.display()),
                Err(e) => eprintln!("connect-nats-soak: {e:#}"),
            }
            if summary.lost() == 0 && summary.unacked == 0 {
                println!("soak: OK — no acknowledged event lost");
                ExitCode::SUCCESS
            } else {
                println!("soak: FAILED — acknowledged events lost or never acknowledged");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("connect-nats-soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the JSON report, creating its directory.
fn write_report(path: &std::path::Path, report: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the report directory {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(report).context("cannot encode the report")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the report {}", path.display()))
}

/// Library warnings (disconnects, retries) go to stderr; `RUST_LOG` overrides.
fn init_logging() {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| format!("warn,{}", connect_nats_core::RECOMMENDED_LOG_DIRECTIVES));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .finish()
        .try_init();
}

fn config(url: &str, client_id: &str) -> Result<Config, ConfigError> {
    Config::builder()
        .without_process_env()
        .without_context()
        .url(url)
        .client_id(client_id)
        .connect_timeout(Duration::from_secs(5))
        .reconnect_wait(Duration::from_millis(100))
        .reconnect_max_wait(Duration::from_secs(1))
        .build()
}

/// Polls `check` every 100 ms until it holds, at most `limit`.
async fn wait_until(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !check() {
        if Instant::now() > deadline {
            bail!("gave up after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut server =
        tokio::task::block_in_place(|| NatsServer::start(ServerConfig::plain().jetstream()));
    let url = server.url();
    eprintln!(
        "soak: server {} ({url}); {} min at {} events/s, restart every {} s",
        server.server_name(),
        args.minutes,
        args.rate,
        args.restart_every
    );

    let pub_conn = connect(&config(&url, "soak-publisher")?).await?;
    let worker_conn = connect(&config(&url, "soak-worker")?).await?;
    let core_conn = connect(&config(&url, "soak-core")?).await?;
    let js = jetstream_context(&pub_conn);
    let report = ensure_streams(&js, &[StreamSpec::new(STREAM, ["soak.js.>"])]).await;
    if !report.is_success() {
        bail!("could not create the stream:\n{report}");
    }

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = consume(
        &jetstream_context(&worker_conn),
        ConsumerSpec::new(STREAM, DURABLE)
            .ack_wait(Duration::from_secs(5))
            .concurrency(32)
            .backoff([Duration::from_millis(200)]),
        workload::handler(tally.clone()),
    )
    .await
    .context("starting the durable consumer")?;

    // Retries reuse the Nats-Msg-Id within the stream's 2 min duplicate window.
    let publisher = Publisher::builder(pub_conn.clone())
        .service_name("soak")
        .window(256)
        .ack_timeout(Duration::from_secs(2))
        .publish_timeout(Duration::from_secs(30))
        .retry_deadline(Duration::from_secs(60))
        .build();
    let core_publisher = Publisher::builder(core_conn.clone())
        .service_name("soak-core")
        .buffer_policy(BufferPolicy::DropOldest)
        .build();

    let (retry_tx, retry_rx) = mpsc::unbounded_channel();
    let next_id = Arc::new(AtomicU64::new(0));
    let per_publisher = f64::from(args.rate) / f64::from(args.publishers);
    let publishers: Vec<_> = (0..args.publishers)
        .map(|_| {
            workload::spawn_publisher(
                publisher.clone(),
                per_publisher,
                next_id.clone(),
                tally.clone(),
                retry_tx.clone(),
                stop.clone(),
            )
        })
        .collect();
    let republisher = workload::spawn_republisher(publisher.clone(), tally.clone(), retry_rx);
    let (core_sender, core_receiver) = workload::spawn_core_pair(
        core_conn.clone(),
        core_publisher,
        args.core_rate,
        tally.clone(),
        stop.clone(),
    )
    .await?;
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let sampler = workload::spawn_memory_sampler(tally.clone(), sampler_stop.clone());

    // ---- the publishing phase, with restarts ------------------------------------------------
    let phase_start = tokio::time::Instant::now();
    let deadline = phase_start + args.duration();
    let restart_every = Duration::from_secs(args.restart_every);
    let report_every = Duration::from_secs(args.report_every.max(1));
    let mut next_restart = phase_start + restart_every;
    let mut next_report = phase_start + report_every;
    let (mut kills, mut graceful) = (0u32, 0u32);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep_until(next_restart.min(next_report).min(deadline)).await;
        let now = tokio::time::Instant::now();
        if now >= next_report {
            eprintln!(
                "{}",
                tally.progress(phase_start.elapsed(), kills + graceful)
            );
            next_report += report_every;
        }
        if now >= next_restart && now < deadline {
            let kill = (kills + graceful) % 2 == 0;
            tokio::task::block_in_place(|| {
                if kill {
                    server.kill();
                }
                server.restart();
            });
            if kill {
                kills += 1;
            } else {
                graceful += 1;
            }
            next_restart += restart_every;
        }
    }
    let publishing = phase_start.elapsed();

    // ---- drain -------------------------------------------------------------------------------
    stop.store(true, Ordering::Relaxed);
    eprintln!("soak: publishing stopped; awaiting acks, republishing failures, letting the consumer catch up");
    for task in publishers {
        task.await.context("publishing task")?;
    }
    core_sender.await.context("core publishing task")?;
    wait_until(DRAIN_TIMEOUT, "every pending ack", || {
        Tally::get(&tally.in_flight) == 0
    })
    .await?;
    drop(retry_tx);
    tokio::time::timeout(DRAIN_TIMEOUT, republisher)
        .await
        .context("republishing did not finish")?
        .context("republishing task")?;
    let acked: HashSet<u64> = lock(&tally.acked).clone();
    wait_until(
        DRAIN_TIMEOUT,
        "the consumer to handle every acked event",
        || {
            let consumed = lock(&tally.consumed);
            acked.iter().all(|id| consumed.contains_key(id))
        },
    )
    .await
    .or_else(|e| {
        // Not fatal: the summary counts what is missing.
        eprintln!("soak: {e}");
        anyhow::Ok(())
    })?;
    let consumer_stats = consumer
        .stop_within(Duration::from_secs(30))
        .await
        .context("stopping the consumer")?;
    let (stored_distinct_ids, stored_total) = read_stream(&js).await?;
    sampler_stop.store(true, Ordering::Relaxed);
    sampler.await.context("memory sampler")?;
    core_receiver.abort();

    let reconnects = (
        reconnects(&pub_conn).await,
        reconnects(&worker_conn).await,
        reconnects(&core_conn).await,
    );
    let consumed = lock(&tally.consumed).clone();
    let summary = Summary {
        publishing,
        total: started.elapsed(),
        kills,
        graceful,
        published: Tally::get(&tally.published),
        acked: acked.len() as u64,
        publish_errors: Tally::get(&tally.publish_errors),
        republished: Tally::get(&tally.republished),
        duplicate_acks: Tally::get(&tally.duplicate_acks),
        unacked: lock(&tally.unacked).len() as u64,
        stored_distinct: stored_distinct_ids.len() as u64,
        stored_total,
        consumed_distinct: consumed.len() as u64,
        consumed_total: consumed.values().map(|n| u64::from(*n)).sum(),
        lost_in_stream: acked
            .iter()
            .filter(|id| !stored_distinct_ids.contains(id))
            .count() as u64,
        lost_in_consumer: acked.iter().filter(|id| !consumed.contains_key(id)).count() as u64,
        consumer: format!("{consumer_stats:?}"),
        core: (
            Tally::get(&tally.core_published),
            Tally::get(&tally.core_errors),
            Tally::get(&tally.core_received),
        ),
        reconnects,
        max_rss_kib: Tally::get(&tally.max_rss_kib),
        peak_rss_kib: peak_rss_kib().unwrap_or(0),
    };
    for connection in [pub_conn, worker_conn, core_conn] {
        let _ = connection.shutdown(Duration::from_secs(5)).await;
    }
    drop(server);
    Ok(summary)
}

async fn reconnects(connection: &Connection) -> u64 {
    connection.health().await.reconnects
}

/// The distinct event ids in the stream and its message count, read with an ordered consumer.
async fn read_stream(js: &Context) -> anyhow::Result<(HashSet<u64>, u64)> {
    let mut stream = js
        .get_stream(STREAM)
        .await
        .context("looking up the stream")?;
    let total = stream.info().await.context("stream info")?.state.messages;
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .context("creating an ordered consumer")?;
    let mut messages = consumer.messages().await.context("reading the stream")?;
    let mut ids = HashSet::new();
    let mut read = 0u64;
    while read < total {
        let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .with_context(|| format!("reading the stream stalled after {read} of {total}"))?
            .context("the ordered consumer ended early")?
            .map_err(|e| anyhow::anyhow!("reading the stream: {e}"))?;
        read += 1;
        if let Some(id) = event_id(&message.payload) {
            ids.insert(id);
        }
    }
    Ok((ids, total))
}
