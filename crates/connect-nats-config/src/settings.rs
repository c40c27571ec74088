//! The one table of every setting: environment variable, file key, NATS CLI
//! context field, default and meaning.
//!
//! This table drives the environment layer, the context layer, the check for
//! unknown keys in files, the provenance shown by `connect-nats config`, and
//! the table in `docs/configuration.md` (a test keeps the two identical).

use crate::defaults::{
    DefaultValue, DEFAULT_CLIENT_ID, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEADERS,
    DEFAULT_MAX_PINGS_OUT, DEFAULT_MAX_RECONNECTS, DEFAULT_PING_INTERVAL,
    DEFAULT_RECONNECT_MAX_WAIT, DEFAULT_RECONNECT_WAIT, DEFAULT_URL,
};

/// Environment variable naming the config file to read.
pub const CONFIG_FILE_ENV: &str = "NATS_CONFIG_FILE";
/// Environment variable choosing a NATS CLI context, by name or path.
pub const CONTEXT_ENV: &str = "NATS_CONTEXT";

/// One configuration setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Key in a config file, nested with dots (`reconnect.wait`).
    pub key: &'static str,
    /// Environment variable (`NATS_RECONNECT_WAIT`); `None` for file-only settings.
    pub env: Option<&'static str>,
    /// Field of a NATS CLI context file (ADR-21), if the context has one.
    pub context: Option<&'static str>,
    /// Built-in default (see [`crate::defaults`]); `None` when unset by default.
    pub default: Option<DefaultValue>,
    /// Whether the value is a secret (printed as `***`).
    pub secret: bool,
    /// What the setting means (one line, Markdown).
    pub meaning: &'static str,
}

impl Setting {
    /// How an operator sets it from the environment, or the file key when there
    /// is no variable.
    pub fn display_name(&self) -> &'static str {
        self.env.unwrap_or(self.key)
    }
}

const fn setting(
    key: &'static str,
    env: &'static str,
    context: Option<&'static str>,
    default: Option<DefaultValue>,
    secret: bool,
    meaning: &'static str,
) -> Setting {
    Setting {
        key,
        env: Some(env),
        context,
        default,
        secret,
        meaning,
    }
}

