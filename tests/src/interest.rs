//! Subscriptions the server has registered, not only written to the socket.
//!
//! async-nats' `flush()` returns once the client's buffer is written to the
//! socket; it does not wait for the server to process it. A message published
//! on *another* connection right after can reach the server first, find no
//! interest and be dropped (seen in CI: a test waiting for a message that was
//! never routed). The server handles one connection's commands in order, so a
//! probe that the client publishes to its own inbox and receives back proves
//! every earlier subscription of that client is in place.

use std::time::Duration;

use async_nats::{Client, Subscriber};
use futures::StreamExt;

/// How long the probe round trip may take before the test fails.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Returns once the server has processed every command `client` sent before
/// this call (its subscriptions in particular).
///
/// Only the client's own server: on a cluster, interest still has to travel
/// the routes to the other nodes.
pub async fn server_caught_up(client: &Client) {
    let inbox = client.new_inbox();
    let mut probe = client
        .subscribe(inbox.clone())
        .await
        .expect("subscribe to the probe inbox");
    client
        .publish(inbox, "probe".into())
        .await
        .expect("publish the probe");
    match tokio::time::timeout(PROBE_TIMEOUT, probe.next()).await {
        Ok(Some(_)) => {}
        Ok(None) => panic!("the probe subscription ended: the connection closed"),
        Err(_) => panic!(
            "the server did not echo a probe within {PROBE_TIMEOUT:?}: is the connection up?"
        ),
    }
    // Best effort: the probe inbox is unique, a leftover subscription is harmless.
    let _ = probe.unsubscribe().await;
}

/// Subscribes `client` to `subject` and returns once the server has registered
/// the subscription, so messages published right after on any connection to
/// the same server reach it.
pub async fn subscribe_registered(client: &Client, subject: &str) -> Subscriber {
    let subscriber = client
        .subscribe(subject.to_owned())
        .await
        .unwrap_or_else(|e| panic!("subscribe to {subject}: {e}"));
    server_caught_up(client).await;
    subscriber
}
