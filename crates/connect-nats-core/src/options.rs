//! From [`Config`] to async-nats [`ConnectOptions`]: a pure mapping.
//!
//! A [`Config`] has passed validation when it was loaded (the token, the
//! inbox prefix, TLS with `ws://`, a certificate without its key, the content
//! of every file), so nothing is checked again here and no file is read: the
//! credential files were read once by the loader. What can still fail is
//! what only the client or nkeys can tell (a seed whose checksum is wrong);
//! such an error names the setting as it was given (`NATS_CREDS_FILE`,
//! `` `auth.creds_file` in /etc/svc.yaml ``, a context field).
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
//! | `Auth::CredsFile`              | `credentials` (the content read at load time)     |
//! | `Auth::NkeySeedFile`           | `nkey` (the seed read at load time)               |
//! | `Auth::Jwt`                    | `jwt` + a nonce-signing callback with the seed    |
//! | `tls.required`                 | `require_tls(true)` — never a silent plain-text fallback |
//! | `tls.ca`                       | `add_root_certificates` (a path; see below)       |
//! | `tls.cert` + `tls.key`         | `add_client_certificate` (paths; see below)       |
//! | `tls.first`                    | `tls_first`                                       |
//!
//! TLS files: async-nats 0.51 takes certificates and keys only as paths (or
//! as a whole rustls configuration), and reads them itself, on a blocking
//! thread, at each connection attempt.
//! The loader has checked them; they are passed on as paths, not read here.
//!
//! `NATS_MAX_RECONNECTS=0`: async-nats reads both `0` and "none" as unlimited
//! and has no way to say "never reconnect", so `0` is mapped to a single
//! attempt, after which the connection reports `Closed`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{AuthError, ConnectOptions};
use connect_nats_config::{Auth, Config};

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

/// Maps the configuration to options, without callbacks.
pub(crate) fn build(config: &Config) -> Result<ConnectOptions, ConnectError> {
    let mut opts = ConnectOptions::new()
        .name(config.client_id())
        .connection_timeout(config.connect_timeout())
        .ping_interval(ping_period(config.ping_interval(), config.max_pings_out()))
        .max_reconnects(max_reconnects(config.reconnect().max_reconnects));
    if let Some(timeout) = config.request_timeout() {
        opts = opts.request_timeout(Some(timeout));
    }
    if let Some(prefix) = config.inbox_prefix() {
        opts = opts.custom_inbox_prefix(prefix);
    }
    opts = auth(opts, config)?;
    Ok(tls(opts, config))
}

fn auth(opts: ConnectOptions, config: &Config) -> Result<ConnectOptions, ConnectError> {
    Ok(match config.auth() {
        Auth::None => opts,
        Auth::Token { token } => opts.token(token.expose().to_owned()),
        Auth::UserPassword { user, password } => {
            opts.user_and_password(user.clone(), password.expose().to_owned())
        }
        Auth::CredsFile { path, contents } => {
            opts.credentials(contents.expose()).map_err(|_| {
                ConnectError::invalid(
                    config.setting_name("auth.creds_file"),
                    format!(
                    "{} is not a usable .creds file (the client cannot parse its JWT or seed); \
                     use the file generated by `nsc` or `nats`",
                    path.display()
                ),
                )
            })?
        }
        Auth::NkeySeedFile { seed, .. } => opts.nkey(seed.expose().to_owned()),
        Auth::Jwt { jwt, seed } => {
            let key_pair = nkeys::KeyPair::from_seed(seed.expose()).map_err(|_| {
                ConnectError::invalid(
                    config.setting_name("auth.nkey_seed"),
                    "not a valid nkey seed (its checksum is wrong); use the seed of the user's .creds file",
                )
            })?;
            let key_pair = Arc::new(key_pair);
            opts.jwt(jwt.expose().to_owned(), move |nonce| {
                let key_pair = Arc::clone(&key_pair);
                async move { key_pair.sign(&nonce).map_err(AuthError::new) }
            })
        }
    })
}

