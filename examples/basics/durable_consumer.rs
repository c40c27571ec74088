//! A durable consumer: each event is handled, retried with backoff when the handler fails, and
//! sent to a dead-letter subject after `max_deliver` attempts or a permanent error. Stops on
//! Ctrl-C, letting running handlers finish and ack first.

use std::time::Duration;

use connect_nats_config::Config;
use connect_nats_jetstream::{connect_with_jetstream, consume, ConsumerSpec, HandlerError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let js = connect_with_jetstream(&config, &[]).await?;

    let spec = ConsumerSpec::new("CONNECT_EVENTS", "notifier")
        .filter_subject("connect.invitations.>")
        .max_deliver(5)
        .backoff([Duration::from_secs(1), Duration::from_secs(5)])
        .dead_letter_subject("connect.dead.notifier");

    let handle = consume(&js.jetstream, spec, |delivery| async move {
        // An envelope that does not decode is a permanent error: dead-lettered at once.
        let event = delivery.event::<serde_json::Value>()?;
        match event.event_type.as_str() {
            "invite.created" => notify(&event.data).await.map_err(HandlerError::retryable),
            _ => Ok(()), // not ours: ack and move on
        }
    })
    .await?;

    tokio::signal::ctrl_c().await?;
    let stats = handle.stop().await;
    println!("stopped: {stats:?}");
    Ok(())
}

async fn notify(data: &serde_json::Value) -> Result<(), String> {
    println!("notify: {data}");
    Ok(())
}
