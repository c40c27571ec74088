//! The bounded buffer that holds core publishes while the connection is down.
//!
//! async-nats on its own accepts publishes while disconnected until its
//! 2048-command queue is full and then blocks without limit; bytes already
//! written to the dead socket are lost. This buffer sits in front of it: while
//! the connection is not `Connected` (or while earlier buffered events are
//! still being flushed), core publishes are queued here, bounded in messages
//! and bytes, and a background task sends them in order once the connection
//! is back.
//!
//! The queue, its limits, the policies and the flusher stay in one file: they
//! share one lock and its invariants (what is held never exceeds the limits,
//! order is kept across a flush), which are easier to check side by side.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use connect_nats_core::{Connection, ConnectionState};
use tokio::sync::Notify;

use crate::error::PublishError;
use crate::metrics::{BufferLoss, PublishMetrics};
use crate::options::{BufferLimits, BufferPolicy};
use crate::CoreDelivery;

/// Longest pause between two checks of a draining buffer.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// Counters of the disconnected buffer (monotonic, since the publisher was built),
/// plus its current fill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// Events held right now.
    pub messages: usize,
    /// Bytes held right now.
    pub bytes: usize,
    /// Events ever put in the buffer.
    pub buffered: u64,
    /// Events sent from the buffer after a reconnect.
    pub flushed: u64,
    /// Events evicted by [`BufferPolicy::DropOldest`].
    pub dropped_oldest: u64,
    /// Events refused at once by [`BufferPolicy::FailFast`].
    pub rejected: u64,
    /// Events refused after waiting in vain under [`BufferPolicy::Wait`].
    pub wait_timeouts: u64,
    /// Buffered events thrown away: the connection closed for good, or the
    /// client refused them when flushing.
    pub discarded: u64,
}

/// One buffered event.
pub(crate) struct Item {
    pub(crate) subject: Subject,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Bytes,
    pub(crate) size: usize,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
    /// Size of the event the flusher is sending right now (taken out of `items`).
    in_flight: Option<usize>,
    flusher_running: bool,
    /// Whether this outage's first refusal/drop was logged at warn already.
    loss_logged: bool,
}

#[derive(Default)]
struct Counters {
    buffered: AtomicU64,
    flushed: AtomicU64,
    dropped_oldest: AtomicU64,
    rejected: AtomicU64,
    wait_timeouts: AtomicU64,
    discarded: AtomicU64,
}

pub(crate) struct CoreBuffer {
    limits: BufferLimits,
    policy: BufferPolicy,
    send_timeout: Duration,
    queue: Mutex<Queue>,
    /// True while the queue holds events or a flush is under way: new core
    /// publishes then go through the queue too, so order is kept.
    active: AtomicBool,
    space: Notify,
    /// Wakes a flusher waiting for the connection when `drain` gave up and
    /// emptied the queue: it then has nothing left to wait for.
    emptied: Notify,
    counters: Counters,
    metrics: PublishMetrics,
}

impl CoreBuffer {
    pub(crate) fn new(
        limits: BufferLimits,
        policy: BufferPolicy,
        send_timeout: Duration,
        metrics: PublishMetrics,
    ) -> Self {
        CoreBuffer {
            limits,
            policy,
            send_timeout,
            queue: Mutex::new(Queue::default()),
            active: AtomicBool::new(false),
            space: Notify::new(),
            emptied: Notify::new(),
            counters: Counters::default(),
            metrics,
        }
    }

