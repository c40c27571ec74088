//! Per-event-type templates that keep the per-message work small.
//!
//! For each event type the publisher sees, it keeps the pre-escaped start of
//! the envelope (`{"type":"invite.created","version":`) and the header map
//! the [`HeaderPolicy`] asks for: empty with `minimal`, `Content-Type`,
//! `Connect-Service` and `Connect-Event-Type` with `full`. Both are built
//! once per (policy, service, event type). A publish then clones the header
//! map (an empty one costs nothing; a full one is cloned without hashing or
//! growth), copies the prefix and only serializes the caller's data and the
//! timestamp.
//!
//! Payloads are written straight into a per-thread slab (a 16 KiB
//! `BytesMut`) and split off as reference-counted slices, so a payload costs
//! no allocation of its own: a slab is freed when the last payload cut from
//! it is dropped. Payloads kept for long (the disconnected buffer) are copied
//! out of the slab so a few of them cannot pin many slabs.
//!
//! The bytes are identical to [`Event::to_vec`](crate::Event::to_vec): both
//! write through `connect_nats_core::go_json`, as Go's `encoding/json` would
//! (unit-tested below).

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::error::PublishError;
use crate::options::HeaderPolicy;
use connect_nats_core::envelope::{
    CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_EVENT_TYPE, HEADER_SERVICE,
};
use connect_nats_core::go_json;

pub(crate) const NAME_EVENT_TYPE: HeaderName = HeaderName::from_static(HEADER_EVENT_TYPE);
pub(crate) const NAME_SERVICE: HeaderName = HeaderName::from_static(HEADER_SERVICE);
pub(crate) const NAME_CONTENT_TYPE: HeaderName = HeaderName::from_static(HEADER_CONTENT_TYPE);

/// Most event types remembered; beyond this, templates are built per call.
const MAX_CACHED_TYPES: usize = 1024;
/// Size of a fresh per-thread payload slab.
const SLAB_SIZE: usize = 16 * 1024;
/// A slab with less room than this left is replaced before writing.
const SLAB_MIN_ROOM: usize = 1024;

thread_local! {
    static SLAB: RefCell<BytesMut> = RefCell::new(BytesMut::new());
    /// The template this thread used last.
    static LAST: RefCell<Option<LastUsed>> = const { RefCell::new(None) };
}

/// (templates id, event type, template).
type LastUsed = (u64, Box<str>, Arc<HeaderTemplate>);

/// Ids of `Templates` instances (for the per-thread last-used cache).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Headers (and envelope prefix) for one event type, or for plain publishes.
#[derive(Debug)]
pub(crate) struct HeaderTemplate {
    /// `{"type":"<escaped type>","version":` (empty for plain publishes).
    prefix: Box<[u8]>,
    /// With [`HeaderPolicy::Full`], `Content-Type`, `Connect-Service` and
    /// (events) `Connect-Event-Type`; empty with [`HeaderPolicy::Minimal`].
    pub(crate) headers: HeaderMap,
}

impl HeaderTemplate {
    /// The same envelope prefix with other headers (the trace context of one
    /// JetStream publish, feature `otel`).
    #[cfg(all(feature = "otel", feature = "jetstream"))]
    pub(crate) fn with_headers(&self, headers: HeaderMap) -> HeaderTemplate {
        HeaderTemplate {
            prefix: self.prefix.clone(),
            headers,
        }
    }
}

pub(crate) struct Templates {
    id: u64,
    policy: HeaderPolicy,
    /// Headers of plain (non-event) publishes.
    plain: Arc<HeaderTemplate>,
    /// `,"by":"<escaped service>"}}`
    by_suffix: Box<[u8]>,
    service_header: HeaderValue,
    by_type: RwLock<HashMap<Box<str>, Arc<HeaderTemplate>>>,
}

