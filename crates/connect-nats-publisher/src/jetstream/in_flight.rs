//! [`InFlight`]: the acknowledgements `publish_all` has in flight, handed back in input order.
//!
//! While acks come back promptly, only the oldest is polled, and only when its result is
//! needed: by then its ack has usually arrived, so it resolves on its first poll, with no
//! waker registered and no wake-up per event. When the oldest has not resolved within
//! [`PATIENCE`], every ack then in flight is driven at once (a `FuturesOrdered`), so that the
//! retries of publishes whose acks were lost (a reconnect, say) run side by side, each within
//! its own retry deadline, rather than one after another. Acks added meanwhile wait in the
//! queue; once the driven ones are done, the oldest of those is awaited alone again.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures::stream::{FuturesOrdered, StreamExt};

use super::pending::PendingAck;
use crate::error::PublishError;
use crate::outcome::PublishAck;

/// How long the oldest ack may keep the others from being driven.
const PATIENCE: Duration = Duration::from_millis(50);

/// One publish's outcome, with the caller's tag.
pub(crate) type Tagged<T> = (T, Result<PublishAck, PublishError>);

/// A tagged ack being driven.
type Driven<T> = Pin<Box<dyn Future<Output = Tagged<T>> + Send>>;

/// Acknowledgements in flight, each with a tag (which member of a pool sent it, say).
pub(crate) struct InFlight<T> {
    /// The acks in flight when the oldest stalled, each polled as its ack arrives; all of
    /// them older than any in `queue`.
    driven: FuturesOrdered<Driven<T>>,
    /// The others, oldest first; only the oldest is polled, when its result is asked for.
    queue: VecDeque<(T, PendingAck)>,
}

