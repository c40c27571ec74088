//! The exit status of every command, in one place.
//!
//! | status | meaning |
//! |--------|---------|
//! | 0 | success |
//! | 1 | the work failed: an event not published or not acknowledged, a stream not ensured, any other error |
//! | 2 | invalid configuration or arguments |
//! | 3 | no server reachable (refused, DNS, timed out) |
//! | 4 | the server rejected the credentials |
//! | 5 | TLS failed |
//! | 6 | `check`: JetStream expected but not available |

use connect_nats_core::ConnectError;

/// The work failed (the generic failure status).
pub const EXIT_FAILURE: u8 = 1;
/// `publish`: the event was not published (or not acknowledged).
pub const EXIT_NOT_PUBLISHED: u8 = EXIT_FAILURE;
/// `streams ensure`: at least one stream failed or was kept (or would be, with `--dry-run`).
pub const EXIT_STREAM_FAILED: u8 = EXIT_FAILURE;
/// The configuration cannot be loaded or used.
pub const EXIT_INVALID_CONFIG: u8 = 2;
/// The arguments are invalid (the same status as an invalid configuration).
pub const EXIT_INVALID_INPUT: u8 = EXIT_INVALID_CONFIG;
/// No server could be reached (refused, DNS, timeout).
pub const EXIT_UNREACHABLE: u8 = 3;
/// The server rejected the credentials.
pub const EXIT_AUTH: u8 = 4;
/// TLS failed.
pub const EXIT_TLS: u8 = 5;
/// The configuration expects JetStream and it is not available.
pub const EXIT_JETSTREAM: u8 = 6;

/// The exit status for a failed connect, the same in every command:
/// 2 invalid configuration, 3 unreachable (or timed out), 4 authentication
/// rejected, 5 TLS failure, 1 anything else.
pub fn connect_exit_code(error: &ConnectError) -> u8 {
    match error {
        ConnectError::Unreachable { .. } | ConnectError::Timeout { .. } => EXIT_UNREACHABLE,
        ConnectError::Auth { .. } => EXIT_AUTH,
        ConnectError::Tls { .. } => EXIT_TLS,
        ConnectError::InvalidConfig { .. } => EXIT_INVALID_CONFIG,
        _ => EXIT_FAILURE,
    }
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
    }
}