impl Templates {
    pub(crate) fn new(service_name: &str, policy: HeaderPolicy) -> Self {
        let service_header = service_header_value(service_name);
        let mut plain_headers = HeaderMap::new();
        if policy.is_full() {
            plain_headers.insert(
                NAME_CONTENT_TYPE,
                HeaderValue::from_str(CONTENT_TYPE_JSON).unwrap_or_default(),
            );
            plain_headers.insert(NAME_SERVICE, service_header.clone());
        }
        let mut by_suffix = b",\"by\":".to_vec();
        // Writing a &str into a Vec cannot fail.
        let _ = go_json::to_writer(&mut by_suffix, service_name);
        by_suffix.extend_from_slice(b"}}");
        Templates {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            policy,
            plain: Arc::new(HeaderTemplate {
                prefix: Box::default(),
                headers: plain_headers,
            }),
            by_suffix: by_suffix.into_boxed_slice(),
            service_header,
            by_type: RwLock::new(HashMap::new()),
        }
    }

    /// The `Connect-Service` header value.
    pub(crate) fn service_header(&self) -> &HeaderValue {
        &self.service_header
    }

    /// The header policy the templates follow.
    pub(crate) fn policy(&self) -> HeaderPolicy {
        self.policy
    }

    /// Headers of a plain publish.
    pub(crate) fn plain(&self) -> Arc<HeaderTemplate> {
        Arc::clone(&self.plain)
    }

    /// Header template and payload of an event.
    pub(crate) fn event<T: Serialize + ?Sized>(
        &self,
        event_type: &str,
        version: u32,
        data: &T,
        ts: i64,
    ) -> Result<(Arc<HeaderTemplate>, Bytes), PublishError> {
        let template = self.template(event_type)?;
        let payload = self.encode(&template.prefix, version, data, ts)?;
        Ok((template, payload))
    }

    /// The template of `event_type`: this thread's last one, the shared
    /// cache's, or a new one.
    fn template(&self, event_type: &str) -> Result<Arc<HeaderTemplate>, PublishError> {
        let last = LAST.with(|cell| {
            cell.try_borrow().ok().and_then(|last| match &*last {
                Some((id, t, template)) if *id == self.id && &**t == event_type => {
                    Some(Arc::clone(template))
                }
                _ => None,
            })
        });
        if let Some(template) = last {
            return Ok(template);
        }
        let cached = self
            .by_type
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(event_type)
            .cloned();
        let template = match cached {
            Some(t) => t,
            None => {
                let template = Arc::new(self.build(event_type)?);
                let mut cache = self.by_type.write().unwrap_or_else(|p| p.into_inner());
                if cache.len() < MAX_CACHED_TYPES {
                    cache.insert(event_type.into(), Arc::clone(&template));
                }
                template
            }
        };
        LAST.with(|cell| {
            if let Ok(mut last) = cell.try_borrow_mut() {
                *last = Some((self.id, event_type.into(), Arc::clone(&template)));
            }
        });
        Ok(template)
    }

    fn build(&self, event_type: &str) -> Result<HeaderTemplate, PublishError> {
        let value = event_type_header(event_type)?;
        let mut headers = self.plain.headers.clone();
        if self.policy.is_full() {
            headers.insert(NAME_EVENT_TYPE, value);
        }
        let mut prefix = b"{\"type\":".to_vec();
        go_json::to_writer(&mut prefix, event_type)?;
        prefix.extend_from_slice(b",\"version\":");
        Ok(HeaderTemplate {
            prefix: prefix.into_boxed_slice(),
            headers,
        })
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        prefix: &[u8],
        version: u32,
        data: &T,
        ts: i64,
    ) -> Result<Bytes, PublishError> {
        let write = |buf: &mut SlabWriter<'_>| -> Result<(), PublishError> {
            buf.put(prefix);
            go_json::to_writer(&mut *buf, &version)?;
            buf.put(b",\"data\":");
            go_json::to_writer(&mut *buf, data)?;
            buf.put(b",\"meta\":{\"ts\":");
            go_json::to_writer(&mut *buf, &ts)?;
            buf.put(&self.by_suffix);
            Ok(())
        };
        with_buffer(write)
    }
}

