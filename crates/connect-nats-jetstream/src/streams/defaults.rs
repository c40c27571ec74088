//! The streams every Connect environment has.

use std::time::Duration;

use connect_nats_config::{Config, DiscardKind, RetentionKind, StorageKind, StreamSpec};

/// One GiB (1024³ bytes).
const GIB: i64 = 1024 * 1024 * 1024;
/// One MiB (1024² bytes).
const MIB: i64 = 1024 * 1024;

/// The two streams every environment has today, exactly as the original
/// library declared them:
///
/// - `CONNECT_EVENTS`: subjects `connect.>`, 7 days, 1 GiB, 1 replica, file
///   storage, limits retention, discard old.
/// - `CACHE`: subjects `cache.>`, 5 minutes, 1 MiB, 1 replica, file storage,
///   limits retention, discard old.
pub fn default_connect_streams() -> Vec<StreamSpec> {
    vec![
        StreamSpec {
            description: Some(
                "Main stream for all Connect system events (invitations, notifications, presence)"
                    .to_owned(),
            ),
            max_age: Some(Duration::from_secs(7 * 24 * 60 * 60)),
            max_bytes: Some(GIB),
            ..base("CONNECT_EVENTS", "connect.>")
        },
        StreamSpec {
            description: Some("Stream for cache invalidation events (ephemeral)".to_owned()),
            max_age: Some(Duration::from_secs(5 * 60)),
            max_bytes: Some(MIB),
            ..base("CACHE", "cache.>")
        },
    ]
}

fn base(name: &str, subject: &str) -> StreamSpec {
    StreamSpec {
        replicas: 1,
        storage: StorageKind::File,
        retention: RetentionKind::Limits,
        discard: DiscardKind::Old,
        ..StreamSpec::new(name, [subject])
    }
}

/// The streams a service applies when it names none: those declared in the
/// configuration (`jetstream.streams`) when there are any, otherwise
/// [`default_connect_streams`].
pub fn declared_streams(config: &Config) -> Vec<StreamSpec> {
    if config.jetstream().streams.is_empty() {
        default_connect_streams()
    } else {
        config.jetstream().streams.clone()
    }
}

/// The streams to apply for an explicit list: the list itself, or
/// [`declared_streams`] when it is empty.
pub(crate) fn resolve_streams(config: &Config, streams: &[StreamSpec]) -> Vec<StreamSpec> {
    if streams.is_empty() {
        declared_streams(config)
    } else {
        streams.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original_library() {
        let streams = default_connect_streams();
        assert_eq!(streams.len(), 2);

        let events = &streams[0];
        assert_eq!(events.name, "CONNECT_EVENTS");
        assert_eq!(events.subjects, vec!["connect.>"]);
        assert_eq!(events.max_age, Some(Duration::from_secs(604_800)));
        assert_eq!(events.max_bytes, Some(1_073_741_824));
        assert_eq!(events.replicas, 1);
        assert_eq!(events.storage, StorageKind::File);
        assert_eq!(events.retention, RetentionKind::Limits);
        assert_eq!(events.discard, DiscardKind::Old);
        assert_eq!(
            events.description.as_deref(),
            Some(
                "Main stream for all Connect system events (invitations, notifications, presence)"
            )
        );
        assert_eq!(events.max_msgs, None);
        assert_eq!(events.max_msg_size, None);
        assert_eq!(events.duplicate_window, None);

        let cache = &streams[1];
        assert_eq!(cache.name, "CACHE");
        assert_eq!(cache.subjects, vec!["cache.>"]);
        assert_eq!(cache.max_age, Some(Duration::from_secs(300)));
        assert_eq!(cache.max_bytes, Some(1_048_576));
        assert_eq!(cache.replicas, 1);
        assert_eq!(cache.storage, StorageKind::File);
        assert_eq!(cache.retention, RetentionKind::Limits);
        assert_eq!(cache.discard, DiscardKind::Old);
        assert_eq!(
            cache.description.as_deref(),
            Some("Stream for cache invalidation events (ephemeral)")
        );
    }

    #[test]
    fn empty_list_means_config_streams_then_defaults() {
        let config = Config::default();
        assert_eq!(resolve_streams(&config, &[]), default_connect_streams());

        let declared = vec![StreamSpec::new("ORDERS", ["orders.>"])];
        let config = Config::builder()
            .without_process_env()
            .without_context()
            .streams(declared.clone())
            .build()
            .unwrap();
        assert_eq!(resolve_streams(&config, &[]), declared);

        let explicit = vec![StreamSpec::new("X", ["x"])];
        assert_eq!(resolve_streams(&config, &explicit), explicit);
    }
}
