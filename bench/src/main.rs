//! `connect-nats-bench`: connect-nats-publisher against the hand-written async-nats a user
//! would otherwise write, side by side in one process on one server, with 128-byte event data.
//!
//! Four phases, in this order, each scenario run `--rounds` times with the sides of a round
//! back to back (the order reversed every other round); rates are medians, ratios the median
//! of per-round ratios. Core and pool run before any JetStream traffic: the server writes its
//! file store behind, and that background work skews core rounds that come after it.
//!
//! - core (`core_nats.rs`), under both header policies: `Publisher::event(…).core()` vs the
//!   hand-written equivalent (the same `Event` serialized with serde_json per message, one
//!   pre-built `HeaderMap` cloned per message, none for `minimal`); raw `publish` of one
//!   pre-serialized envelope, with and without headers, for reference. Each run ends when the
//!   server has processed every message (a round trip after the flush);
//! - pool (`pool.rs`): 8 concurrent tasks publishing core events over one connection vs a
//!   `ConnectionPool` of 4 (`PooledPublisher`), the same routing hand-written, and a raw reference
//!   that allocates nothing per message;
//! - JetStream (`js.rs`): raw publish awaiting each ack in turn, raw with a hand-written window
//!   of in-flight `PublishAckFuture`s, and `Publisher::publish_all`, all with the same headers
//!   (only a unique `Nats-Msg-Id`), the raw sides serializing the `Event` with serde_json per
//!   message as the hand-written core side does;
//! - batches (`batch.rs`, nats-server 2.14 or later; skipped with the reason in `results.json`
//!   on older servers): `publish_all` on a stream with `allow_batched` (fast ingest) vs on one
//!   without (pipelined acks), vs jetstream-extra 0.3's fast ingest, and atomic batches.
//!
//! `--only` runs a subset; a ratio with a side left out is written as `null`.
//!
//! `cargo xtask bench` starts a server and runs this with `--nats-url` and `--out`.

mod batch;
mod core_nats;
mod js;
mod pool;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use async_nats::jetstream::stream;
use bytes::Bytes;
use clap::Parser;
use connect_nats_config::{Config, HeaderPolicy, StorageKind};
use connect_nats_publisher::{Event, Publisher};
use serde::Serialize;

use crate::stats::{paired_ratio, shown, verdict};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Compare connect-nats-publisher with hand-written async-nats on one server.
#[derive(Debug, Parser)]
#[command(name = "connect-nats-bench")]
struct Args {
    /// Server to run against (a JetStream-enabled server; loopback recommended).
    #[arg(long)]
    nats_url: String,
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// Core messages per run.
    #[arg(long, default_value_t = 400_000)]
    core_messages: usize,
    /// JetStream messages per pipelined run.
    #[arg(long, default_value_t = 40_000)]
    js_messages: usize,
    /// JetStream messages per sequential run (one round trip each: keep it small).
    #[arg(long, default_value_t = 3_000)]
    js_sequential_messages: usize,
    /// In-flight acks for both the hand-written window and the publisher.
    #[arg(long, default_value_t = connect_nats_publisher::DEFAULT_WINDOW)]
    window: usize,
    /// Rounds per scenario (rates: median; ratios: median of per-round ratios).
    #[arg(long, default_value_t = 15)]
    rounds: usize,
    /// Run only these scenarios (diagnostics): handwritten_minimal, publisher_minimal,
    /// publisher_full, handwritten_full, raw_core_noheaders, raw_core, pool,
    /// raw_js_sequential, raw_js_pipelined, publisher_js, publisher_js_fast,
    /// publisher_js_pipelined, jetstream_extra_fast, publisher_js_atomic. Ratios with a side
    /// left out are null.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Stream storage: file (like the real streams) or memory.
    #[arg(long, default_value = "file")]
    storage: String,
}

const SERVICE: &str = "connect-bench";
const EVENT_TYPE: &str = "bench.event";

/// Event data serializing to exactly 128 bytes of JSON.
#[derive(Debug, Clone, Serialize)]
struct BenchData {
    user_id: u64,
    room: &'static str,
    status: &'static str,
    note: String,
}

fn data() -> BenchData {
    let mut d = BenchData {
        user_id: 1_234_567_890,
        room: "lobby-42",
        status: "online",
        note: String::new(),
    };
    let base = serde_json::to_vec(&d).map(|v| v.len()).unwrap_or(0);
    d.note = "n".repeat(128usize.saturating_sub(base));
    d
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    // On a worker thread, as a service's publishing code runs (a handler
    // task), not on the thread that blocks on `main`: that would add a third
    // busy thread to the runtime's two workers and the server on two cores.
    match tokio::spawn(run(args)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("connect-nats-bench: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("connect-nats-bench: the benchmark task failed: {e}");
            ExitCode::FAILURE
        }
    }
}

