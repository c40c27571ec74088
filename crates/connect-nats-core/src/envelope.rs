//! The standard event envelope (wire format, shared with the Go services).
//!
//! ```json
//! {"type":"invite.created","version":1,"data":{...},"meta":{"ts":1767225600000,"by":"connect-auth"}}
//! ```
//!
//! Fields are written in exactly this order (the order Go's `encoding/json`
//! uses for the original library's struct), through
//! [`GoFormatter`](crate::go_json::GoFormatter), so strings and numbers are
//! escaped and formatted as Go writes them; [`go_json`](crate::go_json) lists
//! what the data's own `Serialize` must do to match Go (sorted map keys).
//! Readers accept extra unknown fields and a missing `version` (taken as 1).
//!
//! This module is the one definition of the wire format: the publisher
//! writes it, the JetStream consumer and the CLI's `tail` read it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Header carrying the event type (`invite.created`) on every event.
pub const HEADER_EVENT_TYPE: &str = "Connect-Event-Type";
/// Header carrying the publishing service's name on every message.
pub const HEADER_SERVICE: &str = "Connect-Service";
/// `Content-Type` header name; its value is always [`CONTENT_TYPE_JSON`].
pub const HEADER_CONTENT_TYPE: &str = "Content-Type";
/// The content type of every message this crate publishes.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// JetStream's de-duplication header, set to a unique id (NUID) on every
/// JetStream publish and kept the same across retries.
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";
/// Header carrying the W3C `traceparent` (trace id, parent span id, flags).
pub const HEADER_TRACEPARENT: &str = "traceparent";
/// Header carrying the W3C `tracestate` (vendor-specific entries).
pub const HEADER_TRACESTATE: &str = "tracestate";
/// The envelope version used when the caller does not choose one.
pub const DEFAULT_VERSION: u32 = 1;

/// Why an envelope could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The event's data could not be turned into JSON.
    #[error("could not serialize the event data to JSON: {0}; check the data type's Serialize implementation (maps need string keys)")]
    Encode(String),
    /// Bytes received are not a standard envelope whose data fits the type.
    #[error("could not decode the event: {0}; it must be a connect envelope (type, version, data, meta) whose data fits the target type; retrying the same bytes fails again")]
    Decode(String),
}

fn default_version() -> u32 {
    DEFAULT_VERSION
}

/// One event in the standard envelope, with typed `data`.
///
/// Use [`Envelope`] (`Event<serde_json::Value>`) to read events of any shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<T> {
    /// Event type, e.g. `invite.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Envelope/data version (1 unless the publisher says otherwise).
    #[serde(default = "default_version")]
    pub version: u32,
    /// The event's payload.
    pub data: T,
    /// Who published it and when.
    pub meta: Meta,
}

/// An event whose `data` is any JSON value.
pub type Envelope = Event<serde_json::Value>;

/// The envelope's `meta` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Publish time, Unix milliseconds.
    pub ts: i64,
    /// The publishing service's name.
    pub by: String,
}

impl<T> Event<T> {
    /// A version-1 event stamped with the current time.
    pub fn new(event_type: impl Into<String>, data: T, by: impl Into<String>) -> Self {
        Event {
            event_type: event_type.into(),
            version: DEFAULT_VERSION,
            data,
            meta: Meta {
                ts: now_millis(),
                by: by.into(),
            },
        }
    }

    /// The same event with another version.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }
}

impl<T: Serialize> Event<T> {
    /// The envelope as JSON bytes (the exact wire form).
    pub fn to_vec(&self) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::with_capacity(96 + self.event_type.len() + self.meta.by.len());
        encode_into(
            &mut out,
            &self.event_type,
            self.version,
            &self.data,
            self.meta.ts,
            &self.meta.by,
        )?;
        Ok(out)
    }
}

impl<T: for<'de> Deserialize<'de>> Event<T> {
    /// Reads an envelope from JSON bytes; unknown extra fields are ignored.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Decode(e.to_string()))
    }
}

/// Current time in Unix milliseconds (0 if the clock is before 1970).
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Borrowed envelope used to serialize without copying the caller's data.
#[derive(Serialize)]
struct EventRef<'a, T: ?Sized> {
    #[serde(rename = "type")]
    event_type: &'a str,
    version: u32,
    data: &'a T,
    meta: MetaRef<'a>,
}

