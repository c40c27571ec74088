//! Comparing a declared [`StreamSpec`] with the configuration a server holds.
//!
//! Pure functions, no I/O: what differs, whether each difference is safe or
//! destructive, what the server cannot change in place, and the JSON
//! requests that create or update a stream.
//!
//! Every field of [`StreamSpec`] is compared, with the server's defaults
//! normalised (`-1` and `0` both mean "unlimited" for `max_bytes`,
//! `max_msgs`, `max_msgs_per_subject` and `max_msg_size`; `0` means "forever"
//! for `max_age`; `0` replicas means one). Four fields are compared only when declared:
//! `description` and `duplicate_window` (`None` leaves the server's value alone), `allow_atomic`
//! and `allow_batched` (`false` leaves the server's value alone). Settings a
//! spec cannot express (`allow_direct`, `max_consumers`, `metadata`…) are
//! never compared and are preserved on update.

use std::time::Duration;

use connect_nats_config::duration::format_duration;
use connect_nats_config::{DiscardKind, RetentionKind, StorageKind, StreamSpec};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::report::{ChangeKind, FieldChange};

/// The part of a server's stream configuration a spec can declare, read
/// tolerantly (missing fields take the server's zero values).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ServerStreamConfig {
    pub subjects: Vec<String>,
    pub description: Option<String>,
    /// Nanoseconds; 0 is forever.
    pub max_age: i64,
    pub max_bytes: i64,
    pub max_msgs: i64,
    pub max_msgs_per_subject: i64,
    pub max_msg_size: i64,
    pub num_replicas: i64,
    pub storage: String,
    pub retention: String,
    pub discard: String,
    /// Nanoseconds.
    pub duplicate_window: i64,
    pub sealed: bool,
    pub allow_atomic: bool,
    pub allow_batched: bool,
}

/// A field the server cannot change in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocked {
    /// The field name, as in [`StreamSpec`].
    pub field: &'static str,
    /// Why, and what to do.
    pub why: String,
}

/// What differs between a spec and a server's stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StreamDiff {
    /// Every differing field, updatable or not.
    pub changes: Vec<FieldChange>,
    /// The differing fields the server cannot change in place.
    pub blocked: Vec<Blocked>,
}

