//! The batch scenarios (nats-server 2.14 or later for fast ingest, 2.12 for atomic batches):
//! the publisher's `publish_all` on a stream that allows fast batches against the same call on a
//! stream that does not (pipelined acks), against jetstream-extra 0.3's fast ingest, and the
//! publisher's atomic batches.
//!
//! Every side sends the same message: the envelope with only a unique `Nats-Msg-Id` header
//! (and, for the atomic batches, the batch headers ADR-50 asks for).
//! jetstream-extra has no envelope of its own: its side is the code a service would write with
//! it, which serializes the same `Event` with serde_json per message (as the hand-written core
//! side does). It runs on its own client (it is built on async-nats 0.48, whose types do not mix
//! with 0.51's), with the flow (500 messages per flow ack) and outstanding acks (2) the
//! publisher uses. Both streams use
//! the same storage, and each run starts from an empty stream.

use std::str::FromStr;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use connect_nats_config::{StorageKind, StreamSpec};
use connect_nats_jetstream::{ServerVersion, FAST_INGEST_VERSION};
use connect_nats_publisher::{Event, Publisher, MAX_ATOMIC_BATCH};
use jetstream_extra::batch_publish_fast::{FastPublishExt, GapMode};

use crate::stats::{in_turn, rate, Samples, Side};
use crate::{Args, BenchData, BoxError, EVENT_TYPE, SERVICE};

/// Stream with `allow_batched` and `allow_atomic`.
const BATCH_STREAM: &str = "CONNECT_BENCH_BATCH";
const FAST_SUBJECT: &str = "bench.batch.fast";
const EXTRA_SUBJECT: &str = "bench.batch.extra";
const ATOMIC_SUBJECT: &str = "bench.batch.atomic";
/// Stream without either flag: the publisher falls back to pipelined acks.
const PIPELINED_STREAM: &str = "CONNECT_BENCH_PIPELINED";
const PIPELINED_SUBJECT: &str = "bench.pipelined.event";
/// The `--only` names of this phase's sides.
const SIDES: [&str; 4] = [
    "publisher_js_fast",
    "publisher_js_pipelined",
    "jetstream_extra_fast",
    "publisher_js_atomic",
];
/// jetstream-extra's flow and outstanding acks: the publisher's own.
const EXTRA_FLOW: u16 = 500;
const EXTRA_OUTSTANDING_ACKS: u16 = 2;

/// What the batch phase measured, or why it did not run.
#[derive(Default)]
pub(crate) struct BatchResults {
    pub(crate) fast: Samples,
    pub(crate) pipelined: Samples,
    pub(crate) extra: Samples,
    pub(crate) atomic: Samples,
    /// Set when the server is too old for fast ingest (then nothing ran).
    pub(crate) skipped: Option<String>,
}

/// The publisher's `publish_all` of `n` events on `subject`, from an empty `stream`.
async fn publisher_all(
    js: &jetstream::Context,
    stream: &str,
    publisher: &Publisher,
    subject: &str,
    data: &BenchData,
    n: usize,
) -> Result<f64, BoxError> {
    js.get_stream(stream).await?.purge().await?;
    let started = Instant::now();
    let results = publisher
        .publish_all((0..n).map(|_| (subject, EVENT_TYPE, data)))
        .await;
    let took = started.elapsed();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        return Err(format!("publish_all on {subject} failed: {e}").into());
    }
    Ok(rate(n, took))
}

/// The publisher's atomic batches of [`MAX_ATOMIC_BATCH`] events, `n` in all, each event with
/// a unique `Nats-Msg-Id` (as every other side sends).
async fn atomic(
    js: &jetstream::Context,
    publisher: &Publisher,
    data: &BenchData,
    n: usize,
) -> Result<f64, BoxError> {
    js.get_stream(BATCH_STREAM).await?.purge().await?;
    let prefix = format!("atomic-{}-", connect_nats_publisher::now_millis());
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        let count = MAX_ATOMIC_BATCH.min(n - sent);
        let ids: Vec<String> = (sent..sent + count)
            .map(|i| format!("{prefix}{i}"))
            .collect();
        let ack = publisher
            .publish_atomic(ids.iter().map(|id| {
                publisher
                    .event(ATOMIC_SUBJECT, EVENT_TYPE, data)
                    .msg_id(id)
                    .outgoing()
            }))
            .await?;
        if ack.count != count {
            return Err(format!("an atomic batch of {count} stored {}", ack.count).into());
        }
        sent += count;
    }
    Ok(rate(n, started.elapsed()))
}

