//! The reconnect delay: exponential backoff with full jitter.
//!
//! async-nats asks for a delay before every connection attempt, numbering the
//! attempts from 1 and starting again at 1 after each successful connect. This
//! module answers it:
//!
//! | attempt | delay                                              |
//! |---------|----------------------------------------------------|
//! | 1       | 0 (the first try after a loss is immediate)         |
//! | n ≥ 2   | uniform in `[0, min(max_wait, wait · 2^(n-2))]`     |
//!
//! So the ceiling starts at `reconnect.wait` (`NATS_RECONNECT_WAIT`), doubles
//! with every failed attempt, and stops at `reconnect.max_wait`
//! (`NATS_RECONNECT_MAX_WAIT`). The delay is drawn anywhere between zero and
//! that ceiling ("full jitter"), so many services that lost the same server at
//! the same moment spread their reconnects out instead of arriving in lockstep.
//!
//! [`Backoff::ceiling`] is a pure function: the bounds are pinned by unit tests.

use std::time::Duration;

use connect_nats_config::ReconnectSettings;
use rand::Rng;

/// The smallest base delay used: a zero `reconnect.wait` is raised to this, so
/// a server that is down is never hammered in a tight loop.
pub const MIN_RECONNECT_WAIT: Duration = Duration::from_millis(10);

/// Exponential backoff with full jitter, from `wait` up to `max_wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    wait: Duration,
    max_wait: Duration,
}

impl Backoff {
    /// A backoff starting at `wait` and capped at `max_wait`.
    ///
    /// `wait` below [`MIN_RECONNECT_WAIT`] is raised to it; a `max_wait` below
    /// `wait` is raised to `wait`.
    pub fn new(wait: Duration, max_wait: Duration) -> Self {
        let wait = wait.max(MIN_RECONNECT_WAIT);
        Self {
            wait,
            max_wait: max_wait.max(wait),
        }
    }

    /// The backoff of a configuration's reconnect settings.
    pub fn from_settings(settings: &ReconnectSettings) -> Self {
        Self::new(settings.wait, settings.max_wait)
    }

    /// The first ceiling (the effective `reconnect.wait`).
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The cap (the effective `reconnect.max_wait`).
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The largest delay before `attempt` (numbered from 1): zero for the
    /// first attempt, then `min(max_wait, wait · 2^(attempt-2))`.
    pub fn ceiling(&self, attempt: usize) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        // 2^31 times any wait of at least 10 ms is far beyond any sane cap.
        let exponent = u32::try_from(attempt - 2).unwrap_or(u32::MAX).min(31);
        self.wait
            .checked_mul(1u32 << exponent)
            .map_or(self.max_wait, |d| d.min(self.max_wait))
    }

    /// The delay before `attempt`: uniform in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: usize) -> Duration {
        self.delay_with(attempt, &mut rand::rng())
    }

    /// [`Backoff::delay`] with a caller-supplied random source (for tests).
    pub fn delay_with<R: Rng + ?Sized>(&self, attempt: usize, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(attempt);
        if ceiling.is_zero() {
            return Duration::ZERO;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn ceiling_starts_at_wait_doubles_and_is_capped() {
        let b = Backoff::new(MS(100), MS(1_000));
        let ceilings: Vec<_> = (1..=8).map(|n| b.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            vec![
                MS(0),
                MS(100),
                MS(200),
                MS(400),
                MS(800),
                MS(1_000),
                MS(1_000),
                MS(1_000)
            ]
        );
    }

    #[test]
    fn defaults_two_to_thirty_seconds() {
        let b = Backoff::from_settings(&ReconnectSettings::default());
        assert_eq!(b.ceiling(1), Duration::ZERO);
        assert_eq!(b.ceiling(2), Duration::from_secs(2));
        assert_eq!(b.ceiling(5), Duration::from_secs(16));
        assert_eq!(b.ceiling(6), Duration::from_secs(30));
        assert_eq!(b.ceiling(usize::MAX), Duration::from_secs(30));
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let b = Backoff::new(Duration::from_secs(3600), Duration::MAX);
        assert_eq!(b.ceiling(10_000), Duration::from_secs(3600) * (1 << 31));
        let _ = b.delay(10_000);
    }

    #[test]
    fn zero_wait_is_raised_and_cap_never_below_wait() {
        let b = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(b.wait(), MIN_RECONNECT_WAIT);
        assert_eq!(b.max_wait(), MIN_RECONNECT_WAIT);
        assert_eq!(b.ceiling(2), MIN_RECONNECT_WAIT);
        let b = Backoff::new(MS(500), MS(100));
        assert_eq!(b.ceiling(9), MS(500));
    }

    #[test]
    fn delays_stay_within_bounds_and_are_jittered() {
        let b = Backoff::new(MS(100), MS(1_000));
        for attempt in 1..=12 {
            let ceiling = b.ceiling(attempt);
            let samples: Vec<_> = (0..500).map(|_| b.delay(attempt)).collect();
            assert!(samples.iter().all(|d| *d <= ceiling), "attempt {attempt}");
            if attempt >= 2 {
                // Full jitter: the draws spread over the whole range, from
                // near zero to near the ceiling, not a fixed value.
                let min = samples.iter().min().copied().unwrap_or_default();
                let max = samples.iter().max().copied().unwrap_or_default();
                assert!(min < ceiling / 10, "attempt {attempt}: min {min:?}");
                assert!(max > ceiling * 9 / 10, "attempt {attempt}: max {max:?}");
            } else {
                assert!(samples.iter().all(Duration::is_zero));
            }
        }
    }
}
