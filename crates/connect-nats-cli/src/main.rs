//! `connect-nats`: an operator's tool for services using connect-nats.
//!
//! It loads the configuration with exactly the library's code, so what it
//! shows is what a service gets. Adding a command: a module in `commands/`
//! with an `Args` struct and a `run` function, a variant of [`Command`], and
//! its arm in `main`.

mod commands;
mod exit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "connect-nats",
    version,
    about = "Check a service's NATS configuration and connectivity, manage streams, publish and tail events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each one's help lives with its `Args` in `commands/`.
#[derive(Debug, Subcommand)]
enum Command {
    Config(commands::config::ConfigArgs),
    Check(commands::check::CheckArgs),
    Streams(commands::streams::StreamsArgs),
    Publish(commands::publish::PublishArgs),
    Tail(commands::tail::TailArgs),
}

fn main() -> ExitCode {
    commands::init_logging();
    match Cli::parse().command {
        Command::Config(args) => commands::config::run(args),
        Command::Check(args) => commands::block_on(commands::check::run(args)),
        Command::Streams(args) => commands::block_on(commands::streams::run(args)),
        Command::Publish(args) => commands::block_on(commands::publish::run(args)),
        Command::Tail(args) => commands::block_on(commands::tail::run(args)),
    }
}
