//! `connect-nats-bench`: connect-nats-publisher against hand-written async-nats, side by side in
//! one process on one server, with 128-byte event data.
//!
//! Three phases, in this order, each scenario run `--rounds` times with the two sides of a ratio
//! back to back (alternating which goes first); rates are medians, ratios the median of per-round
//! ratios. Core and pool run before any JetStream traffic: the server writes its file store
//! behind, and that background work skewed interleaved core rounds by up to 2x.
//!
//! - core: raw `publish_with_headers` of a pre-serialized envelope with pre-built headers, vs
//!   `Publisher::event(…).core()` (which serializes and builds headers per event);
//! - pool (`pool.rs`): 8 concurrent tasks publishing core events over one connection vs a
//!   `ConnectionPool` of 4 (`PooledPublisher`), with raw async-nats for reference;
//! - JetStream: raw publish awaiting each ack in turn (the original library's way), raw with a
//!   hand-written window of in-flight `PublishAckFuture`s, and `Publisher::publish_all`.
//!
//! The raw JetStream runs send the same message as the publisher (pre-serialized envelope, the
//! same headers and a unique `Nats-Msg-Id` each), so the ratios measure the library's overhead.
//!
//! `cargo xtask bench` starts a server and runs this with `--nats-url` and `--out`.

mod pool;

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use clap::Parser;
use connect_nats_config::Config;
use connect_nats_publisher::{
    Event, Publisher, CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_EVENT_TYPE, HEADER_SERVICE,
};
use serde::Serialize;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Compare connect-nats-publisher with raw async-nats on one server.
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
    #[arg(long, default_value_t = 9)]
    rounds: usize,
    /// Run only these scenarios (diagnostics): raw_core, publisher_core, raw_js_sequential,
    /// raw_js_pipelined, publisher_js, pool. Ratios of skipped scenarios are meaningless.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Stream storage: file (like the real streams) or memory.
    #[arg(long, default_value = "file")]
    storage: String,
}

const SERVICE: &str = "connect-bench";
const EVENT_TYPE: &str = "bench.event";
const CORE_SUBJECT: &str = "bench.core.event";
const JS_SUBJECT: &str = "bench.js.event";
const STREAM: &str = "CONNECT_BENCH";

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

    /// The rate `run` measures, or 0 when `--only` leaves scenario `name` out.
    async fn measure(
        &self,
        name: &str,
        run: impl Future<Output = Result<f64, BoxError>>,
    ) -> Result<f64, BoxError> {
        if self.runs(name) {
            run.await
        } else {
            Ok(0.0)
        }
    }
}

/// Runs the two sides of a ratio back to back and returns their rates as `(a, b)`: `a` goes
/// first in odd rounds and `b` in even ones, so drift in machine load favours neither.
async fn back_to_back(
    round: usize,
    a: impl Future<Output = Result<f64, BoxError>>,
    b: impl Future<Output = Result<f64, BoxError>>,
) -> Result<(f64, f64), BoxError> {
    if round % 2 == 1 {
        let a = a.await?;
        Ok((a, b.await?))
    } else {
        let b = b.await?;
        Ok((a.await?, b))
    }
}

#[derive(Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            0.0
        } else {
            v[v.len() / 2]
        }
    }
}

