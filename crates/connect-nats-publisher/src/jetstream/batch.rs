//! [`Publisher::publish_all`]: a batch of events, pipelined within the window.

use std::collections::VecDeque;

use serde::Serialize;

use super::pending::{settle, PendingAck};
use crate::error::PublishError;
use crate::outcome::PublishAck;
use crate::publisher::Publisher;

impl Publisher {
    /// Publishes a batch of `(subject, event_type, data)` events to
    /// JetStream, pipelined within the window, and returns each one's
    /// outcome in input order. Never stops early: one failure does not
    /// keep the others from being sent.
    pub async fn publish_all<I, S, E, T>(&self, events: I) -> Vec<Result<PublishAck, PublishError>>
    where
        I: IntoIterator<Item = (S, E, T)>,
        S: AsRef<str>,
        E: AsRef<str>,
        T: Serialize + Sync,
    {
        let events = events.into_iter();
        let window = self.inner.options.window;
        let mut out = Vec::with_capacity(events.size_hint().0);
        let mut in_flight: VecDeque<Result<PendingAck, PublishError>> =
            VecDeque::with_capacity(window.min(4096));
        for (subject, event_type, data) in events {
            if in_flight.len() >= window {
                if let Some(oldest) = in_flight.pop_front() {
                    out.push(settle(oldest).await);
                }
            }
            let pending = self
                .event(subject.as_ref(), event_type.as_ref(), &data)
                .send_async()
                .await;
            in_flight.push_back(pending);
        }
        for pending in in_flight {
            out.push(settle(pending).await);
        }
        out
    }
}
