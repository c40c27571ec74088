//! Rate-limiting repeated log lines (slow consumers, server errors).

use std::time::{Duration, Instant};

/// How often a repeated warning (slow consumer, server error) may be logged.
pub(crate) const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Logs the first occurrence at once, then at most once per interval with
/// the number of occurrences swallowed in between.
#[derive(Debug)]
pub(crate) struct RateLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(suppressed_since_last_log)` when this occurrence should be logged.
    pub(crate) fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_logs_first_then_counts() {
        let mut rl = RateLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(rl.hit(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(rl.hit(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(rl.hit(t0 + Duration::from_secs(11)), Some(1000));
        assert_eq!(rl.hit(t0 + Duration::from_secs(12)), None);
    }
}
