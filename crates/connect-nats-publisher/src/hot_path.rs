//! Small helpers that keep timers and allocations off the per-message path.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use async_nats::Subject;

use crate::error::PublishError;
use crate::subject::validate_publish_subject;

/// Slots of the per-thread cache of subjects checked by
/// [`validate_publish_subject`]; a subject's slot is picked by its hash, so
/// two subjects on one slot push each other out. Cycling over n subjects,
/// about (255/256)^(n-1) of them stay: 94% of 16, 61% of 128, 37% of 256.
/// A subject found there is the shared [`Subject`], cloned instead of its
/// text being checked and copied per message.
const SUBJECT_SLOTS: usize = 256;

/// A thread's cached subjects, and the slot it used last.
struct SubjectCache {
    slots: [Option<Subject>; SUBJECT_SLOTS],
    last: usize,
}

thread_local! {
    static SUBJECTS: RefCell<SubjectCache> = const {
        RefCell::new(SubjectCache {
            slots: [const { None }; SUBJECT_SLOTS],
            last: 0,
        })
    };
}

/// The subject as an async-nats [`Subject`] once it passes
/// [`validate_publish_subject`]; shared, and not checked again, while it
/// holds its slot in this thread's cache. The slot used last is tried
/// before the subject is hashed: a loop on one subject hashes nothing.
pub(crate) fn subject(text: &str) -> Result<Subject, PublishError> {
    SUBJECTS.with(|cell| {
        let Ok(mut cache) = cell.try_borrow_mut() else {
            validate_publish_subject(text)?;
            return Ok(Subject::from(text));
        };
        let cached = |index: usize, cache: &SubjectCache| {
            cache
                .slots
                .get(index)
                .and_then(Option::as_ref)
                .filter(|subject| subject.as_str() == text)
                .cloned()
        };
        if let Some(subject) = cached(cache.last, &cache) {
            return Ok(subject);
        }
        let index = slot_of(text);
        cache.last = index;
        if let Some(subject) = cached(index, &cache) {
            return Ok(subject);
        }
        validate_publish_subject(text)?;
        let subject = Subject::from(text);
        if let Some(slot) = cache.slots.get_mut(index) {
            *slot = Some(subject.clone());
        }
        Ok(subject)
    })
}

/// The cache slot of `text`.
fn slot_of(text: &str) -> usize {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::default().hash_one(text);
    // The low bits of a u64 always fit a usize.
    (hash as usize) % SUBJECT_SLOTS
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
    fn a_cached_subject_is_shared_not_copied() {
        // Subjects that share no slot: each stays cached while the others are used.
        let mut texts: Vec<String> = Vec::new();
        let mut used = std::collections::HashSet::new();
        for i in 0.. {
            let text = format!("connect.user.{i}.status");
            if used.insert(slot_of(&text)) {
                texts.push(text);
            }
            if texts.len() == 64 {
                break;
            }
        }
        let first: Vec<Subject> = texts.iter().map(|t| subject(t).unwrap()).collect();
        for (text, earlier) in texts.iter().zip(&first) {
            let again = subject(text).unwrap();
            assert_eq!(again.as_str(), text);
            assert_eq!(
                again.as_str().as_ptr(),
                earlier.as_str().as_ptr(),
                "{text} was copied again"
            );
        }
    }

    #[test]
    fn subjects_sharing_a_slot_are_both_right() {
        let a = "connect.a".to_owned();
        let b = (0..)
            .map(|i| format!("connect.b{i}"))
            .find(|t| slot_of(t) == slot_of(&a))
            .unwrap();
        for _ in 0..3 {
            assert_eq!(subject(&a).unwrap().as_str(), a);
            assert_eq!(subject(&b).unwrap().as_str(), b);
        }
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
