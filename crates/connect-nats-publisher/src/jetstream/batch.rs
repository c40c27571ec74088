//! `publish_all`: many events, each with its own result, as one fast batch where the stream
//! allows it (see `fast_ingest`), otherwise pipelined within the ack window.

use serde::Serialize;

use super::fast_ingest::{flow_acked, FastMessage};
use super::in_flight::InFlight;
use super::pending::PendingAck;
use crate::error::PublishError;
use crate::message::Outgoing;
use crate::outcome::PublishAck;
use crate::publisher::Publisher;

/// Fewest events for which `publish_all` tries fast ingest.
const FAST_MIN_EVENTS: usize = 2;

/// One event of `publish_all`: subject, type, data, and the `Nats-Msg-Id` it must keep.
type Item<'a, T> = (&'a str, &'a str, &'a T, Option<&'a str>);

impl Publisher {
    /// Publishes a batch of `(subject, event_type, data)` events to
    /// JetStream and returns each one's outcome in input order. Never stops
    /// early: one failure does not keep the others from being sent.
    ///
    /// When every event goes to one stream declared with `allow_batched`
    /// on nats-server 2.14 or later, the events travel as one fast-ingest
    /// batch (detected once per subject and remembered): each is
    /// acknowledged by the server's flow acks, which carry no stream
    /// sequence, so its [`PublishAck::sequence`] is 0. Events a failed batch
    /// sent but left unacknowledged are published again, pipelined, with the
    /// same `Nats-Msg-Id`; events it never reached are published, pipelined,
    /// for the first time. Otherwise the events are pipelined within the
    /// window, each with its own ack.
    ///
    /// The [`retry_deadline`](crate::PublisherOptions::retry_deadline)
    /// bounds each event's retries, counted from that event's own pipelined
    /// send (for an event a failed fast batch left unacknowledged, from its
    /// re-send), not the whole call, which can take longer. The oldest
    /// acknowledgement is awaited first; once it has waited 50 ms, every one
    /// in flight is awaited together, so after a reconnect their retries run
    /// side by side rather than one after another.
    pub async fn publish_all<I, S, E, T>(&self, events: I) -> Vec<Result<PublishAck, PublishError>>
    where
        I: IntoIterator<Item = (S, E, T)>,
        S: AsRef<str>,
        E: AsRef<str>,
        T: Serialize + Sync,
    {
        let events: Vec<(S, E, T)> = events.into_iter().collect();
        let items = || {
            events
                .iter()
                .map(|(s, e, t)| (s.as_ref(), e.as_ref(), t, None))
        };
        if events.len() >= FAST_MIN_EVENTS {
            let subjects: Vec<&str> = events.iter().map(|(s, _, _)| s.as_ref()).collect();
            if let Some(stream) = self.fast_ingest_stream(&subjects).await {
                return self.publish_all_fast(&stream, items()).await;
            }
        }
        self.publish_pipelined(items()).await
    }

    /// The fast path of [`publish_all`](Self::publish_all).
    async fn publish_all_fast<'a, T: Serialize + Sync + 'a>(
        &self,
        stream: &str,
        items: impl Iterator<Item = Item<'a, T>>,
    ) -> Vec<Result<PublishAck, PublishError>> {
        let items: Vec<Item<'a, T>> = items.collect();
        let mut results: Vec<Option<Result<PublishAck, PublishError>>> =
            items.iter().map(|_| None).collect();
        let mut taker = Taker {
            publisher: self,
            items: &items,
            results: &mut results,
            ids: Vec::with_capacity(items.len()),
            sent: Vec::with_capacity(items.len()),
            taken: 0,
        };
        let outcome = self.send_fast_batch(stream, &mut taker).await;
        let Taker {
            ids, sent, taken, ..
        } = taker;
        // The batch sent at most the messages it took, and all of them are in `sent`.
        let acked = outcome.acked.min(sent.len());
        for &index in &sent[..acked] {
            results[index] = Some(flow_acked(&outcome));
        }
        if let Some(why) = &outcome.stopped {
            tracing::warn!(
                stream,
                acked,
                again = sent.len() - acked + (items.len() - taken),
                why = why.as_str(),
                "fast-ingest batch ended early; publishing the unacknowledged events again"
            );
        }
        // Published with the ids they were built with: the messages no flow ack covered (some
        // may be stored; the last one taken may not have been sent). Published with new ids:
        // the items the batch never took.
        let rest: Vec<(usize, Option<&str>)> = sent[acked..]
            .iter()
            .zip(&ids[acked..])
            .map(|(&index, id)| (index, Some(id.as_str())))
            .chain((taken..items.len()).map(|index| (index, None)))
            .collect();
        let again = self
            .publish_pipelined(rest.iter().map(|&(index, id)| {
                let (subject, event_type, data, _) = items[index];
                (subject, event_type, data, id)
            }))
            .await;
        for (&(index, _), result) in rest.iter().zip(again) {
            results[index] = Some(result);
        }
        with_unsent(results)
    }
}

