//! Classifying async-nats connect errors.
//!
//! async-nats reports a failed connect as a [`async_nats::ConnectError`] with a
//! coarse kind; TLS handshake failures in particular surface as plain I/O
//! errors wrapping a `rustls::Error`, and some server replies only as text.
//! [`classify`] turns that into a [`ConnectError`] an operator can act on:
//! unreachable, auth rejected, TLS (with the precise [`TlsProblem`]), invalid
//! configuration, or timeout.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use async_nats::rustls;
use async_nats::ConnectErrorKind;

use super::{ConnectError, TlsProblem};

/// What the classifier needs to know about the attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub servers: &'a str,
    pub auth_kind: &'static str,
    pub tls_wanted: bool,
    pub timeout: Duration,
}

/// Every auth kind [`auth_hint`] knows (see `Auth::kind`).
#[cfg(test)]
pub(crate) const AUTH_KINDS: [&str; 6] = [
    "none",
    "token",
    "user_password",
    "creds_file",
    "nkey_seed_file",
    "jwt",
];

/// What to check when an auth method is rejected.
pub(crate) fn auth_hint(auth_kind: &str) -> &'static str {
    match auth_kind {
        "token" => "check NATS_TOKEN against the server's authorization settings",
        "user_password" => "check NATS_USER and NATS_PASSWORD against the server's authorization settings",
        "creds_file" => "check that NATS_CREDS_FILE holds a user of an account this server trusts, not expired or revoked",
        "nkey_seed_file" => "check that the seed in NATS_NKEY_SEED_FILE belongs to a user nkey the server lists",
        "jwt" => "check that NATS_JWT is a user of an account the server trusts and NATS_NKEY_SEED is its seed",
        _ => "the server requires credentials and none are configured: set one auth method (docs/configuration.md)",
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
}
