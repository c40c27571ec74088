//! The publishing trait shared by [`Publisher`], [`PooledPublisher`] and
//! the test double.
//!
//! [`PooledPublisher`]: crate::PooledPublisher

use std::future::Future;

use serde::Serialize;

use crate::error::PublishError;
use crate::message::{Outgoing, PublishBuilder};
use crate::outcome::CoreDelivery;
use crate::publisher::Publisher;
#[cfg(feature = "jetstream")]
use crate::PendingAck;

/// What a service's code needs from a publisher.
///
/// Write handlers against `P: EventPublisher` (or `&impl EventPublisher`)
/// so tests can pass an [`InMemoryPublisher`](crate::InMemoryPublisher)
/// and assert on what was published, with no server. Callers use the
/// builder: `p.event(subject, event_type, &data).core().await`, or
/// `.send().await` for JetStream (feature `jetstream`).
///
/// Implementors provide [`send_core`](EventPublisher::send_core) and, with
/// the `jetstream` feature, `send_jetstream`; the builder calls them.
///
/// Not object safe: the methods are generic over the data type so it is
/// serialized straight from the caller's value, with no boxing or
/// intermediate JSON value per message. Use it through generics.
pub trait EventPublisher: Send + Sync {
    /// The service name stamped on events (`meta.by`).
    fn service_name(&self) -> &str;

    /// An event in the standard envelope, to publish with `.core()`,
    /// `.send()` or `.send_async()`.
    fn event<'a, T: Serialize + ?Sized + Sync>(
        &'a self,
        subject: &'a str,
        event_type: &'a str,
        data: &'a T,
    ) -> PublishBuilder<'a, Self, T>
    where
        Self: Sized,
    {
        PublishBuilder::new(self, Outgoing::event(subject, event_type, data))
    }

    /// `data` as plain JSON (no envelope), to publish like an event.
    fn message<'a, T: Serialize + ?Sized + Sync>(
        &'a self,
        subject: &'a str,
        data: &'a T,
    ) -> PublishBuilder<'a, Self, T>
    where
        Self: Sized,
    {
        PublishBuilder::new(self, Outgoing::message(subject, data))
    }

    /// Publishes `message` on core NATS (fire and forget); what
    /// [`PublishBuilder::core`] calls.
    fn send_core<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> impl Future<Output = Result<CoreDelivery, PublishError>> + Send;

    /// Sends `message` to JetStream and returns its pending
    /// acknowledgement; what `PublishBuilder::send` and `send_async` call.
    #[cfg(feature = "jetstream")]
    fn send_jetstream<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> impl Future<Output = Result<PendingAck, PublishError>> + Send;
}

impl EventPublisher for Publisher {
    fn service_name(&self) -> &str {
        Publisher::service_name(self)
    }

    fn send_core<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> impl Future<Output = Result<CoreDelivery, PublishError>> + Send {
        self.publish_core_message(message)
    }

    #[cfg(feature = "jetstream")]
    fn send_jetstream<T: Serialize + ?Sized + Sync>(
        &self,
        message: Outgoing<'_, T>,
    ) -> impl Future<Output = Result<PendingAck, PublishError>> + Send {
        self.publish_jetstream_message(message)
    }
}