/// Each event's result in input order; an event that got none (it was never
/// sent) gets an error saying so.
pub(crate) fn with_unsent(
    results: Vec<Option<Result<PublishAck, PublishError>>>,
) -> Vec<Result<PublishAck, PublishError>> {
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Err(PublishError::Send(
                "the event was not sent; publish it again".to_owned(),
            )))
        })
        .collect()
}

/// Builds the messages of a fast batch as the batch takes them, and records what it took: the
/// `Nats-Msg-Id` and index of each message, how many items were looked at, and the error of
/// each item that cannot be sent.
struct Taker<'p, 'i, T> {
    publisher: &'p Publisher,
    items: &'i [Item<'i, T>],
    results: &'i mut [Option<Result<PublishAck, PublishError>>],
    ids: Vec<nuid::NUIDStr>,
    sent: Vec<usize>,
    taken: usize,
}

impl<T: Serialize> Iterator for Taker<'_, '_, T> {
    type Item = FastMessage;

    fn next(&mut self) -> Option<FastMessage> {
        while let Some(&(subject, event_type, data, _)) = self.items.get(self.taken) {
            let index = self.taken;
            self.taken += 1;
            let id = nuid::next();
            let event = Outgoing::event(subject, event_type, data);
            match self.publisher.fast_message(event, id.as_str()) {
                Ok(message) => {
                    self.ids.push(id);
                    self.sent.push(index);
                    return Some(message);
                }
                Err(e) => self.results[index] = Some(Err(e)),
            }
        }
        None
    }
}

impl Publisher {
    /// Builds and checks one fast batch message with `Nats-Msg-Id` `id`.
    fn fast_message<T: Serialize + ?Sized>(
        &self,
        event: Outgoing<'_, T>,
        id: &str,
    ) -> Result<FastMessage, PublishError> {
        let subject = crate::hot_path::subject(event.subject())?;
        let (template, payload) = self.parts(&event)?;
        let header_len = self.header_len(event.event_type(), id.len());
        let (template, header_len) = crate::otel::with_trace_context_template(template, header_len);
        self.check_size(header_len, payload.len())?;
        let mut headers = template.headers.clone();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        Ok(FastMessage {
            subject,
            headers,
            payload,
        })
    }

    /// Publishes `items` pipelined within the window; results in input order.
    ///
    /// The oldest acknowledgement is awaited first; once it has waited 50 ms, every one in
    /// flight is awaited together, so their retries (after a reconnect, say) run side by side,
    /// each within its own retry deadline from its send.
    async fn publish_pipelined<'a, T: Serialize + Sync + 'a>(
        &self,
        items: impl Iterator<Item = Item<'a, T>>,
    ) -> Vec<Result<PublishAck, PublishError>> {
        let window = self.inner.options.window;
        let mut out = Vec::with_capacity(items.size_hint().0);
        let mut in_flight = InFlight::new();
        for (subject, event_type, data, msg_id) in items {
            if in_flight.len() >= window {
                if let Some(((), result)) = in_flight.next().await {
                    out.push(result);
                }
            }
            let builder = self.event(subject, event_type, data);
            let builder = match msg_id {
                Some(id) => builder.msg_id(id),
                None => builder,
            };
            in_flight.push((), PendingAck::settled(builder.send_async().await));
        }
        while let Some(((), result)) = in_flight.next().await {
            out.push(result);
        }
        out
    }
}