/// Median over rounds of `a[i] / b[i]`.
fn paired_ratio(a: &Samples, b: &Samples) -> f64 {
    Samples(a.0.iter().zip(&b.0).map(|(a, b)| a / b.max(1e-9)).collect()).median()
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
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
    let publisher = Publisher::builder(connection.clone())
        .service_name(SERVICE)
        .window(args.window)
        .build();
    let data = data();
    let data_len = serde_json::to_vec(&data)?.len();
    let envelope = Bytes::from(Event::new(EVENT_TYPE, data.clone(), SERVICE).to_vec()?);
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static(HEADER_CONTENT_TYPE),
        HeaderValue::from_str(CONTENT_TYPE_JSON)?,
    );
    headers.insert(
        HeaderName::from_static(HEADER_SERVICE),
        HeaderValue::from_str(SERVICE)?,
    );
    headers.insert(
        HeaderName::from_static(HEADER_EVENT_TYPE),
        HeaderValue::from_str(EVENT_TYPE)?,
    );

    eprintln!(
        "connect-nats-bench: server {server_version}, data {data_len} B, envelope {} B, window {}, {} rounds, {:?} storage",
        envelope.len(),
        args.window,
        args.rounds,
        storage
    );

    let (mut rc, mut pc, mut rs, mut rp, mut pj) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );

    // Phase 1, core. Every core run comes before any JetStream traffic: the
    // server writes its file store behind, and that background work skewed
    // core rounds by up to 2x when the phases were interleaved.
    raw_core(&client, &headers, &envelope, 20_000).await?;
    publisher_core(&publisher, &data, 20_000).await?;
    for round in 1..=args.rounds {
        let (raw, ours) = back_to_back(
            round,
            args.measure(
                "raw_core",
                raw_core(&client, &headers, &envelope, args.core_messages),
            ),
            args.measure(
                "publisher_core",
                publisher_core(&publisher, &data, args.core_messages),
            ),
        )
        .await?;
        rc.0.push(raw);
        pc.0.push(ours);
        eprintln!(
            "core round {round}: raw {raw:.0} / publisher {ours:.0} msgs/s ({:.2}x)",
            ours / raw.max(1e-9)
        );
    }

    // Phase 2, the pool (core publishing too, so still before JetStream).
    let pool_results = pool::scenario(&args, &config, &headers, &envelope).await?;

    // Phase 3, JetStream.
    let js = jetstream::new(client.clone());
    let _ = js.delete_stream(STREAM).await;
    js.create_stream(stream::Config {
        name: STREAM.to_owned(),
        subjects: vec!["bench.js.>".to_owned()],
        storage,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("create stream {STREAM}: {e}"))?;
    raw_js_window(&js, &headers, &envelope, 2_000, args.window).await?;
    publisher_js(&publisher, &data, 2_000).await?;
    for round in 1..=args.rounds {
        purge(&js).await?;
        let sequential = args
            .measure(
                "raw_js_sequential",
                raw_js_sequential(&js, &headers, &envelope, args.js_sequential_messages),
            )
            .await?;
        // Each side starts from an empty stream.
        let (raw, ours) = back_to_back(
            round,
            async {
                purge(&js).await?;
                args.measure(
                    "raw_js_pipelined",
                    raw_js_window(&js, &headers, &envelope, args.js_messages, args.window),
                )
                .await
            },
            async {
                purge(&js).await?;
                args.measure(
                    "publisher_js",
                    publisher_js(&publisher, &data, args.js_messages),
                )
                .await
            },
        )
        .await?;
        rs.0.push(sequential);
        rp.0.push(raw);
        pj.0.push(ours);
        eprintln!(
            "JetStream round {round}: sequential {sequential:.0} / raw window {raw:.0} / publisher {ours:.0} msgs/s"
        );
    }
    let _ = js.delete_stream(STREAM).await;

    let raw_core_msgs_per_s = rc.median();
    let publisher_core_msgs_per_s = pc.median();
    let raw_js_sequential_msgs_per_s = rs.median();
    let raw_js_pipelined_msgs_per_s = rp.median();
    let publisher_js_msgs_per_s = pj.median();
    // Ratios: the median of per-round ratios (the two sides of a ratio ran
    // back to back, under the same machine load).
    let core_publisher_vs_raw = paired_ratio(&pc, &rc);
    let js_publisher_vs_sequential = paired_ratio(&pj, &rs);
    let js_publisher_vs_raw_pipelined = paired_ratio(&pj, &rp);

    let check = |ok: bool| if ok { "ok" } else { "BELOW TARGET" };
    println!();
    println!("| scenario                                   |      msgs/s |");
    println!("|--------------------------------------------|-------------|");
    println!("| core: raw async-nats (pre-serialized)      | {raw_core_msgs_per_s:>11.0} |");
    println!("| core: event(…).core()                      | {publisher_core_msgs_per_s:>11.0} |");
    println!(
        "| JetStream: raw, each ack awaited in turn   | {raw_js_sequential_msgs_per_s:>11.0} |"
    );
    println!(
        "| JetStream: raw, hand-written window        | {raw_js_pipelined_msgs_per_s:>11.0} |"
    );
    println!("| JetStream: publisher, pipelined            | {publisher_js_msgs_per_s:>11.0} |");
    println!();
    println!("| ratio                          |  value | target | result       |");
    println!("|--------------------------------|--------|--------|--------------|");
    println!(
        "| core_publisher_vs_raw          | {core_publisher_vs_raw:>6.2} | >= 0.9 | {:<12} |",
        check(core_publisher_vs_raw >= 0.9)
    );
    println!(
        "| js_publisher_vs_sequential     | {js_publisher_vs_sequential:>6.1} | >= 20  | {:<12} |",
        check(js_publisher_vs_sequential >= 20.0)
    );
    println!(
        "| js_publisher_vs_raw_pipelined  | {js_publisher_vs_raw_pipelined:>6.2} | >= 0.9 | {:<12} |",
        check(js_publisher_vs_raw_pipelined >= 0.9)
    );
    println!(
        "server {server_version}; window {}; median of {} rounds",
        args.window, args.rounds
    );

    let mut results = serde_json::json!({
        "raw_core_msgs_per_s": raw_core_msgs_per_s,
        "publisher_core_msgs_per_s": publisher_core_msgs_per_s,
        "raw_js_sequential_msgs_per_s": raw_js_sequential_msgs_per_s,
        "raw_js_pipelined_msgs_per_s": raw_js_pipelined_msgs_per_s,
        "publisher_js_msgs_per_s": publisher_js_msgs_per_s,
        "core_publisher_vs_raw": core_publisher_vs_raw,
        "js_publisher_vs_sequential": js_publisher_vs_sequential,
        "js_publisher_vs_raw_pipelined": js_publisher_vs_raw_pipelined,
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
            "raw_core": rc.0, "publisher_core": pc.0, "raw_js_sequential": rs.0,
            "raw_js_pipelined": rp.0, "publisher_js": pj.0,
        },
    });
    if let (Some(map), Some(pool)) = (results.as_object_mut(), pool_results.as_object()) {
        map.extend(pool.clone());
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&results)?)?;
    eprintln!("connect-nats-bench: wrote {}", args.out.display());
    Ok(())
}

