//! Publish an event in the standard envelope
//! (`{"type":…,"version":1,"data":…,"meta":{"ts":…,"by":…}}`), once on core NATS (fire and
//! forget, buffered while disconnected) and once on JetStream (acknowledged by the stream).

use connect_nats_config::Config;
use connect_nats_jetstream::{connect_with_jetstream, default_connect_streams};
use connect_nats_publisher::Publisher;
use serde::Serialize;

#[derive(Serialize)]
struct InviteCreated {
    invite_id: String,
    lobby: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    // Connect and make sure CONNECT_EVENTS (`connect.>`) exists.
    let js = connect_with_jetstream(&config, &default_connect_streams()).await?;
    let publisher = Publisher::new(js.connection.clone(), "connect-lobby");

    let data = InviteCreated {
        invite_id: "inv-7".into(),
        lobby: 42,
    };

    // Core NATS: at most once, for events nobody must replay.
    publisher
        .event("connect.invitations.created", "invite.created", &data)
        .core()
        .await?;

    // JetStream: returns once the stream stored it; retried with the same Nats-Msg-Id.
    let ack = publisher
        .event("connect.invitations.created", "invite.created", &data)
        .version(2)
        .send()
        .await?;
    println!("stored in {} as sequence {}", ack.stream, ack.sequence);
    Ok(())
}
