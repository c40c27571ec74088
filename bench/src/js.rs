//! The JetStream scenarios: raw async-nats awaiting each ack in turn, raw with a hand-written
//! window of in-flight acks, and the publisher's `publish_all`.
//!
//! All three send the same message: the envelope with the `minimal` policy's headers, that is
//! only a unique `Nats-Msg-Id`. Every side serializes each event: the raw sides the same `Event`
//! with serde_json, as the hand-written core side does (what a service using async-nats alone
//! writes), the publisher through its own envelope.

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::Instant;

use async_nats::jetstream::{self, stream};
use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;
use connect_nats_publisher::{Event, Publisher};

use crate::stats::{in_turn, rate, Samples, Side};
use crate::{Args, BenchData, BoxError, EVENT_TYPE, SERVICE};

const JS_SUBJECT: &str = "bench.js.event";
const STREAM: &str = "CONNECT_BENCH";

/// What the JetStream phase measured, per scenario.
#[derive(Default)]
pub(crate) struct JsResults {
    pub(crate) sequential: Samples,
    pub(crate) raw_pipelined: Samples,
    pub(crate) publisher: Samples,
}

async fn purge(js: &jetstream::Context) -> Result<(), BoxError> {
    js.get_stream(STREAM).await?.purge().await?;
    Ok(())
}

/// Headers of message `i`: only its `Nats-Msg-Id`.
fn msg_id(prefix: &str, i: usize) -> Result<HeaderMap, BoxError> {
    let mut h = HeaderMap::new();
    h.insert(
        async_nats::header::NATS_MESSAGE_ID,
        HeaderValue::from_str(&format!("{prefix}{i}"))?,
    );
    Ok(h)
}

/// The event serialized as the hand-written sides do.
fn handwritten_payload(data: &BenchData) -> Result<Bytes, BoxError> {
    Ok(serde_json::to_vec(&Event::new(EVENT_TYPE, data, SERVICE))?.into())
}

/// Raw JetStream, one ack awaited per publish, from an empty stream.
async fn sequential(js: &jetstream::Context, data: &BenchData, n: usize) -> Result<f64, BoxError> {
    purge(js).await?;
    let prefix = format!("seq-{}-", connect_nats_publisher::now_millis());
    let started = Instant::now();
    for i in 0..n {
        js.publish_with_headers(JS_SUBJECT, msg_id(&prefix, i)?, handwritten_payload(data)?)
            .await?
            .await?;
    }
    Ok(rate(n, started.elapsed()))
}

/// Raw JetStream with a hand-written window of in-flight ack futures, from an empty stream.
async fn raw_window(
    js: &jetstream::Context,
    data: &BenchData,
    n: usize,
    window: usize,
) -> Result<f64, BoxError> {
    purge(js).await?;
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
            js.publish_with_headers(JS_SUBJECT, msg_id(&prefix, i)?, handwritten_payload(data)?)
                .await?,
        );
    }
    for ack in in_flight {
        ack.await?;
    }
    Ok(rate(n, started.elapsed()))
}

/// The publisher's pipelined JetStream path (`publish_all`), from an empty stream.
async fn publisher_all(
    js: &jetstream::Context,
    publisher: &Publisher,
    data: &BenchData,
    n: usize,
) -> Result<f64, BoxError> {
    purge(js).await?;
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

/// Runs the JetStream phase on a fresh stream (deleted afterwards): a warm-up, then
/// `--rounds` rounds of the three sides, the order reversed every other round.
pub(crate) async fn phase(
    args: &Args,
    client: &async_nats::Client,
    publisher: &Publisher,
    data: &BenchData,
    storage: stream::StorageType,
) -> Result<JsResults, BoxError> {
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
    raw_window(&js, data, 2_000, args.window).await?;
    publisher_all(&js, publisher, data, 2_000).await?;
    let mut r = JsResults::default();
    for round in 1..=args.rounds {
        let sides: Vec<Side<'_>> = vec![
            (
                "raw_js_sequential",
                Box::pin(sequential(&js, data, args.js_sequential_messages)),
            ),
            (
                "raw_js_pipelined",
                Box::pin(raw_window(&js, data, args.js_messages, args.window)),
            ),
            (
                "publisher_js",
                Box::pin(publisher_all(&js, publisher, data, args.js_messages)),
            ),
        ];
        let rates = in_turn(args, round, sides).await?;
        let show = |v: Option<f64>| crate::stats::shown(v, 0);
        eprintln!(
            "JetStream round {round}: sequential {} / raw window {} / publisher {} msgs/s",
            show(rates[0]),
            show(rates[1]),
            show(rates[2])
        );
        r.sequential.push(rates[0]);
        r.raw_pipelined.push(rates[1]);
        r.publisher.push(rates[2]);
    }
    let _ = js.delete_stream(STREAM).await;
    Ok(r)
}