    /// Whether publishes must go through the buffer regardless of the state.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every critical section is a few plain field updates), so recover.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn stats(&self) -> BufferStats {
        let (messages, bytes) = {
            let q = self.lock();
            (q.items.len(), q.bytes)
        };
        let c = &self.counters;
        BufferStats {
            messages,
            bytes,
            buffered: c.buffered.load(Ordering::Relaxed),
            flushed: c.flushed.load(Ordering::Relaxed),
            dropped_oldest: c.dropped_oldest.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            wait_timeouts: c.wait_timeouts.load(Ordering::Relaxed),
            discarded: c.discarded.load(Ordering::Relaxed),
        }
    }

    /// Queues `item` under the policy; starts the flusher if needed.
    pub(crate) async fn push(
        self: &Arc<Self>,
        connection: &Connection,
        item: Item,
    ) -> Result<CoreDelivery, PublishError> {
        if item.size > self.limits.max_bytes {
            return Err(PublishError::LargerThanBuffer {
                size: item.size,
                max_bytes: self.limits.max_bytes,
            });
        }
        let deadline = match self.policy {
            BufferPolicy::Wait { timeout } => {
                crate::deadline::deadline_after(tokio::time::Instant::now(), timeout)
            }
            // Room taken by the event being flushed right now frees within
            // the flusher's send timeout.
            BufferPolicy::DropOldest => {
                crate::deadline::deadline_after(tokio::time::Instant::now(), self.send_timeout)
            }
            BufferPolicy::FailFast => tokio::time::Instant::now(),
        };
        let mut item = Some(item);
        loop {
            if connection.state() == ConnectionState::Closed {
                return Err(PublishError::Closed);
            }
            let notified = {
                let mut q = self.lock();
                let size = item.as_ref().map_or(0, |i| i.size);
                if self.fits(&q, size) {
                    if let Some(item) = item.take() {
                        self.enqueue(&mut q, item, connection);
                    }
                    return Ok(CoreDelivery::Buffered);
                }
                match self.policy {
                    BufferPolicy::FailFast => {
                        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                        self.metrics.buffer_dropped(BufferLoss::Rejected, 1);
                        let err = self.full_error(&q);
                        self.log_loss(&mut q, "refused (fail_fast)");
                        return Err(err);
                    }
                    BufferPolicy::DropOldest => {
                        let dropped = self.drop_oldest_for(&mut q, size);
                        tracing::debug!(dropped, "disconnected buffer full: dropped oldest events");
                        self.log_loss(&mut q, "dropping oldest events (drop_oldest)");
                        if self.fits(&q, size) {
                            if let Some(item) = item.take() {
                                self.enqueue(&mut q, item, connection);
                            }
                            return Ok(CoreDelivery::Buffered);
                        }
                        // Only the event being flushed is left, and the new
                        // one does not fit beside it: wait for its send.
                        let notified = self.space.notified();
                        drop(q);
                        notified
                    }
                    BufferPolicy::Wait { .. } => {
                        // Register for a wake-up before releasing the lock so a
                        // flush in between is not missed.
                        let notified = self.space.notified();
                        drop(q);
                        notified
                    }
                }
            };
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.counters.wait_timeouts.fetch_add(1, Ordering::Relaxed);
                self.metrics.buffer_dropped(BufferLoss::WaitTimeout, 1);
                let mut q = self.lock();
                let err = self.full_error(&q);
                self.log_loss(&mut q, "refused after waiting for room (wait)");
                return Err(err);
            }
        }
    }

    /// Drops the oldest held events until one of `size` bytes fits or only
    /// the event in flight is left; the number dropped.
    fn drop_oldest_for(&self, q: &mut Queue, size: usize) -> u64 {
        let mut dropped = 0u64;
        while !self.fits(q, size) {
            match q.items.pop_front() {
                Some(old) => {
                    q.bytes -= old.size;
                    dropped += 1;
                }
                None => break,
            }
        }
        self.counters
            .dropped_oldest
            .fetch_add(dropped, Ordering::Relaxed);
        self.metrics
            .buffer_dropped(BufferLoss::DroppedOldest, dropped);
        dropped
    }

    fn fits(&self, q: &Queue, size: usize) -> bool {
        let (n, bytes) = match q.in_flight {
            Some(s) => (q.items.len() + 1, q.bytes + s),
            None => (q.items.len(), q.bytes),
        };
        n < self.limits.max_messages && bytes + size <= self.limits.max_bytes
    }

    fn full_error(&self, q: &Queue) -> PublishError {
        PublishError::BufferFull {
            policy: self.policy.name(),
            messages: q.items.len(),
            bytes: q.bytes,
        }
    }

    fn log_loss(&self, q: &mut Queue, what: &str) {
        if !q.loss_logged {
            q.loss_logged = true;
            tracing::warn!(
                policy = self.policy.name(),
                max_messages = self.limits.max_messages,
                max_bytes = self.limits.max_bytes,
                "NATS disconnected and the publish buffer is full: {what}; further losses in this outage are counted (BufferStats) and summarised on flush"
            );
        } else {
            tracing::debug!(policy = self.policy.name(), "publish buffer full: {what}");
        }
    }

    fn enqueue(self: &Arc<Self>, q: &mut Queue, item: Item, connection: &Connection) {
        if q.items.is_empty() && !q.flusher_running {
            tracing::info!(
                state = ?connection.state(),
                "NATS not connected: buffering core publishes until the connection is back"
            );
        }
        self.hold(q, item);
        self.active.store(true, Ordering::Release);
        if !q.flusher_running {
            q.flusher_running = true;
            tokio::spawn(flush(Arc::clone(self), connection.clone()));
        }
    }

    /// Appends `item` to the queue.
    fn hold(&self, q: &mut Queue, item: Item) {
        q.bytes += item.size;
        q.items.push_back(item);
        self.metrics.buffer_fill(q.items.len(), q.bytes);
        self.counters.buffered.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the oldest event out to send it; it stays counted (in flight)
    /// until [`CoreBuffer::sent`].
    fn take_next(&self, q: &mut Queue) -> Option<Item> {
        let item = q.items.pop_front()?;
        q.bytes -= item.size;
        q.in_flight = Some(item.size);
        self.metrics.buffer_fill(q.items.len(), q.bytes);
        Some(item)
    }

    /// The event in flight left the buffer.
    fn sent(q: &mut Queue) {
        q.in_flight = None;
    }

    /// Waits until every buffered event was handed to the client, or
    /// `deadline`; then discards what is left. Returns the events flushed
    /// and the events lost (discarded) meanwhile.
    pub(crate) async fn drain(&self, deadline: tokio::time::Instant) -> (u64, u64) {
        let before = self.stats();
        loop {
            let notified = self.space.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            if !self.is_active() {
                break;
            }
            // The flusher wakes this on every sent event; the poll is a
            // safety net, the deadline the bound.
            let poll = crate::deadline::deadline_after(tokio::time::Instant::now(), DRAIN_POLL);
            let _ = tokio::time::timeout_at(poll.min(deadline), notified).await;
            if tokio::time::Instant::now() >= deadline {
                let mut q = self.lock();
                let n = self.discard_all(&mut q);
                drop(q);
                self.emptied.notify_waiters();
                if n > 0 {
                    tracing::warn!(
                        discarded = n,
                        "publisher closed before the connection came back: discarded buffered core publishes"
                    );
                }
                break;
            }
        }
        let after = self.stats();
        (
            after.flushed - before.flushed,
            after.discarded - before.discarded,
        )
    }

    /// Throws everything away (connection closed for good).
    fn discard_all(&self, q: &mut Queue) -> usize {
        let n = q.items.len();
        q.items.clear();
        q.bytes = 0;
        self.counters
            .discarded
            .fetch_add(n as u64, Ordering::Relaxed);
        self.metrics.buffer_dropped(BufferLoss::Discarded, n as u64);
        self.metrics.buffer_fill(0, 0);
        n
    }
}

