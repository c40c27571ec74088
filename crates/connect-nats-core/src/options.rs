//! From [`Config`] to async-nats [`ConnectOptions`]: auth, TLS, timeouts, names.
//!
//! Everything that can be checked before touching the network is checked here
//! (files readable and holding what they must, seeds valid, TLS not silently
//! dropped), so a bad configuration is an [`ConnectError::InvalidConfig`] at
//! once instead of a retry loop that can never succeed.
//!
//! Mapping:
//!
//! | Config                         | async-nats                                        |
//! |--------------------------------|---------------------------------------------------|
//! | `client_id`                    | `name` (shown by the server's `/connz`)           |
//! | `connect_timeout`              | `connection_timeout` (per attempt)                |
//! | `ping_interval` + `max_pings_out` | `ping_interval`: see [`ping_period`]           |
//! | `request_timeout`              | `request_timeout` (when set)                      |
//! | `inbox_prefix`                 | `custom_inbox_prefix` (when set)                  |
//! | `reconnect.max_reconnects`     | `max_reconnects`: `None` → unlimited, `N ≥ 1` → N, `0` → 1 (see below) |
//! | `Auth::Token`                  | `token`                                           |
//! | `Auth::UserPassword`           | `user_and_password`                               |
//! | `Auth::CredsFile`              | `credentials` (file read and checked here)        |
//! | `Auth::NkeySeedFile`           | `nkey` (seed read from the file and checked)      |
//! | `Auth::Jwt`                    | `jwt` + a nonce-signing callback with the seed    |
//! | `tls_wanted()`                 | `require_tls(true)` — never a silent plain-text fallback |
//! | `tls.ca`                       | `add_root_certificates` (one PEM file; a bundle works) |
//! | `tls.cert` + `tls.key`         | `add_client_certificate`                          |
//! | `tls.first`                    | `tls_first`                                       |
//!
//! `NATS_MAX_RECONNECTS=0`: async-nats reads both `0` and "none" as unlimited
//! and has no way to say "never reconnect", so `0` is mapped to a single
//! attempt, after which the connection reports `Closed`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::rustls::pki_types::pem::PemObject;
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use async_nats::{AuthError, ConnectOptions};
use connect_nats_config::{Auth, Config, Scheme};

use crate::error::ConnectError;

/// The async-nats reconnect limit for our setting (see the module docs).
pub(crate) fn max_reconnects(setting: Option<u64>) -> Option<usize> {
    setting.map(|n| usize::try_from(n).unwrap_or(usize::MAX).max(1))
}

/// Unanswered PINGs after which async-nats 0.51 drops the connection; the
/// client hard-codes it (it has no option for it).
const CLIENT_MAX_PINGS_OUT: u32 = 2;

/// The period async-nats pings at, for our `ping_interval` and
/// `max_pings_out`.
///
/// Like nats.go, async-nats counts unanswered PINGs and drops the connection
/// on the tick that would exceed the limit, so a silent server is noticed at
/// most `(limit + 1) × period` after its last PONG. async-nats fixes its
/// limit at 2; the period is scaled so that this bound is
/// `(max_pings_out + 1) × ping_interval`, what nats.go gives for the same
/// settings. With the default limit (2) the period is `ping_interval` itself.
pub(crate) fn ping_period(ping_interval: Duration, max_pings_out: u32) -> Duration {
    if max_pings_out == CLIENT_MAX_PINGS_OUT {
        return ping_interval;
    }
    ping_interval.saturating_mul(max_pings_out.saturating_add(1)) / (CLIENT_MAX_PINGS_OUT + 1)
}

/// The async-nats options a [`Config`] maps to (see the module docs), without
/// the callbacks a [`Connection`](crate::Connection) adds: for inspecting
/// the mapping, or connecting with async-nats directly.
pub fn connect_options(config: &Config) -> Result<ConnectOptions, ConnectError> {
    build(config)
}