/// Compares a (valid) spec with a server's configuration, classifying each
/// difference (the table is in docs/jetstream.md).
pub(crate) fn diff(spec: &StreamSpec, server: &ServerStreamConfig) -> StreamDiff {
    use ChangeKind::{Destructive, Safe};
    let mut out = StreamDiff::default();
    let mut change = |field: &str, kind: ChangeKind, server: String, declared: String| {
        out.changes.push(FieldChange {
            field: field.to_owned(),
            kind,
            server,
            declared,
        });
    };

    let declared_subjects = subject_set(&spec.subjects);
    let server_subjects = subject_set(&server.subjects);
    if declared_subjects != server_subjects {
        let removes = server_subjects
            .iter()
            .any(|s| !declared_subjects.contains(s));
        change(
            "subjects",
            if removes { Destructive } else { Safe },
            list(&server.subjects),
            list(&spec.subjects),
        );
    }

    if let Some(declared) = spec.description.as_deref().filter(|d| !d.is_empty()) {
        let current = server.description.as_deref().unwrap_or("");
        if declared != current {
            change("description", Safe, quoted(current), quoted(declared));
        }
    }

    let declared_age = declared_max_age(spec);
    let server_age = nanos_to_duration(server.max_age).filter(|d| !d.is_zero());
    if declared_age != server_age {
        let lowers = match (declared_age, server_age) {
            (Some(declared), Some(current)) => declared < current,
            (Some(_), None) => true,
            (None, _) => false,
        };
        change(
            "max_age",
            if lowers { Destructive } else { Safe },
            age(server_age),
            age(declared_age),
        );
    }

    for (field, declared, current) in [
        ("max_bytes", spec.max_bytes, server.max_bytes),
        ("max_msgs", spec.max_msgs, server.max_msgs),
        (
            "max_msgs_per_subject",
            spec.max_msgs_per_subject,
            server.max_msgs_per_subject,
        ),
        (
            "max_msg_size",
            spec.max_msg_size.map(i64::from),
            server.max_msg_size,
        ),
    ] {
        let declared = limit(declared);
        let current = limit(Some(current));
        if declared != current {
            let lowers = declared > 0 && (current <= 0 || declared < current);
            change(
                field,
                if lowers { Destructive } else { Safe },
                limit_text(current),
                limit_text(declared),
            );
        }
    }

    let server_replicas = server.num_replicas.max(1);
    let declared_replicas = i64::try_from(spec.replicas).unwrap_or(i64::MAX);
    if declared_replicas != server_replicas {
        change(
            "replicas",
            if declared_replicas < server_replicas {
                Destructive
            } else {
                Safe
            },
            server_replicas.to_string(),
            spec.replicas.to_string(),
        );
    }

    let declared_storage = storage_str(spec.storage);
    if declared_storage != server.storage {
        change(
            "storage",
            Destructive,
            server.storage.clone(),
            declared_storage.to_owned(),
        );
        out.blocked.push(Blocked {
            field: "storage",
            why: format!(
                "the server cannot change a stream's storage in place (it has `{}`, the declaration \
                 says `{declared_storage}`); declare `{}` again, or back up, delete and recreate the \
                 stream",
                server.storage, server.storage
            ),
        });
    }

    let declared_retention = retention_str(spec.retention);
    if declared_retention != server.retention {
        // Limits keeps every event until a limit removes it; interest and
        // workqueue remove events a limits stream would keep.
        let kind = if spec.retention == RetentionKind::Limits {
            Safe
        } else {
            Destructive
        };
        change(
            "retention",
            kind,
            server.retention.clone(),
            declared_retention.to_owned(),
        );
        if declared_retention == "workqueue" || server.retention == "workqueue" {
            out.blocked.push(Blocked {
                field: "retention",
                why: format!(
                    "the server cannot change retention to or from workqueue in place (it has \
                     `{}`, the declaration says `{declared_retention}`); declare `{}` again, or \
                     create a new stream and move the data",
                    server.retention, server.retention
                ),
            });
        }
    }

    let declared_discard = discard_str(spec.discard);
    if declared_discard != server.discard {
        // At a limit, `old` drops stored events and `new` refuses new ones:
        // either way, events the current policy keeps are lost.
        change(
            "discard",
            Destructive,
            server.discard.clone(),
            declared_discard.to_owned(),
        );
    }

    if let Some(window) = spec.duplicate_window.filter(|w| !w.is_zero()) {
        let current = nanos_to_duration(server.duplicate_window).unwrap_or_default();
        if window != current {
            change(
                "duplicate_window",
                Safe,
                format_duration(current),
                format_duration(window),
            );
        }
    }

    for (field, declared, current) in [
        ("allow_atomic", spec.allow_atomic, server.allow_atomic),
        ("allow_batched", spec.allow_batched, server.allow_batched),
    ] {
        if declared && !current {
            change(field, Safe, "false".to_owned(), "true".to_owned());
        }
    }

    if server.sealed && !out.changes.is_empty() {
        out.blocked.push(Blocked {
            field: "sealed",
            why: "the stream is sealed and can no longer be changed; create a new stream"
                .to_owned(),
        });
    }
    out
}

/// The differences of a stream split into those to apply and those to keep
/// at the server's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The changes an update applies.
    pub apply: Vec<FieldChange>,
    /// The destructive changes not applied: the server's value stays.
    pub keep: Vec<FieldChange>,
}

