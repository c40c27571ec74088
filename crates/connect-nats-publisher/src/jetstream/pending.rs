//! [`PendingAck`]: the acknowledgement of a pipelined JetStream publish.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::error::PublishError;
use crate::outcome::PublishAck;

/// The acknowledgement of one pipelined JetStream publish, still to come.
///
/// Await it to learn the outcome: the [`PublishAck`], or an error after the
/// retries gave up. The publish runs in its own task and holds one slot of
/// the publisher's window until it has an outcome, whether or not this is
/// awaited: dropping it unawaited (fire and forget) still retries until
/// the retry deadline; a final failure is then logged at WARN with its
/// `Nats-Msg-Id` and counted in the JetStream outcome metric. With
/// `window` publishes in flight, the next publish waits for a free slot up
/// to the publish timeout, then gets [`PublishError::Timeout`].
#[must_use = "await the PendingAck to learn whether the event was stored"]
pub struct PendingAck {
    fut: Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>,
}

impl PendingAck {
    /// A pending ack that resolves to what `fut` returns.
    pub(crate) fn new(
        fut: impl Future<Output = Result<PublishAck, PublishError>> + Send + 'static,
    ) -> Self {
        PendingAck { fut: Box::pin(fut) }
    }

    /// An acknowledgement already known (a test double's).
    pub fn ready(result: Result<PublishAck, PublishError>) -> Self {
        PendingAck::new(std::future::ready(result))
    }
}

impl std::fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAck").finish_non_exhaustive()
    }
}

impl Future for PendingAck {
    type Output = Result<PublishAck, PublishError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

/// The outcome of a send that may already have failed.
pub(crate) async fn settle(
    pending: Result<PendingAck, PublishError>,
) -> Result<PublishAck, PublishError> {
    match pending {
        Ok(ack) => ack.await,
        Err(e) => Err(e),
    }
}
