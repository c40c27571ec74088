//! What a handler receives ([`Delivery`]) and how it fails ([`HandlerError`]).

use async_nats::HeaderMap;
use bytes::Bytes;
use connect_nats_core::envelope::Event;
use serde::de::DeserializeOwned;
use std::any::type_name;

/// How a handler failed, which decides what happens to the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Worth another try (a dependency was down, a timeout): the message is
    /// redelivered after the next backoff delay, until `max_deliver`.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will never succeed (bad payload, rejected by business rules): the
    /// message goes to the dead-letter subject at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl HandlerError {
    /// A retryable failure with this reason.
    pub fn retryable(reason: impl std::fmt::Display) -> Self {
        HandlerError::Retryable(reason.to_string())
    }

    /// A permanent failure with this reason.
    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        HandlerError::Permanent(reason.to_string())
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        match self {
            HandlerError::Retryable(r) | HandlerError::Permanent(r) => r,
        }
    }

    /// Whether this is [`HandlerError::Permanent`].
    pub fn is_permanent(&self) -> bool {
        matches!(self, HandlerError::Permanent(_))
    }
}

/// One delivery of a message to a handler: the message and where it came from.
///
/// Decode a connect event with [`Delivery::event`], any JSON with
/// [`Delivery::json`] (a decode failure is a
/// permanent error, so `let event: MyEvent = delivery.json()?;` dead-letters
/// undecodable messages) or read it raw with [`Delivery::payload`].
#[derive(Debug, Clone)]
pub struct Delivery {
    subject: String,
    payload: Bytes,
    headers: Option<HeaderMap>,
    stream: String,
    consumer: String,
    stream_sequence: u64,
    consumer_sequence: u64,
    delivered: u64,
    pending: u64,
}

impl Delivery {
    /// A delivery built by hand, for testing handlers without a server:
    /// first delivery, sequence 1, no headers.
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            subject: subject.into(),
            payload: payload.into(),
            headers: None,
            stream: String::new(),
            consumer: String::new(),
            stream_sequence: 1,
            consumer_sequence: 1,
            delivered: 1,
            pending: 0,
        }
    }

    /// Sets the headers (for tests).
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(headers);
        self
    }

    /// Sets the delivery count (for tests).
    pub fn with_delivered(mut self, delivered: u64) -> Self {
        self.delivered = delivered;
        self
    }

    /// Sets the stream and its sequence (for tests).
    pub fn with_stream(mut self, stream: impl Into<String>, sequence: u64) -> Self {
        self.stream = stream.into();
        self.stream_sequence = sequence;
        self
    }

    /// Builds a delivery from a JetStream message; `None` when the message
    /// has no JetStream reply subject to read its metadata from.
    pub(crate) fn from_message(message: &async_nats::jetstream::Message) -> Option<Self> {
        let info = message.info().ok()?;
        Some(Self {
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
            headers: message.headers.clone(),
            stream: info.stream.to_owned(),
            consumer: info.consumer.to_owned(),
            stream_sequence: info.stream_sequence,
            consumer_sequence: info.consumer_sequence,
            delivered: u64::try_from(info.delivered).unwrap_or(1).max(1),
            pending: info.pending,
        })
    }

    /// The subject the message was published on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The raw payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The headers, if any.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.headers.as_ref()
    }

    /// The last value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.as_ref()?.get_last(name).map(|v| v.as_str())
    }

    /// The stream the message is stored in.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The consumer that delivered it.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The message's sequence in its stream.
    pub fn stream_sequence(&self) -> u64 {
        self.stream_sequence
    }

    /// The consumer's delivery sequence.
    pub fn consumer_sequence(&self) -> u64 {
        self.consumer_sequence
    }

    /// Which delivery this is: 1 the first time, 2 on the first retry…
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Whether the message was delivered before.
    pub fn is_redelivery(&self) -> bool {
        self.delivered > 1
    }

    /// Messages still pending for the consumer, as the server counted them.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Decodes the payload as JSON; a failure is a [`HandlerError::Permanent`]
    /// naming the subject, sequence and expected type.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        let result = serde_json::from_slice(&self.payload);
        result.map_err(|e| self.undecodable(format_args!("a valid `{}`", type_name::<T>()), e))
    }

    /// Decodes the payload as a standard connect event
    /// ([`connect_nats_core::envelope::Event`]) whose `data` is a `T`; a
    /// failure is a [`HandlerError::Permanent`] naming the subject and
    /// sequence, so `let event: Event<Invite> = delivery.event()?;`
    /// dead-letters what is not such an event.
    pub fn event<T: DeserializeOwned>(&self) -> Result<Event<T>, HandlerError> {
        Event::from_slice(&self.payload).map_err(|e| {
            let expected = format_args!("a connect event with `{}` data", type_name::<T>());
            self.undecodable(expected, e)
        })
    }

    /// The permanent failure of a payload that is not `expected`.
    fn undecodable(
        &self,
        expected: std::fmt::Arguments<'_>,
        error: impl std::fmt::Display,
    ) -> HandlerError {
        HandlerError::Permanent(format!(
            "payload of `{}` (stream sequence {}) is not {expected}: {error}",
            self.subject, self.stream_sequence
        ))
    }

    /// The payload as UTF-8 text; invalid UTF-8 is a [`HandlerError::Permanent`].
    pub fn text(&self) -> Result<&str, HandlerError> {
        std::str::from_utf8(&self.payload).map_err(|e| {
            HandlerError::Permanent(format!(
                "payload of `{}` (stream sequence {}) is not UTF-8: {e}",
                self.subject, self.stream_sequence
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Event {
        id: u32,
    }

    #[test]
    fn json_decodes_or_fails_permanently() {
        let ok = Delivery::new("a.b", r#"{"id":7}"#);
        assert_eq!(ok.json::<Event>(), Ok(Event { id: 7 }));

        let bad = Delivery::new("a.b", "nope").with_stream("S", 42);
        let err = bad.json::<Event>().expect_err("not JSON");
        assert!(err.is_permanent());
        assert!(err.reason().contains("a.b"), "{err}");
        assert!(err.reason().contains("42"), "{err}");
        assert!(err.reason().contains("Event"), "{err}");
    }

    #[test]
    fn event_decodes_the_envelope_or_fails_permanently() {
        let ok = Delivery::new(
            "a.b",
            r#"{"type":"x.created","version":2,"data":{"id":7},"meta":{"ts":1,"by":"svc"}}"#,
        );
        let event = ok.event::<Event>().expect("an envelope");
        assert_eq!((event.event_type.as_str(), event.version), ("x.created", 2));
        assert_eq!(event.data, Event { id: 7 });

        let bad = Delivery::new("a.b", r#"{"id":7}"#).with_stream("S", 9);
        let err = bad.event::<Event>().expect_err("not an envelope");
        assert!(err.is_permanent());
        assert!(err.reason().contains("sequence 9"), "{err}");
    }

    #[test]
    fn accessors() {
        let mut headers = HeaderMap::new();
        headers.insert("Event-Type", "x.created");
        let d = Delivery::new("a.b", "hi")
            .with_headers(headers)
            .with_delivered(3);
        assert_eq!(d.header("Event-Type"), Some("x.created"));
        assert_eq!(d.header("Missing"), None);
        assert!(d.is_redelivery());
        assert_eq!(d.text(), Ok("hi"));
        assert!(Delivery::new("a", vec![0xff_u8]).text().is_err());
    }
}
