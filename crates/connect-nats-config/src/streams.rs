//! Stream declarations as plain data.
//!
//! Streams can be declared in the config file under `jetstream.streams`.
//! This crate parses them and holds the one set of rules a declaration must
//! meet ([`StreamSpec::problem`], [`streams_problem`]); the configuration
//! loader and `connect-nats-jetstream` (which applies them to a server and
//! re-exports [`StreamSpec`]) both use those rules.

use std::fmt;
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
    /// Maximum number of messages kept per subject; `None` is unlimited.
    #[serde(default)]
    pub max_msgs_per_subject: Option<i64>,
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
    /// Whether applying this declaration may change the stream in ways that
    /// lose stored or future events (a limit lowered, a subject removed…).
    /// `false` (the default) keeps the server's value for each such field and
    /// reports it; see docs/jetstream.md for which changes are destructive.
    #[serde(default)]
    pub allow_destructive: bool,
    /// Whether the stream accepts atomic batches (`allow_atomic`, nats-server
    /// 2.12 or later): every message of a batch is stored, or none is.
    /// `false` (the default) leaves the server's value alone.
    #[serde(default)]
    pub allow_atomic: bool,
    /// Whether the stream accepts fast-ingest batches (`allow_batched`,
    /// nats-server 2.14 or later), which the publisher's `publish_all` uses
    /// when allowed. `false` (the default) leaves the server's value alone.
    #[serde(default)]
    pub allow_batched: bool,
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
            max_msgs_per_subject: None,
            max_msg_size: None,
            replicas: 1,
            storage: StorageKind::File,
            retention: RetentionKind::Limits,
            discard: DiscardKind::Old,
            duplicate_window: None,
            allow_destructive: false,
            allow_atomic: false,
            allow_batched: false,
        }
    }

    /// What makes this declaration unusable, if anything: the first rule it
    /// breaks. A name holds no whitespace, `.`, `*`, `>`, `/` or `\`; there
    /// is at least one subject and each is valid (no whitespace, no empty
    /// token); replicas are 1 to 5; a declared size or count limit is
    /// positive (or `-1`, unlimited); the duplicate window is no longer than
    /// `max_age`.
    pub fn problem(&self) -> Option<StreamProblem> {
        let problem = |field, reason: String| Some(StreamProblem { field, reason });
        let name = &self.name;
        if name.is_empty()
            || name.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
            })
        {
            return problem(
                "name",
                format!(
                    "`{name}` is empty or holds spaces, `.`, `*`, `>`, `/` or `\\`; use a name \
                     like CONNECT_EVENTS"
                ),
            );
        }
        if self.subjects.is_empty() {
            return problem(
                "subjects",
                "is empty; list at least one subject the stream captures, like `connect.>`"
                    .to_owned(),
            );
        }
        if let Some(bad) = self.subjects.iter().find(|s| !valid_subject(s)) {
            return problem(
                "subjects",
                format!("holds `{bad}`, not a valid subject (no whitespace, no empty token)"),
            );
        }
        if !(1..=5).contains(&self.replicas) {
            return problem("replicas", format!("is {}; use 1 to 5", self.replicas));
        }
        for (field, value) in [
            ("max_bytes", self.max_bytes),
            ("max_msgs", self.max_msgs),
            ("max_msgs_per_subject", self.max_msgs_per_subject),
            ("max_msg_size", self.max_msg_size.map(i64::from)),
        ] {
            if let Some(v) = value.filter(|v| *v == 0 || *v < -1) {
                return problem(
                    field,
                    format!("is {v}; give a positive limit, or leave it out for unlimited"),
                );
            }
        }
        let max_age = self.max_age.filter(|d| !d.is_zero());
        if let (Some(window), Some(age)) = (self.duplicate_window, max_age) {
            if window > age {
                return problem(
                    "duplicate_window",
                    format!(
                        "({}) is longer than max_age ({}); the server refuses that, shorten it",
                        crate::duration::format_duration(window),
                        crate::duration::format_duration(age)
                    ),
                );
            }
        }
        None
    }

    /// What makes this declaration unusable after the `earlier` ones of the
    /// same list: a [`StreamSpec::problem`], or a name one of them already
    /// declares.
    pub fn problem_after(&self, earlier: &[StreamSpec]) -> Option<StreamProblem> {
        self.problem().or_else(|| {
            earlier
                .iter()
                .any(|e| e.name == self.name)
                .then(|| StreamProblem {
                    field: "name",
                    reason: format!("`{}` is declared twice; keep one", self.name),
                })
        })
    }
}

