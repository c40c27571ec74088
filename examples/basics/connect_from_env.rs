//! Load the configuration from the environment (`NATS_URL`, `NATS_TOKEN`, …), connect, and print
//! the connection's health. A bad setting fails here, naming the variable; an unreachable server
//! fails within `NATS_TIMEOUT`.

use std::time::Duration;

use connect_nats_config::Config;
use connect_nats_core::connect;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(connect_nats_core::RECOMMENDED_LOG_DIRECTIVES)
        .init();

    // Defaults < file (`NATS_CONFIG_FILE`) < environment.
    let config = Config::from_env()?;
    println!(
        "connecting to {} as {}",
        config.server_urls().join(","),
        config.client_id()
    );

    let connection = connect(&config).await?;
    let health = connection.health().await;
    println!(
        "connected to {:?}, rtt {:?}, ready: {}",
        health.server.map(|s| s.name),
        health.rtt,
        connection.readiness()
    );

    // Flushes what is buffered and closes, bounded in time.
    connection.shutdown(Duration::from_secs(5)).await?;
    Ok(())
}
