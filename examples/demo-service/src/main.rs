//! `connect-nats-demo`: see the library docs (`src/lib.rs`) for what it shows.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use connect_nats_config::Config;
use connect_nats_core::RECOMMENDED_LOG_DIRECTIVES;
use connect_nats_demo::{run, Options, DEFAULT_DURABLE};
use tracing_subscriber::EnvFilter;

/// An example connect service: consumes `connect.>`, publishes events, serves
/// /metrics and /healthz. NATS settings come from the environment (NATS_URL,
/// NATS_TOKEN, NATS_CREDS_FILE, …; see docs/configuration.md).
#[derive(Debug, Parser)]
#[command(name = "connect-nats-demo", version)]
struct Args {
    /// Publish N events, exit once N events were consumed (default: publish a
    /// few and run until Ctrl-C).
    #[arg(long, value_name = "N")]
    events: Option<usize>,
    /// Address for /metrics and /healthz (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Durable consumer name.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_DURABLE)]
    durable: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Library logs at WARN and above (RUST_LOG=info shows connects and
    // consumer starts); async-nats' own event logs are replaced by ours.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,{RECOMMENDED_LOG_DIRECTIVES}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = Options {
        events: args.events,
        listen: args.listen,
        durable_name: args.durable,
    };
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("\nCtrl-C received");
        }
    };
    match run(&config, &options, ctrl_c).await {
        Ok(summary) => {
            println!(
                "done: published {} events ({} core, {} JetStream, {} failed), consumed {} (acked {}, retried {}, dead-lettered {})",
                summary.published_core + summary.published_jetstream + summary.publish_failures,
                summary.published_core,
                summary.published_jetstream,
                summary.publish_failures,
                summary.consumed,
                summary.consumer.acked,
                summary.consumer.retried,
                summary.consumer.dead_lettered,
            );
            println!(
                "\nmetrics snapshot (http://{}/metrics, zero values and histogram buckets omitted):",
                summary.listen
            );
            for line in summary.metrics.lines() {
                println!("  {line}");
            }
            println!("\nwhere to look next:");
            println!(
                "  · the code to copy: examples/demo-service/src/lib.rs (Demo::start, routes)"
            );
            println!("  · every metric, the probes, TLS and creds: docs/operations.md");
            if options.events.is_some() {
                println!("  · keep it running to curl /metrics yourself: cargo xtask demo (no --events), Ctrl-C to stop");
            }
            println!(
                "  · against your own server: NATS_URL=nats://… cargo run -p connect-nats-demo"
            );
            if summary.publish_failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
