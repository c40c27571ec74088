//! The validated configuration: what a connection is built from.
//!
//! Every value here has passed validation; the loading code in this crate is
//! the only way to build a [`Config`] from outside input, and
//! [`Config::default`] gives the documented defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::secret::Secret;
use crate::streams::StreamSpec;

use crate::defaults::{
    DEFAULT_CLIENT_ID, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PINGS_OUT, DEFAULT_PING_INTERVAL,
    DEFAULT_RECONNECT_MAX_WAIT, DEFAULT_RECONNECT_WAIT, DEFAULT_URL,
};

/// The whole, validated NATS configuration of a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Server URLs (`NATS_URL`, comma-separated): cluster seeds (the client picks among them at random, as nats.go does, so services spread over a cluster).
    pub servers: Vec<ServerUrl>,
    /// Connection name shown by the server's monitoring (`NATS_CLIENT_ID`).
    pub client_id: String,
    /// How the client authenticates.
    pub auth: Auth,
    /// TLS settings.
    pub tls: TlsSettings,
    /// Reconnect policy.
    pub reconnect: ReconnectSettings,
    /// Connect timeout (`NATS_TIMEOUT`).
    #[serde(with = "crate::duration::serde_human")]
    pub connect_timeout: Duration,
    /// Interval between client PINGs (`NATS_PING_INTERVAL`).
    #[serde(with = "crate::duration::serde_human")]
    pub ping_interval: Duration,
    /// Unanswered PINGs after which the connection is stale (`NATS_MAX_PINGS_OUT`, 1 to 100).
    pub max_pings_out: u32,
    /// Timeout of a request/reply (`NATS_REQUEST_TIMEOUT`); `None` keeps the client's default.
    #[serde(with = "crate::duration::serde_human_opt")]
    pub request_timeout: Option<Duration>,
    /// Custom inbox prefix (`NATS_INBOX_PREFIX`).
    pub inbox_prefix: Option<String>,
    /// JetStream settings.
    pub jetstream: JetStreamSettings,
}

/// One server URL, with any userinfo (`user:pass@`, `token@`) taken out of it.
///
/// Credentials found in a URL are moved into [`Config::auth`] during loading,
/// so a `ServerUrl` is always safe to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerUrl {
    /// The URL without userinfo, e.g. `tls://nats.internal:4222`.
    pub url: String,
    /// Its scheme.
    pub scheme: Scheme,
}

/// URL schemes the client understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `nats://`, plain TCP (TLS when the server or the settings require it).
    Nats,
    /// `tls://`, TCP with TLS required.
    Tls,
    /// `ws://`, WebSocket.
    Ws,
    /// `wss://`, WebSocket over TLS.
    Wss,
}

impl Scheme {
    /// Whether this scheme always means TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Tls | Scheme::Wss)
    }
}

/// How the client authenticates: exactly one method, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Auth {
    /// No authentication.
    #[default]
    None,
    /// `NATS_TOKEN`.
    Token {
        /// The token.
        token: Secret,
    },
    /// `NATS_USER` + `NATS_PASSWORD`.
    UserPassword {
        /// The user name (not a secret).
        user: String,
        /// The password.
        password: Secret,
    },
    /// `NATS_CREDS_FILE`: a `.creds` file with a user JWT and an nkey seed.
    CredsFile {
        /// Path of the file (checked to hold a JWT and a seed).
        path: PathBuf,
    },
    /// `NATS_NKEY_SEED_FILE`: a file holding an nkey user seed.
    NkeySeedFile {
        /// Path of the file (checked to hold a seed).
        path: PathBuf,
    },
    /// `NATS_JWT` + `NATS_NKEY_SEED`: inline user JWT and seed.
    Jwt {
        /// The user JWT.
        jwt: Secret,
        /// The user's nkey seed.
        seed: Secret,
    },
}

impl Auth {
    /// A short, secret-free name of the method, for logs: `none`, `token`,
    /// `user_password`, `creds_file`, `nkey_seed_file`, `jwt`.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Token { .. } => "token",
            Auth::UserPassword { .. } => "user_password",
            Auth::CredsFile { .. } => "creds_file",
            Auth::NkeySeedFile { .. } => "nkey_seed_file",
            Auth::Jwt { .. } => "jwt",
        }
    }
}

/// TLS settings. Any setting given means TLS is wanted: there is no silent
/// fallback to plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TlsSettings {
    /// CA bundle (PEM) to trust instead of the system roots (`NATS_TLS_CA`).
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS (`NATS_TLS_CERT`).
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS (`NATS_TLS_KEY`).
    pub key: Option<PathBuf>,
    /// Whether TLS is required (`NATS_TLS_REQUIRED`, a `tls://` URL, or any TLS file set).
    pub required: bool,
    /// TLS before the server's INFO, for servers with `handshake_first` (`NATS_TLS_FIRST`).
    pub first: bool,
}

/// Reconnect policy: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconnectSettings {
    /// First delay, and the base of the backoff (`NATS_RECONNECT_WAIT`).
    #[serde(with = "crate::duration::serde_human")]
    pub wait: Duration,
    /// Cap of the backoff (`NATS_RECONNECT_MAX_WAIT`).
    #[serde(with = "crate::duration::serde_human")]
    pub max_wait: Duration,
    /// How many reconnect attempts before giving up; `None` is forever
    /// (`NATS_MAX_RECONNECTS=-1`, the default); `Some(0)` makes a single reconnect
    /// attempt (async-nats cannot express "none"). Serializes as `-1` for `None`, like the variable.
    #[serde(serialize_with = "serialize_max_reconnects")]
    pub max_reconnects: Option<u64>,
}

fn serialize_max_reconnects<S: serde::Serializer>(
    value: &Option<u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(n) => serializer.serialize_u64(*n),
        None => serializer.serialize_i64(-1),
    }
}

impl Default for ReconnectSettings {
    fn default() -> Self {
        Self {
            wait: DEFAULT_RECONNECT_WAIT,
            max_wait: DEFAULT_RECONNECT_MAX_WAIT,
            max_reconnects: None,
        }
    }
}

/// JetStream settings.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct JetStreamSettings {
    /// JetStream domain (`NATS_JS_DOMAIN`).
    pub domain: Option<String>,
    /// JetStream API prefix (`NATS_JS_API_PREFIX`).
    pub api_prefix: Option<String>,
    /// Streams declared in the config file (`jetstream.streams`).
    pub streams: Vec<StreamSpec>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            servers: vec![ServerUrl {
                url: DEFAULT_URL.to_owned(),
                scheme: Scheme::Nats,
            }],
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            auth: Auth::None,
            tls: TlsSettings::default(),
            reconnect: ReconnectSettings::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            ping_interval: DEFAULT_PING_INTERVAL,
            max_pings_out: DEFAULT_MAX_PINGS_OUT,
            request_timeout: None,
            inbox_prefix: None,
            jetstream: JetStreamSettings::default(),
        }
    }
}

impl Config {
    /// Whether the connection must use TLS (required flag, a TLS scheme, or any TLS file).
    pub fn tls_wanted(&self) -> bool {
        self.tls.required
            || self.tls.first
            || self.tls.ca.is_some()
            || self.tls.cert.is_some()
            || self.servers.iter().any(|s| s.scheme.is_tls())
    }

    /// The server URLs as plain strings (no userinfo).
    pub fn server_urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.url.clone()).collect()
    }
}
