//! `connect-nats streams ensure [FILE] [--dry-run] [--allow-destructive]`: apply the declared
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
use connect_nats_core::connect;
use connect_nats_jetstream::{
    declared_streams, ensure_streams, ensure_streams_dry_run, jetstream_context,
};

use crate::exit::{connect_exit_code, EXIT_INVALID_CONFIG, EXIT_STREAM_FAILED};

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

Each change is safe (no event can be lost: a limit grows, a subject is added) or destructive \
(a limit lowered, a subject removed, retention or discard changed, replicas lowered). Safe \
changes are applied. Destructive ones are applied only to streams declaring \
`allow_destructive: true`, or to every stream with --allow-destructive; otherwise the stream \
keeps the server's values and is reported KEPT with each field's current and declared value. \
The default streams are a floor: one an operator made larger is kept as it is (reported \
\"above the defaults\", not a failure); one smaller is grown back.

Each stream is reported as created, updated (with the changed fields), unchanged, KEPT, above \
the defaults, or FAILED (with the field at fault, e.g. a storage change the server cannot make \
in place). One failing stream does not stop the others.

Exit status: 0 every stream is as declared or above the defaults (with --dry-run: would be); \
1 a stream failed or was KEPT (or would be); 2 invalid configuration; 3 server unreachable; \
4 authentication rejected; 5 TLS failure.")]
pub struct EnsureArgs {
    /// A config file (YAML, JSON or TOML, by extension) declaring `jetstream.streams`; it is
    /// layered like NATS_CONFIG_FILE, so it may also hold the connection settings.
    pub file: Option<PathBuf>,

    /// Show what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Apply destructive changes too (a limit lowered, a subject removed…), to every stream, as
    /// if each declared `allow_destructive: true`. Stored or future events can be lost.
    #[arg(long)]
    pub allow_destructive: bool,

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
    let builder = match &args.file {
        Some(path) => Config::builder().file(path),
        None => Config::builder(),
    };
    let loaded = super::load_config(builder).await;
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("connect-nats streams ensure: invalid configuration: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let mut specs = declared_streams(&config);
    if args.allow_destructive {
        for spec in &mut specs {
            spec.allow_destructive = true;
        }
    }
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
    let kept: Vec<&str> = report.kept().map(|s| s.name.as_str()).collect();
    if !kept.is_empty() {
        eprintln!(
            "connect-nats streams ensure: {} kept: applying it would lose events; set \
             `allow_destructive: true` on the stream or rerun with --allow-destructive",
            kept.join(", ")
        );
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
        assert!(!plain.dry_run && !plain.json && !plain.allow_destructive);

        let full = parse(&[
            "x",
            "streams",
            "ensure",
            "streams.yaml",
            "--dry-run",
            "--json",
            "--allow-destructive",
        ]);
        assert_eq!(full.file, Some(PathBuf::from("streams.yaml")));
        assert!(full.dry_run && full.json && full.allow_destructive);
    }

    #[test]
    fn streams_needs_a_subcommand() {
        assert!(Cli::try_parse_from(["x", "streams"]).is_err());
    }
}
