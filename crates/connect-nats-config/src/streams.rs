//! Stream declarations as plain data.
//!
//! Streams can be declared in the config file under `jetstream.streams`.
//! This crate only parses them; `connect-nats-jetstream` applies them to a
//! server (and re-exports [`StreamSpec`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A declared JetStream stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Stream name, e.g. `CONNECT_EVENTS`.
    pub name: String,
    /// Subjects the stream captures, e.g. `connect.>`.
    pub subjects: Vec<String>,
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Maximum age of a message; `None` keeps messages forever.
    #[serde(default, with = "crate::duration::serde_human_opt")]
    pub max_age: Option<Duration>,
    /// Maximum total size in bytes; `None` is unlimited.
    #[serde(default)]
    pub max_bytes: Option<i64>,
    /// Maximum number of messages; `None` is unlimited.
    #[serde(default)]
    pub max_msgs: Option<i64>,
    /// Maximum size of one message in bytes; `None` is unlimited.
    #[serde(default)]
    pub max_msg_size: Option<i32>,
    /// Number of replicas (1 to 5).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// Where messages are stored.
    #[serde(default)]
    pub storage: StorageKind,
    /// When messages are removed.
    #[serde(default)]
    pub retention: RetentionKind,
    /// What happens when a limit is reached.
    #[serde(default)]
    pub discard: DiscardKind,
    /// Window in which a repeated `Nats-Msg-Id` is stored once; `None` keeps
    /// the server's default (2 minutes).
    #[serde(default, with = "crate::duration::serde_human_opt")]
    pub duplicate_window: Option<Duration>,
}

fn default_replicas() -> usize {
    1
}

impl StreamSpec {
    /// A spec with the given name and subjects and every other setting at its
    /// default: file storage, limits retention, discard old, one replica, no limits.
    pub fn new(
        name: impl Into<String>,
        subjects: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            subjects: subjects.into_iter().map(Into::into).collect(),
            description: None,
            max_age: None,
            max_bytes: None,
            max_msgs: None,
            max_msg_size: None,
            replicas: 1,
            storage: StorageKind::File,
            retention: RetentionKind::Limits,
            discard: DiscardKind::Old,
            duplicate_window: None,
        }
    }
}

/// Storage backend of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// On disk (survives restarts).
    #[default]
    File,
    /// In memory.
    Memory,
}

/// Retention policy of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RetentionKind {
    /// Kept until a limit removes them.
    #[default]
    Limits,
    /// Kept while a consumer is interested.
    Interest,
    /// Removed once acknowledged by a consumer.
    #[serde(alias = "work_queue")]
    Workqueue,
}

/// Discard policy of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DiscardKind {
    /// Drop the oldest messages to make room.
    #[default]
    Old,
    /// Refuse new messages.
    New,
}
