//! Declare streams in a YAML file and apply them: created, updated when the change is safe, left
//! as they are (and reported) when applying the declaration would lose stored events.
//!
//! `streams.yaml` beside this file is the example declaration; `NATS_CONFIG_FILE` names the file
//! a service would use.

use std::path::Path;

use connect_nats_config::Config;
use connect_nats_jetstream::{declared_streams, ensure_streams, jetstream_context};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("streams.yaml");
    // The file's settings, with the environment (NATS_URL, …) on top.
    let config = Config::builder().file(file).build()?;
    let connection = connect_nats_core::connect(&config).await?;

    let js = jetstream_context(&connection);
    let report = ensure_streams(&js, &declared_streams(&config)).await;
    println!("{report}");

    if !report.is_success() {
        // A failed or kept stream: the report says which field and what to do.
        std::process::exit(1);
    }
    Ok(())
}
