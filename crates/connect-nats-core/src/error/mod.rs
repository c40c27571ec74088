//! Why a connection could not be made, or could not be used.
//!
//! [`ConnectError`] says what happened and what to do; [`classify`] turns
//! async-nats' coarse connect errors into one.

use std::fmt;
use std::time::Duration;

mod classify;

pub(crate) use classify::{classify, classify_event_text, Context};

/// Everything that can go wrong in this crate.
///
/// Each message says what happened and what to do. None of them ever holds a
/// secret: server lists carry no userinfo and reasons come from the server or
/// the TLS/IO layer, never from the credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No server could be reached (connection refused, DNS failure, network
    /// down), or the reconnect limit was used up.
    #[error(
        "NATS server unreachable ({servers}): {reason}; check NATS_URL and that the server runs and is reachable from here"
    )]
    Unreachable {
        /// The configured servers (no credentials).
        servers: String,
        /// What the client saw.
        reason: String,
    },

    /// The server rejected the credentials (authentication or authorization).
    #[error("NATS rejected the connection ({servers}, auth: {auth_kind}): {reason}; {hint}")]
    Auth {
        /// The configured servers (no credentials).
        servers: String,
        /// The auth method used (`none`, `token`, `user_password`, …; see `Auth::kind`).
        auth_kind: &'static str,
        /// What to check: the settings that hold the secret.
        hint: &'static str,
        /// What the server said.
        reason: String,
    },

    /// The TLS handshake failed or TLS could not be set up.
    #[error("TLS with the NATS server failed ({servers}): {reason}; {problem}")]
    Tls {
        /// The configured servers (no credentials).
        servers: String,
        /// What kind of TLS failure this is; its `Display` says what to do.
        problem: TlsProblem,
        /// The TLS library's own description.
        reason: String,
    },

    /// The configuration cannot be used as it is.
    #[error("invalid NATS configuration: {setting}: {reason}; fix this setting and restart")]
    InvalidConfig {
        /// The setting at fault, as it was given: an environment variable
        /// (`NATS_CREDS_FILE`), a file key (`` `auth.creds_file` in /etc/svc.yaml ``)
        /// or a NATS CLI context field.
        setting: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No connection was made within the connect timeout.
    #[error(
        "connecting to NATS ({servers}) timed out after {timeout:?}{last}; check that the server is up and not overloaded, or raise NATS_TIMEOUT",
        last = last_error.as_deref().map(|e| format!(" (last error: {e})")).unwrap_or_default()
    )]
    Timeout {
        /// The configured servers (no credentials).
        servers: String,
        /// The timeout that expired.
        timeout: Duration,
        /// The last error seen before the deadline, if any.
        last_error: Option<String>,
    },

    /// The connection is closed for good (shut down, or the reconnect limit was reached).
    #[error(
        "the NATS connection is closed{reason}; use a new connection (if it gave up reconnecting, raise NATS_MAX_RECONNECTS or set -1 to retry forever)",
        reason = reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    )]
    Closed {
        /// Why it closed, when known.
        reason: Option<String>,
    },

    /// `shutdown` could not drain and close within its timeout.
    #[error(
        "NATS shutdown did not finish within {timeout:?}: buffered messages may be lost; give it more time, or check why the server is unreachable"
    )]
    ShutdownTimeout {
        /// The timeout that expired.
        timeout: Duration,
    },
    /// A publisher registered on the connection could not deliver every
    /// event it held before the shutdown timeout.
    #[error(
        "NATS shutdown lost {lost} buffered publisher event(s) it could not deliver in time; give shutdown more time, or call Publisher::close first to see which"
    )]
    ShutdownLostEvents {
        /// Events dropped or not acknowledged.
        lost: u64,
    },
}