impl Args {
    /// Whether `--only` leaves scenario `name` in.
    fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

/// One row of the ratio table and its `results.json` key.
struct Ratio {
    key: &'static str,
    value: Option<f64>,
    /// `None`: reported, no target.
    target: Option<f64>,
}

async fn run(args: Args) -> Result<(), BoxError> {
    let config = Config::builder()
        .without_process_env()
        .without_context()
        .url(args.nats_url.clone())
        .client_id(SERVICE)
        .build()?;
    let connection = connect_nats_core::connect(&config).await?;
    let client = connection.client().clone();
    let server_version = client.server_info().version;
    let storage = match args.storage.as_str() {
        "memory" => stream::StorageType::Memory,
        _ => stream::StorageType::File,
    };
    let publisher_for = |policy: HeaderPolicy| {
        Publisher::builder(connection.clone())
            .service_name(SERVICE)
            .window(args.window)
            .headers(policy)
            .build()
    };
    let minimal = publisher_for(HeaderPolicy::Minimal);
    let full = publisher_for(HeaderPolicy::Full);
    let data = data();
    let data_len = serde_json::to_vec(&data)?.len();
    let envelope = Bytes::from(Event::new(EVENT_TYPE, data.clone(), SERVICE).to_vec()?);
    let headers = core_nats::full_headers()?;

    eprintln!(
        "connect-nats-bench: server {server_version}, data {data_len} B, envelope {} B, window {}, {} rounds, {:?} storage",
        envelope.len(),
        args.window,
        args.rounds,
        storage
    );

    // Phase 1, core; phase 2, the pool (core publishing too); phase 3, JetStream.
    let setup = core_nats::CoreSetup {
        client: &client,
        minimal: &minimal,
        full: &full,
        headers: &headers,
        envelope: &envelope,
        data: &data,
    };
    let c = core_nats::phase(&args, &setup).await?;
    let pool_results = pool::scenario(&args, &config).await?;
    let j = js::phase(&args, &client, &minimal, &data, storage).await?;
    let batch_storage = match storage {
        stream::StorageType::Memory => StorageKind::Memory,
        _ => StorageKind::File,
    };
    let b = batch::phase(&args, &client, &minimal, &data, batch_storage).await?;

    let ratio = |key, value, target| Ratio { key, value, target };
    let ratios = [
        ratio(
            "core_publisher_vs_handwritten_minimal",
            paired_ratio(&c.publisher_minimal, &c.handwritten_minimal),
            Some(0.95),
        ),
        ratio(
            "core_publisher_vs_handwritten_full",
            paired_ratio(&c.publisher_full, &c.handwritten_full),
            Some(0.95),
        ),
        ratio(
            "core_minimal_vs_full",
            paired_ratio(&c.publisher_minimal, &c.publisher_full),
            Some(2.5),
        ),
        ratio(
            "js_publisher_vs_raw_pipelined",
            paired_ratio(&j.publisher, &j.raw_pipelined),
            Some(0.95),
        ),
        ratio(
            "js_publisher_vs_sequential",
            paired_ratio(&j.publisher, &j.sequential),
            None,
        ),
        ratio(
            "pool_gain_vs_raw_pool_gain",
            pool_results.gain_vs_raw,
            Some(0.9),
        ),
        ratio(
            "pool_publisher_vs_handwritten_pool",
            pool_results.pool_vs_raw_pool,
            None,
        ),
        ratio(
            "pool_gain_vs_reference_pool_gain",
            pool_results.gain_vs_reference,
            None,
        ),
        ratio(
            "js_fast_vs_pipelined",
            paired_ratio(&b.fast, &b.pipelined),
            Some(1.0),
        ),
        ratio(
            "js_fast_vs_jetstream_extra",
            paired_ratio(&b.fast, &b.extra),
            Some(1.0),
        ),
    ];

    let row = |name: &str, minimal: Option<f64>, full: Option<f64>| {
        println!(
            "| {name:<58} | {:>11} | {:>11} |",
            shown(minimal, 0),
            shown(full, 0)
        );
    };
    println!();
    println!(
        "| core, msgs/s                                               |     minimal |        full |"
    );
    println!(
        "|------------------------------------------------------------|-------------|-------------|"
    );
    row(
        "publisher: event(…).core()",
        c.publisher_minimal.median(),
        c.publisher_full.median(),
    );
    row(
        "hand-written: serde_json per message, cloned HeaderMap",
        c.handwritten_minimal.median(),
        c.handwritten_full.median(),
    );
    row(
        "raw: one pre-serialized envelope (reference)",
        c.raw_noheaders.median(),
        c.raw_full.median(),
    );
    println!();
    println!("| JetStream (Nats-Msg-Id only), msgs/s                       |      msgs/s |");
    println!("|------------------------------------------------------------|-------------|");
    for (name, samples) in [
        ("raw async-nats, each ack awaited in turn", &j.sequential),
        ("raw async-nats, hand-written window", &j.raw_pipelined),
        ("publisher, publish_all", &j.publisher),
    ] {
        println!("| {name:<58} | {:>11} |", shown(samples.median(), 0));
    }
    println!();
    println!("| batches (a unique Nats-Msg-Id each), msgs/s               |      msgs/s |");
    println!("|------------------------------------------------------------|-------------|");
    match &b.skipped {
        Some(reason) => println!("| {reason} |"),
        None => {
            for (name, samples) in [
                ("publisher, publish_all: fast ingest", &b.fast),
                (
                    "publisher, publish_all: pipelined acks (no allow_batched)",
                    &b.pipelined,
                ),
                (
                    "jetstream-extra 0.3 fast ingest (async-nats 0.48)",
                    &b.extra,
                ),
                ("publisher, publish_atomic (1,000 per batch)", &b.atomic),
            ] {
                println!("| {name:<58} | {:>11} |", shown(samples.median(), 0));
            }
        }
    }
    println!();
    println!("| ratio                                 |  value | target  | result       |");
    println!("|---------------------------------------|--------|---------|--------------|");
    for r in &ratios {
        let (target, result) = match r.target {
            Some(t) => (format!(">= {t}"), verdict(r.value, t)),
            None => ("—".to_owned(), "reported"),
        };
        println!(
            "| {:<37} | {:>6} | {target:<7} | {result:<12} |",
            r.key,
            shown(r.value, 2)
        );
    }
    println!(
        "server {server_version}; window {}; median of {} rounds",
        args.window, args.rounds
    );

    let mut results = serde_json::json!({
        "raw_core_msgs_per_s": c.raw_full.median(),
        "raw_core_noheaders_msgs_per_s": c.raw_noheaders.median(),
        "publisher_core_msgs_per_s": c.publisher_minimal.median(),
        "publisher_core_full_msgs_per_s": c.publisher_full.median(),
        "handwritten_core_minimal_msgs_per_s": c.handwritten_minimal.median(),
        "handwritten_core_full_msgs_per_s": c.handwritten_full.median(),
        "raw_js_sequential_msgs_per_s": j.sequential.median(),
        "raw_js_pipelined_msgs_per_s": j.raw_pipelined.median(),
        "publisher_js_msgs_per_s": j.publisher.median(),
        "publisher_js_fast_msgs_per_s": b.fast.median(),
        "publisher_js_pipelined_msgs_per_s": b.pipelined.median(),
        "jetstream_extra_fast_msgs_per_s": b.extra.median(),
        "js_atomic_batch_msgs_per_s": b.atomic.median(),
        "batch_skipped": b.skipped,
        "server_version": server_version,
        "data_bytes": data_len,
        "envelope_bytes": envelope.len(),
        "window": args.window,
        "rounds": args.rounds,
        "core_messages": args.core_messages,
        "js_messages": args.js_messages,
        "js_sequential_messages": args.js_sequential_messages,
        "storage": args.storage,
        "samples": {
            "handwritten_core_minimal": c.handwritten_minimal.0,
            "publisher_core_minimal": c.publisher_minimal.0,
            "publisher_core_full": c.publisher_full.0,
            "handwritten_core_full": c.handwritten_full.0,
            "raw_core_noheaders": c.raw_noheaders.0,
            "raw_core": c.raw_full.0,
            "raw_js_sequential": j.sequential.0,
            "raw_js_pipelined": j.raw_pipelined.0,
            "publisher_js": j.publisher.0,
            "publisher_js_fast": b.fast.0,
            "publisher_js_pipelined": b.pipelined.0,
            "jetstream_extra_fast": b.extra.0,
            "publisher_js_atomic": b.atomic.0,
        },
    });
    if let Some(map) = results.as_object_mut() {
        for r in &ratios {
            map.insert(r.key.into(), r.value.into());
        }
        if let Some(pool) = pool_results.json.as_object() {
            map.extend(pool.clone());
        }
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&results)?)?;
    eprintln!("connect-nats-bench: wrote {}", args.out.display());
    Ok(())
}
