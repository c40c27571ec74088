//! [`InFlight`]: the acknowledgements `publish_all` has in flight, handed back in input order.
//!
//! While acks come back promptly, only the oldest is polled, and only when its result is
//! needed: by then its ack has usually arrived, so it resolves on its first poll, with no
//! waker registered and no wake-up per event. When the oldest has not resolved within
//! [`PATIENCE`], every ack in flight is driven at once (a `FuturesOrdered`) until none is
//! left, so that the retries of publishes whose acks were lost (a reconnect, say) run side
//! by side, each within its own retry deadline, rather than one after another.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesOrdered, StreamExt};

use super::pending::PendingAck;
use crate::error::PublishError;
use crate::outcome::PublishAck;

/// How long the oldest ack may keep the others from being driven.
const PATIENCE: Duration = Duration::from_millis(50);

/// One publish's outcome, with the caller's tag.
pub(crate) type Tagged<T> = (T, Result<PublishAck, PublishError>);

/// Acknowledgements in flight, each with a tag (which member of a pool sent it, say).
pub(crate) struct InFlight<T: Unpin> {
    mode: Mode<T>,
}

enum Mode<T: Unpin> {
    /// Only the oldest is polled, when its result is asked for.
    Lazy(VecDeque<(T, PendingAck)>),
    /// Every one is polled as its ack arrives.
    Driven(FuturesOrdered<Driven<T>>),
}

/// A tagged ack as a future, for [`Mode::Driven`].
struct Driven<T> {
    tag: Option<T>,
    ack: PendingAck,
}

impl<T: Unpin> Future for Driven<T> {
    type Output = Tagged<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(Pin::new(&mut self.ack).poll(cx));
        match self.tag.take() {
            Some(tag) => Poll::Ready((tag, result)),
            // A FuturesOrdered polls a future no more once it is ready.
            None => Poll::Pending,
        }
    }
}

impl<T: Unpin> InFlight<T> {
    /// None in flight.
    pub(crate) fn new() -> Self {
        InFlight {
            mode: Mode::Lazy(VecDeque::new()),
        }
    }

    /// How many are in flight.
    pub(crate) fn len(&self) -> usize {
        match &self.mode {
            Mode::Lazy(queue) => queue.len(),
            Mode::Driven(driven) => driven.len(),
        }
    }

    /// Adds the newest.
    pub(crate) fn push(&mut self, tag: T, ack: PendingAck) {
        if let Mode::Driven(driven) = &self.mode {
            if driven.is_empty() {
                self.mode = Mode::Lazy(VecDeque::new());
            }
        }
        match &mut self.mode {
            Mode::Lazy(queue) => queue.push_back((tag, ack)),
            Mode::Driven(driven) => driven.push_back(Driven {
                tag: Some(tag),
                ack,
            }),
        }
    }

    /// The oldest one's outcome, once it has one; `None` when none is in flight.
    pub(crate) async fn next(&mut self) -> Option<Tagged<T>> {
        if let Mode::Lazy(queue) = &mut self.mode {
            let (_, head) = queue.front_mut()?;
            let ready = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *head).poll(cx)));
            let result = match ready.await {
                Poll::Ready(result) => Some(result),
                Poll::Pending => tokio::time::timeout(PATIENCE, &mut *head).await.ok(),
            };
            if let Some(result) = result {
                return queue.pop_front().map(|(tag, _)| (tag, result));
            }
            // The oldest is slow: from now on, drive them all.
            let driven = std::mem::take(queue)
                .into_iter()
                .map(|(tag, ack)| Driven {
                    tag: Some(tag),
                    ack,
                })
                .collect();
            self.mode = Mode::Driven(driven);
        }
        match &mut self.mode {
            Mode::Driven(driven) => driven.next().await,
            Mode::Lazy(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        // Drained, it takes new acks lazily again.
        in_flight.push("third", PendingAck::ready(Ok(ack(3))));
        assert!(matches!(in_flight.mode, Mode::Lazy(_)));
        assert_eq!(
            in_flight.next().await.map(|(tag, r)| (tag, r.ok())),
            Some(("third", Some(ack(3))))
        );
    }
}
