//! Deadlines that cannot overflow, whatever duration was set in code.

use std::time::Duration;

use tokio::time::Instant;

/// Stands in for a deadline past what an `Instant` can hold: about a century.
const FAR_AWAY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `start + after`, or a moment about a century away when that would
/// overflow (a `Duration::MAX` set in code means "no limit").
pub(crate) fn deadline_after(start: Instant, after: Duration) -> Instant {
    start
        .checked_add(after)
        .or_else(|| start.checked_add(FAR_AWAY))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_duration_gives_a_deadline_not_before_the_start() {
        let now = Instant::now();
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(deadline_after(now, Duration::MAX) > now + Duration::from_secs(3600));
        assert_eq!(deadline_after(now, Duration::ZERO), now);
    }
}