/// Every setting, in documentation order.
pub const SETTINGS: &[Setting] = &[
    setting(
        "url",
        "NATS_URL",
        Some("url"),
        Some(DefaultValue::Text(DEFAULT_URL)),
        false,
        "Server URL, or a comma-separated list (a list in files) of cluster seeds. Schemes `nats://`, `tls://`, `ws://`, `wss://`; `host:port` means `nats://`. `nats://user:pass@host` and `nats://token@host` set the authentication (and count as a method).",
    ),
    setting(
        "client_id",
        "NATS_CLIENT_ID",
        None,
        Some(DefaultValue::Text(DEFAULT_CLIENT_ID)),
        false,
        "Connection name the server shows in its monitoring (`/connz`).",
    ),
    setting(
        "auth.token",
        "NATS_TOKEN",
        Some("token"),
        None,
        true,
        "Token authentication.",
    ),
    setting(
        "auth.creds_file",
        "NATS_CREDS_FILE",
        Some("creds"),
        None,
        false,
        "Path of a `.creds` file (user JWT + nkey seed); checked to hold both.",
    ),
    setting(
        "auth.user",
        "NATS_USER",
        Some("user"),
        None,
        false,
        "User name; needs `NATS_PASSWORD`.",
    ),
    setting(
        "auth.password",
        "NATS_PASSWORD",
        Some("password"),
        None,
        true,
        "Password; needs `NATS_USER`.",
    ),
    setting(
        "auth.nkey_seed_file",
        "NATS_NKEY_SEED_FILE",
        Some("nkey"),
        None,
        false,
        "Path of a file holding an nkey user seed (`SU…`); checked to hold one.",
    ),
    setting(
        "auth.jwt",
        "NATS_JWT",
        Some("user_jwt"),
        None,
        true,
        "Inline user JWT; needs `NATS_NKEY_SEED`.",
    ),
    setting(
        "auth.nkey_seed",
        "NATS_NKEY_SEED",
        Some("user_seed"),
        None,
        true,
        "Inline nkey user seed (`SU…`) signing for `NATS_JWT`; needs `NATS_JWT`.",
    ),
    setting(
        "tls.ca",
        "NATS_TLS_CA",
        Some("ca"),
        None,
        false,
        "CA bundle (PEM) to trust instead of the system roots. Setting it means TLS.",
    ),
    setting(
        "tls.cert",
        "NATS_TLS_CERT",
        Some("cert"),
        None,
        false,
        "Client certificate chain (PEM) for mutual TLS; needs `NATS_TLS_KEY`. Setting it means TLS.",
    ),
    setting(
        "tls.key",
        "NATS_TLS_KEY",
        Some("key"),
        None,
        false,
        "Client private key (PEM) for mutual TLS; needs `NATS_TLS_CERT`.",
    ),
    setting(
        "tls.required",
        "NATS_TLS_REQUIRED",
        None,
        Some(DefaultValue::Bool(false)),
        false,
        "Require TLS even with `nats://` URLs. `false` never turns TLS off: a `tls://`/`wss://` URL or any other TLS setting still means TLS.",
    ),
    setting(
        "tls.first",
        "NATS_TLS_FIRST",
        Some("tls_first"),
        Some(DefaultValue::Bool(false)),
        false,
        "TLS handshake before the server's INFO, for servers with `handshake_first`. Means TLS.",
    ),
    setting(
        "reconnect.wait",
        "NATS_RECONNECT_WAIT",
        None,
        Some(DefaultValue::Duration(DEFAULT_RECONNECT_WAIT)),
        false,
        "Starting ceiling of the reconnect backoff: the first attempt after a loss is immediate, then each delay is random between 0 and a ceiling that starts here and doubles up to `NATS_RECONNECT_MAX_WAIT` (full jitter). Durations: `500ms`, `2s`, `1m`, or a bare integer of seconds.",
    ),
    setting(
        "reconnect.max_wait",
        "NATS_RECONNECT_MAX_WAIT",
        None,
        Some(DefaultValue::Duration(DEFAULT_RECONNECT_MAX_WAIT)),
        false,
        "Cap of the reconnect backoff. When unset and `NATS_RECONNECT_WAIT` is longer than 30s, the cap is that wait; when set, it must not be shorter than the wait.",
    ),
    setting(
        "reconnect.max_reconnects",
        "NATS_MAX_RECONNECTS",
        None,
        Some(DefaultValue::Int(DEFAULT_MAX_RECONNECTS)),
        false,
        "Reconnect attempts before giving up: `-1` forever, `0` a single reconnect attempt (async-nats cannot express none), `N` at most N attempts.",
    ),
    setting(
        "timeout",
        "NATS_TIMEOUT",
        None,
        Some(DefaultValue::Duration(DEFAULT_CONNECT_TIMEOUT)),
        false,
        "Connect timeout (greater than zero).",
    ),
    setting(
        "ping_interval",
        "NATS_PING_INTERVAL",
        None,
        Some(DefaultValue::Duration(DEFAULT_PING_INTERVAL)),
        false,
        "Interval between client PINGs (greater than zero). With `NATS_MAX_PINGS_OUT` it bounds how long a silent server goes unnoticed: at most `(NATS_MAX_PINGS_OUT + 1) × NATS_PING_INTERVAL`, as in nats.go.",
    ),
    setting(
        "max_pings_out",
        "NATS_MAX_PINGS_OUT",
        None,
        Some(DefaultValue::Int(DEFAULT_MAX_PINGS_OUT as i64)),
        false,
        "Unanswered PINGs after which the connection counts as stale and is reconnected (1 to 100).",
    ),
    setting(
        "request_timeout",
        "NATS_REQUEST_TIMEOUT",
        None,
        None,
        false,
        "Timeout of a request/reply (greater than zero); unset keeps the client's default.",
    ),
    setting(
        "inbox_prefix",
        "NATS_INBOX_PREFIX",
        Some("inbox_prefix"),
        None,
        false,
        "Custom inbox prefix (default of the client: `_INBOX`).",
    ),
    setting(
        "jetstream.domain",
        "NATS_JS_DOMAIN",
        Some("jetstream_domain"),
        None,
        false,
        "JetStream domain.",
    ),
    setting(
        "jetstream.api_prefix",
        "NATS_JS_API_PREFIX",
        Some("jetstream_api_prefix"),
        None,
        false,
        "JetStream API prefix (instead of a domain).",
    ),
    setting(
        "headers",
        "NATS_HEADERS",
        None,
        Some(DefaultValue::Text(DEFAULT_HEADERS)),
        false,
        "Headers on published messages: `minimal` (JetStream messages carry only `Nats-Msg-Id`, core messages none) or `full` (adds `Content-Type`, `Connect-Service`, `Connect-Event-Type`). The envelope holds the type and service either way.",
    ),
    Setting {
        key: "jetstream.streams",
        env: None,
        context: None,
        default: None,
        secret: false,
        meaning: "Stream declarations (files only): a list of `{name, subjects, description, max_age, max_bytes, max_msgs, max_msgs_per_subject, max_msg_size, replicas, storage, retention, discard, duplicate_window, allow_destructive, allow_atomic, allow_batched}`, applied by connect-nats-jetstream.",
    },
];

/// The setting with this file key.
pub fn setting_by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The setting read from this environment variable.
pub fn setting_by_env(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == Some(env))
}

/// The key groups of files (`auth`, `tls`, `reconnect`, `jetstream`).
pub(crate) fn is_group(key: &str) -> bool {
    SETTINGS
        .iter()
        .any(|s| s.key.split_once('.').is_some_and(|(group, _)| group == key))
}

/// Keys a file may hold under `group` (`""` for the top level), for hints.
pub(crate) fn keys_in_group(group: &str) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = SETTINGS
        .iter()
        .filter_map(|s| match s.key.split_once('.') {
            Some((g, rest)) if g == group => Some(rest),
            None if group.is_empty() => Some(s.key),
            Some((g, _)) if group.is_empty() => Some(g),
            _ => None,
        })
        .collect();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_env_names_are_unique() {
        for (i, a) in SETTINGS.iter().enumerate() {
            for b in &SETTINGS[i + 1..] {
                assert_ne!(a.key, b.key);
                if a.env.is_some() {
                    assert_ne!(a.env, b.env);
                }
                if a.context.is_some() {
                    assert_ne!(a.context, b.context);
                }
            }
        }
    }

    #[test]
    fn groups_are_known() {
        assert!(is_group("auth"));
        assert!(is_group("tls"));
        assert!(is_group("reconnect"));
        assert!(is_group("jetstream"));
        assert!(!is_group("url"));
        assert_eq!(
            keys_in_group("reconnect"),
            ["wait", "max_wait", "max_reconnects"]
        );
        assert!(keys_in_group("").contains(&"auth"));
        assert!(keys_in_group("").contains(&"url"));
    }
}
