//! Time bounds for tests: every test finishes or fails within a limit, and
//! waits for a condition by polling it with a deadline, never by sleeping a
//! guessed amount.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often [`eventually`] polls its condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The pause between two attempts of [`retrying`]: each is a request to a
/// server, not a cheap check.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// Runs `test`, failing with a clear message if it takes longer than `limit`.
pub async fn bounded<F: Future>(limit: Duration, test: F) -> F::Output {
    match tokio::time::timeout(limit, test).await {
        Ok(output) => output,
        Err(_) => panic!("test did not finish within its time bound ({limit:?})"),
    }
}

/// Polls `check` every [`POLL_INTERVAL`] until it returns `Some`, failing
/// with `what` once `limit` has passed.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll_until(limit, check).await {
        Some(value) => value,
        None => panic!("timed out after {limit:?} waiting for: {what}"),
    }
}

/// Polls `check` every [`POLL_INTERVAL`] until it returns `Some`, or returns
/// `None` once `limit` has passed, for a caller that acts on a slow condition
/// before waiting again.
pub async fn poll_until<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Runs `attempt` until it succeeds, pausing [`RETRY_INTERVAL`] after each
/// failure, and fails with `what` and the last attempt's error once `limit`
/// has passed.
pub async fn retrying<T, E, F, Fut>(limit: Duration, what: &str, mut attempt: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {limit:?} retrying: {what}; the last attempt: {e}"
                );
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
    }
}
