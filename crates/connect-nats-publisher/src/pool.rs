//! Publishing over a [`ConnectionPool`]: one [`Publisher`] per connection,
//! each event sent on the connection its subject maps to.
//!
//! Per-subject order is kept (one subject, one connection, one publisher);
//! there is no order between subjects. The one exception is
//! [`PooledPublisher::publish_atomic`]: an atomic batch travels on one
//! connection whatever its subjects. Each member publisher has its own
//! disconnected buffer and its own JetStream window, so a pool of N holds up
//! to N × `window` acknowledgements in flight and N buffers' worth of events
//! while disconnected.

use std::future::Future;
use std::sync::Arc;

use connect_nats_core::ConnectionPool;
use serde::Serialize;

use crate::buffer::BufferStats;
use crate::error::PublishError;
use crate::event_publisher::EventPublisher;
#[cfg(feature = "jetstream")]
use crate::jetstream::{with_unsent, BatchAck, InFlight, PendingAck};
use crate::message::{inherent_publish_api, Outgoing};
use crate::options::PublisherOptions;
use crate::outcome::CoreDelivery;
#[cfg(feature = "jetstream")]
use crate::outcome::PublishAck;
use crate::publisher::Publisher;
use crate::template::Templates;
#[cfg(feature = "jetstream")]
use futures::future::join_all;

/// A publisher that spreads events across a [`ConnectionPool`] by subject:
/// the same publish API as [`Publisher`] (`event` / `message`, then
/// `.core()`, `.send()` or `.send_async()`), and [`EventPublisher`].
///
/// Every event on one subject goes through the same connection
/// ([`ConnectionPool::for_subject`]), so its order is kept; events on
/// different subjects may overtake each other. The exception is
/// [`publish_atomic`](Self::publish_atomic), whose batch travels on one
/// connection whatever its subjects. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use connect_nats_core::{Config, ConnectionPool};
/// use connect_nats_publisher::PooledPublisher;
///
/// let pool = ConnectionPool::connect(&Config::default(), 4).await?;
/// let publisher = PooledPublisher::new(pool.clone(), "orders");
/// publisher
///     .event("connect.order.created", "order.created", &serde_json::json!({"id": 1}))
///     .core()
///     .await?;
/// pool.shutdown(Duration::from_secs(5)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PooledPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    pool: ConnectionPool,
    publishers: Vec<Publisher>,
    options: PublisherOptions,
}

impl std::fmt::Debug for PooledPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledPublisher")
            .field("options", &self.inner.options)
            .field("pool", &self.inner.pool)
            .finish_non_exhaustive()
    }
}

impl PooledPublisher {
    /// A pooled publisher with default options and the config's header
    /// policy, publishing as `service_name`.
    pub fn new(pool: ConnectionPool, service_name: impl Into<String>) -> PooledPublisher {
        let headers = pool
            .connections()
            .first()
            .map(|c| c.config().headers())
            .unwrap_or_default();
        PooledPublisher::with_options(
            pool,
            PublisherOptions {
                service_name: service_name.into(),
                headers,
                ..PublisherOptions::default()
            },
        )
    }

    /// A pooled publisher with these options; every member publisher gets
    /// the same (the window and buffer limits apply per connection).
    pub fn with_options(pool: ConnectionPool, options: PublisherOptions) -> PooledPublisher {
        // One set of templates for all members: a task publishing across the
        // pool then finds its event type's template in its thread's cache.
        let templates = Arc::new(Templates::new(&options.service_name, options.headers));
        let publishers = pool
            .connections()
            .iter()
            .map(|c| Publisher::from_parts(c.clone(), options.clone(), Arc::clone(&templates)))
            .collect();
        PooledPublisher {
            inner: Arc::new(Inner {
                pool,
                publishers,
                options,
            }),
        }
    }

    /// The pool it publishes on.
    pub fn pool(&self) -> &ConnectionPool {
        &self.inner.pool
    }

    /// The options every member publisher uses.
    pub fn options(&self) -> &PublisherOptions {
        &self.inner.options
    }

    /// The service name stamped on every event.
    pub fn service_name(&self) -> &str {
        &self.inner.options.service_name
    }

    /// One publisher per pool connection, in the pool's index order.
    pub fn publishers(&self) -> &[Publisher] {
        &self.inner.publishers
    }

    /// The member publisher that carries `subject`.
    pub fn for_subject(&self, subject: &str) -> &Publisher {
        // One publisher per connection, and a pool is never empty.
        &self.inner.publishers[self.inner.pool.index_for(subject)]
    }

    /// The disconnected buffers' counters and fill, summed over the pool.
    pub fn buffer_stats(&self) -> BufferStats {
        self.inner
            .publishers
            .iter()
            .map(Publisher::buffer_stats)
            .fold(BufferStats::default(), |a, b| BufferStats {
                messages: a.messages + b.messages,
                bytes: a.bytes + b.bytes,
                buffered: a.buffered + b.buffered,
                flushed: a.flushed + b.flushed,
                dropped_oldest: a.dropped_oldest + b.dropped_oldest,
                rejected: a.rejected + b.rejected,
                wait_timeouts: a.wait_timeouts + b.wait_timeouts,
                discarded: a.discarded + b.discarded,
            })
    }
}

inherent_publish_api!(PooledPublisher);

