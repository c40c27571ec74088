//! Which headers published messages carry ([`HeaderPolicy`]).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which headers the publisher puts on each message (`NATS_HEADERS`).
///
/// The event type and the service name are always in the JSON envelope, so
/// the headers only repeat them for readers that route without parsing the
/// body. Headers are not free: async-nats clones and encodes a header map
/// per message, which costs more than the rest of a small core publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderPolicy {
    /// The default: JetStream messages carry only `Nats-Msg-Id` (the
    /// de-duplication key), core messages carry no header.
    #[default]
    Minimal,
    /// Adds `Content-Type: application/json`, `Connect-Service` and (for
    /// events) `Connect-Event-Type` to every message, as the Go library did.
    Full,
}

impl HeaderPolicy {
    /// The name used in settings: `minimal` or `full`.
    pub fn name(self) -> &'static str {
        match self {
            HeaderPolicy::Minimal => "minimal",
            HeaderPolicy::Full => "full",
        }
    }

    /// Whether `Content-Type`, `Connect-Service` and `Connect-Event-Type` are sent.
    pub fn is_full(self) -> bool {
        self == HeaderPolicy::Full
    }
}

impl fmt::Display for HeaderPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text was neither `minimal` nor `full`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHeaderPolicy;

impl fmt::Display for UnknownHeaderPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown header policy; write `minimal` or `full`")
    }
}

impl std::error::Error for UnknownHeaderPolicy {}

impl FromStr for HeaderPolicy {
    type Err = UnknownHeaderPolicy;

    /// `minimal` or `full`, in any case, surrounding spaces ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "minimal" => Ok(HeaderPolicy::Minimal),
            "full" => Ok(HeaderPolicy::Full),
            _ => Err(UnknownHeaderPolicy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for policy in [HeaderPolicy::Minimal, HeaderPolicy::Full] {
            assert_eq!(policy.name().parse::<HeaderPolicy>(), Ok(policy));
            assert_eq!(policy.to_string(), policy.name());
        }
        assert_eq!(" FULL ".parse::<HeaderPolicy>(), Ok(HeaderPolicy::Full));
        assert!("all".parse::<HeaderPolicy>().is_err());
        assert_eq!(HeaderPolicy::default(), HeaderPolicy::Minimal);
    }
}