/// Checks the configuration and builds the options, without callbacks.
pub(crate) fn build(config: &Config) -> Result<ConnectOptions, ConnectError> {
    if config.servers.is_empty() {
        return Err(ConnectError::invalid(
            "NATS_URL",
            "no server URL is configured; set NATS_URL to e.g. nats://nats:4222",
        ));
    }
    let mut opts = ConnectOptions::new()
        .name(&config.client_id)
        .connection_timeout(config.connect_timeout)
        .max_reconnects(max_reconnects(config.reconnect.max_reconnects));
    opts = opts.ping_interval(ping_period(config.ping_interval, config.max_pings_out));
    if let Some(timeout) = config.request_timeout {
        opts = opts.request_timeout(Some(timeout));
    }
    if let Some(prefix) = &config.inbox_prefix {
        if prefix.is_empty() || prefix.contains([' ', '*', '>']) {
            return Err(ConnectError::invalid(
                "NATS_INBOX_PREFIX",
                "must be a plain subject prefix without spaces or wildcards",
            ));
        }
        opts = opts.custom_inbox_prefix(prefix);
    }
    opts = auth(opts, &config.auth)?;
    tls(opts, config)
}

fn auth(opts: ConnectOptions, auth: &Auth) -> Result<ConnectOptions, ConnectError> {
    Ok(match auth {
        Auth::None => opts,
        Auth::Token { token } => {
            if token.is_empty() {
                return Err(ConnectError::invalid("NATS_TOKEN", "the token is empty"));
            }
            opts.token(token.expose().to_owned())
        }
        Auth::UserPassword { user, password } => {
            if user.is_empty() {
                return Err(ConnectError::invalid("NATS_USER", "the user name is empty"));
            }
            opts.user_and_password(user.clone(), password.expose().to_owned())
        }
        Auth::CredsFile { path } => {
            let contents = read("NATS_CREDS_FILE", path)?;
            opts.credentials(&contents).map_err(|e| {
                ConnectError::invalid(
                    "NATS_CREDS_FILE",
                    format!(
                        "{} is not a usable .creds file ({e}); it must hold a user JWT block and a user nkey seed block",
                        path.display()
                    ),
                )
            })?
        }
        Auth::NkeySeedFile { path } => {
            let contents = read("NATS_NKEY_SEED_FILE", path)?;
            let seed = find_seed(&contents).ok_or_else(|| {
                ConnectError::invalid(
                    "NATS_NKEY_SEED_FILE",
                    format!(
                        "{} holds no valid nkey user seed (a line starting with SU…)",
                        path.display()
                    ),
                )
            })?;
            opts.nkey(seed.to_owned())
        }
        Auth::Jwt { jwt, seed } => {
            if jwt.is_empty() {
                return Err(ConnectError::invalid("NATS_JWT", "the user JWT is empty"));
            }
            let key_pair = nkeys::KeyPair::from_seed(seed.expose().trim()).map_err(|e| {
                ConnectError::invalid("NATS_NKEY_SEED", format!("not a valid nkey seed ({e})"))
            })?;
            let key_pair = Arc::new(key_pair);
            opts.jwt(jwt.expose().trim().to_owned(), move |nonce| {
                let key_pair = Arc::clone(&key_pair);
                async move { key_pair.sign(&nonce).map_err(AuthError::new) }
            })
        }
    })
}

/// The first whitespace-separated word of `contents` that is a valid seed.
fn find_seed(contents: &str) -> Option<&str> {
    contents
        .split_whitespace()
        .filter(|word| word.starts_with('S'))
        .find(|word| nkeys::KeyPair::from_seed(word).is_ok())
}

fn read(setting: &'static str, path: &Path) -> Result<String, ConnectError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConnectError::invalid(setting, format!("cannot read {}: {e}", path.display())))
}

