//! Closing a connection without losing what is buffered.

use std::time::Duration;

use crate::connection::{Connection, ConnectionState};
use crate::error::ConnectError;

/// How often `shutdown` checks whether the client finished draining, in case
/// the "closed" event was dropped by async-nats' bounded event channel.
const CLOSE_POLL: Duration = Duration::from_millis(20);

impl Connection {
    /// Drains every subscription, flushes pending publishes, then closes the
    /// connection — within `timeout`, never longer.
    ///
    /// Returns [`ConnectError::ShutdownTimeout`] when that did not finish in
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
        let result = tokio::time::timeout(timeout, work).await;
        match result {
            Ok(()) => {
                self.monitor.mark_closed(Some("shut down".to_owned()));
                Ok(())
            }
            Err(_) => {
                self.monitor.mark_closed(Some(
                    "shut down (timed out; buffered messages may be lost)".to_owned(),
                ));
                Err(ConnectError::ShutdownTimeout { timeout })
            }
        }
    }
}
