//! The errors of this layer: each says what happened and what to do.

use connect_nats_core::ConnectError;

/// Why a JetStream operation failed.
///
/// Stream declarations never fail as a whole: their per-stream problems are
/// reported in an [`EnsureReport`](crate::EnsureReport) instead.
#[derive(Debug, thiserror::Error)]
pub enum JetStreamError {
    /// The connection to NATS could not be made (its message says why and
    /// what to do).
    #[error(transparent)]
    Connect(#[from] ConnectError),

    /// The JetStream API did not answer.
    #[error(
        "JetStream is not available: {reason}; enable JetStream on the server (`-js` or a \
         `jetstream {{}}` block) and check NATS_JS_DOMAIN / NATS_JS_API_PREFIX"
    )]
    Unavailable {
        /// What the client saw (no responders, timeout…).
        reason: String,
    },

    /// A setting of a [`ConsumerSpec`](crate::ConsumerSpec) or [`KvSpec`](crate::KvSpec) is invalid.
    #[error("invalid {what} `{name}`: `{field}` {reason}")]
    InvalidSpec {
        /// `consumer spec` or `key-value spec`.
        what: &'static str,
        /// The consumer or bucket name.
        name: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The stream a consumer reads from does not exist.
    #[error(
        "stream `{stream}` does not exist; declare it (ensure_streams, `connect-nats streams \
         ensure`) before consuming from it"
    )]
    StreamNotFound {
        /// The stream name.
        stream: String,
    },

    /// The durable consumer could not be created or updated.
    #[error(
        "could not create or update consumer `{consumer}` on stream `{stream}`: {reason}; match \
         the existing consumer (`nats consumer info`) or delete it"
    )]
    ConsumerSetup {
        /// The stream name.
        stream: String,
        /// The durable consumer name.
        consumer: String,
        /// The server's or the client's error.
        reason: String,
    },

    /// A consumer did not stop in time.
    #[error(
        "consumer `{consumer}` did not stop within {waited_ms} ms, {in_flight} handler(s) still \
         running in the background; give stop_within more time, or bound each handler's work"
    )]
    StopTimeout {
        /// The durable consumer name.
        consumer: String,
        /// How long the stop waited, in milliseconds.
        waited_ms: u128,
        /// Handlers still running when the stop gave up.
        in_flight: usize,
    },

    /// A key-value bucket could not be created, updated or opened.
    #[error(
        "key-value bucket `{bucket}` could not be {action}: {reason}; check the bucket's \
         settings (`nats kv info {bucket}`) and that JetStream is enabled"
    )]
    Bucket {
        /// The bucket name.
        bucket: String,
        /// `created or updated`, `opened`.
        action: &'static str,
        /// The server's or the client's error.
        reason: String,
    },

    /// A key-value operation failed.
    #[error(
        "key-value {operation} of key `{key}` in bucket `{bucket}` failed: {reason}; check the \
         connection, the key (letters, digits, `-_/=.`) and, for create/update, the revision"
    )]
    KvOperation {
        /// The bucket name.
        bucket: String,
        /// The key.
        key: String,
        /// `get`, `put`, `create`, `update`, `delete`, `watch`.
        operation: &'static str,
        /// The server's or the client's error.
        reason: String,
    },

    /// A stored value could not be decoded as the expected type.
    #[error(
        "value of key `{key}` in bucket `{bucket}` (revision {revision}) is not a valid \
         `{type_name}`: {reason}; fix the value or delete the key"
    )]
    KvDecode {
        /// The bucket name.
        bucket: String,
        /// The key whose value failed to decode.
        key: String,
        /// The revision of the value.
        revision: u64,
        /// The Rust type expected.
        type_name: &'static str,
        /// The JSON error.
        reason: String,
    },

    /// A value could not be encoded as JSON.
    #[error(
        "value for key `{key}` in bucket `{bucket}` could not be encoded as JSON: {reason}; \
         make its type serializable to JSON (maps need string keys)"
    )]
    KvEncode {
        /// The bucket name.
        bucket: String,
        /// The key.
        key: String,
        /// The JSON error.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message, with short values in its fields, stays short: the
    /// longer explanations live in docs/jetstream.md and docs/operations.md.
    #[test]
    fn messages_are_short() {
        let x = || "x".to_owned();
        let errors = [
            JetStreamError::Connect(ConnectError::Closed { reason: None }),
            JetStreamError::Unavailable { reason: x() },
            JetStreamError::InvalidSpec {
                what: "consumer spec",
                name: x(),
                field: "max_deliver",
                reason: x(),
            },
            JetStreamError::StreamNotFound { stream: x() },
            JetStreamError::ConsumerSetup {
                stream: x(),
                consumer: x(),
                reason: x(),
            },
            JetStreamError::StopTimeout {
                consumer: x(),
                waited_ms: 5000,
                in_flight: 2,
            },
            JetStreamError::Bucket {
                bucket: x(),
                action: "created or updated",
                reason: x(),
            },
            JetStreamError::KvOperation {
                bucket: x(),
                key: x(),
                operation: "create",
                reason: x(),
            },
            JetStreamError::KvDecode {
                bucket: x(),
                key: x(),
                revision: 7,
                type_name: "x",
                reason: x(),
            },
            JetStreamError::KvEncode {
                bucket: x(),
                key: x(),
                reason: x(),
            },
        ];
        for e in errors {
            let text = e.to_string();
            let invalid_spec = matches!(e, JetStreamError::InvalidSpec { .. });
            // An invalid spec's reason says what to do.
            assert!(
                invalid_spec || text.contains("; "),
                "says what to do: {text}"
            );
            assert!(text.chars().count() <= 165, "{} chars: {text}", text.len());
        }
    }
}
