//! Closing a publisher: [`Publisher::close`], its [`CloseReport`], and the
//! [`Drain`] that lets `Connection::shutdown` close every publisher
//! registered on the connection first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use connect_nats_core::Drain;
use tokio::time::Instant;

use crate::deadline::deadline_after;
use crate::pool::PooledPublisher;
use crate::publisher::{Inner, Publisher};

/// A JetStream publish that `close` could not get acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPublish {
    /// The subject it was published to.
    pub subject: String,
    /// Its `Nats-Msg-Id`: publishing again with it is safe within the
    /// stream's duplicate window.
    pub msg_id: String,
    /// Why it failed.
    pub error: String,
}

/// What [`Publisher::close`] did with the events it still held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "a CloseReport says which events were lost"]
pub struct CloseReport {
    /// Core events flushed from the disconnected buffer while closing.
    pub core_flushed: u64,
    /// Core events dropped: still buffered at the timeout.
    pub core_dropped: u64,
    /// JetStream publishes in flight at the close that were acknowledged.
    pub jetstream_acked: u64,
    /// JetStream publishes in flight at the close that failed or were cut
    /// off at the timeout, with their `Nats-Msg-Id`s.
    pub jetstream_failed: Vec<FailedPublish>,
    /// JetStream publishes whose outcome was still unknown a second after
    /// the timeout (not listed in `jetstream_failed`).
    pub jetstream_unresolved: u64,
}

impl CloseReport {
    /// Events that may not have reached the server: core dropped, JetStream
    /// failed and unresolved.
    pub fn lost(&self) -> u64 {
        self.core_dropped + self.jetstream_failed.len() as u64 + self.jetstream_unresolved
    }

    /// Whether every event held at the close was delivered.
    pub fn is_clean(&self) -> bool {
        self.lost() == 0
    }

    /// Adds `other`'s counts and failures to this report.
    pub fn merge(&mut self, other: CloseReport) {
        self.core_flushed += other.core_flushed;
        self.core_dropped += other.core_dropped;
        self.jetstream_acked += other.jetstream_acked;
        self.jetstream_failed.extend(other.jetstream_failed);
        self.jetstream_unresolved += other.jetstream_unresolved;
    }
}

impl Publisher {
    /// Closes the publisher (every clone): refuses new events
    /// ([`PublishError::PublisherClosed`](crate::PublishError::PublisherClosed)),
    /// flushes the disconnected buffer once the connection is up, and lets
    /// JetStream publishes in flight retry as usual — all within `timeout`.
    /// Core events still buffered at the timeout are dropped, JetStream
    /// publishes still unacknowledged are cut off; the report counts both
    /// and lists the JetStream ones by `Nats-Msg-Id`.
    ///
    /// The connection stays open. `Connection::shutdown` runs this for every
    /// publisher on the connection first, so calling it yourself is only
    /// needed to see the report.
    pub async fn close(&self, timeout: Duration) -> CloseReport {
        self.inner
            .close_until(deadline_after(Instant::now(), timeout))
            .await
    }
}

impl PooledPublisher {
    /// Closes every member publisher at once, within `timeout`, as
    /// [`Publisher::close`] does; one report for all of them.
    pub async fn close(&self, timeout: Duration) -> CloseReport {
        let deadline = deadline_after(Instant::now(), timeout);
        for publisher in self.publishers() {
            publisher.inner.closed.store(true, Ordering::Release);
        }
        // All members at once, against the one deadline.
        let closing = self
            .publishers()
            .iter()
            .map(|publisher| publisher.inner.close_until(deadline));
        let mut total = CloseReport::default();
        for report in futures::future::join_all(closing).await {
            total.merge(report);
        }
        total
    }
}

impl Inner {
    /// Closes the publisher by `deadline`.
    pub(crate) async fn close_until(&self, deadline: Instant) -> CloseReport {
        self.closed.store(true, Ordering::Release);
        let core = async {
            let (flushed, dropped) = self.buffer.drain(deadline).await;
            // Push what the client holds onto the wire.
            let _ = tokio::time::timeout_at(deadline, self.connection.client().flush()).await;
            (flushed, dropped)
        };
        #[cfg(feature = "jetstream")]
        let report = {
            let ((core_flushed, core_dropped), js) =
                tokio::join!(core, crate::jetstream::close(self, deadline));
            CloseReport {
                core_flushed,
                core_dropped,
                jetstream_acked: js.acked,
                jetstream_failed: js.failed,
                jetstream_unresolved: js.unresolved,
            }
        };
        #[cfg(not(feature = "jetstream"))]
        let report = {
            let (core_flushed, core_dropped) = core.await;
            CloseReport {
                core_flushed,
                core_dropped,
                ..CloseReport::default()
            }
        };
        if !report.is_clean() {
            tracing::warn!(
                core_dropped = report.core_dropped,
                jetstream_failed = report.jetstream_failed.len(),
                jetstream_unresolved = report.jetstream_unresolved,
                "publisher closed with events it could not deliver"
            );
        }
        report
    }
}

impl Drain for Inner {
    fn drain(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = u64> + Send + '_>> {
        Box::pin(async move { self.close_until(deadline).await.lost() })
    }
}