/// The flusher: waits for the connection, then sends the queue in order.
async fn flush(buffer: Arc<CoreBuffer>, connection: Connection) {
    let before = buffer.stats();
    loop {
        // Not only the state watch: async-nats drops events when its event
        // queue is full, and a lost "connected" must not stall the flush.
        let current = tokio::select! {
            current = connection.wait_connected_or_closed() => current,
            () = buffer.emptied.notified() => {
                let mut q = buffer.lock();
                if q.items.is_empty() {
                    q.flusher_running = false;
                    q.loss_logged = false;
                    buffer.active.store(false, Ordering::Release);
                    return;
                }
                continue;
            }
        };
        if current == ConnectionState::Closed {
            let mut q = buffer.lock();
            let n = buffer.discard_all(&mut q);
            q.flusher_running = false;
            q.loss_logged = false;
            buffer.active.store(false, Ordering::Release);
            drop(q);
            buffer.space.notify_waiters();
            if n > 0 {
                tracing::error!(
                    discarded = n,
                    "NATS connection closed for good: discarded buffered core publishes"
                );
            }
            return;
        }
        if connection.state() != ConnectionState::Connected {
            // Our state and the client's disagree for a moment around a
            // reconnect; poll the client's own state briefly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let item = {
            let mut q = buffer.lock();
            match buffer.take_next(&mut q) {
                Some(item) => item,
                None => {
                    q.flusher_running = false;
                    q.loss_logged = false;
                    buffer.active.store(false, Ordering::Release);
                    drop(q);
                    buffer.space.notify_waiters();
                    let after = buffer.stats();
                    tracing::info!(
                        flushed = after.flushed - before.flushed,
                        dropped_oldest = after.dropped_oldest - before.dropped_oldest,
                        rejected = after.rejected - before.rejected,
                        wait_timeouts = after.wait_timeouts - before.wait_timeouts,
                        "NATS connection back: flushed core publishes buffered while disconnected"
                    );
                    return;
                }
            }
        };
        let sent = tokio::time::timeout(
            buffer.send_timeout,
            connection.client().publish_with_headers(
                item.subject.clone(),
                item.headers.clone(),
                item.payload.clone(),
            ),
        )
        .await;
        let mut q = buffer.lock();
        CoreBuffer::sent(&mut q);
        match sent {
            Ok(Ok(())) => {
                buffer.counters.flushed.fetch_add(1, Ordering::Relaxed);
                buffer.metrics.buffer_flushed();
            }
            Ok(Err(e)) => {
                buffer.counters.discarded.fetch_add(1, Ordering::Relaxed);
                buffer.metrics.buffer_dropped(BufferLoss::Discarded, 1);
                tracing::error!(error = %e, "NATS client refused a buffered core publish; discarded");
            }
            // The client's queue is full again: the connection dropped. The
            // send was cancelled before anything was queued (tokio's mpsc send
            // is cancel-safe), so put the event back at the front and wait.
            Err(_) => {
                q.bytes += item.size;
                q.items.push_front(item);
                buffer.metrics.buffer_fill(q.items.len(), q.bytes);
                continue;
            }
        }
        drop(q);
        buffer.space.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One step of a disconnected buffer's life.
    #[derive(Debug, Clone)]
    enum Step {
        /// A core publish of an event of this many bytes.
        Push(usize),
        /// The flusher takes the oldest event out to send it.
        Take,
        /// The flusher's send finished.
        Sent,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (1usize..400).prop_map(Step::Push),
            1 => Just(Step::Take),
            1 => Just(Step::Sent),
        ]
    }

    fn item(size: usize) -> Item {
        Item {
            subject: Subject::from_static("buf.ev"),
            headers: HeaderMap::new(),
            payload: Bytes::new(),
            size,
        }
    }

    proptest! {
        /// What `push` does under `DropOldest` (drop, then hold if it fits,
        /// else wait), interleaved with the flusher's steps: the held events
        /// plus the one in flight never exceed the limits.
        #[test]
        fn drop_oldest_stays_within_its_limits(
            max_messages in 1usize..8,
            max_bytes in 400usize..2_000,
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            let limits = BufferLimits { max_messages, max_bytes };
            let buffer = CoreBuffer::new(
                limits,
                BufferPolicy::DropOldest,
                Duration::from_secs(1),
                PublishMetrics::new("prop"),
            );
            let mut q = buffer.lock();
            for step in steps {
                match step {
                    Step::Push(size) => {
                        buffer.drop_oldest_for(&mut q, size);
                        if buffer.fits(&q, size) {
                            buffer.hold(&mut q, item(size));
                        } else {
                            // Only the event in flight stands in the way.
                            prop_assert!(q.items.is_empty() && q.in_flight.is_some());
                        }
                    }
                    Step::Take => {
                        if q.in_flight.is_none() {
                            let _ = buffer.take_next(&mut q);
                        }
                    }
                    Step::Sent => CoreBuffer::sent(&mut q),
                }
                let in_flight = q.in_flight.unwrap_or(0);
                let held = q.items.len() + usize::from(q.in_flight.is_some());
                prop_assert!(held <= max_messages, "{held} events > {max_messages}");
                prop_assert!(
                    q.bytes + in_flight <= max_bytes,
                    "{} bytes > {max_bytes}",
                    q.bytes + in_flight
                );
                prop_assert_eq!(q.bytes, q.items.iter().map(|i| i.size).sum::<usize>());
            }
        }
    }
}
