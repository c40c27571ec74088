//! Why a connection could not be made.

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No server answered.
    #[error("NATS server unreachable: {0}; check NATS_URL and that the server is running")]
    Unreachable(String),
}
