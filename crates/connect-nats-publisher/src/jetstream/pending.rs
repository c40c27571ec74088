//! [`PendingAck`]: the acknowledgement of a pipelined JetStream publish.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::error::PublishError;
use crate::outcome::PublishAck;

/// The acknowledgement of one pipelined JetStream publish, still to come.
///
/// Await it to learn the outcome: the [`PublishAck`], or an error after the
/// retries gave up. The publish holds one slot of the publisher's window
/// until it has an outcome. Awaited, it runs in the awaiting task; dropped
/// unawaited (fire and forget), it is handed to a task of its own and still
/// retries until the retry deadline; a final failure is then logged at WARN
/// (the error names the subject and `Nats-Msg-Id`) and counted in the
/// JetStream outcome metric. With `window` publishes in flight, the next
/// publish waits for a free slot up to the publish timeout, then gets
/// [`PublishError::Timeout`].
#[must_use = "await the PendingAck to learn whether the event was stored"]
pub struct PendingAck {
    fut: Option<BoxedAck>,
    /// Whether a drop before the outcome hands the publish to a task.
    detach: bool,
}

type BoxedAck = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

impl PendingAck {
    /// A pending ack that resolves to what `fut` returns, which is dropped
    /// with it.
    pub(crate) fn new(
        fut: impl Future<Output = Result<PublishAck, PublishError>> + Send + 'static,
    ) -> Self {
        PendingAck {
            fut: Some(Box::pin(fut)),
            detach: false,
        }
    }

    /// A pending ack whose publish goes on in a task of its own when it is
    /// dropped before its outcome.
    pub(crate) fn detachable(
        fut: impl Future<Output = Result<PublishAck, PublishError>> + Send + 'static,
    ) -> Self {
        PendingAck {
            fut: Some(Box::pin(fut)),
            detach: true,
        }
    }

    /// An acknowledgement already known (a test double's).
    pub fn ready(result: Result<PublishAck, PublishError>) -> Self {
        PendingAck::new(std::future::ready(result))
    }

    /// The pending ack of a send, or one that resolves at once to the send's
    /// error.
    pub(crate) fn settled(sent: Result<PendingAck, PublishError>) -> Self {
        sent.unwrap_or_else(|e| PendingAck::ready(Err(e)))
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
        let Some(fut) = self.fut.as_mut() else {
            // Polled again after its outcome: there is none left to give.
            return Poll::Ready(Err(PublishError::Closed));
        };
        let result = std::task::ready!(fut.as_mut().poll(cx));
        self.fut = None;
        Poll::Ready(result)
    }
}

impl Drop for PendingAck {
    fn drop(&mut self) {
        let Some(fut) = self.fut.take().filter(|_| self.detach) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = fut.await {
                        tracing::warn!(
                            %error,
                            "JetStream publish failed and its PendingAck was dropped unawaited"
                        );
                    }
                });
            }
            Err(_) => tracing::warn!(
                "a PendingAck was dropped outside a Tokio runtime: its publish is abandoned"
            ),
        }
    }
}