/// jetstream-extra 0.3's fast ingest of `n` events (each `Event` serialized with serde_json,
/// with a unique `Nats-Msg-Id`), committed with the last, from an empty stream.
async fn jetstream_extra(
    js: &jetstream::Context,
    extra: &async_nats_048::jetstream::Context,
    data: &BenchData,
    n: usize,
) -> Result<f64, BoxError> {
    use async_nats_048::jetstream::message::OutboundMessage;
    js.get_stream(BATCH_STREAM).await?.purge().await?;
    let prefix = format!("extra-{}-", connect_nats_publisher::now_millis());
    let message = |i: usize| -> Result<OutboundMessage, BoxError> {
        let mut headers = async_nats_048::HeaderMap::new();
        headers.insert(
            async_nats_048::header::NATS_MESSAGE_ID,
            async_nats_048::HeaderValue::from_str(&format!("{prefix}{i}"))?,
        );
        let payload = serde_json::to_vec(&Event::new(EVENT_TYPE, data, SERVICE))?;
        Ok(OutboundMessage {
            subject: EXTRA_SUBJECT.into(),
            payload: payload.into(),
            headers: Some(headers),
        })
    };
    let started = Instant::now();
    let mut batch = extra
        .fast_publish()
        .flow(EXTRA_FLOW)
        .max_outstanding_acks(EXTRA_OUTSTANDING_ACKS)
        .gap_mode(GapMode::Fail)
        .ack_timeout(Duration::from_secs(10))
        .build()?;
    let last = n
        .checked_sub(1)
        .ok_or("jetstream-extra's batch needs at least one message")?;
    for i in 0..last {
        batch.add_message(message(i)?).await?;
    }
    let ack = batch.commit_message(message(last)?).await?;
    let took = started.elapsed();
    if usize::try_from(ack.batch_size).ok() != Some(n) {
        return Err(format!("jetstream-extra committed {} of {n}", ack.batch_size).into());
    }
    Ok(rate(n, took))
}

fn spec(name: &str, subjects: &str, flags: bool, storage: StorageKind) -> StreamSpec {
    StreamSpec {
        storage,
        allow_atomic: flags,
        allow_batched: flags,
        ..StreamSpec::new(name, [subjects])
    }
}

/// Runs the batch phase (unless the server is older than 2.14, or `--only` leaves out all
/// four sides): a warm-up, then `--rounds` rounds of the four sides.
pub(crate) async fn phase(
    args: &Args,
    client: &async_nats::Client,
    publisher: &Publisher,
    data: &BenchData,
    storage: StorageKind,
) -> Result<BatchResults, BoxError> {
    if !SIDES.iter().any(|side| args.runs(side)) {
        return Ok(BatchResults::default());
    }
    let version = ServerVersion::of(client);
    if version.is_none_or(|v| v < FAST_INGEST_VERSION) {
        let seen = client.server_info().version;
        return Ok(BatchResults {
            skipped: Some(format!(
                "nats-server {seen} has no fast ingest (2.14 or later), so the batch phase \
                 (fast ingest and atomic batches) did not run; run `cargo xtask bench \
                 --server-version 2.15.1`"
            )),
            ..BatchResults::default()
        });
    }
    let js = jetstream::new(client.clone());
    for name in [BATCH_STREAM, PIPELINED_STREAM] {
        let _ = js.delete_stream(name).await;
    }
    let report = connect_nats_jetstream::ensure_streams(
        &js,
        &[
            spec(BATCH_STREAM, "bench.batch.>", true, storage),
            spec(PIPELINED_STREAM, "bench.pipelined.>", false, storage),
        ],
    )
    .await;
    if !report.is_success() {
        return Err(format!("creating the batch streams: {report}").into());
    }
    let extra_client = async_nats_048::ConnectOptions::new()
        .name("connect-bench-jetstream-extra")
        .connect(args.nats_url.as_str())
        .await?;
    let extra = async_nats_048::jetstream::new(extra_client);

    let n = args.js_messages;
    let warm = 2_000;
    publisher_all(&js, BATCH_STREAM, publisher, FAST_SUBJECT, data, warm).await?;
    publisher_all(
        &js,
        PIPELINED_STREAM,
        publisher,
        PIPELINED_SUBJECT,
        data,
        warm,
    )
    .await?;
    jetstream_extra(&js, &extra, data, warm).await?;
    atomic(&js, publisher, data, warm).await?;
    let mut r = BatchResults::default();
    for round in 1..=args.rounds {
        // In this order (and reversed every other round), the two sides of each ratio are
        // neighbours: pipelined and fast, fast and jetstream-extra.
        let sides: Vec<Side<'_>> = vec![
            (
                "publisher_js_pipelined",
                Box::pin(publisher_all(
                    &js,
                    PIPELINED_STREAM,
                    publisher,
                    PIPELINED_SUBJECT,
                    data,
                    n,
                )),
            ),
            (
                "publisher_js_fast",
                Box::pin(publisher_all(
                    &js,
                    BATCH_STREAM,
                    publisher,
                    FAST_SUBJECT,
                    data,
                    n,
                )),
            ),
            (
                "jetstream_extra_fast",
                Box::pin(jetstream_extra(&js, &extra, data, n)),
            ),
            (
                "publisher_js_atomic",
                Box::pin(atomic(&js, publisher, data, n)),
            ),
        ];
        let rates = in_turn(args, round, sides).await?;
        let show = |v: Option<f64>| crate::stats::shown(v, 0);
        eprintln!(
            "batch round {round}: publisher pipelined {} / fast {}; jetstream-extra fast {}; publisher atomic {} msgs/s",
            show(rates[0]),
            show(rates[1]),
            show(rates[2]),
            show(rates[3])
        );
        r.pipelined.push(rates[0]);
        r.fast.push(rates[1]);
        r.extra.push(rates[2]);
        r.atomic.push(rates[3]);
    }
    for name in [BATCH_STREAM, PIPELINED_STREAM] {
        let _ = js.delete_stream(name).await;
    }
    Ok(r)
}
