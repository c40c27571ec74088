//! The one publish API: describe a message, then choose how it travels.
//!
//! ```no_run
//! # async fn run(publisher: connect_nats_publisher::Publisher) -> Result<(), connect_nats_publisher::PublishError> {
//! let data = serde_json::json!({ "invite_id": "inv_1" });
//! // Core NATS, fire and forget (buffered while disconnected).
//! publisher.event("connect.invite.created", "invite.created", &data).core().await?;
//! // Plain JSON, no envelope.
//! publisher.message("cache.user.42", &data).core().await?;
//! # Ok(()) }
//! ```
//!
//! With the `jetstream` feature the same builder also has `.send()`
//! (acknowledged JetStream publish) and `.send_async()` (a `PendingAck` to
//! await later); without it those methods do not exist.

use std::future::Future;

use serde::Serialize;

use crate::error::PublishError;
use crate::event_publisher::EventPublisher;
use crate::outcome::CoreDelivery;
#[cfg(feature = "jetstream")]
use crate::{PendingAck, PublishAck};
use connect_nats_core::envelope::DEFAULT_VERSION;

/// What to publish: the subject, the data and, for events, the envelope's
/// type and version; optionally a caller-chosen `Nats-Msg-Id`.
///
/// Built by [`PublishBuilder`]; an [`EventPublisher`] implementation
/// receives it in [`EventPublisher::send_core`] (and `send_jetstream`).
#[derive(Debug)]
pub struct Outgoing<'a, T: ?Sized> {
    subject: &'a str,
    event_type: Option<&'a str>,
    version: u32,
    msg_id: Option<&'a str>,
    data: &'a T,
}

// Manual impls: `T` itself need not be `Clone`/`Copy` (only borrowed).
impl<T: ?Sized> Clone for Outgoing<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ?Sized> Copy for Outgoing<'_, T> {}

impl<'a, T: ?Sized> Outgoing<'a, T> {
    /// An event in the standard envelope (version 1 unless changed).
    pub fn event(subject: &'a str, event_type: &'a str, data: &'a T) -> Self {
        Outgoing {
            subject,
            event_type: Some(event_type),
            version: DEFAULT_VERSION,
            msg_id: None,
            data,
        }
    }

    /// `data` as plain JSON, no envelope.
    pub fn message(subject: &'a str, data: &'a T) -> Self {
        Outgoing {
            subject,
            event_type: None,
            version: DEFAULT_VERSION,
            msg_id: None,
            data,
        }
    }

    /// The subject to publish to.
    pub fn subject(&self) -> &'a str {
        self.subject
    }

    /// The event type; `None` for a plain message.
    pub fn event_type(&self) -> Option<&'a str> {
        self.event_type
    }

    /// The envelope version (used only for events).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The caller-chosen `Nats-Msg-Id`; `None` means a fresh NUID on
    /// JetStream and no such header on core.
    pub fn msg_id(&self) -> Option<&'a str> {
        self.msg_id
    }

    /// The data to serialize.
    pub fn data(&self) -> &'a T {
        self.data
    }
}

/// A message being built: set options, then publish it with
/// [`core`](PublishBuilder::core) or, with the `jetstream` feature,
/// `send` / `send_async`.
///
/// Made by `event(…)` / `message(…)` on [`Publisher`](crate::Publisher),
/// [`PooledPublisher`](crate::PooledPublisher),
/// [`InMemoryPublisher`](crate::InMemoryPublisher) or any
/// [`EventPublisher`]. Borrowing only: building it allocates nothing.
#[must_use = "a message is published only by .core(), .send() or .send_async()"]
#[derive(Debug)]
pub struct PublishBuilder<'a, P, T: ?Sized> {
    publisher: &'a P,
    message: Outgoing<'a, T>,
}

impl<'a, P: EventPublisher, T: Serialize + ?Sized + Sync> PublishBuilder<'a, P, T> {
    /// A builder for `message` on `publisher`.
    pub fn new(publisher: &'a P, message: Outgoing<'a, T>) -> Self {
        PublishBuilder { publisher, message }
    }

    /// The envelope version (default 1). A plain
    /// [`message`](crate::Publisher::message) has no envelope, so no version.
    pub fn version(mut self, version: u32) -> Self {
        self.message.version = version;
        self
    }

    /// Sets the `Nats-Msg-Id` header (JetStream's de-duplication key)
    /// instead of a fresh NUID: publishing the same id twice within the
    /// stream's duplicate window stores the message once. Sent on core too,
    /// where a stream capturing the subject de-duplicates on it alike.
    pub fn msg_id(mut self, msg_id: &'a str) -> Self {
        self.message.msg_id = Some(msg_id);
        self
    }

    /// What will be published.
    pub fn outgoing(&self) -> Outgoing<'a, T> {
        self.message
    }

    /// Publishes on core NATS, fire and forget: buffered while
    /// disconnected (see [`BufferPolicy`](crate::BufferPolicy)); never
    /// blocks longer than the publish timeout (or the policy's wait).
    ///
    /// Returns the publisher's own future (no wrapper: this is the hot path).
    pub fn core(self) -> impl Future<Output = Result<CoreDelivery, PublishError>> + Send + 'a {
        self.publisher.send_core(self.message)
    }

    /// Publishes to JetStream and waits for the acknowledgement, retrying
    /// across disconnects with the same `Nats-Msg-Id` until the retry
    /// deadline.
    #[cfg(feature = "jetstream")]
    pub async fn send(self) -> Result<PublishAck, PublishError> {
        self.publisher.send_jetstream(self.message).await?.await
    }

    /// Sends to JetStream and returns once the message is handed to the
    /// client, with a [`PendingAck`] to await (pipelining). Waits, at most
    /// the publish timeout, for a slot when `window` acks are in flight.
    #[cfg(feature = "jetstream")]
    pub fn send_async(self) -> impl Future<Output = Result<PendingAck, PublishError>> + Send + 'a {
        self.publisher.send_jetstream(self.message)
    }
}

/// Gives a publisher type the inherent `event` and `message` methods (the
/// same as [`EventPublisher`]'s, callable without importing the trait).
macro_rules! inherent_publish_api {
    ($publisher:ty) => {
        impl $publisher {
            /// An event in the standard envelope on `subject`: finish with
            /// `.core()` (fire and forget) or, with the `jetstream` feature,
            /// `.send()` / `.send_async()` (acknowledged); see
            /// [`PublishBuilder`](crate::PublishBuilder).
            pub fn event<'a, T: serde::Serialize + ?Sized + Sync>(
                &'a self,
                subject: &'a str,
                event_type: &'a str,
                data: &'a T,
            ) -> crate::PublishBuilder<'a, $publisher, T> {
                crate::PublishBuilder::new(self, crate::Outgoing::event(subject, event_type, data))
            }

            /// `data` as plain JSON (no envelope) on `subject`, published
            /// like an event.
            pub fn message<'a, T: serde::Serialize + ?Sized + Sync>(
                &'a self,
                subject: &'a str,
                data: &'a T,
            ) -> crate::PublishBuilder<'a, $publisher, T> {
                crate::PublishBuilder::new(self, crate::Outgoing::message(subject, data))
            }
        }
    };
}
pub(crate) use inherent_publish_api;
