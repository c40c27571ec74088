//! `connect-nats publish SUBJECT TYPE JSON [--core]`: send one event in the
//! standard envelope, the way a service would (same config, same publisher).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use connect_nats_config::Config;
use connect_nats_core::connect;
use connect_nats_publisher::{CoreDelivery, Publisher};

use crate::exit::{connect_exit_code, EXIT_INVALID_INPUT, EXIT_NOT_PUBLISHED};

/// Arguments of `connect-nats publish`.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Publish one event in the standard envelope (JetStream, acknowledged; --core for fire-and-forget)",
    after_help = "Example:\n  connect-nats publish connect.invite.created invite.created '{\"invite_id\":\"inv_1\"}'\n\n\
The envelope is {\"type\",\"version\",\"data\",\"meta\":{\"ts\",\"by\"}}. Headers follow NATS_HEADERS: \
minimal (default) sets only Nats-Msg-Id on JetStream; full adds Connect-Event-Type, Connect-Service \
and Content-Type.\n\n\
Exit status: 0 published (JetStream: acknowledged); 1 not published; 2 invalid configuration or \
arguments; 3 server unreachable; 4 authentication rejected; 5 TLS failure."
)]
pub struct PublishArgs {
    /// Subject to publish to, e.g. `connect.invite.created`.
    pub subject: String,
    /// Event type, e.g. `invite.created`.
    #[arg(value_name = "TYPE")]
    pub event_type: String,
    /// The event data as JSON (`-` reads it from standard input).
    #[arg(value_name = "JSON")]
    pub data: String,
    /// Publish on core NATS (fire and forget) instead of JetStream.
    #[arg(long)]
    pub core: bool,
    /// Envelope version.
    #[arg(long, default_value_t = 1)]
    pub version: u32,
    /// Service name for `meta.by` (default: NATS_CLIENT_ID from the configuration).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

fn read_data(arg: &str) -> Result<serde_json::Value, String> {
    let text = if arg == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("cannot read the event data from standard input: {e}"))?
    } else {
        arg.to_owned()
    };
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "the event data is not valid JSON ({e}); quote it for the shell, e.g. '{{\"id\":1}}'"
        )
    })
}

/// Publishes the event and returns the exit status.
pub async fn run(args: PublishArgs) -> ExitCode {
    let data = match read_data(&args.data) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("connect-nats publish: {e}");
            return ExitCode::from(EXIT_INVALID_INPUT);
        }
    };
    if let Err(e) = connect_nats_publisher::validate_publish_subject(&args.subject) {
        eprintln!("connect-nats publish: {e}");
        return ExitCode::from(EXIT_INVALID_INPUT);
    }
    let config = match super::load_config(Config::builder()).await {
        Ok(config) => config,
        Err(e) => {
            eprintln!("connect-nats publish: invalid configuration: {e}");
            return ExitCode::from(EXIT_INVALID_INPUT);
        }
    };
    let connection = match connect(&config).await {
        Ok(connection) => connection,
        Err(e) => {
            eprintln!("connect-nats publish: cannot connect: {e}");
            return ExitCode::from(connect_exit_code(&e));
        }
    };
    let mut builder = Publisher::builder(connection.clone());
    if let Some(service) = &args.service {
        builder = builder.service_name(service.clone());
    }
    let publisher = builder.build();

    let code = if args.core {
        match publisher
            .event(&args.subject, &args.event_type, &data)
            .version(args.version)
            .core()
            .await
        {
            Ok(CoreDelivery::Sent) => match connection.client().flush().await {
                Ok(()) => {
                    println!(
                        "published {} to {} (core, not persisted)",
                        args.event_type, args.subject
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "connect-nats publish: the event may not have reached the server: {e}"
                    );
                    ExitCode::from(EXIT_NOT_PUBLISHED)
                }
            },
            Ok(CoreDelivery::Buffered) => {
                eprintln!("connect-nats publish: not connected; the event was only buffered and is lost on exit");
                ExitCode::from(EXIT_NOT_PUBLISHED)
            }
            Err(e) => {
                eprintln!("connect-nats publish: {e}");
                ExitCode::from(EXIT_NOT_PUBLISHED)
            }
        }
    } else {
        match publisher
            .event(&args.subject, &args.event_type, &data)
            .version(args.version)
            .send()
            .await
        {
            Ok(ack) => {
                println!(
                    "published {} to {}: stored in stream {} as sequence {}{}",
                    args.event_type,
                    args.subject,
                    ack.stream,
                    ack.sequence,
                    if ack.duplicate { " (duplicate)" } else { "" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("connect-nats publish: {e}");
                ExitCode::from(EXIT_NOT_PUBLISHED)
            }
        }
    };
    let _ = connection.shutdown(Duration::from_secs(2)).await;
    code
}