#[cfg(feature = "jetstream")]
impl PooledPublisher {
    /// [`Publisher::publish_all`] across the pool: each event goes to its
    /// subject's connection, pipelined within each member's window, sent in
    /// input order; outcomes come back in input order. Never stops early.
    /// The oldest acknowledgement is awaited first; once it has waited 50 ms,
    /// every one in flight is awaited together, so after a reconnect their
    /// retries run side by side, each within its own `retry_deadline` from
    /// its send.
    ///
    /// When every event goes to one member, that member's `publish_all`
    /// sends them (as one fast-ingest batch where the stream allows it).
    /// When they go to several members but to one stream that allows fast
    /// batches, each member sends its share as one fast-ingest batch, the
    /// members at the same time: every subject stays on its own connection.
    pub async fn publish_all<I, S, E, T>(&self, events: I) -> Vec<Result<PublishAck, PublishError>>
    where
        I: IntoIterator<Item = (S, E, T)>,
        S: AsRef<str>,
        E: AsRef<str>,
        T: Serialize + Sync,
    {
        let window = self.inner.options.window.max(1);
        let events: Vec<(S, E, T)> = events.into_iter().collect();
        let mut members = events
            .iter()
            .map(|(subject, _, _)| self.inner.pool.index_for(subject.as_ref()));
        if let Some(first) = members.next() {
            if members.all(|member| member == first) {
                return self.inner.publishers[first].publish_all(events).await;
            }
            // One stream that takes fast batches: each member sends its
            // own events as one fast batch, the members side by side, so
            // every subject stays on its own connection.
            let subjects: Vec<&str> = events.iter().map(|(s, _, _)| s.as_ref()).collect();
            if self.inner.publishers[first]
                .fast_ingest_stream(&subjects)
                .await
                .is_some()
            {
                return self.publish_all_per_member(&events).await;
            }
        }
        let events = events.into_iter();
        let mut out = Vec::with_capacity(events.size_hint().0);
        // Acks in flight per member; never more than its window, so a send
        // never waits for a slot held by an ack nobody is awaiting. Their
        // results come back in input order (see `InFlight` for which are
        // polled when).
        let mut per_member = vec![0usize; self.inner.publishers.len()];
        let mut in_flight = InFlight::new();
        for (subject, event_type, data) in events {
            let subject = subject.as_ref();
            let member = self.inner.pool.index_for(subject);
            while per_member[member] >= window {
                let Some((done, result)) = in_flight.next().await else {
                    break;
                };
                per_member[done] -= 1;
                out.push(result);
            }
            let pending = self.inner.publishers[member]
                .event(subject, event_type.as_ref(), &data)
                .send_async()
                .await;
            per_member[member] += 1;
            in_flight.push(member, PendingAck::settled(pending));
        }
        while let Some((_, result)) = in_flight.next().await {
            out.push(result);
        }
        out
    }

    /// Each member's share of `events` through that member's `publish_all`,
    /// all members at once; results in input order.
    async fn publish_all_per_member<S, E, T>(
        &self,
        events: &[(S, E, T)],
    ) -> Vec<Result<PublishAck, PublishError>>
    where
        S: AsRef<str>,
        E: AsRef<str>,
        T: Serialize + Sync,
    {
        let mut shares: Vec<Vec<usize>> = vec![Vec::new(); self.inner.publishers.len()];
        for (index, (subject, _, _)) in events.iter().enumerate() {
            shares[self.inner.pool.index_for(subject.as_ref())].push(index);
        }
        let sends = shares
            .iter()
            .zip(&self.inner.publishers)
            .filter(|(share, _)| !share.is_empty())
            .map(|(share, publisher)| {
                let items: Vec<(&str, &str, &T)> = share
                    .iter()
                    .map(|&i| {
                        let (subject, event_type, data) = &events[i];
                        (subject.as_ref(), event_type.as_ref(), data)
                    })
                    .collect();
                async move { (share, publisher.publish_all(items).await) }
            });
        let mut results: Vec<Option<Result<PublishAck, PublishError>>> =
            events.iter().map(|_| None).collect();
        for (share, outcomes) in join_all(sends).await {
            for (&index, outcome) in share.iter().zip(outcomes) {
                results[index] = Some(outcome);
            }
        }
        with_unsent(results)
    }

    /// [`Publisher::publish_atomic`] on the pool: the whole batch goes
    /// through one connection, that of the member the first event's subject
    /// maps to ([`for_subject`](Self::for_subject)), whatever the other
    /// events' subjects. The server takes a batch's messages only in their
    /// batch-sequence order, which one connection keeps and several would
    /// not. An event whose subject maps to another member is therefore not
    /// ordered with that member's other publishes.
    ///
    /// # Errors
    /// The same as [`Publisher::publish_atomic`], with the same meaning for
    /// what is stored; [`PublishError::BatchSize`] for no events is returned
    /// before a member is chosen.
    pub async fn publish_atomic<'a, I, T>(&self, events: I) -> Result<BatchAck, PublishError>
    where
        I: IntoIterator<Item = Outgoing<'a, T>>,
        T: Serialize + ?Sized + 'a,
    {
        let events: Vec<Outgoing<'a, T>> = events.into_iter().collect();
        let Some(first) = events.first() else {
            return Err(PublishError::BatchSize {
                count: 0,
                max: crate::jetstream::MAX_ATOMIC_BATCH,
            });
        };
        self.for_subject(first.subject())
            .publish_atomic(events)
            .await
    }
}

impl EventPublisher for PooledPublisher {
    fn service_name(&self) -> &str {
        PooledPublisher::service_name(self)
    }

    fn send_core<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> impl Future<Output = Result<CoreDelivery, PublishError>> + Send {
        self.for_subject(message.subject())
            .publish_core_message(message)
    }

    #[cfg(feature = "jetstream")]
    fn send_jetstream<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> impl Future<Output = Result<crate::PendingAck, PublishError>> + Send {
        self.for_subject(message.subject())
            .publish_jetstream_message(message)
    }
}
