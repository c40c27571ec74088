//! Applying stream declarations to a server.

use async_nats::jetstream::context::RequestErrorKind;
use async_nats::jetstream::Context;
use connect_nats_config::StreamSpec;
use serde::Deserialize;
use serde_json::Value;

use super::defaults::default_connect_streams;
use super::diff::{create_request, diff, plan, update_request, ServerStreamConfig};
use super::report::{EnsureReport, FieldChange, StreamOutcome, StreamReport};
use crate::server_version::{ServerVersion, ATOMIC_BATCH_VERSION, FAST_INGEST_VERSION};

/// Creates missing streams, updates streams whose settings differ, leaves
/// identical ones alone, and reports per stream what it did.
///
/// Every difference is classified (the table is in docs/jetstream.md):
/// *safe* changes (no event can be lost: a limit grows, a subject is added…)
/// are applied; *destructive* ones (a limit lowered, a subject removed…) are
/// applied only when the spec sets `allow_destructive`. Otherwise the
/// server's value stays, and the stream is reported
/// [`Kept`](StreamOutcome::Kept) with each field's current and declared
/// value, logged at WARN.
///
/// A spec equal to a built-in default ([`default_connect_streams`]) is a
/// floor: a stream an operator made larger keeps its larger settings and is
/// reported [`AboveDefault`](StreamOutcome::AboveDefault), not a failure;
/// settings below the defaults are grown back.
///
/// A difference the server cannot apply in place (storage type, retention to
/// or from workqueue, any change to a sealed stream) is reported as a failure
/// naming the field; nothing is hidden. A failure on one stream does not stop
/// the others. Running it twice in a row changes nothing the second time.
///
/// Settings a [`StreamSpec`] cannot express (`allow_direct`, `metadata`,
/// `max_consumers`…) are preserved when a stream is updated.
pub async fn ensure_streams(js: &Context, specs: &[StreamSpec]) -> EnsureReport {
    run(js, specs, false).await
}

/// Like [`ensure_streams`], but changes nothing: the report says what would
/// be created, updated, left alone, kept, or fail, with the same
/// classification.
pub async fn ensure_streams_dry_run(js: &Context, specs: &[StreamSpec]) -> EnsureReport {
    run(js, specs, true).await
}

async fn run(js: &Context, specs: &[StreamSpec], dry_run: bool) -> EnsureReport {
    let mut report = EnsureReport {
        dry_run,
        streams: Vec::with_capacity(specs.len()),
    };
    for (i, spec) in specs.iter().enumerate() {
        let outcome = match spec.problem_after(&specs[..i]) {
            Some(problem) => StreamOutcome::Failed {
                field: Some(problem.field.to_owned()),
                reason: format!("invalid declaration: {problem}"),
                changes: Vec::new(),
            },
            None => ensure_one(js, spec, dry_run).await,
        };
        log_outcome(&spec.name, &outcome, dry_run);
        report.streams.push(StreamReport {
            name: spec.name.clone(),
            outcome,
        });
    }
    report
}

fn log_outcome(name: &str, outcome: &StreamOutcome, dry_run: bool) {
    match outcome {
        StreamOutcome::Created => {
            tracing::info!(stream = name, dry_run, "JetStream stream created")
        }
        StreamOutcome::Updated { changes } => {
            tracing::info!(stream = name, dry_run, changes = ?texts(changes), "JetStream stream updated");
        }
        StreamOutcome::Unchanged => {
            tracing::debug!(stream = name, dry_run, "JetStream stream unchanged")
        }
        StreamOutcome::Kept { applied, kept } => tracing::warn!(
            stream = name,
            dry_run,
            kept = ?texts(kept),
            applied = ?texts(applied),
            "JetStream stream kept: its declaration would lose events; set `allow_destructive: \
             true` (CLI: --allow-destructive) to apply it"
        ),
        StreamOutcome::AboveDefault { applied, kept } => tracing::warn!(
            stream = name,
            dry_run,
            kept = ?texts(kept),
            applied = ?texts(applied),
            "JetStream stream is above its built-in defaults; the larger settings were kept"
        ),
        StreamOutcome::Failed { field, reason, .. } => tracing::warn!(
            stream = name,
            dry_run,
            field = field.as_deref().unwrap_or("-"),
            reason = reason.as_str(),
            "JetStream stream could not be ensured"
        ),
    }
}

