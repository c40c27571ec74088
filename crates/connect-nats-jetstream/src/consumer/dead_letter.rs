//! Dead letters: the headers added to a message published to a consumer's
//! dead-letter subject.
//!
//! A dead letter carries the original payload and the original headers
//! (except the server-interpreted `Nats-*` ones, which could make the publish
//! fail or be deduplicated wrongly), plus the headers below. It is published
//! with `Nats-Msg-Id: dl:<stream>:<consumer>:<sequence>`, so publishing the
//! same dead letter twice stores it once within the dead-letter stream's
//! duplicate window.

use async_nats::HeaderMap;
use connect_nats_config::redact_secrets;

use super::outcome::DeadLetterReason;

/// Why: `permanent` (the handler said so) or `max_deliver` (tried enough).
pub const REASON: &str = "Connect-Dead-Letter-Reason";
/// The handler's error message, one line of at most 1024 bytes, with secrets
/// hidden as in the consumer's logs
/// ([`redact_secrets`](connect_nats_config::redact_secrets)).
pub const ERROR: &str = "Connect-Dead-Letter-Error";
/// How many times the message was delivered.
pub const DELIVERED: &str = "Connect-Dead-Letter-Delivered";
/// The stream the message came from.
pub const STREAM: &str = "Connect-Dead-Letter-Stream";
/// Its sequence in that stream.
pub const SEQUENCE: &str = "Connect-Dead-Letter-Sequence";
/// The subject it was published on.
pub const SUBJECT: &str = "Connect-Dead-Letter-Subject";
/// The durable consumer that gave up on it.
pub const CONSUMER: &str = "Connect-Dead-Letter-Consumer";
/// The original `Nats-Msg-Id`, if it had one.
pub const ORIGINAL_MSG_ID: &str = "Connect-Dead-Letter-Msg-Id";

/// Longest header value written (longer error messages are cut).
const MAX_VALUE_LEN: usize = 1024;

/// The facts about a failed message that go into its dead letter.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetterFacts<'a> {
    pub reason: DeadLetterReason,
    pub error: &'a str,
    pub delivered: u64,
    pub stream: &'a str,
    pub sequence: u64,
    pub subject: &'a str,
    pub consumer: &'a str,
}

/// The `Nats-Msg-Id` of a dead letter.
pub(crate) fn dead_letter_id(stream: &str, consumer: &str, sequence: u64) -> String {
    format!("dl:{stream}:{consumer}:{sequence}")
}

/// The headers of the dead letter for a message with `original` headers.
pub(crate) fn dead_letter_headers(
    original: Option<&HeaderMap>,
    facts: &DeadLetterFacts<'_>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(original) = original {
        for (name, values) in original.iter() {
            let name: &str = name.as_ref();
            if name.eq_ignore_ascii_case("Nats-Msg-Id") {
                if let Some(id) = values.last() {
                    headers.insert(ORIGINAL_MSG_ID, sanitize(id.as_str()));
                }
                continue;
            }
            if name.len() >= 5 && name[..5].eq_ignore_ascii_case("Nats-") {
                continue;
            }
            for value in values {
                headers.append(name, value.as_str());
            }
        }
    }
    headers.insert(REASON, facts.reason.as_str());
    headers.insert(ERROR, sanitize(&redact_secrets(facts.error)));
    headers.insert(DELIVERED, facts.delivered.to_string());
    headers.insert(STREAM, sanitize(facts.stream));
    headers.insert(SEQUENCE, facts.sequence.to_string());
    headers.insert(SUBJECT, sanitize(facts.subject));
    headers.insert(CONSUMER, sanitize(facts.consumer));
    headers.insert(
        "Nats-Msg-Id",
        dead_letter_id(facts.stream, facts.consumer, facts.sequence),
    );
    headers
}

/// A header value: one line, at most [`MAX_VALUE_LEN`] bytes.
fn sanitize(value: &str) -> String {
    let mut out: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX_VALUE_LEN {
        let mut cut = MAX_VALUE_LEN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(error: &str) -> DeadLetterFacts<'_> {
        DeadLetterFacts {
            reason: DeadLetterReason::MaxDeliver,
            error,
            delivered: 3,
            stream: "ORDERS",
            sequence: 42,
            subject: "orders.created",
            consumer: "billing",
        }
    }

    #[test]
    fn adds_the_facts_and_keeps_user_headers() {
        let mut original = HeaderMap::new();
        original.insert("Event-Type", "order.created");
        original.insert("Nats-Msg-Id", "abc");
        original.insert("Nats-Expected-Last-Sequence", "7");
        let h = dead_letter_headers(Some(&original), &facts("db down"));
        let get = |n: &str| h.get_last(n).map(|v| v.as_str().to_owned());
        assert_eq!(get("Event-Type").as_deref(), Some("order.created"));
        assert_eq!(get(ORIGINAL_MSG_ID).as_deref(), Some("abc"));
        assert_eq!(get("Nats-Expected-Last-Sequence"), None);
        assert_eq!(get("Nats-Msg-Id").as_deref(), Some("dl:ORDERS:billing:42"));
        assert_eq!(get(REASON).as_deref(), Some("max_deliver"));
        assert_eq!(get(ERROR).as_deref(), Some("db down"));
        assert_eq!(get(DELIVERED).as_deref(), Some("3"));
        assert_eq!(get(STREAM).as_deref(), Some("ORDERS"));
        assert_eq!(get(SEQUENCE).as_deref(), Some("42"));
        assert_eq!(get(SUBJECT).as_deref(), Some("orders.created"));
        assert_eq!(get(CONSUMER).as_deref(), Some("billing"));
    }

    #[test]
    fn error_text_is_one_bounded_line() {
        let long = format!("line one\r\nline two {}", "é".repeat(2000));
        let h = dead_letter_headers(None, &facts(&long));
        let value = h
            .get_last(ERROR)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        assert!(!value.contains('\n') && !value.contains('\r'));
        assert!(value.len() <= MAX_VALUE_LEN);
        assert!(value.starts_with("line one"));
    }

    #[test]
    fn error_text_hides_secrets_as_logs_do() {
        let h = dead_letter_headers(None, &facts("dial nats://svc:s3cret@h:4222 failed"));
        let value = h.get_last(ERROR).map(|v| v.as_str().to_owned());
        assert_eq!(value.as_deref(), Some("dial nats://***@h:4222 failed"));
    }
}