/// Serializes plain JSON (no envelope), as Go would, into an exactly-sized
/// payload.
pub(crate) fn encode_plain<T: Serialize + ?Sized>(data: &T) -> Result<Bytes, PublishError> {
    with_buffer(|buf| go_json::to_writer(&mut *buf, data).map_err(PublishError::from))
}

/// An `io::Write` appending to a `BytesMut` (monomorphic, so serde_json's
/// many small writes inline to plain copies).
pub(crate) struct SlabWriter<'a>(&'a mut BytesMut);

impl SlabWriter<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl std::io::Write for SlabWriter<'_> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(buf);
        Ok(())
    }
    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `write` on this thread's payload slab and splits the result off as
/// its own `Bytes` (re-entrant calls use a fresh buffer).
fn with_buffer(
    write: impl FnOnce(&mut SlabWriter<'_>) -> Result<(), PublishError>,
) -> Result<Bytes, PublishError> {
    SLAB.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slab) => {
            if slab.capacity() - slab.len() < SLAB_MIN_ROOM {
                *slab = BytesMut::with_capacity(SLAB_SIZE);
            }
            let result = write(&mut SlabWriter(&mut slab));
            let bytes = slab.split().freeze();
            result.map(|()| bytes)
        }
        Err(_) => {
            let mut buf = BytesMut::with_capacity(256);
            write(&mut SlabWriter(&mut buf)).map(|()| buf.freeze())
        }
    })
}

/// A header value from a service name: control characters (which would
/// break the header block) are replaced by `_`.
fn service_header_value(name: &str) -> HeaderValue {
    let clean: String = name
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    if clean != name {
        tracing::warn!("service name contains control characters; they are replaced by `_` in the Connect-Service header");
    }
    HeaderValue::from_str(&clean).unwrap_or_default()
}

/// A header value from caller text: refused when empty, with a control
/// character, or otherwise not a valid header value (the reason is returned).
fn checked_header_value(text: &str) -> Result<HeaderValue, &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    if text.chars().any(char::is_control) {
        return Err("it contains a control character");
    }
    HeaderValue::from_str(text).map_err(|_| "it is not a valid header value")
}

/// `NATS/1.0\r\n` + final `\r\n` around a header block.
pub(crate) const HEADER_FRAME_LEN: usize = 12;
/// `: ` + `\r\n` around each header.
pub(crate) const HEADER_LINE_EXTRA: usize = 4;

/// Wire length of a header block of `lines` bytes (name, value and the
/// separators of each header): 0 when there is no header at all, since
/// async-nats then sends a plain `PUB`.
pub(crate) fn header_block_len(lines: usize) -> usize {
    if lines == 0 {
        0
    } else {
        HEADER_FRAME_LEN + lines
    }
}

/// Validates a caller-chosen `Nats-Msg-Id` and turns it into a header value.
pub(crate) fn msg_id_header(msg_id: &str) -> Result<HeaderValue, PublishError> {
    checked_header_value(msg_id).map_err(|reason| PublishError::InvalidMsgId {
        msg_id: msg_id.to_owned(),
        reason,
    })
}

/// A copy of `headers` with a caller-chosen `Nats-Msg-Id`.
pub(crate) fn with_msg_id(headers: &HeaderMap, msg_id: &str) -> Result<HeaderMap, PublishError> {
    let value = msg_id_header(msg_id)?;
    let mut headers = headers.clone();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, value);
    Ok(headers)
}

