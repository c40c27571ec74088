//! Closing a connection without losing what is buffered: what holds events
//! for a connection (a publisher's disconnected buffer, its JetStream
//! publishes in flight) registers a [`Drain`], and `shutdown` runs every
//! registered drain before it closes the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::connection::{Connection, ConnectionState};
use crate::error::ConnectError;

/// How often `shutdown` checks whether the client finished draining, in case
/// the "closed" event was dropped by async-nats' bounded event channel.
const CLOSE_POLL: Duration = Duration::from_millis(20);

/// Something that holds events for a connection and must deliver them
/// before it closes (a publisher). Register it with
/// [`Connection::register_drain`].
pub trait Drain: Send + Sync + 'static {
    /// Delivers what it holds before `deadline` and stops taking more;
    /// resolves to the number of events it could not deliver (lost).
    fn drain(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = u64> + Send + '_>>;
}

/// The drains registered on one connection (weak: a dropped publisher
/// unregisters itself).
#[derive(Default)]
pub(crate) struct Drains(Mutex<Vec<Weak<dyn Drain>>>);

impl std::fmt::Debug for Drains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Drains").field("registered", &n).finish()
    }
}

impl Drains {
    fn add(&self, drain: Weak<dyn Drain>) {
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|d| d.strong_count() > 0);
        list.push(drain);
    }

    /// Runs every live drain at once; the total lost.
    async fn run(&self, deadline: Instant) -> u64 {
        let live: Vec<_> = {
            let list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        futures::future::join_all(live.iter().map(|d| d.drain(deadline)))
            .await
            .into_iter()
            .sum()
    }
}

impl Connection {
    /// Registers `drain` to run first when this connection is shut down
    /// (on any clone). Held weakly: dropping the drain unregisters it.
    pub fn register_drain(&self, drain: Weak<dyn Drain>) {
        self.monitor.drains.add(drain);
    }

    /// Drains every registered [`Drain`] (publishers: their disconnected
    /// buffers and JetStream publishes in flight), then every subscription,
    /// flushes pending publishes, and closes the connection — within
    /// `timeout`, never longer.
    ///
    /// Returns [`ConnectError::ShutdownLostEvents`] when a registered
    /// publisher could not deliver every event it held in time (call
    /// `Publisher::close` first to learn which), and
    /// [`ConnectError::ShutdownTimeout`] when the rest did not finish in
    /// time (typically: the server is unreachable, so buffered publishes cannot
    /// be delivered). The connection is reported [`ConnectionState::Closed`]
    /// either way; if it was disconnected, async-nats keeps its reconnect task
    /// until a server answers (then drains and ends) or the runtime stops.
    ///
    /// Dropping a connection without calling this may lose publishes still
    /// buffered in the client.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), ConnectError> {
        if self.monitor.state() == ConnectionState::Closed {
            return Ok(());
        }
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        let lost = self.monitor.drains.run(deadline).await;
        self.monitor.set_shutting_down();
        let client = self.client().clone();
        let mut state = self.watch_state();
        let work = async move {
            // Push out what is buffered, then unsubscribe everything and close.
            // Errors here mean the client is already gone: nothing to drain.
            if client.flush().await.is_err() || client.drain().await.is_err() {
                return;
            }
            let closed_event = state.wait_for(|s| *s == ConnectionState::Closed);
            let handler_gone = async {
                // After a drain the client's task ends and every further
                // command fails: that is "closed" even if the event was lost.
                while client.flush().await.is_ok() {
                    tokio::time::sleep(CLOSE_POLL).await;
                }
            };
            tokio::select! {
                _ = closed_event => {}
                () = handler_gone => {}
            }
        };
        let result = tokio::time::timeout_at(deadline, work).await;
        match result {
            Ok(()) if lost > 0 => {
                self.monitor
                    .mark_closed(Some(format!("shut down ({lost} publisher event(s) lost)")));
                Err(ConnectError::ShutdownLostEvents { lost })
            }
            Ok(()) => {
                self.monitor.mark_closed(Some("shut down".to_owned()));
                Ok(())
            }
            Err(_) => {
                self.monitor.mark_closed(Some(
                    "shut down (timed out; buffered messages may be lost)".to_owned(),
                ));
                if lost > 0 {
                    Err(ConnectError::ShutdownLostEvents { lost })
                } else {
                    Err(ConnectError::ShutdownTimeout { timeout })
                }
            }
        }
    }
}
