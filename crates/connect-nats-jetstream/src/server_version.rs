//! Which nats-server version a JetStream feature needs, and whether a server has it.

use std::fmt;

/// A nats-server version such as `2.12.1`, as the server announces it in its `INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    /// The major version.
    pub major: u64,
    /// The minor version.
    pub minor: u64,
    /// The patch version.
    pub patch: u64,
}

/// The first version with atomic batch publishing (stream `allow_atomic`).
pub const ATOMIC_BATCH_VERSION: ServerVersion = ServerVersion::new(2, 12, 0);
/// The first version with fast-ingest batch publishing (stream `allow_batched`).
pub const FAST_INGEST_VERSION: ServerVersion = ServerVersion::new(2, 14, 0);

impl ServerVersion {
    /// The version `major.minor.patch`.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Reads `2.12.1`, `v2.12.1` or `2.14.0-beta.1` (a pre-release counts as its release);
    /// `None` when the text is no version.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_start_matches('v');
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next().unwrap_or(Some(0))?;
        let patch = parts.next().unwrap_or(Some(0))?;
        Some(Self::new(major, minor, patch))
    }

    /// The version of the server `client` is connected to, when it announced a readable one.
    pub fn of(client: &async_nats::Client) -> Option<Self> {
        Self::parse(&client.server_info().version)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_prefixed_and_pre_release_versions() {
        assert_eq!(
            ServerVersion::parse("2.12.1"),
            Some(ServerVersion::new(2, 12, 1))
        );
        assert_eq!(
            ServerVersion::parse("v2.14.0-beta.1"),
            Some(ServerVersion::new(2, 14, 0))
        );
        assert_eq!(
            ServerVersion::parse("2.10"),
            Some(ServerVersion::new(2, 10, 0))
        );
        assert_eq!(ServerVersion::parse("dev"), None);
        assert_eq!(ServerVersion::parse(""), None);
    }

    #[test]
    fn orders_versions_numerically() {
        let old = ServerVersion::parse("2.10.26").map(|v| v >= ATOMIC_BATCH_VERSION);
        assert_eq!(old, Some(false));
        let new = ServerVersion::parse("2.15.1").map(|v| v >= FAST_INGEST_VERSION);
        assert_eq!(new, Some(true));
        assert!(ServerVersion::new(2, 9, 0) < ServerVersion::new(2, 12, 0));
    }
}