async fn purge(js: &jetstream::Context) -> Result<(), BoxError> {
    js.get_stream(STREAM).await?.purge().await?;
    Ok(())
}

/// Raw core: the pre-serialized envelope with pre-built headers, then a flush.
async fn raw_core(
    client: &async_nats::Client,
    headers: &HeaderMap,
    envelope: &Bytes,
    n: usize,
) -> Result<f64, BoxError> {
    let started = Instant::now();
    for _ in 0..n {
        client
            .publish_with_headers(CORE_SUBJECT, headers.clone(), envelope.clone())
            .await?;
    }
    client.flush().await?;
    Ok(rate(n, started.elapsed()))
}

/// The publisher's core path: serialize + headers + validation per event, then a flush.
async fn publisher_core(
    publisher: &Publisher,
    data: &BenchData,
    n: usize,
) -> Result<f64, BoxError> {
    let started = Instant::now();
    for _ in 0..n {
        publisher
            .event(CORE_SUBJECT, EVENT_TYPE, data)
            .core()
            .await?;
    }
    publisher.connection().client().flush().await?;
    Ok(rate(n, started.elapsed()))
}

fn with_msg_id(headers: &HeaderMap, prefix: &str, i: usize) -> Result<HeaderMap, BoxError> {
    let mut h = headers.clone();
    h.insert(
        async_nats::header::NATS_MESSAGE_ID,
        HeaderValue::from_str(&format!("{prefix}{i}"))?,
    );
    Ok(h)
}

/// Raw JetStream, one ack awaited per publish (the original library's way).
async fn raw_js_sequential(
    js: &jetstream::Context,
    headers: &HeaderMap,
    envelope: &Bytes,
    n: usize,
) -> Result<f64, BoxError> {
    let prefix = format!("seq-{}-", connect_nats_publisher::now_millis());
    let started = Instant::now();
    for i in 0..n {
        js.publish_with_headers(
            JS_SUBJECT,
            with_msg_id(headers, &prefix, i)?,
            envelope.clone(),
        )
        .await?
        .await?;
    }
    Ok(rate(n, started.elapsed()))
}

/// Raw JetStream with a hand-written window of in-flight ack futures.
async fn raw_js_window(
    js: &jetstream::Context,
    headers: &HeaderMap,
    envelope: &Bytes,
    n: usize,
    window: usize,
) -> Result<f64, BoxError> {
    let prefix = format!("win-{}-", connect_nats_publisher::now_millis());
    let mut in_flight = VecDeque::with_capacity(window);
    let started = Instant::now();
    for i in 0..n {
        if in_flight.len() >= window {
            if let Some(ack) = in_flight.pop_front() {
                ack.await?;
            }
        }
        in_flight.push_back(
            js.publish_with_headers(
                JS_SUBJECT,
                with_msg_id(headers, &prefix, i)?,
                envelope.clone(),
            )
            .await?,
        );
    }
    for ack in in_flight {
        ack.await?;
    }
    Ok(rate(n, started.elapsed()))
}

/// The publisher's pipelined JetStream path (`publish_all`).
async fn publisher_js(publisher: &Publisher, data: &BenchData, n: usize) -> Result<f64, BoxError> {
    let started = Instant::now();
    let results = publisher
        .publish_all((0..n).map(|_| (JS_SUBJECT, EVENT_TYPE, data)))
        .await;
    let took = started.elapsed();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        return Err(format!("publisher JetStream run failed: {e}").into());
    }
    Ok(rate(n, took))
}
