//! The tasks that publish, retry, consume and measure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use connect_nats_core::Connection;
use connect_nats_jetstream::{Delivery, HandlerError};
use connect_nats_publisher::Publisher;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::tally::{lock, rss_kib, Tally};

/// Subject of the JetStream events.
pub const JS_SUBJECT: &str = "soak.js.events";
/// Subject of the core events.
pub const CORE_SUBJECT: &str = "soakcore.tick";
/// How often a failed event is republished before it counts as never acknowledged.
const REPUBLISH_ATTEMPTS: u32 = 5;

/// The `data.id` of an event envelope.
pub fn event_id(payload: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    value["data"]["id"].as_u64()
}

/// One JetStream publishing task: `rate` events per second (paced in 10 ms ticks) until `stop`.
/// Each event's ack is awaited in its own task; a failure is sent to `retry`.
pub fn spawn_publisher(
    publisher: Publisher,
    rate: f64,
    next_id: Arc<AtomicU64>,
    tally: Arc<Tally>,
    retry: mpsc::UnboundedSender<u64>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_tick = rate / 100.0;
        let mut credit = 0.0f64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            credit += per_tick;
            while credit >= 1.0 {
                credit -= 1.0;
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                Tally::add(&tally.published);
                let sent = publisher
                    .event(JS_SUBJECT, "soak.event", &json!({ "id": id }))
                    .send_async()
                    .await;
                match sent {
                    Ok(pending) => {
                        Tally::add(&tally.in_flight);
                        let (tally, retry) = (tally.clone(), retry.clone());
                        tokio::spawn(async move {
                            match pending.await {
                                Ok(ack) => {
                                    if ack.duplicate {
                                        Tally::add(&tally.duplicate_acks);
                                    }
                                    lock(&tally.acked).insert(id);
                                }
                                Err(e) => {
                                    Tally::add(&tally.publish_errors);
                                    eprintln!("soak: publish of {id} failed: {e}");
                                    let _ = retry.send(id);
                                }
                            }
                            tally.in_flight.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                    Err(e) => {
                        Tally::add(&tally.publish_errors);
                        eprintln!("soak: publish of {id} refused: {e}");
                        let _ = retry.send(id);
                    }
                }
            }
        }
    })
}

/// Republishes failed ids (a new `Nats-Msg-Id`: the caller's remedy for an unacknowledged
/// publish) until acknowledged or out of attempts. Ends when every sender is gone.
pub fn spawn_republisher(
    publisher: Publisher,
    tally: Arc<Tally>,
    mut failed: mpsc::UnboundedReceiver<u64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(id) = failed.recv().await {
            let mut acked = false;
            for _ in 0..REPUBLISH_ATTEMPTS {
                match publisher
                    .event(JS_SUBJECT, "soak.event", &json!({ "id": id }))
                    .send()
                    .await
                {
                    Ok(_) => {
                        lock(&tally.acked).insert(id);
                        Tally::add(&tally.republished);
                        acked = true;
                        break;
                    }
                    Err(e) => {
                        eprintln!("soak: republish of {id} failed: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            if !acked {
                lock(&tally.unacked).push(id);
            }
        }
    })
}

/// The durable consumer's handler: records each id handled.
pub fn handler(
    tally: Arc<Tally>,
) -> impl Fn(Delivery) -> futures::future::Ready<Result<(), HandlerError>> + Send + Sync + 'static {
    move |delivery: Delivery| {
        let result = match event_id(delivery.payload()) {
            Some(id) => {
                *lock(&tally.consumed).entry(id).or_default() += 1;
                Ok(())
            }
            None => Err(HandlerError::permanent("event without data.id")),
        };
        futures::future::ready(result)
    }
}

/// Core events: published at `rate` per second through the publisher's disconnected buffer and
/// received on the same connection.
pub async fn spawn_core_pair(
    connection: Connection,
    publisher: Publisher,
    rate: u32,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(JoinHandle<()>, JoinHandle<()>)> {
    let mut subscription = connection.subscribe(CORE_SUBJECT).await?;
    let receiver = {
        let tally = tally.clone();
        tokio::spawn(async move {
            while subscription.next().await.is_some() {
                Tally::add(&tally.core_received);
            }
        })
    };
    let sender = tokio::spawn(async move {
        if rate == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            match publisher
                .event(CORE_SUBJECT, "soak.tick", &json!({ "id": n }))
                .core()
                .await
            {
                Ok(_) => Tally::add(&tally.core_published),
                Err(_) => Tally::add(&tally.core_errors),
            }
            n += 1;
        }
    });
    Ok((sender, receiver))
}

/// Samples this process's RSS every second until `stop`.
pub fn spawn_memory_sampler(tally: Arc<Tally>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            if let Some(rss) = rss_kib() {
                tally.max_rss_kib.fetch_max(rss, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}