impl ConnectError {
    /// A short, stable name of the variant for logs and metrics: `unreachable`,
    /// `auth`, `tls`, `invalid_config`, `timeout`, `closed`, `shutdown_timeout`.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Unreachable { .. } => "unreachable",
            ConnectError::Auth { .. } => "auth",
            ConnectError::Tls { .. } => "tls",
            ConnectError::InvalidConfig { .. } => "invalid_config",
            ConnectError::Timeout { .. } => "timeout",
            ConnectError::Closed { .. } => "closed",
            ConnectError::ShutdownTimeout { .. } => "shutdown_timeout",
            ConnectError::ShutdownLostEvents { .. } => "shutdown_lost_events",
        }
    }

    pub(crate) fn invalid(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        ConnectError::InvalidConfig {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

/// The kind of TLS failure; its `Display` says what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The server's certificate is not signed by a trusted CA.
    UntrustedCertificate,
    /// The server's certificate is not valid for the host name in the URL.
    HostnameMismatch,
    /// The server's certificate is expired, not yet valid, or otherwise bad.
    InvalidCertificate,
    /// TLS is required but the server speaks plain text (or TLS-first does not match).
    ServerWithoutTls,
    /// The server wants a client certificate and none (or an unacceptable one) was sent.
    ClientCertificateRejected,
    /// The TLS settings could not be loaded (CA, cert or key file).
    Setup,
    /// Any other handshake failure.
    Handshake,
}

impl TlsProblem {
    /// Every kind, in the order of the enum.
    #[cfg(test)]
    pub(crate) const ALL: [TlsProblem; 7] = [
        TlsProblem::UntrustedCertificate,
        TlsProblem::HostnameMismatch,
        TlsProblem::InvalidCertificate,
        TlsProblem::ServerWithoutTls,
        TlsProblem::ClientCertificateRejected,
        TlsProblem::Setup,
        TlsProblem::Handshake,
    ];
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsProblem::UntrustedCertificate => {
                "the server's certificate is not signed by a trusted CA: set NATS_TLS_CA to the CA that signed it"
            }
            TlsProblem::HostnameMismatch => {
                "the server's certificate does not name the host in NATS_URL: use a name it lists"
            }
            TlsProblem::InvalidCertificate => {
                "the server's certificate is invalid (expired, not yet valid or malformed): renew it"
            }
            TlsProblem::ServerWithoutTls => {
                "the server does not speak TLS (or NATS_TLS_FIRST does not match it): enable TLS there, or fix NATS_TLS_FIRST"
            }
            TlsProblem::ClientCertificateRejected => {
                "the server wants a client certificate: set NATS_TLS_CERT and NATS_TLS_KEY to one its CA accepts"
            }
            TlsProblem::Setup => {
                "the TLS settings could not be loaded: check NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY"
            }
            TlsProblem::Handshake => "the TLS handshake failed: check the TLS settings on both sides",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        for e in [
            ConnectError::Closed { reason: None },
            ConnectError::ShutdownTimeout {
                timeout: Duration::from_secs(1),
            },
            ConnectError::ShutdownLostEvents { lost: 3 },
            ConnectError::invalid("NATS_TLS_CA", "no certificate in file"),
            ConnectError::Timeout {
                servers: "x".into(),
                timeout: Duration::from_secs(1),
                last_error: Some("refused".into()),
            },
        ] {
            let text = e.to_string();
            assert!(text.contains("; "), "{text}");
        }
    }

    /// Every message, with short values in its fields, stays short: the
    /// longer explanations live in docs/operations.md.
    #[test]
    fn messages_are_short() {
        let servers = || "nats://h:4222".to_owned();
        let reason = || "x".to_owned();
        let mut errors = vec![
            ConnectError::Unreachable {
                servers: servers(),
                reason: reason(),
            },
            ConnectError::invalid("NATS_NKEY_SEED_FILE", reason()),
            ConnectError::Timeout {
                servers: servers(),
                timeout: Duration::from_secs(10),
                last_error: Some(reason()),
            },
            ConnectError::Closed {
                reason: Some(reason()),
            },
            ConnectError::ShutdownTimeout {
                timeout: Duration::from_secs(10),
            },
        ];
        for problem in TlsProblem::ALL {
            errors.push(ConnectError::Tls {
                servers: servers(),
                problem,
                reason: reason(),
            });
        }
        for auth_kind in classify::AUTH_KINDS {
            errors.push(ConnectError::Auth {
                servers: servers(),
                auth_kind,
                hint: classify::auth_hint(auth_kind),
                reason: reason(),
            });
        }
        for e in errors {
            let text = e.to_string();
            assert!(text.chars().count() <= 165, "{} chars: {text}", text.len());
        }
    }
}
