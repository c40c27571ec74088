//! Small helpers that keep timers and allocations off the per-message path.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use async_nats::Subject;

use crate::error::PublishError;
use crate::subject::validate_publish_subject;

/// Recently used subjects per thread, each checked by
/// [`validate_publish_subject`] when it entered: a publish loop on a few
/// subjects clones a shared [`Subject`] instead of checking and copying the
/// text per message.
const SUBJECT_SLOTS: usize = 4;

thread_local! {
    static SUBJECTS: RefCell<([Option<Subject>; SUBJECT_SLOTS], usize)> =
        const { RefCell::new(([None, None, None, None], 0)) };
}

/// The subject as an async-nats [`Subject`] once it passes
/// [`validate_publish_subject`]; shared, and not checked again, when this
/// thread used it recently.
pub(crate) fn subject(text: &str) -> Result<Subject, PublishError> {
    SUBJECTS.with(|cell| {
        let Ok(mut cache) = cell.try_borrow_mut() else {
            validate_publish_subject(text)?;
            return Ok(Subject::from(text));
        };
        let (slots, next) = &mut *cache;
        for slot in slots.iter().flatten() {
            if slot.as_str() == text {
                return Ok(slot.clone());
            }
        }
        validate_publish_subject(text)?;
        let subject = Subject::from(text);
        slots[*next] = Some(subject.clone());
        *next = (*next + 1) % SUBJECT_SLOTS;
        Ok(subject)
    })
}

/// Like `tokio::time::timeout`, but polls `future` once first and only arms a
/// timer when it is not ready (the common case — a free slot in the client's
/// queue — then costs no timer at all).
pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => tokio::time::timeout(limit, future)
            .await
            .map_err(|_| Elapsed),
    }
}

/// The time limit passed.
#[derive(Debug)]
pub(crate) struct Elapsed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_reused_and_correct() {
        let a = subject("connect.a").unwrap();
        let b = subject("connect.b").unwrap();
        assert_eq!(subject("connect.a").unwrap(), a);
        assert_eq!(subject("connect.b").unwrap().as_str(), "connect.b");
        for i in 0..10 {
            assert_eq!(
                subject(&format!("s.{i}")).unwrap().as_str(),
                format!("s.{i}")
            );
        }
        assert_eq!(b.as_str(), "connect.b");
    }

    #[test]
    fn invalid_subjects_are_refused_every_time() {
        for _ in 0..3 {
            assert!(matches!(
                subject("a..b"),
                Err(PublishError::InvalidSubject { .. })
            ));
        }
        assert!(subject("").is_err());
    }

    #[tokio::test]
    async fn ready_future_needs_no_timer_and_pending_one_times_out() {
        assert_eq!(
            timeout(Duration::from_secs(1), async { 7 }).await.unwrap(),
            7
        );
        let never = std::future::pending::<()>();
        assert!(timeout(Duration::from_millis(10), never).await.is_err());
    }
}