fn texts(changes: &[FieldChange]) -> Vec<String> {
    changes.iter().map(ToString::to_string).collect()
}

/// Whether `spec` is applied as a floor: it is one of the built-in defaults,
/// unchanged and without `allow_destructive`.
fn is_floor(spec: &StreamSpec) -> bool {
    !spec.allow_destructive && default_connect_streams().iter().any(|d| d == spec)
}

async fn ensure_one(js: &Context, spec: &StreamSpec, dry_run: bool) -> StreamOutcome {
    if let Some((field, reason)) = missing_feature(spec, ServerVersion::of(&js.client())) {
        return StreamOutcome::Failed {
            field: Some(field.to_owned()),
            reason,
            changes: Vec::new(),
        };
    }
    let existing = match api(js, &format!("STREAM.INFO.{}", spec.name), &Value::Null).await {
        Ok(info) => Some(info),
        Err(ApiError::Server(e)) if e.is_stream_not_found() => None,
        Err(e) => {
            return StreamOutcome::Failed {
                field: None,
                reason: format!("could not read the stream's info: {e}"),
                changes: Vec::new(),
            }
        }
    };

    let Some(info) = existing else {
        if dry_run {
            return StreamOutcome::Created;
        }
        let subject = format!("STREAM.CREATE.{}", spec.name);
        return match api(js, &subject, &create_request(spec)).await {
            Ok(_) => StreamOutcome::Created,
            Err(e) => StreamOutcome::Failed {
                field: e.field().map(str::to_owned),
                reason: format!("the server refused to create it: {e}"),
                changes: Vec::new(),
            },
        };
    };

    let raw_config = info.get("config").cloned().unwrap_or(Value::Null);
    let server: ServerStreamConfig = match serde_json::from_value(raw_config.clone()) {
        Ok(config) => config,
        Err(e) => {
            return StreamOutcome::Failed {
                field: None,
                reason: format!(
                    "the server's stream configuration could not be read ({e}); check the server \
                     version is 2.10 or later"
                ),
                changes: Vec::new(),
            }
        }
    };

    let difference = diff(spec, &server);
    if let Some(first) = difference.blocked.first() {
        let reason = difference
            .blocked
            .iter()
            .map(|b| b.why.as_str())
            .collect::<Vec<_>>();
        return StreamOutcome::Failed {
            field: Some(first.field.to_owned()),
            reason: reason.join("; "),
            changes: difference.changes,
        };
    }
    if difference.changes.is_empty() {
        return StreamOutcome::Unchanged;
    }
    let plan = plan(spec, &server, difference.changes);
    if !dry_run && !plan.apply.is_empty() {
        let subject = format!("STREAM.UPDATE.{}", spec.name);
        if let Err(e) = api(js, &subject, &update_request(spec, &raw_config, &plan.keep)).await {
            let field = e
                .field()
                .map(str::to_owned)
                .or_else(|| match plan.apply.as_slice() {
                    [only] => Some(only.field.clone()),
                    _ => None,
                });
            let mut changes = plan.apply;
            changes.extend(plan.keep);
            return StreamOutcome::Failed {
                field,
                reason: format!("the server refused the update: {e}"),
                changes,
            };
        }
    }
    match (plan.keep.is_empty(), is_floor(spec)) {
        (true, _) => StreamOutcome::Updated {
            changes: plan.apply,
        },
        (false, true) => StreamOutcome::AboveDefault {
            applied: plan.apply,
            kept: plan.keep,
        },
        (false, false) => StreamOutcome::Kept {
            applied: plan.apply,
            kept: plan.keep,
        },
    }
}