fn tls(mut opts: ConnectOptions, config: &Config) -> Result<ConnectOptions, ConnectError> {
    let tls = &config.tls;
    if !config.tls_wanted() {
        return Ok(opts);
    }
    // async-nats never upgrades ws:// to TLS, even when TLS is required: refuse
    // rather than send credentials in plain text.
    if let Some(ws) = config.servers.iter().find(|s| s.scheme == Scheme::Ws) {
        return Err(ConnectError::invalid(
            "NATS_URL",
            format!(
                "{} is a plain-text WebSocket URL but TLS is wanted; use wss:// (or remove the TLS settings)",
                ws.url
            ),
        ));
    }
    opts = opts.require_tls(true);
    if let Some(ca) = &tls.ca {
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                ConnectError::invalid("NATS_TLS_CA", format!("cannot load {}: {e}", ca.display()))
            })?;
        if certs.is_empty() {
            return Err(ConnectError::invalid(
                "NATS_TLS_CA",
                format!("{} holds no PEM certificate", ca.display()),
            ));
        }
        opts = opts.add_root_certificates(ca.clone());
    }
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    ConnectError::invalid(
                        "NATS_TLS_CERT",
                        format!("cannot load {}: {e}", cert.display()),
                    )
                })?;
            if certs.is_empty() {
                return Err(ConnectError::invalid(
                    "NATS_TLS_CERT",
                    format!("{} holds no PEM certificate", cert.display()),
                ));
            }
            PrivateKeyDer::from_pem_file(key).map_err(|e| {
                ConnectError::invalid(
                    "NATS_TLS_KEY",
                    format!("{} holds no usable PEM private key ({e})", key.display()),
                )
            })?;
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        (Some(_), None) => {
            return Err(ConnectError::invalid(
                "NATS_TLS_KEY",
                "NATS_TLS_CERT is set but NATS_TLS_KEY is not; set both for mutual TLS",
            ))
        }
        (None, Some(_)) => {
            return Err(ConnectError::invalid(
                "NATS_TLS_CERT",
                "NATS_TLS_KEY is set but NATS_TLS_CERT is not; set both for mutual TLS",
            ))
        }
        (None, None) => {}
    }
    if tls.first {
        opts = opts.tls_first();
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use connect_nats_config::{Secret, ServerUrl, TlsSettings};

    use super::*;

    fn debug(opts: &ConnectOptions) -> String {
        format!("{opts:?}")
    }

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("connect-nats-core-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn plain_settings_reach_the_client() {
        let config = Config {
            client_id: "svc-a".into(),
            connect_timeout: Duration::from_millis(1500),
            ping_interval: Duration::from_secs(7),
            inbox_prefix: Some("_INBOX_svc".into()),
            ..Config::default()
        };
        let text = debug(&build(&config).unwrap());
        assert!(text.contains(r#""name": Some("svc-a")"#), "{text}");
        assert!(text.contains(r#""connection_timeout": 1.5s"#), "{text}");
        assert!(text.contains(r#""ping_interval": 7s"#), "{text}");
        assert!(text.contains(r#""inbox_prefix": "_INBOX_svc""#), "{text}");
        assert!(text.contains(r#""tls_required": false"#), "{text}");
        assert!(text.contains(r#""max_reconnects": None"#), "{text}");
    }

    #[test]
    fn ping_period_gives_the_detection_time_of_nats_go() {
        let interval = Duration::from_secs(6);
        assert_eq!(ping_period(interval, 2), interval);
        for max in [1u32, 3, 5, 100] {
            let period = ping_period(interval, max);
            assert_eq!(period * 3, interval * (max + 1), "max_pings_out {max}");
        }
        let longest = ping_period(connect_nats_config::MAX_DURATION, 100);
        assert!(std::time::Instant::now().checked_add(longest).is_some());
    }

    #[test]
    fn max_reconnects_mapping_is_deliberate() {
        assert_eq!(max_reconnects(None), None);
        assert_eq!(max_reconnects(Some(0)), Some(1));
        assert_eq!(max_reconnects(Some(1)), Some(1));
        assert_eq!(max_reconnects(Some(5)), Some(5));
        let mut config = Config::default();
        config.reconnect.max_reconnects = Some(3);
        assert!(debug(&build(&config).unwrap()).contains(r#""max_reconnects": Some(3)"#));
    }

    #[test]
    fn tls_wanted_means_tls_required() {
        let config = Config {
            servers: vec![ServerUrl {
                url: "tls://nats:4222".into(),
                scheme: Scheme::Tls,
            }],
            ..Config::default()
        };
        assert!(debug(&build(&config).unwrap()).contains(r#""tls_required": true"#));

        let config = Config {
            tls: TlsSettings {
                required: true,
                first: true,
                ..TlsSettings::default()
            },
            ..Config::default()
        };
        let text = debug(&build(&config).unwrap());
        assert!(text.contains(r#""tls_required": true"#), "{text}");
        assert!(text.contains(r#""tls_first": true"#), "{text}");
    }

    #[test]
    fn tls_with_plain_websocket_is_refused() {
        let config = Config {
            servers: vec![ServerUrl {
                url: "ws://nats:80".into(),
                scheme: Scheme::Ws,
            }],
            tls: TlsSettings {
                required: true,
                ..TlsSettings::default()
            },
            ..Config::default()
        };
        assert!(matches!(
            build(&config),
            Err(ConnectError::InvalidConfig {
                setting: "NATS_URL",
                ..
            })
        ));
    }

    #[test]
    fn bad_tls_files_are_invalid_config() {
        let not_pem = temp_file("not-pem.txt", "hello");
        let missing = PathBuf::from("/nonexistent/ca.pem");
        for (tls, setting) in [
            (
                TlsSettings {
                    ca: Some(missing.clone()),
                    ..TlsSettings::default()
                },
                "NATS_TLS_CA",
            ),
            (
                TlsSettings {
                    ca: Some(not_pem.clone()),
                    ..TlsSettings::default()
                },
                "NATS_TLS_CA",
            ),
            (
                TlsSettings {
                    cert: Some(not_pem.clone()),
                    ..TlsSettings::default()
                },
                "NATS_TLS_KEY",
            ),
            (
                TlsSettings {
                    key: Some(not_pem.clone()),
                    required: true,
                    ..TlsSettings::default()
                },
                "NATS_TLS_CERT",
            ),
        ] {
            let config = Config {
                tls,
                ..Config::default()
            };
            match build(&config) {
                Err(ConnectError::InvalidConfig { setting: s, .. }) => assert_eq!(s, setting),
                other => panic!("expected invalid {setting}, got {other:?}"),
            }
        }
    }

    #[test]
    fn bad_auth_is_invalid_config_and_never_shows_the_secret() {
        let seed_like = "SUNOTAVALIDSEEDATALLNOTAVALIDSEEDATALLNOTAVALIDSEEDATAL";
        let cases = [
            (
                Auth::Token {
                    token: Secret::new(""),
                },
                "NATS_TOKEN",
            ),
            (
                Auth::Jwt {
                    jwt: Secret::new("eyJhbGciOi.x.y"),
                    seed: Secret::new(seed_like),
                },
                "NATS_NKEY_SEED",
            ),
            (
                Auth::CredsFile {
                    path: temp_file("bad.creds", seed_like),
                },
                "NATS_CREDS_FILE",
            ),
            (
                Auth::NkeySeedFile {
                    path: temp_file("bad.nk", seed_like),
                },
                "NATS_NKEY_SEED_FILE",
            ),
            (
                Auth::CredsFile {
                    path: PathBuf::from("/nonexistent/x.creds"),
                },
                "NATS_CREDS_FILE",
            ),
        ];
        for (auth, setting) in cases {
            let config = Config {
                auth,
                ..Config::default()
            };
            match build(&config) {
                Err(e @ ConnectError::InvalidConfig { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(setting), "{text}");
                    assert!(!text.contains(seed_like), "{text}");
                }
                other => panic!("expected invalid {setting}, got {other:?}"),
            }
        }
    }

    #[test]
    fn valid_auth_kinds_build() {
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let nk = temp_file("ok.nk", &format!("# comment\n{seed}\n"));
        assert_eq!(
            find_seed(&std::fs::read_to_string(&nk).unwrap()),
            Some(seed.as_str())
        );
        for auth in [
            Auth::Token {
                token: Secret::new("t"),
            },
            Auth::UserPassword {
                user: "u".into(),
                password: Secret::new("p"),
            },
            Auth::NkeySeedFile { path: nk.clone() },
            Auth::Jwt {
                jwt: Secret::new("eyJ.x.y"),
                seed: Secret::new(seed.clone()),
            },
        ] {
            let config = Config {
                auth,
                ..Config::default()
            };
            assert!(build(&config).is_ok());
        }
    }
}
