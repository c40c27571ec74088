//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`  — provision a NATS server backend, run every test (unit,
//!   integration, doc), the layering check, clippy and rustfmt.
//! - `bench` — start a server and measure this library against raw async-nats.
//! - `demo`  — start a server and run the example service.
//!
//! Only the standard library is used, so the task itself builds in seconds.

mod args;
mod containers;
mod image;
#[path = "../../tests/src/names.rs"]
mod names;
mod provision;
mod server;
mod tasks;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("test") => args::Options::parse(&argv[1..]).and_then(|o| tasks::test(&o)),
        Some("bench") => args::Options::parse(&argv[1..]).and_then(|o| tasks::bench(&o)),
        Some("demo") => args::Options::parse(&argv[1..]).and_then(|o| tasks::demo(&o)),
        Some("server") => args::Options::parse(&argv[1..]).and_then(|o| tasks::server(&o)),
        Some("soak") => args::Options::parse(&argv[1..]).and_then(|o| tasks::soak(&o)),
        Some("-h" | "--help" | "help") | None => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{}", args::USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}
