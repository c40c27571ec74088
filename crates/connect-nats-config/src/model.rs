//! The validated configuration: what a connection is built from.
//!
//! A [`Config`] is a type guarantee: its fields are private, and only the
//! loader ([`Config::load`], [`ConfigBuilder`](crate::ConfigBuilder)) and
//! [`Config::default`] make one. So every value has passed validation, the
//! TLS decision is made once ([`TlsSettings::required`]), credential files
//! have been read once ([`Auth::CredsFile`], [`Auth::NkeySeedFile`] carry
//! their content), and the origin of every value is kept
//! ([`Config::sources`]) for the errors of the layers above.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::headers::HeaderPolicy;
use crate::secret::Secret;
use crate::settings::setting_by_key;
use crate::source::{Layer, Sources};
use crate::streams::StreamSpec;

use crate::defaults::{
    DEFAULT_CLIENT_ID, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PINGS_OUT, DEFAULT_PING_INTERVAL,
    DEFAULT_RECONNECT_MAX_WAIT, DEFAULT_RECONNECT_WAIT, DEFAULT_URL,
};

/// The whole, validated NATS configuration of a service.
///
/// Read it through its accessors; build it with [`Config::builder`] (or
/// [`Config::load`]). Two configurations are equal when every setting is,
/// wherever the values came from.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub(crate) servers: Vec<ServerUrl>,
    pub(crate) client_id: String,
    pub(crate) auth: Auth,
    pub(crate) tls: TlsSettings,
    pub(crate) reconnect: ReconnectSettings,
    #[serde(with = "crate::duration::serde_human")]
    pub(crate) connect_timeout: Duration,
    #[serde(with = "crate::duration::serde_human")]
    pub(crate) ping_interval: Duration,
    pub(crate) max_pings_out: u32,
    #[serde(with = "crate::duration::serde_human_opt")]
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) inbox_prefix: Option<String>,
    pub(crate) headers: HeaderPolicy,
    pub(crate) jetstream: JetStreamSettings,
    #[serde(skip)]
    pub(crate) sources: Sources,
}

impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        self.servers == other.servers
            && self.client_id == other.client_id
            && self.auth == other.auth
            && self.tls == other.tls
            && self.reconnect == other.reconnect
            && self.connect_timeout == other.connect_timeout
            && self.ping_interval == other.ping_interval
            && self.max_pings_out == other.max_pings_out
            && self.request_timeout == other.request_timeout
            && self.inbox_prefix == other.inbox_prefix
            && self.headers == other.headers
            && self.jetstream == other.jetstream
    }
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
        /// Path of the file.
        path: PathBuf,
        /// Its content, read once at load time and checked to hold a JWT and a seed.
        contents: Secret,
    },
    /// `NATS_NKEY_SEED_FILE`: a file holding an nkey user seed.
    NkeySeedFile {
        /// Path of the file.
        path: PathBuf,
        /// The seed read from it at load time.
        seed: Secret,
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
///
/// The files were checked at load time to hold PEM certificates (`ca`,
/// `cert`) and a private key (`key`); `cert` and `key` are both set or both
/// unset. They are kept as paths because async-nats 0.51 takes TLS material
/// only as paths (`add_root_certificates`, `add_client_certificate`) or as a
/// whole rustls configuration, and reads the files itself when it connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TlsSettings {
    /// CA bundle (PEM) to trust instead of the system roots (`NATS_TLS_CA`).
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS (`NATS_TLS_CERT`).
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS (`NATS_TLS_KEY`).
    pub key: Option<PathBuf>,
    /// The one TLS decision: whether the connection must use TLS
    /// (`NATS_TLS_REQUIRED`, `NATS_TLS_FIRST`, a `tls://`/`wss://` URL, or
    /// any TLS file set).
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
    /// The documented defaults (see [`crate::defaults`]).
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
            headers: HeaderPolicy::default(),
            jetstream: JetStreamSettings::default(),
            sources: Sources::default(),
        }
    }
}

impl Config {
    /// Server URLs (`NATS_URL`, comma-separated), never empty: cluster seeds
    /// (the client picks among them at random, as nats.go does, so services
    /// spread over a cluster).
    pub fn servers(&self) -> &[ServerUrl] {
        &self.servers
    }

    /// The server URLs as plain strings (no userinfo).
    pub fn server_urls(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.url.clone()).collect()
    }

    /// Connection name shown by the server's monitoring (`NATS_CLIENT_ID`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// How the client authenticates.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// TLS settings.
    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }

    /// Whether the connection must use TLS: the one decision made at load
    /// time ([`TlsSettings::required`]).
    pub fn tls_wanted(&self) -> bool {
        self.tls.required
    }

    /// Reconnect policy.
    pub fn reconnect(&self) -> &ReconnectSettings {
        &self.reconnect
    }

    /// Connect timeout (`NATS_TIMEOUT`), at most [`MAX_DURATION`](crate::MAX_DURATION).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Interval between client PINGs (`NATS_PING_INTERVAL`).
    pub fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// Unanswered PINGs after which the connection is stale (`NATS_MAX_PINGS_OUT`, 1 to 100).
    pub fn max_pings_out(&self) -> u32 {
        self.max_pings_out
    }

    /// Timeout of a request/reply (`NATS_REQUEST_TIMEOUT`); `None` keeps the client's default.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// Custom inbox prefix (`NATS_INBOX_PREFIX`).
    pub fn inbox_prefix(&self) -> Option<&str> {
        self.inbox_prefix.as_deref()
    }

    /// Which headers published messages carry (`NATS_HEADERS`, default `minimal`).
    pub fn headers(&self) -> HeaderPolicy {
        self.headers
    }

    /// JetStream settings.
    pub fn jetstream(&self) -> &JetStreamSettings {
        &self.jetstream
    }

    /// Where each value came from, by file key (empty for [`Config::default`]).
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// How an error names the setting with this file key: as it was given
    /// (`NATS_CREDS_FILE`, `` `auth.creds_file` in /etc/svc.yaml ``, a
    /// context field), else its environment variable.
    pub fn setting_name(&self, key: &str) -> String {
        match self.sources.get(key) {
            Some(origin) if origin.layer != Layer::Default => origin.to_string(),
            _ => setting_by_key(key)
                .map(|s| s.display_name().to_owned())
                .unwrap_or_else(|| key.to_owned()),
        }
    }

    /// A copy named `client_id` (e.g. a pool member), everything else
    /// unchanged. The name only labels the connection in the server's
    /// monitoring, so it is taken as given (the loader refuses an empty one;
    /// this method does not).
    pub fn with_client_id(&self, client_id: impl Into<String>) -> Config {
        Config {
            client_id: client_id.into(),
            ..self.clone()
        }
    }
}
