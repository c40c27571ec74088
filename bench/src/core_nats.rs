//! The core scenarios: the publisher against the hand-written async-nats a user would write,
//! under both header policies, and raw references.
//!
//! Every run ends with [`round_trip`]: `flush()` only writes the socket, so a run is over
//! when a message sent after the last event has come back through the server.

use std::str::FromStr;
use std::time::Instant;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use connect_nats_publisher::{
    Event, Publisher, CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_EVENT_TYPE, HEADER_SERVICE,
};
use futures::StreamExt;

use crate::stats::{in_turn, rate, Samples, Side};
use crate::{Args, BenchData, BoxError, EVENT_TYPE, SERVICE};

const CORE_SUBJECT: &str = "bench.core.event";

/// Waits until the server has processed everything `client` sent before: a message to a
/// fresh inbox on the same connection comes back only after every earlier one was handled.
pub(crate) async fn round_trip(client: &async_nats::Client) -> Result<(), BoxError> {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, Bytes::new()).await?;
    client.flush().await?;
    sub.next()
        .await
        .ok_or("the round-trip subscription ended before its message came back")?;
    Ok(())
}

/// The three headers of the `full` policy, built once (what a careful hand-written service
/// does: clone one pre-built map per message).
pub(crate) fn full_headers() -> Result<HeaderMap, BoxError> {
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
    Ok(headers)
}

/// Publishes `payload` with `headers` (none: a plain `PUB`).
async fn send(
    client: &async_nats::Client,
    headers: Option<&HeaderMap>,
    payload: Bytes,
) -> Result<(), BoxError> {
    match headers {
        Some(h) => {
            client
                .publish_with_headers(CORE_SUBJECT, h.clone(), payload)
                .await?
        }
        None => client.publish(CORE_SUBJECT, payload).await?,
    }
    Ok(())
}

/// Hand-written: the `Event` serialized with serde_json per message, the pre-built headers
/// cloned (none for `minimal`).
pub(crate) async fn handwritten(
    client: &async_nats::Client,
    headers: Option<&HeaderMap>,
    data: &BenchData,
    n: usize,
) -> Result<f64, BoxError> {
    let started = Instant::now();
    for _ in 0..n {
        let payload = serde_json::to_vec(&Event::new(EVENT_TYPE, data, SERVICE))?;
        send(client, headers, payload.into()).await?;
    }
    round_trip(client).await?;
    Ok(rate(n, started.elapsed()))
}

/// Raw reference: one pre-serialized envelope sent `n` times (no per-message work at all).
pub(crate) async fn preserialized(
    client: &async_nats::Client,
    headers: Option<&HeaderMap>,
    envelope: &Bytes,
    n: usize,
) -> Result<f64, BoxError> {
    let started = Instant::now();
    for _ in 0..n {
        send(client, headers, envelope.clone()).await?;
    }
    round_trip(client).await?;
    Ok(rate(n, started.elapsed()))
}

/// The publisher: `event(…).core()` per message.
pub(crate) async fn publisher(
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
    round_trip(publisher.connection().client()).await?;
    Ok(rate(n, started.elapsed()))
}

/// What the core phase measured, per scenario.
#[derive(Default)]
pub(crate) struct CoreResults {
    pub(crate) handwritten_minimal: Samples,
    pub(crate) publisher_minimal: Samples,
    pub(crate) publisher_full: Samples,
    pub(crate) handwritten_full: Samples,
    pub(crate) raw_noheaders: Samples,
    pub(crate) raw_full: Samples,
}

/// The two publishers (one per policy) and the client the raw sides use.
pub(crate) struct CoreSetup<'a> {
    pub(crate) client: &'a async_nats::Client,
    pub(crate) minimal: &'a Publisher,
    pub(crate) full: &'a Publisher,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) envelope: &'a Bytes,
    pub(crate) data: &'a BenchData,
}

/// Runs the core phase: a warm-up, then `--rounds` rounds of every side, in an order where
/// the two sides of each ratio are neighbours (and alternate which goes first).
pub(crate) async fn phase(args: &Args, s: &CoreSetup<'_>) -> Result<CoreResults, BoxError> {
    let warm = 20_000;
    handwritten(s.client, Some(s.headers), s.data, warm).await?;
    publisher(s.minimal, s.data, warm).await?;
    publisher(s.full, s.data, warm).await?;
    let n = args.core_messages;
    let mut r = CoreResults::default();
    for round in 1..=args.rounds {
        let sides: Vec<Side<'_>> = vec![
            (
                "handwritten_minimal",
                Box::pin(handwritten(s.client, None, s.data, n)),
            ),
            (
                "publisher_minimal",
                Box::pin(publisher(s.minimal, s.data, n)),
            ),
            ("publisher_full", Box::pin(publisher(s.full, s.data, n))),
            (
                "handwritten_full",
                Box::pin(handwritten(s.client, Some(s.headers), s.data, n)),
            ),
            (
                "raw_core_noheaders",
                Box::pin(preserialized(s.client, None, s.envelope, n)),
            ),
            (
                "raw_core",
                Box::pin(preserialized(s.client, Some(s.headers), s.envelope, n)),
            ),
        ];
        let rates = in_turn(args, round, sides).await?;
        let show = |v: Option<f64>| crate::stats::shown(v, 0);
        eprintln!(
            "core round {round}: minimal hand-written {} / publisher {}; full publisher {} / hand-written {}; pre-serialized no headers {} / full {} msgs/s",
            show(rates[0]), show(rates[1]), show(rates[2]), show(rates[3]), show(rates[4]), show(rates[5])
        );
        r.handwritten_minimal.push(rates[0]);
        r.publisher_minimal.push(rates[1]);
        r.publisher_full.push(rates[2]);
        r.handwritten_full.push(rates[3]);
        r.raw_noheaders.push(rates[4]);
        r.raw_full.push(rates[5]);
    }
    Ok(r)
}
