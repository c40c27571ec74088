//! Why a connection could not be made, or could not be used.
//!
//! async-nats reports a failed connect as a [`async_nats::ConnectError`] with a
//! coarse kind; TLS handshake failures in particular surface as plain I/O
//! errors wrapping a `rustls::Error`. [`classify`] turns that into a
//! [`ConnectError`] an operator can act on: unreachable, auth rejected, TLS
//! (with the precise [`TlsProblem`]), invalid configuration, or timeout.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use async_nats::rustls;
use async_nats::ConnectErrorKind;

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
        "NATS server unreachable ({servers}): {reason}; check NATS_URL and that the server is running and reachable from here"
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
        "the NATS connection is closed{reason}; after a deliberate shutdown, stop using it (create a new connection if work remains); if it gave up reconnecting, create a new connection and raise NATS_MAX_RECONNECTS (or leave it at -1 to retry forever)",
        reason = reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    )]
    Closed {
        /// Why it closed, when known.
        reason: Option<String>,
    },

    /// `shutdown` could not drain and close within its timeout.
    #[error(
        "NATS shutdown did not finish within {timeout:?}: buffered messages may be lost; give shutdown more time, or check why the server is unreachable"
    )]
    ShutdownTimeout {
        /// The timeout that expired.
        timeout: Duration,
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

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsProblem::UntrustedCertificate => {
                "the server's certificate is not signed by a trusted CA: set NATS_TLS_CA to the CA bundle that signed it"
            }
            TlsProblem::HostnameMismatch => {
                "the server's certificate does not name the host in NATS_URL: connect by a name the certificate lists"
            }
            TlsProblem::InvalidCertificate => {
                "the server's certificate is invalid (expired, not yet valid or malformed): renew it"
            }
            TlsProblem::ServerWithoutTls => {
                "TLS is required but the server does not speak TLS (or NATS_TLS_FIRST does not match the server's handshake_first): enable TLS on the server, or fix NATS_TLS_FIRST"
            }
            TlsProblem::ClientCertificateRejected => {
                "the server requires a client certificate: set NATS_TLS_CERT and NATS_TLS_KEY to one its CA accepts"
            }
            TlsProblem::Setup => {
                "the TLS settings could not be loaded: check NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY"
            }
            TlsProblem::Handshake => "the TLS handshake failed: check the TLS settings on both sides",
        })
    }
}

/// What the classifier needs to know about the attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub servers: &'a str,
    pub auth_kind: &'static str,
    pub tls_wanted: bool,
    pub timeout: Duration,
}

/// What to check when an auth method is rejected.
pub(crate) fn auth_hint(auth_kind: &str) -> &'static str {
    match auth_kind {
        "token" => "check NATS_TOKEN against the server's authorization settings",
        "user_password" => "check NATS_USER and NATS_PASSWORD against the server's authorization settings",
        "creds_file" => "check that NATS_CREDS_FILE holds a user of an account this server trusts, not expired or revoked",
        "nkey_seed_file" => "check that the seed in NATS_NKEY_SEED_FILE belongs to a user nkey the server lists",
        "jwt" => "check that NATS_JWT is a user of an account this server trusts and NATS_NKEY_SEED is that user's seed",
        _ => "the server requires credentials and none are configured: set NATS_TOKEN, NATS_USER + NATS_PASSWORD, NATS_CREDS_FILE, NATS_NKEY_SEED_FILE or NATS_JWT + NATS_NKEY_SEED",
    }
}

