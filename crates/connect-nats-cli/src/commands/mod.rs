//! One module per subcommand. Each exposes a clap `Args` struct and a `run`
//! function returning the process's [`ExitCode`] (`async` for commands that
//! talk to a server; `main` runs those with [`block_on`]).

use std::future::Future;
use std::process::ExitCode;

use connect_nats_core::ConnectError;

pub mod check;
pub mod config;
pub mod publish;
pub mod streams;
pub mod tail;

/// Exit status when the configuration (or the arguments) cannot be used.
pub const EXIT_INVALID_CONFIG: u8 = 2;
/// Exit status when no server could be reached (refused, DNS, timeout).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit status when the server rejected the credentials.
pub const EXIT_AUTH: u8 = 4;
/// Exit status when TLS failed.
pub const EXIT_TLS: u8 = 5;

/// The exit status for a failed connect, the same in every command:
/// 2 invalid configuration, 3 unreachable (or timed out), 4 authentication
/// rejected, 5 TLS failure, 1 anything else.
pub fn connect_exit_code(error: &ConnectError) -> u8 {
    match error {
        ConnectError::Unreachable { .. } | ConnectError::Timeout { .. } => EXIT_UNREACHABLE,
        ConnectError::Auth { .. } => EXIT_AUTH,
        ConnectError::Tls { .. } => EXIT_TLS,
        ConnectError::InvalidConfig { .. } => EXIT_INVALID_CONFIG,
        _ => 1,
    }
}

/// Runs an async command on a multi-threaded tokio runtime.
pub fn block_on<F: Future<Output = ExitCode>>(command: F) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("connect-nats: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`), so stdout stays
/// clean for JSON output.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,{}",
            connect_nats_core::RECOMMENDED_LOG_DIRECTIVES
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use connect_nats_core::TlsProblem;

    use super::*;

    #[test]
    fn connect_failures_map_to_the_documented_exit_codes() {
        let servers = || "nats://h:4222".to_owned();
        let cases = [
            (
                ConnectError::Unreachable {
                    servers: servers(),
                    reason: "refused".into(),
                },
                3,
            ),
            (
                ConnectError::Timeout {
                    servers: servers(),
                    timeout: Duration::from_secs(1),
                    last_error: None,
                },
                3,
            ),
            (
                ConnectError::Auth {
                    servers: servers(),
                    auth_kind: "token",
                    hint: "check NATS_TOKEN",
                    reason: "authorization violation".into(),
                },
                4,
            ),
            (
                ConnectError::Tls {
                    servers: servers(),
                    problem: TlsProblem::UntrustedCertificate,
                    reason: "unknown issuer".into(),
                },
                5,
            ),
            (
                ConnectError::InvalidConfig {
                    setting: "NATS_URL".into(),
                    reason: "bad".into(),
                },
                2,
            ),
            (ConnectError::Closed { reason: None }, 1),
        ];
        for (error, code) in cases {
            assert_eq!(connect_exit_code(&error), code, "{error}");
        }
        // `check` and `streams` document the same numbers.
        assert_eq!(
            (EXIT_INVALID_CONFIG, EXIT_UNREACHABLE, EXIT_AUTH, EXIT_TLS),
            (
                check::EXIT_INVALID_CONFIG,
                check::EXIT_UNREACHABLE,
                check::EXIT_AUTH,
                check::EXIT_TLS
            )
        );
    }
}