/// The first declared flag the connected server is too old for, with the reason: an older server
/// ignores the flag and would store every message of a batch on its own.
fn missing_feature(
    spec: &StreamSpec,
    server: Option<ServerVersion>,
) -> Option<(&'static str, String)> {
    [
        ("allow_atomic", spec.allow_atomic, ATOMIC_BATCH_VERSION),
        ("allow_batched", spec.allow_batched, FAST_INGEST_VERSION),
    ]
    .into_iter()
    .filter(|(_, declared, _)| *declared)
    .find(|(_, _, needed)| server.is_none_or(|v| v < *needed))
    .map(|(field, _, needed)| {
        let have = server.map_or_else(|| "of unknown version".to_owned(), |v| v.to_string());
        (
            field,
            format!(
                "`{field}` needs nats-server {needed} or later and the server is {have}; upgrade \
                 the server or remove `{field}`"
            ),
        )
    })
}

/// An error of a JetStream API request.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The server answered with an error.
    Server(ServerError),
    /// No answer (no responders, timeout) or an unreadable one.
    Request(String),
}

/// The `error` object of a JetStream API response.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ServerError {
    #[serde(default)]
    pub code: u64,
    #[serde(default)]
    pub err_code: u64,
    #[serde(default)]
    pub description: String,
}

/// JetStream's "stream not found" error code.
const STREAM_NOT_FOUND: u64 = 10059;

impl ServerError {
    fn is_stream_not_found(&self) -> bool {
        self.err_code == STREAM_NOT_FOUND || (self.err_code == 0 && self.code == 404)
    }
}

impl ApiError {
    /// The spec field a server error is about, for the codes that name one.
    fn field(&self) -> Option<&'static str> {
        match self {
            // JSStreamSubjectOverlapErr
            ApiError::Server(e) if e.err_code == 10065 => Some("subjects"),
            // JSStreamReplicasNotSupportedErr, JSStreamReplicasNotUpdatableErr
            ApiError::Server(e) if e.err_code == 10074 || e.err_code == 10061 => Some("replicas"),
            // JSStreamMaxBytesRequired, JSStreamMaxStreamBytesExceeded
            ApiError::Server(e) if e.err_code == 10113 || e.err_code == 10122 => Some("max_bytes"),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Server(e) => write!(f, "{} (JetStream error {})", e.description, e.err_code),
            ApiError::Request(reason) => f.write_str(reason),
        }
    }
}

/// Sends a JetStream API request (the subject is relative to the context's
/// API prefix) and returns the response body, or its `error`.
pub(crate) async fn api(js: &Context, subject: &str, payload: &Value) -> Result<Value, ApiError> {
    let body: Value = js
        .request(subject.to_owned(), payload)
        .await
        .map_err(|e| ApiError::Request(describe_request_error(e.kind(), &e.to_string())))?;
    match body.get("error") {
        Some(error) => match ServerError::deserialize(error) {
            Ok(error) => Err(ApiError::Server(error)),
            Err(_) => Err(ApiError::Request(format!(
                "unreadable JetStream error response: {error}"
            ))),
        },
        None => Ok(body),
    }
}

/// A JetStream request error in words, with what to do.
pub(crate) fn describe_request_error(kind: RequestErrorKind, detail: &str) -> String {
    match kind {
        RequestErrorKind::NoResponders => "JetStream is not available (no responders): enable \
            JetStream on the server, and check NATS_JS_DOMAIN / NATS_JS_API_PREFIX"
            .to_owned(),
        RequestErrorKind::TimedOut => "the JetStream API did not answer in time: check the \
            connection and the server's JetStream health (`nats server check jetstream`)"
            .to_owned(),
        _ => format!("the JetStream request failed: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_the_server_is_too_old_for_names_the_version_needed() {
        let mut spec = StreamSpec::new("ORDERS", ["orders.>"]);
        spec.allow_batched = true;
        let old = ServerVersion::parse("2.12.1");
        let (field, reason) = missing_feature(&spec, old).unwrap_or_default();
        assert_eq!(field, "allow_batched");
        assert!(reason.contains("2.14.0"), "{reason}");
        assert!(missing_feature(&spec, ServerVersion::parse("2.15.1")).is_none());
        spec.allow_batched = false;
        assert!(missing_feature(&spec, ServerVersion::parse("2.10.26")).is_none());
        spec.allow_atomic = true;
        let (field, _) =
            missing_feature(&spec, ServerVersion::parse("2.10.26")).unwrap_or_default();
        assert_eq!(field, "allow_atomic");
    }
}
