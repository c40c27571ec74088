//! An in-memory [`EventPublisher`] for services' unit tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use connect_nats_core::envelope::{encode_into, now_millis, Envelope, EnvelopeError};

use crate::error::PublishError;
use crate::event_publisher::EventPublisher;
use crate::message::{inherent_publish_api, Outgoing};
#[cfg(feature = "jetstream")]
use crate::outcome::PublishAck;
use crate::outcome::{CoreDelivery, Route};
use crate::subject::validate_publish_subject;
use crate::template::{event_type_header, msg_id_header};

/// Stream name reported in the acks of an [`InMemoryPublisher`].
pub const IN_MEMORY_STREAM: &str = "IN_MEMORY";

/// One event recorded by an [`InMemoryPublisher`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Subject it was published to.
    pub subject: String,
    /// Core or JetStream.
    pub route: Route,
    /// Event type; `None` for a plain `message(…)`.
    pub event_type: Option<String>,
    /// The `Nats-Msg-Id` given with `.msg_id(…)`, if any.
    pub msg_id: Option<String>,
    /// The JSON the real publisher would have sent (the envelope for events).
    pub payload: Vec<u8>,
    /// The caller's data as JSON.
    pub data: serde_json::Value,
    /// Stream sequence given in the ack (JetStream only).
    pub sequence: Option<u64>,
}

impl RecordedEvent {
    /// The payload decoded as an envelope (for events).
    pub fn envelope(&self) -> Result<Envelope, EnvelopeError> {
        Envelope::from_slice(&self.payload)
    }

    /// The data decoded into `T`.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, EnvelopeError> {
        serde_json::from_value(self.data.clone()).map_err(|e| EnvelopeError::Decode(e.to_string()))
    }
}

#[derive(Default)]
struct State {
    events: Vec<RecordedEvent>,
    failures: VecDeque<PublishError>,
    sequence: u64,
}

/// Records events instead of sending them; same trait as [`Publisher`](crate::Publisher).
///
/// Validates subjects, event types and serialization like the real one, so
/// a test catches the same mistakes. Clones share the record.
///
/// ```
/// use connect_nats_publisher::{EventPublisher, InMemoryPublisher};
///
/// async fn on_invite<P: EventPublisher>(p: &P, id: &str) -> Result<(), connect_nats_publisher::PublishError> {
///     p.event("connect.invite.created", "invite.created", &serde_json::json!({ "id": id })).core().await?;
///     Ok(())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let publisher = InMemoryPublisher::new("connect-auth");
/// on_invite(&publisher, "inv_1").await.unwrap();
/// let event = publisher.assert_published("invite.created");
/// assert_eq!(event.data["id"], "inv_1");
/// # });
/// ```
#[derive(Clone)]
pub struct InMemoryPublisher {
    service_name: Arc<str>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for InMemoryPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryPublisher")
            .field("service_name", &self.service_name)
            .field("events", &self.lock().events.len())
            .finish()
    }
}

impl Default for InMemoryPublisher {
    fn default() -> Self {
        InMemoryPublisher::new(connect_nats_core::config::DEFAULT_CLIENT_ID)
    }
}

inherent_publish_api!(InMemoryPublisher);

impl InMemoryPublisher {
    /// An empty recorder publishing as `service_name`.
    pub fn new(service_name: impl Into<String>) -> Self {
        InMemoryPublisher {
            service_name: Arc::from(service_name.into()),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every event recorded so far, in order.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.lock().events.clone()
    }

    /// The events of one type, in order.
    pub fn events_of_type(&self, event_type: &str) -> Vec<RecordedEvent> {
        self.lock()
            .events
            .iter()
            .filter(|e| e.event_type.as_deref() == Some(event_type))
            .cloned()
            .collect()
    }

    /// The events published to one subject, in order.
    pub fn events_on(&self, subject: &str) -> Vec<RecordedEvent> {
        self.lock()
            .events
            .iter()
            .filter(|e| e.subject == subject)
            .cloned()
            .collect()
    }

    /// Whether an event of this type was published.
    pub fn published(&self, event_type: &str) -> bool {
        self.lock()
            .events
            .iter()
            .any(|e| e.event_type.as_deref() == Some(event_type))
    }

    /// How many events were recorded.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// Forgets everything recorded (and pending failures).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.events.clear();
        s.failures.clear();
    }

    /// Makes the next publish fail with `error` (queued: call it N times to
    /// fail the next N publishes). Nothing is recorded for a failed publish.
    pub fn fail_next(&self, error: PublishError) {
        self.lock().failures.push_back(error);
    }

    /// Test assertion: returns the last event of `event_type`, or panics
    /// with the list of what was published.
    #[track_caller]
    #[allow(clippy::panic)] // a test assertion reports by panicking
    pub fn assert_published(&self, event_type: &str) -> RecordedEvent {
        let s = self.lock();
        match s
            .events
            .iter()
            .rev()
            .find(|e| e.event_type.as_deref() == Some(event_type))
        {
            Some(e) => e.clone(),
            None => panic!(
                "expected an event of type {event_type:?} to be published; published: {:?}",
                summary(&s.events)
            ),
        }
    }

    /// Test assertion: panics if an event of `event_type` was published.
    #[track_caller]
    #[allow(clippy::panic)] // a test assertion reports by panicking
    pub fn assert_not_published(&self, event_type: &str) {
        let s = self.lock();
        if s.events
            .iter()
            .any(|e| e.event_type.as_deref() == Some(event_type))
        {
            panic!(
                "expected no event of type {event_type:?}; published: {:?}",
                summary(&s.events)
            );
        }
    }

