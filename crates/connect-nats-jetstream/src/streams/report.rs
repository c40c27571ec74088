//! What [`ensure_streams`](crate::ensure_streams) did, per stream.

use std::fmt;

use serde::Serialize;

/// One differing setting: the server's value and the declared one, both as
/// text a human reads (`7days`, `unlimited`, `[a.>, b.>]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field, named as in [`StreamSpec`](crate::StreamSpec) (`max_age`, `storage`…).
    pub field: String,
    /// The value the server has.
    pub server: String,
    /// The value declared.
    pub declared: String,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.field, self.server, self.declared)
    }
}

/// What happened to one stream (or, in a dry run, what would happen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StreamOutcome {
    /// The stream did not exist and was created.
    Created,
    /// The stream existed with different updatable settings and was updated.
    Updated {
        /// The fields that changed.
        changes: Vec<FieldChange>,
    },
    /// The stream already matched its declaration.
    Unchanged,
    /// The stream could not be brought in line with its declaration.
    Failed {
        /// The field at fault, when one is: a setting the server cannot
        /// change in place (`storage`), an invalid declaration, or the only
        /// field of a refused update.
        field: Option<String>,
        /// What went wrong and what to do.
        reason: String,
        /// The differences found, when the stream exists.
        changes: Vec<FieldChange>,
    },
}

impl StreamOutcome {
    /// A short word for the outcome: `created`, `updated`, `unchanged`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            StreamOutcome::Created => "created",
            StreamOutcome::Updated { .. } => "updated",
            StreamOutcome::Unchanged => "unchanged",
            StreamOutcome::Failed { .. } => "failed",
        }
    }

    /// Whether this is a failure.
    pub fn is_failed(&self) -> bool {
        matches!(self, StreamOutcome::Failed { .. })
    }
}

/// The outcome for one declared stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamReport {
    /// The stream name.
    pub name: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: StreamOutcome,
}

/// What [`ensure_streams`](crate::ensure_streams) or
/// [`ensure_streams_dry_run`](crate::ensure_streams_dry_run) found, stream by
/// stream, in declaration order.
///
/// `Display` prints one line per stream for humans; `Serialize` gives JSON
/// for tools (`{"dry_run":false,"streams":[{"name":"CACHE","outcome":"unchanged"}]}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct EnsureReport {
    /// Whether nothing was changed (the outcomes say what would happen).
    pub dry_run: bool,
    /// One entry per declared stream.
    pub streams: Vec<StreamReport>,
}

impl EnsureReport {
    /// Whether no stream failed.
    pub fn is_success(&self) -> bool {
        !self.streams.iter().any(|s| s.outcome.is_failed())
    }

    /// Whether every stream was already as declared.
    pub fn all_unchanged(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.outcome == StreamOutcome::Unchanged)
    }

    /// The outcome for the stream `name`.
    pub fn get(&self, name: &str) -> Option<&StreamOutcome> {
        self.streams
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.outcome)
    }

    /// The streams that failed.
    pub fn failures(&self) -> impl Iterator<Item = &StreamReport> {
        self.streams.iter().filter(|s| s.outcome.is_failed())
    }

    /// How many streams had each outcome: (created, updated, unchanged, failed).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let count = |k: &str| {
            self.streams
                .iter()
                .filter(|s| s.outcome.kind() == k)
                .count()
        };
        (
            count("created"),
            count("updated"),
            count("unchanged"),
            count("failed"),
        )
    }
}

impl fmt::Display for EnsureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.streams.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let (created, updated, unchanged, failed) = self.counts();
        for stream in &self.streams {
            write!(f, "{:width$}  ", stream.name)?;
            match &stream.outcome {
                StreamOutcome::Created if self.dry_run => writeln!(f, "would be created")?,
                StreamOutcome::Created => writeln!(f, "created")?,
                StreamOutcome::Updated { changes } => {
                    let verb = if self.dry_run {
                        "would be updated"
                    } else {
                        "updated"
                    };
                    writeln!(f, "{verb}: {}", join(changes))?
                }
                StreamOutcome::Unchanged => writeln!(f, "unchanged")?,
                StreamOutcome::Failed {
                    field,
                    reason,
                    changes,
                } => {
                    match field {
                        Some(field) => write!(f, "FAILED ({field}): {reason}")?,
                        None => write!(f, "FAILED: {reason}")?,
                    }
                    if changes.is_empty() {
                        writeln!(f)?
                    } else {
                        writeln!(f, " [differences: {}]", join(changes))?
                    }
                }
            }
        }
        let prefix = if self.dry_run {
            "dry run, nothing changed: "
        } else {
            ""
        };
        let verbs = if self.dry_run {
            ["to create", "to update", "unchanged", "failing"]
        } else {
            ["created", "updated", "unchanged", "failed"]
        };
        write!(
            f,
            "{prefix}{created} {}, {updated} {}, {unchanged} {}, {failed} {}",
            verbs[0], verbs[1], verbs[2], verbs[3]
        )
    }
}

fn join(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(dry_run: bool) -> EnsureReport {
        EnsureReport {
            dry_run,
            streams: vec![
                StreamReport {
                    name: "NEW".into(),
                    outcome: StreamOutcome::Created,
                },
                StreamReport {
                    name: "CHANGED".into(),
                    outcome: StreamOutcome::Updated {
                        changes: vec![FieldChange {
                            field: "max_age".into(),
                            server: "1h".into(),
                            declared: "2h".into(),
                        }],
                    },
                },
                StreamReport {
                    name: "SAME".into(),
                    outcome: StreamOutcome::Unchanged,
                },
                StreamReport {
                    name: "BAD".into(),
                    outcome: StreamOutcome::Failed {
                        field: Some("storage".into()),
                        reason: "cannot change".into(),
                        changes: vec![],
                    },
                },
            ],
        }
    }

    #[test]
    fn display_one_line_per_stream_and_a_summary() {
        let text = report(false).to_string();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0], "NEW      created");
        assert_eq!(lines[1], "CHANGED  updated: max_age 1h -> 2h");
        assert_eq!(lines[2], "SAME     unchanged");
        assert_eq!(lines[3], "BAD      FAILED (storage): cannot change");
        assert_eq!(lines[4], "1 created, 1 updated, 1 unchanged, 1 failed");
    }

    #[test]
    fn dry_run_display_says_would() {
        let text = report(true).to_string();
        assert!(text.contains("NEW      would be created"), "{text}");
        assert!(
            text.contains("would be updated: max_age 1h -> 2h"),
            "{text}"
        );
        assert!(text.contains("dry run, nothing changed"), "{text}");
    }

    #[test]
    fn json_shape() {
        let json = serde_json::to_value(report(false)).expect("serializes");
        assert_eq!(json["dry_run"], false);
        assert_eq!(
            json["streams"][0],
            serde_json::json!({"name": "NEW", "outcome": "created"})
        );
        assert_eq!(json["streams"][1]["outcome"], "updated");
        assert_eq!(json["streams"][1]["changes"][0]["field"], "max_age");
        assert_eq!(json["streams"][3]["field"], "storage");
        assert_eq!(json["streams"][3]["reason"], "cannot change");
    }

    #[test]
    fn helpers() {
        let r = report(false);
        assert!(!r.is_success());
        assert!(!r.all_unchanged());
        assert_eq!(r.counts(), (1, 1, 1, 1));
        assert_eq!(r.get("SAME"), Some(&StreamOutcome::Unchanged));
        assert_eq!(
            r.failures().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["BAD"]
        );
    }
}