/// Splits `changes` (from [`diff`]) into what an update applies and what it
/// keeps. Destructive changes are applied only with `allow_destructive`.
/// Kept subjects removals still let declared subjects be added: the update
/// then holds both, reported as a safe `subjects` change.
pub(crate) fn plan(
    spec: &StreamSpec,
    server: &ServerStreamConfig,
    changes: Vec<FieldChange>,
) -> Plan {
    let mut out = Plan::default();
    for change in changes {
        if change.kind == ChangeKind::Safe || spec.allow_destructive {
            out.apply.push(change);
            continue;
        }
        if change.field == "subjects" {
            let union = kept_subjects(spec, server);
            if subject_set(&union) != subject_set(&server.subjects) {
                out.apply.push(FieldChange {
                    field: change.field.clone(),
                    kind: ChangeKind::Safe,
                    server: change.server.clone(),
                    declared: list(&union),
                });
            }
        }
        out.keep.push(change);
    }
    out
}

/// The server's subjects followed by the declared ones it lacks.
fn kept_subjects(spec: &StreamSpec, server: &ServerStreamConfig) -> Vec<String> {
    let mut union = server.subjects.clone();
    for subject in &spec.subjects {
        if !union.contains(subject) {
            union.push(subject.clone());
        }
    }
    union
}