/// Turns an async-nats connect error into a [`ConnectError`].
pub(crate) fn classify(err: &async_nats::ConnectError, cx: Context<'_>) -> ConnectError {
    let reason = describe(err);
    let servers = cx.servers.to_owned();
    match err.kind() {
        ConnectErrorKind::ServerParse => ConnectError::invalid("NATS_URL", reason),
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            auth(cx, reason)
        }
        ConnectErrorKind::TimedOut => ConnectError::Timeout {
            servers,
            timeout: cx.timeout,
            last_error: None,
        },
        ConnectErrorKind::Tls => ConnectError::Tls {
            servers,
            problem: tls_problem(err).unwrap_or(TlsProblem::Setup),
            reason,
        },
        ConnectErrorKind::Dns | ConnectErrorKind::MaxReconnects => {
            ConnectError::Unreachable { servers, reason }
        }
        ConnectErrorKind::Io => {
            if let Some(problem) = tls_problem(err) {
                return ConnectError::Tls {
                    servers,
                    problem,
                    reason,
                };
            }
            if is_server_auth_error(&reason) {
                return auth(cx, reason);
            }
            if cx.tls_wanted && looks_like_plaintext_peer(err) {
                return ConnectError::Tls {
                    servers,
                    problem: TlsProblem::ServerWithoutTls,
                    reason,
                };
            }
            ConnectError::Unreachable { servers, reason }
        }
    }
}

/// Classifies the short error strings async-nats puts in its
/// `ClientError::Other` events (the `Display` of a [`ConnectErrorKind`]).
pub(crate) fn classify_event_text(text: &str) -> &'static str {
    let text = text.strip_prefix("nats: ").unwrap_or(text);
    if text == ConnectErrorKind::AuthorizationViolation.to_string()
        || text == ConnectErrorKind::Authentication.to_string()
    {
        "auth"
    } else if text == ConnectErrorKind::Tls.to_string() {
        "tls"
    } else if text == ConnectErrorKind::TimedOut.to_string() {
        "timeout"
    } else if text == ConnectErrorKind::ServerParse.to_string() {
        "invalid_config"
    } else {
        "unreachable"
    }
}

fn auth(cx: Context<'_>, reason: String) -> ConnectError {
    ConnectError::Auth {
        servers: cx.servers.to_owned(),
        auth_kind: cx.auth_kind,
        hint: auth_hint(cx.auth_kind),
        reason,
    }
}

/// The error's sources joined (the kind alone when it has none); repeats and
/// async-nats' `nats: ` prefixes are dropped.
fn describe(err: &async_nats::ConnectError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        let text = text
            .strip_prefix("nats: ")
            .unwrap_or(&text)
            .trim()
            .to_owned();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        err.kind().to_string()
    } else {
        parts.join(": ")
    }
}

fn is_server_auth_error(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    lower.contains("authorization violation")
        || lower.contains("authentication")
        || lower.contains("user authentication expired")
        || lower.contains("account authentication expired")
}

/// Finds a `rustls::Error` anywhere in the source chain and names the problem.
fn tls_problem(err: &async_nats::ConnectError) -> Option<TlsProblem> {
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Some(rustls_problem(tls));
        }
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                    return Some(rustls_problem(tls));
                }
            }
        }
        source = s.source();
    }
    None
}

fn rustls_problem(err: &rustls::Error) -> TlsProblem {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            TlsProblem::UntrustedCertificate
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            TlsProblem::HostnameMismatch
        }
        E::InvalidCertificate(_) => TlsProblem::InvalidCertificate,
        E::AlertReceived(
            A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::CertificateUnknown,
        )
        | E::NoCertificatesPresented => TlsProblem::ClientCertificateRejected,
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::PeerSentOversizedRecord => {
            TlsProblem::ServerWithoutTls
        }
        _ => TlsProblem::Handshake,
    }
}