    fn record<T: Serialize + ?Sized>(
        &self,
        route: Route,
        message: &Outgoing<'_, T>,
    ) -> Result<Option<u64>, PublishError> {
        validate_publish_subject(message.subject())?;
        if let Some(t) = message.event_type() {
            event_type_header(t)?;
        }
        if let Some(id) = message.msg_id() {
            msg_id_header(id)?;
        }
        let value = serde_json::to_value(message.data())?;
        let mut payload = Vec::new();
        match message.event_type() {
            Some(t) => encode_into(
                &mut payload,
                t,
                message.version(),
                &value,
                now_millis(),
                &self.service_name,
            )
            .map_err(|e| PublishError::Serialize(e.to_string()))?,
            None => connect_nats_core::go_json::to_writer(&mut payload, &value)?,
        }
        let mut s = self.lock();
        if let Some(err) = s.failures.pop_front() {
            return Err(err);
        }
        let sequence = match route {
            Route::JetStream => {
                s.sequence += 1;
                Some(s.sequence)
            }
            Route::Core => None,
        };
        s.events.push(RecordedEvent {
            subject: message.subject().to_owned(),
            route,
            event_type: message.event_type().map(str::to_owned),
            msg_id: message.msg_id().map(str::to_owned),
            payload,
            data: value,
            sequence,
        });
        Ok(sequence)
    }
}

fn summary(events: &[RecordedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.event_type {
            Some(t) => format!("{t} on {}", e.subject),
            None => format!("(plain) on {}", e.subject),
        })
        .collect()
}

impl EventPublisher for InMemoryPublisher {
    fn service_name(&self) -> &str {
        &self.service_name
    }

    async fn send_core<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> Result<CoreDelivery, PublishError> {
        self.record(Route::Core, &message)
            .map(|_| CoreDelivery::Sent)
    }

    #[cfg(feature = "jetstream")]
    async fn send_jetstream<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> Result<crate::PendingAck, PublishError> {
        let ack = self
            .record(Route::JetStream, &message)
            .map(|sequence| PublishAck {
                stream: IN_MEMORY_STREAM.to_owned(),
                sequence: sequence.unwrap_or_default(),
                duplicate: false,
                domain: None,
            });
        Ok(crate::PendingAck::ready(ack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Invite<'a> {
        id: &'a str,
    }

    async fn handler<P: EventPublisher>(p: &P) -> Result<(), PublishError> {
        p.event(
            "connect.invite.created",
            "invite.created",
            &Invite { id: "inv_1" },
        )
        .version(2)
        .msg_id("inv_1")
        .core()
        .await?;
        p.event("connect.presence.updated", "presence.updated", &42)
            .core()
            .await?;
        p.message("cache.user.1", &"plain").core().await?;
        Ok(())
    }

    #[tokio::test]
    async fn records_what_a_handler_published() {
        let p = InMemoryPublisher::new("connect-auth");
        handler(&p).await.unwrap();
        let e = p.assert_published("invite.created");
        assert_eq!(e.route, Route::Core);
        assert_eq!(e.sequence, None);
        assert_eq!(e.msg_id.as_deref(), Some("inv_1"));
        let env = e.envelope().unwrap();
        assert_eq!(env.meta.by, "connect-auth");
        assert_eq!(env.version, 2);
        assert_eq!(env.data, serde_json::json!({"id": "inv_1"}));
        assert!(p.published("presence.updated"));
        assert_eq!(p.events_on("connect.presence.updated").len(), 1);
        let plain = &p.events_on("cache.user.1")[0];
        assert_eq!(
            (plain.event_type.as_deref(), &plain.payload[..]),
            (None, &b"\"plain\""[..])
        );
        p.assert_not_published("invite.revoked");
        assert_eq!(p.len(), 3);
    }

    #[cfg(feature = "jetstream")]
    #[tokio::test]
    async fn jetstream_sends_are_acknowledged_with_a_sequence() {
        let p = InMemoryPublisher::new("connect-auth");
        let ack = p.event("a.b", "t", &1).send().await.unwrap();
        assert_eq!((ack.stream.as_str(), ack.sequence), (IN_MEMORY_STREAM, 1));
        let pending = p.message("a.b", &2).send_async().await.unwrap();
        assert_eq!(pending.await.unwrap().sequence, 2);
        assert!(p.events().iter().all(|e| e.route == Route::JetStream));
    }

    #[tokio::test]
    async fn validates_like_the_real_one_and_injects_failures() {
        let p = InMemoryPublisher::default();
        let err = p.event("connect.*", "x", &1).core().await.unwrap_err();
        assert!(matches!(err, PublishError::InvalidSubject { .. }));
        let err = p.event("a.b", "bad\r\ntype", &1).core().await.unwrap_err();
        assert!(matches!(err, PublishError::InvalidEventType { .. }));
        let err = p
            .event("a.b", "t", &1)
            .msg_id("a\nb")
            .core()
            .await
            .unwrap_err();
        assert!(matches!(err, PublishError::InvalidMsgId { .. }));
        p.fail_next(PublishError::Simulated("down".into()));
        let err = p.event("a.b", "t", &1).core().await.unwrap_err();
        assert_eq!(err, PublishError::Simulated("down".into()));
        assert!(p.is_empty());
        p.event("a.b", "t", &1).core().await.unwrap();
        assert_eq!(p.len(), 1);
    }

    #[test]
    #[should_panic(expected = "expected an event of type \"invite.created\"")]
    fn assert_published_names_what_was_published() {
        InMemoryPublisher::default().assert_published("invite.created");
    }
}
