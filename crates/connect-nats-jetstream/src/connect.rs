//! Connecting and making sure the declared streams exist, in one call.

use async_nats::jetstream::Context;
use connect_nats_config::{Config, StreamSpec};
use connect_nats_core::Connection;

use crate::context::jetstream_context;
use crate::error::JetStreamError;
use crate::streams::{ensure_streams, resolve_streams, EnsureReport};

/// A connection with its JetStream context and the outcome of ensuring the
/// declared streams.
#[derive(Debug, Clone)]
pub struct JetStreamConnection {
    /// The NATS connection.
    pub connection: Connection,
    /// A JetStream context honouring the configured domain / API prefix.
    pub jetstream: Context,
    /// What happened to each declared stream.
    pub report: EnsureReport,
}

/// Connects (as [`connect_nats_core::connect`]) and then ensures the streams
/// (as [`ensure_streams`]).
///
/// An empty `streams` list means the streams declared in the configuration
/// (`jetstream.streams`), or [`default_connect_streams`](crate::default_connect_streams)
/// when the configuration declares none. Stream problems never fail the
/// connect: they are logged (one warning per failed or kept stream) and
/// returned in [`JetStreamConnection::report`].
pub async fn connect_with_jetstream(
    config: &Config,
    streams: &[StreamSpec],
) -> Result<JetStreamConnection, JetStreamError> {
    let connection = connect_nats_core::connect(config).await?;
    Ok(with_streams(connection, config, streams).await)
}

/// Like [`connect_with_jetstream`], but never fails: when the server cannot
/// be reached it logs one warning and returns `None`, so the service goes on
/// without real-time events (the original library's `MustConnectWithJetStream`).
pub async fn connect_with_jetstream_or_degrade(
    config: &Config,
    streams: &[StreamSpec],
) -> Option<JetStreamConnection> {
    let connection = connect_nats_core::connect_or_degrade(config).await?;
    Some(with_streams(connection, config, streams).await)
}

async fn with_streams(
    connection: Connection,
    config: &Config,
    streams: &[StreamSpec],
) -> JetStreamConnection {
    let jetstream = jetstream_context(&connection);
    let specs = resolve_streams(config, streams);
    let report = ensure_streams(&jetstream, &specs).await;
    let counts = report.counts();
    if report.is_success() {
        tracing::info!(
            created = counts.created,
            updated = counts.updated,
            unchanged = counts.unchanged,
            above_default = counts.above_default,
            "JetStream streams ensured"
        );
    } else {
        tracing::warn!(
            created = counts.created,
            updated = counts.updated,
            unchanged = counts.unchanged,
            kept = counts.kept,
            failed = counts.failed,
            "some JetStream streams are not as declared; the connection is up, see the report"
        );
    }
    JetStreamConnection {
        connection,
        jetstream,
        report,
    }
}
