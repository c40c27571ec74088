//! What a stream holds, read back by the suites that check for loss and duplicates.

use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::Context;
use connect_nats_testkit::{poll_until, retrying};
use futures::StreamExt;

/// The id in an event envelope published by the tests (`data.id`).
pub fn event_id(payload: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    value["data"]["id"].as_u64()
}

/// Every message in `stream`, as the `data.id` of its payload, read with an ordered consumer.
///
/// Right after a failover the count a stream reports may lag what was acknowledged, so the
/// read starts once the stream reports at least `at_least` messages, or after 30 s with what
/// it reports then, so that a caller's check names each missing event.
pub async fn stream_ids(js: &Context, stream: &str, at_least: u64) -> Vec<u64> {
    const SETTLE: Duration = Duration::from_secs(30);
    let _ = poll_until(SETTLE, || async {
        let stream = js.get_stream(stream).await.ok()?;
        (stream.cached_info().state.messages >= at_least).then_some(())
    })
    .await;
    // Bounded retries: right after a failover the cluster may still be electing leaders.
    let (total, mut messages) = retrying(
        Duration::from_secs(60),
        &format!("an ordered consumer on {stream}"),
        || open_ordered(js, stream),
    )
    .await;
    let mut ids = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    while (ids.len() as u64) < total {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap_or_else(|_| panic!("reading {stream}: stalled after {} of {total}", ids.len()))
            .expect("ordered consumer ended early")
            .expect("ordered consumer message");
        ids.push(event_id(&message.payload).expect("every stored event has data.id"));
    }
    ids
}

/// The stream's message count and an ordered consumer's messages, or what failed.
async fn open_ordered(
    js: &Context,
    stream: &str,
) -> Result<(u64, async_nats::jetstream::consumer::pull::Ordered), String> {
    let mut stream = js
        .get_stream(stream)
        .await
        .map_err(|e| format!("stream lookup: {e}"))?;
    let total = stream
        .info()
        .await
        .map_err(|e| format!("stream info: {e}"))?
        .state
        .messages;
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .map_err(|e| format!("consumer creation: {e}"))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| format!("consumer messages: {e}"))?;
    Ok((total, messages))
}
