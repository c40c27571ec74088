//! Every built-in default, typed, in one place.
//!
//! The settings table ([`SETTINGS`](crate::SETTINGS)) shows these values (and
//! the docs table is generated from it), the loader merges them as the lowest
//! layer, and [`Config::default`](crate::Config::default) is built from them.

use std::fmt;
use std::time::Duration;

use crate::duration::format_duration;

/// Default server URL (`NATS_URL`).
pub const DEFAULT_URL: &str = "nats://localhost:4222";
/// Default connection name (`NATS_CLIENT_ID`).
pub const DEFAULT_CLIENT_ID: &str = "connect-service";
/// Default starting ceiling of the jittered reconnect delay (`NATS_RECONNECT_WAIT`).
pub const DEFAULT_RECONNECT_WAIT: Duration = Duration::from_secs(2);
/// Default cap of the reconnect backoff (`NATS_RECONNECT_MAX_WAIT`).
pub const DEFAULT_RECONNECT_MAX_WAIT: Duration = Duration::from_secs(30);
/// Default reconnect attempts (`NATS_MAX_RECONNECTS`): `-1`, forever.
pub const DEFAULT_MAX_RECONNECTS: i64 = -1;
/// Default connect timeout (`NATS_TIMEOUT`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default interval between client PINGs (`NATS_PING_INTERVAL`), as in
/// async-nats (nats.go uses 2 minutes).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(60);
/// Default number of unanswered PINGs after which the connection is stale
/// (`NATS_MAX_PINGS_OUT`), as in async-nats and nats.go.
pub const DEFAULT_MAX_PINGS_OUT: u32 = 2;
/// Largest `NATS_MAX_PINGS_OUT` accepted.
pub const MAX_PINGS_OUT_LIMIT: u32 = 100;
/// Default header policy (`NATS_HEADERS`): `minimal`, see
/// [`HeaderPolicy`](crate::HeaderPolicy).
pub const DEFAULT_HEADERS: &str = "minimal";
/// Longest duration any setting accepts: 365 days. Longer values are refused
/// with [`ConfigError::DurationTooLong`](crate::ConfigError::DurationTooLong),
/// so no deadline computed from a setting can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A built-in default as the settings table holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// Text, e.g. a URL.
    Text(&'static str),
    /// A duration, written like `2s`.
    Duration(Duration),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::Text(text) => f.write_str(text),
            DefaultValue::Duration(d) => f.write_str(&format_duration(*d)),
            DefaultValue::Bool(b) => write!(f, "{b}"),
            DefaultValue::Int(n) => write!(f, "{n}"),
        }
    }
}

impl DefaultValue {
    /// The value as the loader's lowest layer holds it.
    pub(crate) fn to_value(self) -> figment::value::Value {
        use figment::value::Value;
        match self {
            DefaultValue::Text(text) => Value::from(text),
            DefaultValue::Duration(d) => Value::from(format_duration(d)),
            DefaultValue::Bool(b) => Value::from(b),
            DefaultValue::Int(n) => Value::from(n),
        }
    }
}
