//! The one JetStream-context builder: domain, API prefix and timeout, used
//! by this crate's helpers, the publisher and the CLI.

use std::time::Duration;

use async_nats::jetstream::context::ContextBuilder;
use async_nats::jetstream::Context;
use connect_nats_config::JetStreamSettings;
use connect_nats_core::Connection;

/// A JetStream context for `connection`, honouring the configured JetStream
/// domain (`NATS_JS_DOMAIN`) or API prefix (`NATS_JS_API_PREFIX`).
///
/// When both are set the API prefix wins (it is the more specific setting: a
/// domain is only a shorthand for the prefix `$JS.<domain>.API`).
pub fn jetstream_context(connection: &Connection) -> Context {
    jetstream_context_for(connection.client().clone(), connection.config().jetstream())
}

/// Like [`jetstream_context`], from a bare client and the JetStream settings.
pub fn jetstream_context_for(client: async_nats::Client, settings: &JetStreamSettings) -> Context {
    build_context(client, settings, None)
}

/// The one way this workspace builds a JetStream context: the settings'
/// domain or API prefix (the prefix wins when both are set) and, when
/// given, the timeout of its requests (for the publisher, its ack timeout).
pub fn build_context(
    client: async_nats::Client,
    settings: &JetStreamSettings,
    timeout: Option<Duration>,
) -> Context {
    let mut builder = ContextBuilder::new();
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    match (non_empty(&settings.api_prefix), non_empty(&settings.domain)) {
        (Some(prefix), _) => builder
            .api_prefix(prefix.trim_end_matches('.'))
            .build(client),
        (None, Some(domain)) => builder.domain(domain).build(client),
        (None, None) => builder.build(client),
    }
}

/// The API prefix the settings select: `$JS.API` by default.
pub fn api_prefix(settings: &JetStreamSettings) -> String {
    match (non_empty(&settings.api_prefix), non_empty(&settings.domain)) {
        (Some(prefix), _) => prefix.trim_end_matches('.').to_owned(),
        (None, Some(domain)) => format!("$JS.{domain}.API"),
        (None, None) => "$JS.API".to_owned(),
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(domain: Option<&str>, prefix: Option<&str>) -> JetStreamSettings {
        JetStreamSettings {
            domain: domain.map(Into::into),
            api_prefix: prefix.map(Into::into),
            streams: Vec::new(),
        }
    }

    #[test]
    fn default_prefix() {
        assert_eq!(api_prefix(&settings(None, None)), "$JS.API");
        assert_eq!(api_prefix(&settings(Some(" "), Some(""))), "$JS.API");
    }

    #[test]
    fn domain_makes_prefix() {
        assert_eq!(api_prefix(&settings(Some("hub"), None)), "$JS.hub.API");
    }

    #[test]
    fn api_prefix_wins_over_domain() {
        assert_eq!(
            api_prefix(&settings(Some("hub"), Some("JS.acc.API"))),
            "JS.acc.API"
        );
    }
}
