//! The publishing trait shared by the real [`Publisher`] and the test double.

use std::future::Future;

use serde::Serialize;

use crate::error::PublishError;
use crate::outcome::{CoreDelivery, PublishAck};
use crate::publisher::Publisher;

/// What a service's code needs from a publisher.
///
/// Write handlers against `P: EventPublisher` (or `&impl EventPublisher`)
/// so tests can pass an [`InMemoryPublisher`](crate::InMemoryPublisher)
/// and assert on what was published, with no server. The methods have the
/// same names and results as [`Publisher`]'s own.
///
/// The trait uses generic methods, so it is used through generics rather
/// than `dyn EventPublisher`.
pub trait EventPublisher: Send + Sync {
    /// The service name stamped on events (`meta.by`).
    fn service_name(&self) -> &str;

    /// An event in the standard envelope on core NATS (fire and forget).
    fn publish_event_core<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        event_type: &str,
        data: &T,
    ) -> impl Future<Output = Result<CoreDelivery, PublishError>> + Send;

    /// `data` as plain JSON on core NATS (fire and forget).
    fn publish_core<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        data: &T,
    ) -> impl Future<Output = Result<CoreDelivery, PublishError>> + Send;

    /// An event in the standard envelope on JetStream, acknowledged.
    ///
    /// On a [`Publisher`] built without the `jetstream` feature this fails
    /// with [`PublishError::JetStreamDisabled`].
    fn publish_event<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        event_type: &str,
        data: &T,
    ) -> impl Future<Output = Result<PublishAck, PublishError>> + Send;

    /// `data` as plain JSON on JetStream, acknowledged.
    fn publish_jetstream<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        data: &T,
    ) -> impl Future<Output = Result<PublishAck, PublishError>> + Send;
}

impl EventPublisher for Publisher {
    fn service_name(&self) -> &str {
        Publisher::service_name(self)
    }

    async fn publish_event_core<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        event_type: &str,
        data: &T,
    ) -> Result<CoreDelivery, PublishError> {
        Publisher::publish_event_core(self, subject, event_type, data).await
    }

    async fn publish_core<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        data: &T,
    ) -> Result<CoreDelivery, PublishError> {
        Publisher::publish_core(self, subject, data).await
    }

    #[cfg(feature = "jetstream")]
    async fn publish_event<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        event_type: &str,
        data: &T,
    ) -> Result<PublishAck, PublishError> {
        Publisher::publish_event(self, subject, event_type, data).await
    }

    #[cfg(feature = "jetstream")]
    async fn publish_jetstream<T: Serialize + ?Sized + Sync>(
        &self,
        subject: &str,
        data: &T,
    ) -> Result<PublishAck, PublishError> {
        Publisher::publish_jetstream(self, subject, data).await
    }

    #[cfg(not(feature = "jetstream"))]
    async fn publish_event<T: Serialize + ?Sized + Sync>(
        &self,
        _subject: &str,
        _event_type: &str,
        _data: &T,
    ) -> Result<PublishAck, PublishError> {
        Err(PublishError::JetStreamDisabled)
    }

    #[cfg(not(feature = "jetstream"))]
    async fn publish_jetstream<T: Serialize + ?Sized + Sync>(
        &self,
        _subject: &str,
        _data: &T,
    ) -> Result<PublishAck, PublishError> {
        Err(PublishError::JetStreamDisabled)
    }
}
