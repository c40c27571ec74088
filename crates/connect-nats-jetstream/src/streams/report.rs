//! What [`ensure_streams`](crate::ensure_streams) did, per stream.

use std::fmt;

use serde::Serialize;

/// Whether applying a change can lose events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// No stored or future event can be lost (a limit grows, a subject is
    /// added, the description changes…): always applied.
    Safe,
    /// Stored or future events can be lost (a limit lowered, a subject
    /// removed…): applied only when the declaration sets `allow_destructive`.
    Destructive,
}

/// One differing setting: the server's value and the declared one, both as
/// text a human reads (`7days`, `unlimited`, `[a.>, b.>]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field, named as in [`StreamSpec`](crate::StreamSpec) (`max_age`, `storage`…).
    pub field: String,
    /// Whether applying it can lose events.
    pub kind: ChangeKind,
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
    /// Applying the declaration would lose stored or future events, and it
    /// does not set `allow_destructive`: the destructive changes were not
    /// made, the safe ones were.
    Kept {
        /// The safe changes made.
        applied: Vec<FieldChange>,
        /// The destructive changes not made: the server's value stays.
        kept: Vec<FieldChange>,
    },
    /// A built-in default stream (`CONNECT_EVENTS`, `CACHE`) that an
    /// operator made larger: the defaults are a floor, so the larger settings
    /// stay and settings below the defaults are grown back. Not a failure.
    AboveDefault {
        /// The safe changes made (settings grown back to the defaults).
        applied: Vec<FieldChange>,
        /// The operator's settings kept instead of the defaults.
        kept: Vec<FieldChange>,
    },
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
    /// A short word for the outcome: `created`, `updated`, `unchanged`,
    /// `kept`, `above_default`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            StreamOutcome::Created => "created",
            StreamOutcome::Updated { .. } => "updated",
            StreamOutcome::Unchanged => "unchanged",
            StreamOutcome::Kept { .. } => "kept",
            StreamOutcome::AboveDefault { .. } => "above_default",
            StreamOutcome::Failed { .. } => "failed",
        }
    }

    /// Whether this is a failure.
    pub fn is_failed(&self) -> bool {
        matches!(self, StreamOutcome::Failed { .. })
    }

    /// Whether destructive changes were held back for want of
    /// `allow_destructive` ([`StreamOutcome::Kept`]).
    pub fn is_kept(&self) -> bool {
        matches!(self, StreamOutcome::Kept { .. })
    }

    /// The destructive changes not made ([`StreamOutcome::Kept`] and
    /// [`StreamOutcome::AboveDefault`]); empty for the other outcomes.
    pub fn kept_changes(&self) -> &[FieldChange] {
        match self {
            StreamOutcome::Kept { kept, .. } | StreamOutcome::AboveDefault { kept, .. } => kept,
            _ => &[],
        }
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
    /// Whether every stream is as declared, or above its built-in defaults:
    /// none failed and none had destructive changes held back.
    pub fn is_success(&self) -> bool {
        !self
            .streams
            .iter()
            .any(|s| s.outcome.is_failed() || s.outcome.is_kept())
    }

    /// The streams whose destructive changes were held back for want of
    /// `allow_destructive`.
    pub fn kept(&self) -> impl Iterator<Item = &StreamReport> {
        self.streams.iter().filter(|s| s.outcome.is_kept())
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

    /// How many streams had each outcome.
    pub fn counts(&self) -> Counts {
        let count = |k: &str| {
            self.streams
                .iter()
                .filter(|s| s.outcome.kind() == k)
                .count()
        };
        Counts {
            created: count("created"),
            updated: count("updated"),
            unchanged: count("unchanged"),
            kept: count("kept"),
            above_default: count("above_default"),
            failed: count("failed"),
        }
    }
}

/// How many streams of an [`EnsureReport`] had each outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// [`StreamOutcome::Created`].
    pub created: usize,
    /// [`StreamOutcome::Updated`].
    pub updated: usize,
    /// [`StreamOutcome::Unchanged`].
    pub unchanged: usize,
    /// [`StreamOutcome::Kept`].
    pub kept: usize,
    /// [`StreamOutcome::AboveDefault`].
    pub above_default: usize,
    /// [`StreamOutcome::Failed`].
    pub failed: usize,
}