fn subject_set(subjects: &[String]) -> Vec<&str> {
    let mut set: Vec<&str> = subjects.iter().map(String::as_str).collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// The `STREAM.CREATE` request for a (valid) spec.
pub(crate) fn create_request(spec: &StreamSpec) -> Value {
    let mut config = Map::new();
    config.insert("name".into(), json!(spec.name));
    apply_declared(&mut config, spec);
    Value::Object(config)
}

/// The `STREAM.UPDATE` request: the server's whole configuration with the
/// declared fields replaced, so settings the spec does not express are kept;
/// the fields in `keep` keep the server's value (kept subjects: the server's
/// and the declared ones together).
pub(crate) fn update_request(
    spec: &StreamSpec,
    server_config: &Value,
    keep: &[FieldChange],
) -> Value {
    let server = match server_config {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut config = server.clone();
    config.insert("name".into(), json!(spec.name));
    apply_declared(&mut config, spec);
    for kept in keep {
        let key = match kept.field.as_str() {
            "replicas" => "num_replicas",
            other => other,
        };
        if key == "subjects" {
            let current = serde_json::from_value::<ServerStreamConfig>(server_config.clone())
                .unwrap_or_default();
            config.insert(key.into(), json!(kept_subjects(spec, &current)));
            continue;
        }
        match server.get(key) {
            Some(value) => config.insert(key.into(), value.clone()),
            None => config.remove(key),
        };
    }
    Value::Object(config)
}

fn apply_declared(config: &mut Map<String, Value>, spec: &StreamSpec) {
    config.insert("subjects".into(), json!(spec.subjects));
    if let Some(description) = spec.description.as_deref().filter(|d| !d.is_empty()) {
        config.insert("description".into(), json!(description));
    }
    config.insert(
        "max_age".into(),
        json!(declared_max_age(spec).map_or(0, duration_to_nanos)),
    );
    config.insert("max_bytes".into(), json!(limit(spec.max_bytes)));
    config.insert("max_msgs".into(), json!(limit(spec.max_msgs)));
    config.insert(
        "max_msgs_per_subject".into(),
        json!(limit(spec.max_msgs_per_subject)),
    );
    config.insert(
        "max_msg_size".into(),
        json!(limit(spec.max_msg_size.map(i64::from))),
    );
    config.insert("num_replicas".into(), json!(spec.replicas));
    config.insert("storage".into(), json!(storage_str(spec.storage)));
    config.insert("retention".into(), json!(retention_str(spec.retention)));
    config.insert("discard".into(), json!(discard_str(spec.discard)));
    if let Some(window) = spec.duplicate_window.filter(|w| !w.is_zero()) {
        config.insert("duplicate_window".into(), json!(duration_to_nanos(window)));
    }
    for (field, declared) in [
        ("allow_atomic", spec.allow_atomic),
        ("allow_batched", spec.allow_batched),
    ] {
        if declared {
            config.insert(field.into(), json!(true));
        }
    }
}

fn declared_max_age(spec: &StreamSpec) -> Option<Duration> {
    spec.max_age.filter(|d| !d.is_zero())
}

/// A limit as the server stores it: `-1` for unlimited.
fn limit(value: Option<i64>) -> i64 {
    match value {
        Some(v) if v > 0 => v,
        _ => -1,
    }
}

fn limit_text(value: i64) -> String {
    if value > 0 {
        value.to_string()
    } else {
        "unlimited".to_owned()
    }
}

fn age(value: Option<Duration>) -> String {
    value.map_or_else(|| "forever".to_owned(), format_duration)
}

fn list(subjects: &[String]) -> String {
    format!("[{}]", subjects.join(", "))
}

fn quoted(text: &str) -> String {
    format!("{text:?}")
}

fn nanos_to_duration(nanos: i64) -> Option<Duration> {
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

fn duration_to_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

pub(crate) fn storage_str(kind: StorageKind) -> &'static str {
    match kind {
        StorageKind::File => "file",
        StorageKind::Memory => "memory",
    }
}

pub(crate) fn retention_str(kind: RetentionKind) -> &'static str {
    match kind {
        RetentionKind::Limits => "limits",
        RetentionKind::Interest => "interest",
        RetentionKind::Workqueue => "workqueue",
    }
}

pub(crate) fn discard_str(kind: DiscardKind) -> &'static str {
    match kind {
        DiscardKind::Old => "old",
        DiscardKind::New => "new",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a 2.10 server returns for a stream created from `spec` with no
    /// duplicate window declared (server defaults filled in).
    fn server_view(spec: &StreamSpec) -> ServerStreamConfig {
        let request = create_request(spec);
        let mut config: ServerStreamConfig =
            serde_json::from_value(request).expect("create request parses");
        config.duplicate_window = 120_000_000_000;
        if config.max_msg_size == 0 {
            config.max_msg_size = -1;
        }
        config
    }

    fn spec() -> StreamSpec {
        StreamSpec {
            description: Some("orders".into()),
            max_age: Some(Duration::from_secs(3600)),
            max_bytes: Some(1024),
            ..StreamSpec::new("ORDERS", ["orders.>", "refunds.>"])
        }
    }

    #[test]
    fn identical_is_unchanged() {
        let spec = spec();
        assert_eq!(diff(&spec, &server_view(&spec)), StreamDiff::default());
    }

    #[test]
    fn server_defaults_are_not_drift() {
        let spec = StreamSpec::new("X", ["x.>"]);
        // The server's own spelling of "unlimited" and "one replica".
        let server = ServerStreamConfig {
            subjects: vec!["x.>".into()],
            description: None,
            max_age: 0,
            max_bytes: -1,
            max_msgs: -1,
            max_msgs_per_subject: -1,
            max_msg_size: 0,
            num_replicas: 0,
            storage: "file".into(),
            retention: "limits".into(),
            discard: "old".into(),
            duplicate_window: 120_000_000_000,
            sealed: false,
            allow_atomic: true,
            allow_batched: false,
        };
        assert_eq!(diff(&spec, &server), StreamDiff::default());
    }

    #[test]
    fn batch_flags_are_added_when_declared_and_never_removed() {
        let mut spec = spec();
        let mut server = server_view(&spec);
        spec.allow_atomic = true;
        spec.allow_batched = true;
        server.allow_atomic = true;
        let fields: Vec<_> = diff(&spec, &server)
            .changes
            .into_iter()
            .map(|c| (c.field, c.kind))
            .collect();
        assert_eq!(fields, [("allow_batched".to_owned(), ChangeKind::Safe)]);
        let request = create_request(&spec);
        assert_eq!(request["allow_atomic"], json!(true));
        assert_eq!(request["allow_batched"], json!(true));
        spec.allow_atomic = false;
        assert!(create_request(&spec).get("allow_atomic").is_none());
        server.allow_batched = true;
        assert!(diff(
            &StreamSpec {
                allow_batched: false,
                ..spec
            },
            &server
        )
        .changes
        .is_empty());
    }

    #[test]
    fn subject_order_is_not_drift() {
        let spec = spec();
        let mut server = server_view(&spec);
        server.subjects.reverse();
        assert!(diff(&spec, &server).changes.is_empty());
    }

    #[test]
    fn undeclared_description_and_window_are_left_alone() {
        let mut spec = spec();
        let mut server = server_view(&spec);
        spec.description = None;
        spec.duplicate_window = None;
        server.duplicate_window = 60_000_000_000;
        assert!(diff(&spec, &server).changes.is_empty());
    }

    #[test]
    fn max_age_change_is_reported_with_both_values() {
        let old = spec();
        let server = server_view(&old);
        let new = StreamSpec {
            max_age: Some(Duration::from_secs(7200)),
            ..old
        };
        let d = diff(&new, &server);
        assert!(d.blocked.is_empty());
        assert_eq!(
            d.changes,
            vec![FieldChange {
                field: "max_age".into(),
                kind: ChangeKind::Safe,
                server: "1h".into(),
                declared: "2h".into()
            }]
        );
    }

    #[test]
    fn removing_a_limit_is_a_change() {
        let old = spec();
        let server = server_view(&old);
        let new = StreamSpec {
            max_bytes: None,
            max_age: None,
            ..old
        };
        let d = diff(&new, &server);
        let fields: Vec<_> = d.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["max_age", "max_bytes"]);
        assert_eq!(d.changes[0].declared, "forever");
        assert_eq!(d.changes[1].declared, "unlimited");
    }

    #[test]
    fn storage_change_is_blocked_and_named() {
        let old = spec();
        let server = server_view(&old);
        let new = StreamSpec {
            storage: StorageKind::Memory,
            ..old
        };
        let d = diff(&new, &server);
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.blocked.len(), 1);
        assert_eq!(d.blocked[0].field, "storage");
        assert!(d.blocked[0].why.contains("`file`"), "{}", d.blocked[0].why);
    }

    #[test]
    fn retention_limits_interest_is_updatable_but_workqueue_is_not() {
        let old = spec();
        let server = server_view(&old);
        let interest = StreamSpec {
            retention: RetentionKind::Interest,
            ..old.clone()
        };
        let d = diff(&interest, &server);
        assert_eq!(d.changes.len(), 1);
        assert!(d.blocked.is_empty());

        let workqueue = StreamSpec {
            retention: RetentionKind::Workqueue,
            ..old
        };
        let d = diff(&workqueue, &server);
        assert_eq!(d.blocked.len(), 1);
        assert_eq!(d.blocked[0].field, "retention");
    }

    #[test]
    fn replicas_and_discard_and_window_are_updatable() {
        let old = spec();
        let server = server_view(&old);
        let new = StreamSpec {
            replicas: 3,
            discard: DiscardKind::New,
            duplicate_window: Some(Duration::from_secs(30)),
            ..old
        };
        let d = diff(&new, &server);
        let fields: Vec<_> = d.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["replicas", "discard", "duplicate_window"]);
        assert!(d.blocked.is_empty());
    }

    #[test]
    fn sealed_stream_blocks_any_change() {
        let old = spec();
        let mut server = server_view(&old);
        server.sealed = true;
        assert!(diff(&old, &server).blocked.is_empty());
        let new = StreamSpec {
            max_msgs: Some(10),
            ..old
        };
        assert_eq!(diff(&new, &server).blocked[0].field, "sealed");
    }

    #[test]
    fn update_keeps_undeclared_server_settings() {
        let spec = spec();
        let server = json!({
            "name": "ORDERS",
            "subjects": ["orders.>"],
            "allow_direct": true,
            "max_consumers": 10,
            "metadata": {"owner": "team-a"},
            "max_age": 1,
            "storage": "file",
        });
        let update = update_request(&spec, &server, &[]);
        assert_eq!(update["allow_direct"], json!(true));
        assert_eq!(update["max_consumers"], json!(10));
        assert_eq!(update["metadata"]["owner"], json!("team-a"));
        assert_eq!(update["max_age"], json!(3_600_000_000_000_i64));
        assert_eq!(update["subjects"], json!(["orders.>", "refunds.>"]));
        assert_eq!(update["max_msgs"], json!(-1));
    }

    #[test]
    fn create_request_uses_server_spellings() {
        let request = create_request(&StreamSpec {
            storage: StorageKind::Memory,
            retention: RetentionKind::Workqueue,
            discard: DiscardKind::New,
            max_msg_size: Some(512),
            duplicate_window: Some(Duration::from_secs(60)),
            ..spec()
        });
        assert_eq!(request["storage"], "memory");
        assert_eq!(request["retention"], "workqueue");
        assert_eq!(request["discard"], "new");
        assert_eq!(request["max_msg_size"], 512);
        assert_eq!(request["num_replicas"], 1);
        assert_eq!(request["duplicate_window"], json!(60_000_000_000_i64));
        assert!(request.get("description").is_some());
    }

    #[test]
    fn the_defaults_are_valid() {
        for s in super::super::default_connect_streams() {
            assert_eq!(s.problem(), None, "{}", s.name);
        }
    }

    /// The kind of the one change between `old` (on the server) and `new`.
    fn kind_of(old: &StreamSpec, new: &StreamSpec) -> (String, ChangeKind) {
        let d = diff(new, &server_view(old));
        assert_eq!(d.changes.len(), 1, "{:?}", d.changes);
        (d.changes[0].field.clone(), d.changes[0].kind)
    }

    #[test]
    fn every_field_is_classified() {
        use ChangeKind::{Destructive, Safe};
        let base = spec();
        let with = |edit: fn(&mut StreamSpec)| {
            let mut s = spec();
            edit(&mut s);
            s
        };
        let unlimited = with(|s| {
            s.max_age = None;
            s.max_bytes = None;
        });
        let cases: Vec<(StreamSpec, StreamSpec, &str, ChangeKind)> = vec![
            (
                base.clone(),
                with(|s| s.subjects.push("audit.>".into())),
                "subjects",
                Safe,
            ),
            (
                base.clone(),
                with(|s| {
                    s.subjects.pop();
                }),
                "subjects",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.subjects = vec!["orders.>".into(), "x.>".into()]),
                "subjects",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.description = Some("new".into())),
                "description",
                Safe,
            ),
            (
                base.clone(),
                with(|s| s.max_age = Some(Duration::from_secs(7200))),
                "max_age",
                Safe,
            ),
            (
                base.clone(),
                with(|s| s.max_age = Some(Duration::from_secs(60))),
                "max_age",
                Destructive,
            ),
            (base.clone(), with(|s| s.max_age = None), "max_age", Safe),
            (
                unlimited.clone(),
                with(|s| s.max_bytes = None),
                "max_age",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.max_bytes = Some(4096)),
                "max_bytes",
                Safe,
            ),
            (
                base.clone(),
                with(|s| s.max_bytes = Some(512)),
                "max_bytes",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.max_bytes = None),
                "max_bytes",
                Safe,
            ),
            (
                unlimited,
                with(|s| s.max_age = None),
                "max_bytes",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.max_msgs = Some(10)),
                "max_msgs",
                Destructive,
            ),
            (
                with(|s| s.max_msgs = Some(10)),
                base.clone(),
                "max_msgs",
                Safe,
            ),
            (
                with(|s| s.max_msgs = Some(10)),
                with(|s| s.max_msgs = Some(20)),
                "max_msgs",
                Safe,
            ),
            (
                base.clone(),
                with(|s| s.max_msgs_per_subject = Some(1)),
                "max_msgs_per_subject",
                Destructive,
            ),
            (
                with(|s| s.max_msgs_per_subject = Some(1)),
                with(|s| s.max_msgs_per_subject = Some(5)),
                "max_msgs_per_subject",
                Safe,
            ),
            (
                base.clone(),
                with(|s| s.max_msg_size = Some(512)),
                "max_msg_size",
                Destructive,
            ),
            (
                with(|s| s.max_msg_size = Some(512)),
                base.clone(),
                "max_msg_size",
                Safe,
            ),
            (base.clone(), with(|s| s.replicas = 3), "replicas", Safe),
            (
                with(|s| s.replicas = 3),
                base.clone(),
                "replicas",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.storage = StorageKind::Memory),
                "storage",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.retention = RetentionKind::Interest),
                "retention",
                Destructive,
            ),
            (
                with(|s| s.retention = RetentionKind::Interest),
                base.clone(),
                "retention",
                Safe,
            ),
            (
                base.clone(),
                with(|s| s.retention = RetentionKind::Workqueue),
                "retention",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.discard = DiscardKind::New),
                "discard",
                Destructive,
            ),
            (
                with(|s| s.discard = DiscardKind::New),
                base.clone(),
                "discard",
                Destructive,
            ),
            (
                base.clone(),
                with(|s| s.duplicate_window = Some(Duration::from_secs(30))),
                "duplicate_window",
                Safe,
            ),
            (
                base,
                with(|s| s.duplicate_window = Some(Duration::from_secs(600))),
                "duplicate_window",
                Safe,
            ),
        ];
        for (old, new, field, kind) in cases {
            assert_eq!(
                kind_of(&old, &new),
                (field.to_owned(), kind),
                "{old:?}\n -> {new:?}"
            );
        }
    }

    fn fields(changes: &[FieldChange]) -> Vec<&str> {
        changes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn destructive_changes_are_kept_unless_allowed() {
        let old = spec();
        let server = server_view(&old);
        let new = StreamSpec {
            description: Some("grown".into()),
            max_bytes: Some(512),
            subjects: vec!["orders.>".into(), "audit.>".into()],
            ..old.clone()
        };
        let split = plan(&new, &server, diff(&new, &server).changes);
        assert_eq!(fields(&split.apply), ["subjects", "description"]);
        assert_eq!(
            split.apply[0].declared, "[orders.>, refunds.>, audit.>]",
            "subjects added, none removed"
        );
        assert_eq!(fields(&split.keep), ["subjects", "max_bytes"]);

        let raw = create_request(&old);
        let update = update_request(&new, &raw, &split.keep);
        assert_eq!(
            update["max_bytes"],
            json!(1024),
            "kept at the server's value"
        );
        assert_eq!(
            update["subjects"],
            json!(["orders.>", "refunds.>", "audit.>"])
        );
        assert_eq!(update["description"], json!("grown"));

        let allowed = StreamSpec {
            allow_destructive: true,
            ..new
        };
        let applied = plan(&allowed, &server, diff(&allowed, &server).changes);
        assert!(applied.keep.is_empty());
        assert_eq!(
            fields(&applied.apply),
            ["subjects", "description", "max_bytes"]
        );
        let update = update_request(&allowed, &raw, &applied.keep);
        assert_eq!(update["max_bytes"], json!(512));
        assert_eq!(update["subjects"], json!(["orders.>", "audit.>"]));
    }

    #[test]
    fn kept_replicas_keep_the_server_key() {
        let old = StreamSpec {
            replicas: 3,
            ..spec()
        };
        let server = server_view(&old);
        let new = spec();
        let split = plan(&new, &server, diff(&new, &server).changes);
        assert_eq!(fields(&split.keep), ["replicas"]);
        assert!(split.apply.is_empty());
        let update = update_request(&new, &create_request(&old), &split.keep);
        assert_eq!(update["num_replicas"], json!(3));
    }
}