fn tls(mut opts: ConnectOptions, config: &Config) -> ConnectOptions {
    let tls = config.tls();
    if !tls.required {
        return opts;
    }
    opts = opts.require_tls(true);
    if let Some(ca) = &tls.ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    if tls.first {
        opts = opts.tls_first();
    }
    opts
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use connect_nats_config::ConfigBuilder;

    use super::*;

    fn debug(opts: &ConnectOptions) -> String {
        format!("{opts:?}")
    }

    fn builder() -> ConfigBuilder {
        Config::builder().without_process_env().without_context()
    }

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("connect-nats-core-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn creds(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        )
    }

    #[test]
    fn plain_settings_reach_the_client() {
        let config = builder()
            .client_id("svc-a")
            .connect_timeout(Duration::from_millis(1500))
            .ping_interval(Duration::from_secs(7))
            .inbox_prefix("_INBOX_svc")
            .build()
            .unwrap();
        let text = debug(&build(&config).unwrap());
        assert!(text.contains(r#""name": Some("svc-a")"#), "{text}");
        assert!(text.contains(r#""connection_timeout": 1.5s"#), "{text}");
        assert!(text.contains(r#""ping_interval": 7s"#), "{text}");
        assert!(text.contains(r#""inbox_prefix": "_INBOX_svc""#), "{text}");
        assert!(text.contains(r#""tls_required": false"#), "{text}");
        assert!(text.contains(r#""max_reconnects": None"#), "{text}");
        let defaults = debug(&build(&Config::default()).unwrap());
        assert!(defaults.contains(r#""ping_interval": 60s"#), "{defaults}");
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
        let config = builder()
            .ping_interval(interval)
            .max_pings_out(5)
            .build()
            .unwrap();
        assert!(debug(&build(&config).unwrap()).contains(r#""ping_interval": 12s"#));
    }

    #[test]
    fn max_reconnects_mapping_is_deliberate() {
        assert_eq!(max_reconnects(None), None);
        assert_eq!(max_reconnects(Some(0)), Some(1));
        assert_eq!(max_reconnects(Some(1)), Some(1));
        assert_eq!(max_reconnects(Some(5)), Some(5));
        let config = builder().max_reconnects(Some(3)).build().unwrap();
        assert!(debug(&build(&config).unwrap()).contains(r#""max_reconnects": Some(3)"#));
    }

    #[test]
    fn the_tls_decision_of_the_config_is_applied() {
        let config = builder().url("tls://nats:4222").build().unwrap();
        assert!(debug(&build(&config).unwrap()).contains(r#""tls_required": true"#));

        let config = builder().tls_first(true).build().unwrap();
        let text = debug(&build(&config).unwrap());
        assert!(text.contains(r#""tls_required": true"#), "{text}");
        assert!(text.contains(r#""tls_first": true"#), "{text}");
    }

    #[test]
    fn unusable_seeds_name_the_setting_as_given_and_never_show_the_secret() {
        // Shaped like a user seed (the loader accepts it), but its checksum is wrong.
        let good = nkeys::KeyPair::new_user().seed().unwrap();
        let mut seed_like = good[..good.len() - 2].to_owned();
        seed_like.push_str(if good.ends_with("AA") { "BB" } else { "AA" });
        assert!(nkeys::KeyPair::from_seed(&seed_like).is_err());
        let seed_like = seed_like.as_str();
        let jwt = "eyJ0eXAiOiJKV1QifQ.eyJqdGkiOiJ4In0.c2ln";
        let cases = [
            (
                builder().env_vars([("NATS_JWT", jwt), ("NATS_NKEY_SEED", seed_like)]),
                "NATS_NKEY_SEED".to_owned(),
            ),
            (
                builder()
                    .set("auth.jwt", jwt)
                    .set("auth.nkey_seed", seed_like),
                "`auth.nkey_seed` set in code".to_owned(),
            ),
        ];
        let creds_path = temp_file("bad.creds", &creds(jwt, seed_like));
        let yaml = temp_file(
            "svc.yaml",
            &format!("auth:\n  creds_file: {}\n", creds_path.display()),
        );
        let cases = cases.into_iter().chain([
            (
                builder().env_vars([("NATS_CREDS_FILE", creds_path.display().to_string())]),
                "NATS_CREDS_FILE".to_owned(),
            ),
            (
                builder().file(&yaml),
                format!("`auth.creds_file` in {}", yaml.display()),
            ),
        ]);
        for (builder, named) in cases {
            let config = builder.build().unwrap();
            match build(&config) {
                Err(e @ ConnectError::InvalidConfig { .. }) => {
                    let text = format!("{e} {e:?}");
                    assert!(text.contains(&named), "{text} should name {named}");
                    assert!(!text.contains(seed_like), "{text}");
                }
                other => panic!("expected invalid config naming {named}, got {other:?}"),
            }
        }
    }

    #[test]
    fn usable_auth_of_every_kind_maps_without_error() {
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let nk = temp_file("ok.nk", &format!("# comment\n{seed}\n"));
        let jwt = "eyJ0eXAiOiJKV1QifQ.eyJqdGkiOiJ4In0.c2ln";
        for builder in [
            builder().token("t"),
            builder().user_password("u", "p"),
            builder().nkey_seed_file(&nk),
            builder().jwt(jwt, seed.clone()),
        ] {
            let config = builder.build().unwrap();
            assert!(build(&config).is_ok(), "{config:?}");
        }
    }
}