impl fmt::Display for EnsureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.streams.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let would = |done: &'static str, planned: &'static str| {
            if self.dry_run {
                planned
            } else {
                done
            }
        };
        for stream in &self.streams {
            write!(f, "{:width$}  ", stream.name)?;
            match &stream.outcome {
                StreamOutcome::Created => writeln!(f, "{}", would("created", "would be created"))?,
                StreamOutcome::Updated { changes } => writeln!(
                    f,
                    "{}: {}",
                    would("updated", "would be updated"),
                    join(changes)
                )?,
                StreamOutcome::Unchanged => writeln!(f, "unchanged")?,
                StreamOutcome::Kept { applied, kept } => {
                    write!(
                        f,
                        "KEPT, destructive changes not applied (set allow_destructive): {}",
                        join(kept)
                    )?;
                    applied_suffix(f, applied, would("applied", "would apply"))?
                }
                StreamOutcome::AboveDefault { applied, kept } => {
                    write!(f, "above the defaults, kept: {}", join(kept))?;
                    applied_suffix(f, applied, would("applied", "would apply"))?
                }
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
        let counts = self.counts();
        let prefix = would("", "dry run, nothing changed: ");
        write!(
            f,
            "{prefix}{} {}, {} {}, {} unchanged",
            counts.created,
            would("created", "to create"),
            counts.updated,
            would("updated", "to update"),
            counts.unchanged,
        )?;
        if counts.above_default > 0 {
            write!(f, ", {} above the defaults", counts.above_default)?;
        }
        if counts.kept > 0 {
            write!(f, ", {} kept", counts.kept)?;
        }
        write!(f, ", {} {}", counts.failed, would("failed", "failing"))
    }
}

fn applied_suffix(f: &mut fmt::Formatter<'_>, applied: &[FieldChange], verb: &str) -> fmt::Result {
    if applied.is_empty() {
        writeln!(f)
    } else {
        writeln!(f, "; {verb}: {}", join(applied))
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
                            kind: ChangeKind::Safe,
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
        assert_eq!(
            r.counts(),
            Counts {
                created: 1,
                updated: 1,
                unchanged: 1,
                kept: 0,
                above_default: 0,
                failed: 1
            }
        );
        assert_eq!(r.get("SAME"), Some(&StreamOutcome::Unchanged));
        assert_eq!(
            r.failures().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["BAD"]
        );
    }

    fn kept_report(dry_run: bool) -> EnsureReport {
        let change = |field: &str, kind, server: &str, declared: &str| FieldChange {
            field: field.into(),
            kind,
            server: server.into(),
            declared: declared.into(),
        };
        EnsureReport {
            dry_run,
            streams: vec![
                StreamReport {
                    name: "ORDERS".into(),
                    outcome: StreamOutcome::Kept {
                        applied: vec![change("description", ChangeKind::Safe, "\"a\"", "\"b\"")],
                        kept: vec![change("max_bytes", ChangeKind::Destructive, "2048", "1024")],
                    },
                },
                StreamReport {
                    name: "CACHE".into(),
                    outcome: StreamOutcome::AboveDefault {
                        applied: vec![],
                        kept: vec![change("max_age", ChangeKind::Destructive, "1h", "5m")],
                    },
                },
            ],
        }
    }

    #[test]
    fn kept_is_not_success_but_above_default_is() {
        let r = kept_report(false);
        assert!(!r.is_success());
        assert_eq!(
            r.kept().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["ORDERS"]
        );
        assert_eq!(r.counts().kept, 1);
        assert_eq!(r.counts().above_default, 1);
        assert_eq!(
            r.get("CACHE")
                .map(StreamOutcome::kept_changes)
                .map(<[_]>::len),
            Some(1)
        );

        let only_above = EnsureReport {
            streams: r.streams[1..].to_vec(),
            ..r
        };
        assert!(only_above.is_success());
    }

    #[test]
    fn kept_display_names_each_field_and_the_opt_in() {
        let text = kept_report(false).to_string();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ORDERS  KEPT, destructive changes not applied (set allow_destructive): \
             max_bytes 2048 -> 1024; applied: description \"a\" -> \"b\""
        );
        assert_eq!(
            lines[1],
            "CACHE   above the defaults, kept: max_age 1h -> 5m"
        );
        assert_eq!(
            lines[2],
            "0 created, 0 updated, 0 unchanged, 1 above the defaults, 1 kept, 0 failed"
        );
        let dry = kept_report(true).to_string();
        assert!(dry.contains("; would apply: description"), "{dry}");

        let json = serde_json::to_value(kept_report(false)).expect("serializes");
        assert_eq!(json["streams"][0]["outcome"], "kept");
        assert_eq!(json["streams"][0]["kept"][0]["kind"], "destructive");
        assert_eq!(json["streams"][0]["kept"][0]["server"], "2048");
        assert_eq!(json["streams"][0]["applied"][0]["kind"], "safe");
        assert_eq!(json["streams"][1]["outcome"], "above_default");
    }
}