impl<T: Send + 'static> InFlight<T> {
    /// None in flight.
    pub(crate) fn new() -> Self {
        InFlight {
            driven: FuturesOrdered::new(),
            queue: VecDeque::new(),
        }
    }

    /// How many are in flight.
    pub(crate) fn len(&self) -> usize {
        self.driven.len() + self.queue.len()
    }

    /// Adds the newest.
    pub(crate) fn push(&mut self, tag: T, ack: PendingAck) {
        self.queue.push_back((tag, ack));
    }

    /// The oldest one's outcome, once it has one; `None` when none is in flight.
    pub(crate) async fn next(&mut self) -> Option<Tagged<T>> {
        if !self.driven.is_empty() {
            return self.driven.next().await;
        }
        let (_, head) = self.queue.front_mut()?;
        let result = match futures::poll!(&mut *head) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => tokio::time::timeout(PATIENCE, &mut *head).await.ok(),
        };
        if let Some(result) = result {
            return self.queue.pop_front().map(|(tag, _)| (tag, result));
        }
        // The oldest is slow: drive every one in flight.
        self.driven = self
            .queue
            .drain(..)
            .map(|(tag, ack)| Box::pin(async move { (tag, ack.await) }) as Driven<T>)
            .collect();
        self.driven.next().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::sync::oneshot;

    fn ack(sequence: u64) -> PublishAck {
        PublishAck {
            stream: "S".to_owned(),
            sequence,
            duplicate: false,
            domain: None,
        }
    }

    /// An ack that resolves once `rx` fires.
    fn ack_after(rx: oneshot::Receiver<()>, sequence: u64) -> PendingAck {
        PendingAck::new(async move {
            rx.await.map_err(|_| PublishError::Closed)?;
            Ok(ack(sequence))
        })
    }

    #[tokio::test]
    async fn outcomes_come_back_in_input_order() {
        let mut in_flight = InFlight::new();
        let (tx, rx) = oneshot::channel();
        in_flight.push(0, ack_after(rx, 1));
        in_flight.push(1, PendingAck::ready(Ok(ack(2))));
        in_flight.push(2, PendingAck::ready(Err(PublishError::Closed)));
        assert_eq!(in_flight.len(), 3);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let _ = tx.send(());
        });
        let mut tags = Vec::new();
        while let Some((tag, result)) = in_flight.next().await {
            tags.push(tag);
            match tag {
                0 => assert_eq!(result.map(|a| a.sequence).ok(), Some(1)),
                1 => assert_eq!(result.map(|a| a.sequence).ok(), Some(2)),
                _ => assert!(matches!(result, Err(PublishError::Closed))),
            }
        }
        assert_eq!(tags, vec![0, 1, 2]);
        assert_eq!(in_flight.len(), 0);
    }

    #[tokio::test]
    async fn a_slow_oldest_ack_lets_the_others_be_driven() {
        // The oldest resolves only after the second has been polled: awaiting
        // the oldest alone would never end.
        let mut in_flight = InFlight::new();
        let (tx, rx) = oneshot::channel();
        in_flight.push("oldest", ack_after(rx, 1));
        in_flight.push(
            "second",
            PendingAck::new(async move {
                let _ = tx.send(());
                Ok(ack(2))
            }),
        );
        let both = async {
            let first = in_flight.next().await.map(|(tag, r)| (tag, r.ok()));
            let second = in_flight.next().await.map(|(tag, r)| (tag, r.ok()));
            (first, second)
        };
        let (first, second) = tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .expect("the second ack was driven while the oldest waited");
        assert_eq!(first, Some(("oldest", Some(ack(1)))));
        assert_eq!(second, Some(("second", Some(ack(2)))));
        assert!(in_flight.driven.is_empty());
    }

    /// An ack that counts how often it was polled, and resolves on its first poll.
    fn counted(polls: &Arc<AtomicUsize>, sequence: u64) -> PendingAck {
        let polls = Arc::clone(polls);
        PendingAck::new(std::future::poll_fn(move |_| {
            polls.fetch_add(1, Ordering::Relaxed);
            Poll::Ready(Ok(ack(sequence)))
        }))
    }

    #[tokio::test]
    async fn only_the_oldest_is_polled_while_acks_come_promptly() {
        let polls: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
        let mut in_flight = InFlight::new();
        for (i, p) in polls.iter().enumerate() {
            in_flight.push(i, counted(p, i as u64));
        }
        let (tag, result) = in_flight.next().await.expect("one in flight");
        assert_eq!((tag, result.ok()), (0, Some(ack(0))));
        let counts: Vec<usize> = polls.iter().map(|p| p.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, vec![1, 0, 0], "the newer acks were left alone");
    }

    #[tokio::test]
    async fn acks_added_while_others_are_driven_wait_their_turn() {
        let mut in_flight = InFlight::new();
        let (tx, rx) = oneshot::channel();
        in_flight.push(0, ack_after(rx, 0));
        let second = Arc::new(AtomicUsize::new(0));
        in_flight.push(1, counted(&second, 1));
        let release = tokio::spawn(async move {
            // Past the patience: the oldest stalls, and both are driven.
            tokio::time::sleep(PATIENCE * 4).await;
            let _ = tx.send(());
        });
        let first = tokio::time::timeout(Duration::from_secs(10), in_flight.next())
            .await
            .expect("the oldest resolved");
        assert_eq!(first.map(|(tag, r)| (tag, r.ok())), Some((0, Some(ack(0)))));
        assert_eq!(
            second.load(Ordering::Relaxed),
            1,
            "driven while the oldest waited"
        );
        // Added while the second is still among the driven ones: queued, not polled yet.
        let third = Arc::new(AtomicUsize::new(0));
        in_flight.push(2, counted(&third, 2));
        assert_eq!(in_flight.len(), 2);
        let rest: Vec<(usize, Option<PublishAck>)> =
            [in_flight.next().await, in_flight.next().await]
                .into_iter()
                .flatten()
                .map(|(tag, r)| (tag, r.ok()))
                .collect();
        assert_eq!(rest, vec![(1, Some(ack(1))), (2, Some(ack(2)))]);
        assert_eq!(
            third.load(Ordering::Relaxed),
            1,
            "polled once, as the oldest"
        );
        assert_eq!(in_flight.len(), 0);
        release.await.expect("release task");
    }
}
