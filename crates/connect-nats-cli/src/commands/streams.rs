//! `connect-nats streams ensure [FILE] [--dry-run]`: apply the declared
//! JetStream streams and print what happened to each.
//!
//! The streams come from the configuration's `jetstream.streams` (the
//! service's config file, or FILE), exactly as a service applies them with
//! `connect_with_jetstream`; a configuration declaring none applies the
//! default Connect streams (`CONNECT_EVENTS`, `CACHE`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use connect_nats_config::Config;
use connect_nats_core::{connect, ConnectError};
use connect_nats_jetstream::{
    declared_streams, ensure_streams, ensure_streams_dry_run, jetstream_context,
};

/// Exit status when at least one stream failed (or would fail, with `--dry-run`).
pub const EXIT_STREAM_FAILED: u8 = 1;
/// Exit status when the configuration (or FILE) cannot be loaded.
pub const EXIT_INVALID_CONFIG: u8 = 2;
/// Exit status when no server could be reached (refused, DNS, timeout).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit status when the server rejected the credentials.
pub const EXIT_AUTH: u8 = 4;
/// Exit status when TLS failed.
pub const EXIT_TLS: u8 = 5;

/// Arguments of `connect-nats streams`.
#[derive(Debug, Clone, Args)]
#[command(about = "Manage the JetStream streams services declare")]
pub struct StreamsArgs {
    /// What to do with the streams.
    #[command(subcommand)]
    pub command: StreamsCommand,
}

/// The `streams` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum StreamsCommand {
    /// Create missing streams and update drifted ones, then print what happened to each.
    Ensure(EnsureArgs),
}

/// Arguments of `connect-nats streams ensure`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Streams are read from `jetstream.streams` of the configuration: FILE when given, else the \
service's own configuration (NATS_CONFIG_FILE, NATS_* variables, NATS CLI context). With no \
streams declared, the default Connect streams (CONNECT_EVENTS, CACHE) are applied, as services do.

Each stream is reported as created, updated (with the changed fields), unchanged, or FAILED \
(with the field at fault, e.g. a storage change the server cannot make in place). One failing \
stream does not stop the others.

Exit status: 0 every stream is as declared (with --dry-run: nothing would fail); 1 a stream \
failed (or would fail); 2 invalid configuration; 3 server unreachable; 4 authentication \
rejected; 5 TLS failure.")]
pub struct EnsureArgs {
    /// A config file (YAML, JSON or TOML, by extension) declaring `jetstream.streams`; it is
    /// layered like NATS_CONFIG_FILE, so it may also hold the connection settings.
    pub file: Option<PathBuf>,

    /// Show what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the report as JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `connect-nats streams …` and returns the process exit status.
pub async fn run(args: StreamsArgs) -> ExitCode {
    match args.command {
        StreamsCommand::Ensure(args) => ensure(args).await,
    }
}

async fn ensure(args: EnsureArgs) -> ExitCode {
    let loaded = match &args.file {
        Some(path) => Config::builder().file(path).build(),
        None => Config::load(),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("connect-nats streams ensure: invalid configuration: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let specs = declared_streams(&config);
    if config.jetstream().streams.is_empty() {
        eprintln!(
            "connect-nats streams ensure: no streams declared (jetstream.streams); applying the \
             default Connect streams: {}",
            names(&specs)
        );
    }

    let connection = match connect(&config).await {
        Ok(connection) => connection,
        Err(e) => {
            eprintln!("connect-nats streams ensure: cannot connect: {e}");
            return ExitCode::from(connect_exit_code(&e));
        }
    };
    if !args.json {
        println!(
            "{} {} stream(s) at {}: {}",
            if args.dry_run {
                "checking (dry run)"
            } else {
                "ensuring"
            },
            specs.len(),
            config.server_urls().join(","),
            names(&specs)
        );
    }

    let js = jetstream_context(&connection);
    let report = if args.dry_run {
        ensure_streams_dry_run(&js, &specs).await
    } else {
        ensure_streams(&js, &specs).await
    };
    let _ = connection.shutdown(Duration::from_secs(2)).await;

    if args.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("connect-nats streams ensure: cannot print the report as JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{report}");
    }
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_STREAM_FAILED)
    }
}

fn names(specs: &[connect_nats_config::StreamSpec]) -> String {
    specs
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn connect_exit_code(error: &ConnectError) -> u8 {
    match error {
        ConnectError::Unreachable { .. } | ConnectError::Timeout { .. } => EXIT_UNREACHABLE,
        ConnectError::Auth { .. } => EXIT_AUTH,
        ConnectError::Tls { .. } => EXIT_TLS,
        ConnectError::InvalidConfig { .. } => EXIT_INVALID_CONFIG,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Streams(StreamsArgs),
    }

    fn parse(args: &[&str]) -> EnsureArgs {
        let cli = Cli::try_parse_from(args).expect("parses");
        let Top::Streams(StreamsArgs {
            command: StreamsCommand::Ensure(ensure),
        }) = cli.command;
        ensure
    }

    #[test]
    fn ensure_takes_an_optional_file_and_flags() {
        let plain = parse(&["x", "streams", "ensure"]);
        assert_eq!(plain.file, None);
        assert!(!plain.dry_run && !plain.json);

        let full = parse(&[
            "x",
            "streams",
            "ensure",
            "streams.yaml",
            "--dry-run",
            "--json",
        ]);
        assert_eq!(full.file, Some(PathBuf::from("streams.yaml")));
        assert!(full.dry_run && full.json);
    }

    #[test]
    fn streams_needs_a_subcommand() {
        assert!(Cli::try_parse_from(["x", "streams"]).is_err());
    }
}