/// The first problem in a list of declarations, with the index of the
/// stream at fault: see [`StreamSpec::problem_after`].
pub fn streams_problem(streams: &[StreamSpec]) -> Option<(usize, StreamProblem)> {
    streams
        .iter()
        .enumerate()
        .find_map(|(i, stream)| stream.problem_after(&streams[..i]).map(|p| (i, p)))
}

fn valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && !subject.chars().any(char::is_whitespace)
        && !subject.split('.').any(str::is_empty)
}

/// Why a stream declaration cannot be applied: the field at fault and what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamProblem {
    /// The field, named as in [`StreamSpec`] (`name`, `subjects`, `replicas`…).
    pub field: &'static str,
    /// What is wrong and what to do, without the field name.
    pub reason: String,
}

impl fmt::Display for StreamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.reason)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StreamSpec {
        StreamSpec::new("A", ["a.>"])
    }

    #[test]
    fn every_rule_names_its_field() {
        let cases: Vec<(StreamSpec, &str)> = vec![
            (StreamSpec::new("", ["a"]), "name"),
            (StreamSpec::new("A.B", ["a"]), "name"),
            (StreamSpec::new("A B", ["a"]), "name"),
            (StreamSpec::new("A", Vec::<String>::new()), "subjects"),
            (StreamSpec::new("A", ["a..b"]), "subjects"),
            (StreamSpec::new("A", ["a b"]), "subjects"),
            (StreamSpec::new("A", [" "]), "subjects"),
            (
                StreamSpec {
                    replicas: 0,
                    ..spec()
                },
                "replicas",
            ),
            (
                StreamSpec {
                    replicas: 6,
                    ..spec()
                },
                "replicas",
            ),
            (
                StreamSpec {
                    max_bytes: Some(0),
                    ..spec()
                },
                "max_bytes",
            ),
            (
                StreamSpec {
                    max_msgs: Some(-5),
                    ..spec()
                },
                "max_msgs",
            ),
            (
                StreamSpec {
                    max_msgs_per_subject: Some(0),
                    ..spec()
                },
                "max_msgs_per_subject",
            ),
            (
                StreamSpec {
                    max_msg_size: Some(0),
                    ..spec()
                },
                "max_msg_size",
            ),
            (
                StreamSpec {
                    max_age: Some(Duration::from_secs(60)),
                    duplicate_window: Some(Duration::from_secs(120)),
                    ..spec()
                },
                "duplicate_window",
            ),
        ];
        for (spec, field) in cases {
            let problem = spec
                .problem()
                .unwrap_or_else(|| panic!("{field}: {spec:?}"));
            assert_eq!(problem.field, field, "{spec:?}: {problem}");
            assert!(problem.to_string().len() <= 160, "{problem}");
        }
        assert_eq!(spec().problem(), None);
        assert_eq!(
            StreamSpec {
                max_bytes: Some(-1),
                ..spec()
            }
            .problem(),
            None
        );
    }

    #[test]
    fn a_name_declared_twice_is_the_later_ones_problem() {
        let streams = [
            spec(),
            StreamSpec::new("B", ["b"]),
            StreamSpec::new("A", ["c"]),
        ];
        let (i, problem) = streams_problem(&streams).expect("a problem");
        assert_eq!(i, 2);
        assert_eq!(problem.field, "name");
        assert!(problem.reason.contains("twice"), "{problem}");
        assert_eq!(streams_problem(&streams[..2]), None);
    }

    #[test]
    fn allow_destructive_is_a_file_key_defaulting_to_false() {
        let parsed: StreamSpec =
            serde_json::from_str(r#"{"name":"A","subjects":["a.>"],"allow_destructive":true}"#)
                .expect("parses");
        assert!(parsed.allow_destructive);
        let parsed: StreamSpec =
            serde_json::from_str(r#"{"name":"A","subjects":["a.>"],"max_msgs_per_subject":3}"#)
                .expect("parses");
        assert!(!parsed.allow_destructive);
        assert_eq!(parsed.max_msgs_per_subject, Some(3));
    }
}