#[derive(Serialize)]
struct MetaRef<'a> {
    ts: i64,
    by: &'a str,
}

/// Appends the envelope's JSON to `out`, borrowing the data (no copy of it).
pub fn encode_into<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    event_type: &str,
    version: u32,
    data: &T,
    ts: i64,
    by: &str,
) -> Result<(), EnvelopeError> {
    let event = EventRef {
        event_type,
        version,
        data,
        meta: MetaRef { ts, by },
    };
    crate::go_json::to_writer(out, &event).map_err(|e| EnvelopeError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Invite {
        invite_id: String,
        room: String,
        seats: u32,
    }

    fn golden_input() -> Event<Invite> {
        Event {
            event_type: "invite.created".into(),
            version: 1,
            data: Invite {
                invite_id: "inv_123".into(),
                room: "lobby".into(),
                seats: 4,
            },
            meta: Meta {
                ts: 1_767_225_600_000,
                by: "connect-auth".into(),
            },
        }
    }

    const GOLDEN: &str = r#"{"type":"invite.created","version":1,"data":{"invite_id":"inv_123","room":"lobby","seats":4},"meta":{"ts":1767225600000,"by":"connect-auth"}}"#;

    #[test]
    fn golden_bytes() {
        let bytes = golden_input().to_vec().unwrap();
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), GOLDEN);
    }

    #[test]
    fn borrowed_encoder_matches_owned_form() {
        let e = golden_input();
        let mut out = Vec::new();
        encode_into(
            &mut out,
            "invite.created",
            1,
            &e.data,
            1_767_225_600_000,
            "connect-auth",
        )
        .unwrap();
        assert_eq!(out, GOLDEN.as_bytes());
    }

    /// Bytes Go's `json.Marshal` writes for the original library's `Event`
    /// with these values (HTML characters, U+2028, whole and tiny floats).
    #[test]
    fn golden_bytes_follow_go_rules() {
        let event = Event {
            event_type: "a<b>&c".to_owned(),
            version: 2,
            data: serde_json::json!({"amount": 1.0, "tiny": 1e-7, "huge": 1e21, "note": "x\u{2028}y\n"}),
            meta: Meta {
                ts: 5,
                by: "svc&co".to_owned(),
            },
        };
        let want = r#"{"type":"a\u003cb\u003e\u0026c","version":2,"data":{"amount":1,"huge":1e+21,"note":"x\u2028y\n","tiny":1e-7},"meta":{"ts":5,"by":"svc\u0026co"}}"#;
        assert_eq!(std::str::from_utf8(&event.to_vec().unwrap()).unwrap(), want);
        let back = Envelope::from_slice(want.as_bytes()).unwrap();
        assert_eq!(
            (&back.event_type, &back.meta),
            (&event.event_type, &event.meta)
        );
        assert_eq!(back.data["note"], event.data["note"]);
        assert_eq!(back.data["amount"].as_f64(), Some(1.0));
    }

    #[test]
    fn decodes_go_produced_envelope_with_unknown_fields() {
        // Shape written by the Go library (plus fields a newer producer might add).
        let go = br#"{
            "type": "invite.created",
            "version": 1,
            "data": {"invite_id": "inv_123", "room": "lobby", "seats": 4, "extra": true},
            "meta": {"ts": 1767225600000, "by": "connect-auth", "host": "pod-7"},
            "trace": "abc"
        }"#;
        let e: Event<Invite> = Event::from_slice(go).unwrap();
        assert_eq!(e, golden_input());
        let any = Envelope::from_slice(go).unwrap();
        assert_eq!(any.data["extra"], serde_json::json!(true));
    }

    #[test]
    fn missing_version_means_one() {
        let e = Envelope::from_slice(
            br#"{"type":"presence.updated","data":null,"meta":{"ts":1,"by":"go-svc"}}"#,
        )
        .unwrap();
        assert_eq!(e.version, 1);
        assert_eq!(e.data, serde_json::Value::Null);
    }

    #[test]
    fn not_an_envelope_is_a_decode_error() {
        let err = Envelope::from_slice(br#"{"hello":"world"}"#).unwrap_err();
        assert!(matches!(err, EnvelopeError::Decode(_)), "{err}");
        assert!(err.to_string().contains("missing field"), "{err}");
    }
}
