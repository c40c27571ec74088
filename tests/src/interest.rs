//! Subscriptions the server has registered, not only written to the socket.
//!
//! async-nats' `flush()` returns once the client's buffer is written to the
//! socket; it does not wait for the server to process it. A message published
//! on *another* connection right after can reach the server first, find no
//! interest and be dropped, and a test waiting for it waits in vain. The
//! server handles one connection's commands in order, so a
//! probe that the client publishes to its own inbox and receives back proves
//! every earlier subscription of that client is in place.
//!
//! The probe needs what a request needs: echo on (the async-nats default),
//! and permission to publish and subscribe on the client's inbox prefix.

use std::time::Duration;

use async_nats::{Client, Subscriber};
use futures::StreamExt;

/// How long the probe round trip may take before the test fails.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A full round trip through the server within `limit`: a probe published to
/// the client's own inbox and received back. `Err` says what failed.
pub async fn round_trip(client: &Client, limit: Duration) -> Result<(), String> {
    let probe = async {
        let inbox = client.new_inbox();
        let mut probe = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| format!("subscribe to the probe inbox: {e}"))?;
        client
            .publish(inbox, "probe".into())
            .await
            .map_err(|e| format!("publish the probe: {e}"))?;
        if probe.next().await.is_none() {
            return Err("the probe subscription ended: the connection closed".to_owned());
        }
        // Best effort: the probe inbox is unique, a leftover subscription is harmless.
        let _ = probe.unsubscribe().await;
        Ok(())
    };
    tokio::time::timeout(limit, probe)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the server did not echo a probe within {limit:?}: is the connection up?"
            ))
        })
}

/// Returns once the server has processed every command `client` sent before
/// this call (its subscriptions in particular).
///
/// Only the client's own server: on a cluster, interest still has to travel
/// the routes to the other nodes.
///
/// # Panics
/// When the round trip fails or takes longer than [`PROBE_TIMEOUT`].
pub async fn server_caught_up(client: &Client) {
    if let Err(e) = round_trip(client, PROBE_TIMEOUT).await {
        panic!("waiting for the server to catch up with the client: {e}");
    }
}

/// Subscribes `client` to `subject` and returns once the server has registered
/// the subscription, so messages published right after on any connection to
/// the same server reach it.
///
/// # Panics
/// When the subscription cannot be made, or as [`server_caught_up`].
pub async fn subscribe_registered(client: &Client, subject: &str) -> Subscriber {
    let subscriber = client
        .subscribe(subject.to_owned())
        .await
        .unwrap_or_else(|e| panic!("subscribe to {subject}: {e}"));
    server_caught_up(client).await;
    subscriber
}
