//! `connect-nats config`: the resolved configuration, secrets redacted, with
//! where each value came from.
//!
//! Loads exactly as a service does ([`connect_nats_config::ConfigBuilder`]):
//! defaults < NATS CLI context (only when asked for) < config file <
//! environment variables.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use connect_nats_config::Config;

use crate::exit::EXIT_INVALID_CONFIG;

/// Arguments of `connect-nats config`.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Print the resolved NATS configuration as JSON (secrets redacted), with the source of each value",
    after_help = "Sources: default, context (NATS CLI context), file (NATS_CONFIG_FILE or --file), \
env (NATS_* variables), code.\nSee docs/configuration.md for every setting.\n\n\
Exit status: 0 valid; 2 invalid configuration (the error is printed on stderr)."
)]
pub struct ConfigArgs {
    /// Config file to read (YAML, JSON or TOML), instead of NATS_CONFIG_FILE.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// NATS CLI context to read (a name or a path), instead of NATS_CONTEXT or
    /// the file's `context` key. Without any of them no context is read (the
    /// one selected with `nats context select` is not).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// Prints the resolved configuration and returns the exit status.
pub fn run(args: ConfigArgs) -> ExitCode {
    let mut builder = Config::builder();
    if let Some(file) = args.file {
        builder = builder.file(file);
    }
    if let Some(context) = args.context {
        builder = builder.context(context);
    }
    let resolved = match builder.build_with_sources() {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let json = match serde_json::to_string_pretty(&resolved) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("error: cannot print the configuration as JSON: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{json}");
    ExitCode::SUCCESS
}
