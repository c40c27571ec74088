//! The events the demo publishes: what a Connect service sends every day.

use serde_json::{json, Value};

/// How an event is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Core NATS, fire and forget: for ephemeral events (presence).
    Core,
    /// JetStream, acknowledged and stored: for events that must not be lost.
    JetStream,
}

impl Path {
    /// `core` or `JetStream`, for the output.
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Core => "core",
            Path::JetStream => "JetStream",
        }
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoEvent {
    /// Subject (under `connect.>`, so the `CONNECT_EVENTS` stream stores it).
    pub subject: &'static str,
    /// Envelope type.
    pub event_type: &'static str,
    /// How it is published.
    pub path: Path,
    /// The envelope's `data`.
    pub data: Value,
}

/// How many different events [`event`] cycles through.
pub const KINDS: usize = 5;

/// The `n`-th event of the demo (0-based): invitations, notifications and
/// presence updates, in a fixed rotation, so the traffic of `n` events is known
/// in advance (see [`count_by_path`]).
pub fn event(n: usize) -> DemoEvent {
    let user = |k: usize| format!("user-{:03}", 100 + (n + k) % 7);
    let invite = format!("inv-{:04}", n / KINDS + 1);
    match n % KINDS {
        0 => DemoEvent {
            subject: "connect.invitations.created",
            event_type: "invite.created",
            path: Path::JetStream,
            data: json!({"invite_id": invite, "from": user(0), "to": user(1), "lobby_id": "lobby-42"}),
        },
        1 => DemoEvent {
            subject: "connect.presence.updated",
            event_type: "presence.updated",
            path: Path::Core,
            data: json!({"user_id": user(0), "status": "in_lobby", "lobby_id": "lobby-42"}),
        },
        2 => DemoEvent {
            subject: "connect.notifications.sent",
            event_type: "notification.sent",
            path: Path::JetStream,
            data: json!({"notification_id": format!("ntf-{n:04}"), "user_id": user(1), "channel": "push", "title": "You have a new invitation"}),
        },
        3 => DemoEvent {
            subject: "connect.invitations.accepted",
            event_type: "invite.accepted",
            path: Path::JetStream,
            data: json!({"invite_id": invite, "user_id": user(1)}),
        },
        _ => DemoEvent {
            subject: "connect.presence.updated",
            event_type: "presence.updated",
            path: Path::Core,
            data: json!({"user_id": user(1), "status": "in_game"}),
        },
    }
}

/// How many of the first `n` events go through core NATS and through
/// JetStream: `(core, jetstream)`.
pub fn count_by_path(n: usize) -> (usize, usize) {
    let core = (0..n).filter(|i| event(*i).path == Path::Core).count();
    (core, n - core)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_mixes_core_and_jetstream() {
        assert_eq!(count_by_path(20), (8, 12));
        assert_eq!(count_by_path(1), (0, 1));
        assert!((0..KINDS).all(|i| event(i).subject.starts_with("connect.")));
    }
}