/// A TLS handshake against a plain-text peer ends in an EOF or a corrupt record.
fn looks_like_plaintext_peer(err: &async_nats::ConnectError) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData
            ) {
                return true;
            }
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(tls_wanted: bool) -> Context<'static> {
        Context {
            servers: "nats://127.0.0.1:1",
            auth_kind: "token",
            tls_wanted,
            timeout: Duration::from_secs(2),
        }
    }

    fn io_err(
        kind: io::ErrorKind,
        inner: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> async_nats::ConnectError {
        async_nats::ConnectError::with_source(ConnectErrorKind::Io, io::Error::new(kind, inner))
    }

    #[test]
    fn refused_is_unreachable() {
        let e = async_nats::ConnectError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let c = classify(&e, cx(false));
        assert_eq!(c.kind(), "unreachable");
        assert!(c.to_string().contains("NATS_URL"), "{c}");
    }

    #[test]
    fn authorization_violation_is_auth_with_hint() {
        let e = async_nats::ConnectError::new(ConnectErrorKind::AuthorizationViolation);
        let c = classify(&e, cx(false));
        assert!(
            matches!(
                c,
                ConnectError::Auth {
                    auth_kind: "token",
                    ..
                }
            ),
            "{c:?}"
        );
        assert!(c.to_string().contains("NATS_TOKEN"), "{c}");
        let e = async_nats::ConnectError::with_source(
            ConnectErrorKind::AuthorizationViolation,
            "nats: authorization violation",
        );
        let none = Context {
            auth_kind: "none",
            ..cx(false)
        };
        let text = classify(&e, none).to_string();
        assert_eq!(text.matches("authorization violation").count(), 1, "{text}");
        assert!(text.contains("none are configured"), "{text}");
    }

    #[test]
    fn rustls_errors_name_the_problem() {
        let cases = [
            (
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                TlsProblem::UntrustedCertificate,
            ),
            (
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
                TlsProblem::HostnameMismatch,
            ),
            (
                rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
                TlsProblem::InvalidCertificate,
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
                TlsProblem::ClientCertificateRejected,
            ),
            (
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                TlsProblem::ServerWithoutTls,
            ),
            (rustls::Error::DecryptError, TlsProblem::Handshake),
        ];
        for (tls, want) in cases {
            let e = io_err(io::ErrorKind::InvalidData, tls);
            match classify(&e, cx(true)) {
                ConnectError::Tls { problem, .. } => assert_eq!(problem, want),
                other => panic!("expected TLS error, got {other:?}"),
            }
        }
    }

    #[test]
    fn eof_when_tls_wanted_is_server_without_tls() {
        let e = io_err(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert!(matches!(
            classify(&e, cx(true)),
            ConnectError::Tls {
                problem: TlsProblem::ServerWithoutTls,
                ..
            }
        ));
        assert_eq!(classify(&e, cx(false)).kind(), "unreachable");
    }

    #[test]
    fn other_kinds() {
        let parse = async_nats::ConnectError::with_source(ConnectErrorKind::ServerParse, "bad url");
        assert!(matches!(
            classify(&parse, cx(false)),
            ConnectError::InvalidConfig { setting, .. } if setting == "NATS_URL"
        ));
        let timeout = async_nats::ConnectError::new(ConnectErrorKind::TimedOut);
        assert_eq!(classify(&timeout, cx(false)).kind(), "timeout");
        let setup =
            async_nats::ConnectError::with_source(ConnectErrorKind::Tls, "could not load certs");
        assert!(matches!(
            classify(&setup, cx(true)),
            ConnectError::Tls {
                problem: TlsProblem::Setup,
                ..
            }
        ));
        let dns = async_nats::ConnectError::with_source(ConnectErrorKind::Dns, "no such host");
        assert_eq!(classify(&dns, cx(false)).kind(), "unreachable");
    }

    #[test]
    fn event_texts() {
        assert_eq!(classify_event_text("nats: authorization violation"), "auth");
        assert_eq!(classify_event_text("IO error"), "unreachable");
        assert_eq!(classify_event_text("TLS error"), "tls");
        assert_eq!(classify_event_text("timed out"), "timeout");
    }

    #[test]
    fn messages_say_what_to_do() {
        for e in [
            ConnectError::Closed { reason: None },
            ConnectError::ShutdownTimeout {
                timeout: Duration::from_secs(1),
            },
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
}