/// Validates an event type and turns it into a header value.
pub(crate) fn event_type_header(event_type: &str) -> Result<HeaderValue, PublishError> {
    checked_header_value(event_type).map_err(|reason| PublishError::InvalidEventType {
        event_type: event_type.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connect_nats_core::envelope::{Event, Meta};

    #[derive(Serialize)]
    struct Data<'a> {
        s: &'a str,
        n: i32,
        f: f64,
        v: Vec<u8>,
    }

    #[test]
    fn fast_encoding_matches_serde_envelope() {
        let cases = [
            ("invite.created", "connect-auth", 1u32, 1_767_225_600_000i64),
            ("quote\"and\\back", "svc \"x\" é ✓", 7, 0),
            ("presence.updated", "s", u32::MAX, -5),
            ("a<b>&c\u{2028}", "svc&<co>\u{2029}", 2, 9),
        ];
        for (t, by, version, ts) in cases {
            let data = Data {
                s: "a\"b\n<&>\u{2028}",
                n: -3,
                f: 1.0,
                v: vec![1, 2],
            };
            let templates = Templates::new(by, HeaderPolicy::Full);
            // Twice: uncached, then cached.
            for _ in 0..2 {
                let (template, payload) = templates.event(t, version, &data, ts).unwrap();
                let headers = &template.headers;
                let expected = Event {
                    event_type: t.to_owned(),
                    version,
                    data: &data,
                    meta: Meta {
                        ts,
                        by: by.to_owned(),
                    },
                }
                .to_vec()
                .unwrap();
                assert_eq!(payload, expected, "{t} / {by}");
                assert_eq!(headers.get(HEADER_EVENT_TYPE).map(|v| v.as_str()), Some(t));
                assert_eq!(headers.get(HEADER_SERVICE).map(|v| v.as_str()), Some(by));
            }
        }
    }

    #[test]
    fn event_payload_is_what_go_writes() {
        let templates = Templates::new("svc&co", HeaderPolicy::Minimal);
        let data = Data {
            s: "<b>\u{2028}",
            n: 1,
            f: 2.0,
            v: vec![],
        };
        let (_, payload) = templates.event("a&b", 1, &data, 7).unwrap();
        assert_eq!(
            std::str::from_utf8(&payload).unwrap(),
            r#"{"type":"a\u0026b","version":1,"data":{"s":"\u003cb\u003e\u2028","n":1,"f":2,"v":[]},"meta":{"ts":7,"by":"svc\u0026co"}}"#
        );
        assert_eq!(encode_plain(&1e21).unwrap(), &b"1e+21"[..]);
    }

    #[test]
    fn plain_encoding_and_headers() {
        let templates = Templates::new("svc", HeaderPolicy::Full);
        assert_eq!(
            encode_plain(&serde_json::json!({"k": 1})).unwrap(),
            &b"{\"k\":1}"[..]
        );
        let h = &templates.plain().headers;
        assert_eq!(
            h.get(HEADER_CONTENT_TYPE).map(|v| v.as_str()),
            Some(CONTENT_TYPE_JSON)
        );
        assert_eq!(h.get(HEADER_EVENT_TYPE), None);
    }

    #[test]
    fn minimal_templates_carry_no_header_and_the_same_envelope() {
        let minimal = Templates::new("svc", HeaderPolicy::Minimal);
        let full = Templates::new("svc", HeaderPolicy::Full);
        assert!(minimal.plain().headers.is_empty());
        let (template, payload) = minimal.event("invite.created", 1, &7, 5).unwrap();
        assert!(template.headers.is_empty());
        let (_, full_payload) = full.event("invite.created", 1, &7, 5).unwrap();
        assert_eq!(payload, full_payload);
        assert_eq!(header_block_len(0), 0);
        assert_eq!(header_block_len(10), HEADER_FRAME_LEN + 10);
    }

    #[test]
    fn bad_event_types_are_refused_and_not_cached() {
        let templates = Templates::new("svc", HeaderPolicy::Minimal);
        for bad in ["", "a\r\nb", "tab\there"] {
            let err = templates.event(bad, 1, &1, 0).unwrap_err();
            assert!(
                matches!(err, PublishError::InvalidEventType { .. }),
                "{bad:?}: {err}"
            );
        }
        assert!(templates.by_type.read().unwrap().is_empty());
    }

    #[test]
    fn control_characters_in_service_name_do_not_break_headers() {
        let templates = Templates::new("bad\r\nname", HeaderPolicy::Full);
        assert_eq!(templates.service_header().as_str(), "bad__name");
    }
}
