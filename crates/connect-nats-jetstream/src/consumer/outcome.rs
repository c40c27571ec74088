//! The one place where a handler's result becomes an outcome for the message.

use std::time::Duration;

use super::delivery::HandlerError;

/// Why a message went to the dead-letter subject (the value of the
/// [`REASON`](crate::dead_letter::REASON) header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// The handler returned [`HandlerError::Permanent`].
    Permanent,
    /// The message was delivered `max_deliver` times without success.
    MaxDeliver,
}

impl DeadLetterReason {
    /// `permanent` or `max_deliver`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::Permanent => "permanent",
            DeadLetterReason::MaxDeliver => "max_deliver",
        }
    }
}

/// What happens to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Handled: acknowledge.
    Ack,
    /// Failed, worth another try: redeliver after `delay`.
    Retry { delay: Duration },
    /// Failed for good: publish to the dead-letter subject, then terminate.
    DeadLetter {
        reason: DeadLetterReason,
        error: String,
    },
}

/// Decides the outcome of one delivery.
///
/// `result` is the handler's result, or `None` when the handler was not run
/// because the message had already been delivered more than `max_deliver`
/// times (earlier deliveries timed out without an outcome).
pub(crate) fn decide(
    result: Option<&Result<(), HandlerError>>,
    delivered: u64,
    max_deliver: u32,
    backoff: &[Duration],
) -> Outcome {
    match result {
        Some(Ok(())) => Outcome::Ack,
        Some(Err(HandlerError::Permanent(error))) => Outcome::DeadLetter {
            reason: DeadLetterReason::Permanent,
            error: error.clone(),
        },
        Some(Err(HandlerError::Retryable(error))) if delivered >= u64::from(max_deliver) => {
            Outcome::DeadLetter {
                reason: DeadLetterReason::MaxDeliver,
                error: error.clone(),
            }
        }
        Some(Err(HandlerError::Retryable(_))) => Outcome::Retry {
            delay: retry_delay(delivered, backoff),
        },
        None => Outcome::DeadLetter {
            reason: DeadLetterReason::MaxDeliver,
            error: format!(
                "delivered {delivered} times without an outcome (the handler did not finish within \
                 ack_wait, or the process stopped)"
            ),
        },
    }
}

/// The delay before the next delivery after failed delivery number `delivered`.
pub(crate) fn retry_delay(delivered: u64, backoff: &[Duration]) -> Duration {
    let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(usize::MAX);
    backoff
        .get(index)
        .or(backoff.last())
        .copied()
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn ok_acks() {
        assert_eq!(decide(Some(&Ok(())), 1, 3, &[]), Outcome::Ack);
        assert_eq!(decide(Some(&Ok(())), 3, 3, &[]), Outcome::Ack);
    }

    #[test]
    fn retryable_retries_with_backoff_until_max_deliver() {
        let backoff = [MS(10), MS(20)];
        let err = Err(HandlerError::retryable("down"));
        assert_eq!(
            decide(Some(&err), 1, 4, &backoff),
            Outcome::Retry { delay: MS(10) }
        );
        assert_eq!(
            decide(Some(&err), 2, 4, &backoff),
            Outcome::Retry { delay: MS(20) }
        );
        assert_eq!(
            decide(Some(&err), 3, 4, &backoff),
            Outcome::Retry { delay: MS(20) }
        );
        assert_eq!(
            decide(Some(&err), 4, 4, &backoff),
            Outcome::DeadLetter {
                reason: DeadLetterReason::MaxDeliver,
                error: "down".into()
            }
        );
    }

    #[test]
    fn no_backoff_means_at_once() {
        let err = Err(HandlerError::retryable("x"));
        assert_eq!(
            decide(Some(&err), 1, 5, &[]),
            Outcome::Retry {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn permanent_dead_letters_at_once() {
        let err = Err(HandlerError::permanent("bad payload"));
        assert_eq!(
            decide(Some(&err), 1, 5, &[]),
            Outcome::DeadLetter {
                reason: DeadLetterReason::Permanent,
                error: "bad payload".into()
            }
        );
    }

    #[test]
    fn max_deliver_one_never_retries() {
        let err = Err(HandlerError::retryable("x"));
        assert!(matches!(
            decide(Some(&err), 1, 1, &[MS(1)]),
            Outcome::DeadLetter { .. }
        ));
    }

    #[test]
    fn exhausted_without_handler_dead_letters() {
        match decide(None, 6, 5, &[]) {
            Outcome::DeadLetter { reason, error } => {
                assert_eq!(reason, DeadLetterReason::MaxDeliver);
                assert!(error.contains("6 times"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
