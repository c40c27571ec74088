//! The publisher: envelope, headers, validation, core publishing with the
//! disconnected buffer. JetStream sending lives in `jetstream/`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use connect_nats_core::{Connection, ConnectionState};
use serde::Serialize;

use crate::buffer::{BufferStats, CoreBuffer, Item};
use connect_nats_core::envelope::{
    now_millis, CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_EVENT_TYPE, HEADER_MSG_ID,
    HEADER_SERVICE,
};

use crate::error::PublishError;
use crate::hot_path;
use crate::message::{inherent_publish_api, Outgoing};
use crate::metrics::PublishMetrics;
use crate::options::{BufferLimits, BufferPolicy, PublisherOptions};
use crate::outcome::CoreDelivery;
use crate::template::{
    encode_plain, header_block_len, with_msg_id, HeaderTemplate, Templates, HEADER_LINE_EXTRA,
};

/// Publishes connect events: core (fire and forget, buffered while
/// disconnected) and, with the `jetstream` feature, acknowledged JetStream
/// publishes with pipelining and retries.
///
/// Cheap to clone; clones share the window, the buffer and its counters.
///
/// The [`HeaderPolicy`](crate::HeaderPolicy) decides the headers: with the
/// default `minimal`, JetStream messages carry only a unique `Nats-Msg-Id`
/// and core messages none; `full` adds `Connect-Service` (the service name),
/// `Content-Type: application/json` and `Connect-Event-Type` (for events).
#[derive(Clone)]
pub struct Publisher {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) connection: Connection,
    pub(crate) options: PublisherOptions,
    /// Envelope prefixes and header maps; shared by the members of a
    /// [`PooledPublisher`](crate::PooledPublisher), so a task publishing
    /// across the pool reuses one set.
    templates: Arc<Templates>,
    /// Bytes of the header lines every message carries (0 with `minimal`).
    base_header_len: usize,
    pub(crate) buffer: Arc<CoreBuffer>,
    /// Set by `close`: no new events are taken.
    pub(crate) closed: AtomicBool,
    /// Metric handles (no-ops without the `metrics` feature).
    pub(crate) metrics: PublishMetrics,
    #[cfg(feature = "jetstream")]
    pub(crate) js: crate::jetstream::JsState,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("options", &self.inner.options)
            .field("state", &self.inner.connection.state())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Publisher`] with non-default options.
#[derive(Debug)]
pub struct PublisherBuilder {
    connection: Connection,
    options: PublisherOptions,
}

impl PublisherBuilder {
    /// The service name (`meta.by`, `Connect-Service`); defaults to the
    /// config's client id.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.options.service_name = name.into();
        self
    }
    /// Which headers each message carries; defaults to the config's
    /// (`NATS_HEADERS`, `minimal` unless set).
    pub fn headers(mut self, policy: crate::HeaderPolicy) -> Self {
        self.options.headers = policy;
        self
    }
    /// Most JetStream acknowledgements in flight at once (at least 1).
    pub fn window(mut self, window: usize) -> Self {
        self.options.window = window.max(1);
        self
    }
    /// Longest time a publish call blocks handing the event over.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.options.publish_timeout = timeout;
        self
    }
    /// Wait for one JetStream acknowledgement before sending again.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.options.ack_timeout = timeout;
        self
    }
    /// Time after which a JetStream publish stops retrying.
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.options.retry_deadline = deadline;
        self
    }
    /// Disconnected-buffer limits.
    pub fn buffer_limits(mut self, limits: BufferLimits) -> Self {
        self.options.buffer_limits = limits;
        self
    }
    /// What a core publish does when the disconnected buffer is full.
    pub fn buffer_policy(mut self, policy: BufferPolicy) -> Self {
        self.options.buffer_policy = policy;
        self
    }
    /// Replaces all options at once.
    pub fn options(mut self, options: PublisherOptions) -> Self {
        self.options = options;
        self
    }
    /// Builds the publisher. Needs no server and no runtime; background work
    /// (flushing, JetStream acks) starts on first use.
    pub fn build(self) -> Publisher {
        let templates = Arc::new(Templates::new(
            &self.options.service_name,
            self.options.headers,
        ));
        Publisher::from_parts(self.connection, self.options, templates)
    }
}

inherent_publish_api!(Publisher);

impl Publisher {
    /// A publisher with default options, publishing as `service_name`.
    pub fn new(connection: Connection, service_name: impl Into<String>) -> Publisher {
        Publisher::builder(connection)
            .service_name(service_name)
            .build()
    }

    /// A builder; the service name defaults to the config's client id and
    /// the header policy to the config's.
    pub fn builder(connection: Connection) -> PublisherBuilder {
        let options = PublisherOptions {
            service_name: connection.config().client_id().to_owned(),
            headers: connection.config().headers(),
            ..PublisherOptions::default()
        };
        PublisherBuilder {
            connection,
            options,
        }
    }

    /// A publisher using `templates`, which must have been built for
    /// `options`' service name and header policy.
    pub(crate) fn from_parts(
        connection: Connection,
        mut options: PublisherOptions,
        templates: Arc<Templates>,
    ) -> Publisher {
        options.window = options.window.max(1);
        let base_header_len = if options.headers.is_full() {
            HEADER_CONTENT_TYPE.len()
                + CONTENT_TYPE_JSON.len()
                + HEADER_LINE_EXTRA
                + HEADER_SERVICE.len()
                + templates.service_header().as_str().len()
                + HEADER_LINE_EXTRA
        } else {
            0
        };
        let metrics = PublishMetrics::new(connection.config().client_id());
        let buffer = Arc::new(CoreBuffer::new(
            options.buffer_limits,
            options.buffer_policy,
            options.publish_timeout,
            metrics.clone(),
        ));
        let inner = Arc::new(Inner {
            #[cfg(feature = "jetstream")]
            js: crate::jetstream::JsState::new(&options),
            connection,
            templates,
            base_header_len,
            buffer,
            closed: AtomicBool::new(false),
            options,
            metrics,
        });
        let drain: std::sync::Weak<Inner> = Arc::downgrade(&inner);
        inner.connection.register_drain(drain);
        Publisher { inner }
    }

    /// The options in force.
    pub fn options(&self) -> &PublisherOptions {
        &self.inner.options
    }

    /// The service name stamped on every event.
    pub fn service_name(&self) -> &str {
        &self.inner.options.service_name
    }

    /// The connection it publishes on.
    pub fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    /// Counters and current fill of the disconnected buffer.
    pub fn buffer_stats(&self) -> BufferStats {
        self.inner.buffer.stats()
    }

    // ---- the publish API ----------------------------------------------------------------------

    /// Core publish of one message (what `.core()` runs).
    pub(crate) async fn publish_core_message<T: Serialize + ?Sized>(
        &self,
        message: Outgoing<'_, T>,
    ) -> Result<CoreDelivery, PublishError> {
        self.check_open()?;
        let subject = hot_path::subject(message.subject())?;
        let (template, payload) = self.parts(&message)?;
        let header_len =
            self.header_len(message.event_type(), message.msg_id().map_or(0, str::len));
        let headers = match message.msg_id() {
            None => template.headers.clone(),
            Some(id) => with_msg_id(&template.headers, id)?,
        };
        let result = self
            .send_core_frame(subject, headers, header_len, payload)
            .await;
        self.inner.metrics.core(result)
    }

    async fn send_core_frame(
        &self,
        subject: Subject,
        headers: HeaderMap,
        header_len: usize,
        payload: Bytes,
    ) -> Result<CoreDelivery, PublishError> {
        let inner = &*self.inner;
        let (headers, header_len) = crate::otel::with_trace_context(headers, header_len);
        self.check_size(header_len, payload.len())?;
        if !inner.buffer.is_active() {
            match inner.connection.state() {
                ConnectionState::Connected => {
                    let timeout = inner.options.publish_timeout;
                    return match hot_path::timeout(
                        timeout,
                        inner
                            .connection
                            .client()
                            .publish_with_headers(subject, headers, payload),
                    )
                    .await
                    {
                        Ok(Ok(())) => Ok(CoreDelivery::Sent),
                        Ok(Err(e)) => Err(PublishError::Send(e.to_string())),
                        Err(_) => Err(PublishError::Timeout {
                            after: timeout,
                            during: "handing the event to the NATS client (its queue is full; the connection is probably down)",
                        }),
                    };
                }
                ConnectionState::Closed => return Err(PublishError::Closed),
                _ => {}
            }
        }
        let size = subject.len() + header_len + payload.len();
        let item = Item {
            subject,
            headers,
            // Own copy: a buffered payload must not pin its encode slab.
            payload: Bytes::copy_from_slice(&payload),
            size,
        };
        inner.buffer.push(&inner.connection, item).await
    }

    // ---- shared helpers ----------------------------------------------------------------------

    /// Headers and payload of a message: the envelope for an event, plain
    /// JSON otherwise.
    pub(crate) fn parts<T: Serialize + ?Sized>(
        &self,
        message: &Outgoing<'_, T>,
    ) -> Result<(Arc<HeaderTemplate>, Bytes), PublishError> {
        match message.event_type() {
            Some(event_type) => self.inner.templates.event(
                event_type,
                message.version(),
                message.data(),
                now_millis(),
            ),
            None => Ok((self.inner.templates.plain(), encode_plain(message.data())?)),
        }
    }

    /// Wire length of the policy's headers, with the event type (if any,
    /// `full` only) and a `Nats-Msg-Id` of `msg_id_len` bytes (if not 0);
    /// 0 when the message carries no header.
    pub(crate) fn header_len(&self, event_type: Option<&str>, msg_id_len: usize) -> usize {
        let mut lines = self.inner.base_header_len;
        if let Some(t) = event_type.filter(|_| self.inner.templates.policy().is_full()) {
            lines += HEADER_EVENT_TYPE.len() + t.len() + HEADER_LINE_EXTRA;
        }
        if msg_id_len > 0 {
            lines += HEADER_MSG_ID.len() + msg_id_len + HEADER_LINE_EXTRA;
        }
        header_block_len(lines)
    }

    /// Refuses events once the publisher is closed.
    #[inline]
    pub(crate) fn check_open(&self) -> Result<(), PublishError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(PublishError::PublisherClosed);
        }
        Ok(())
    }

    /// Refuses messages over the server's max_payload.
    pub(crate) fn check_size(
        &self,
        header_len: usize,
        payload_len: usize,
    ) -> Result<(), PublishError> {
        let max_payload = self.inner.connection.client().max_payload();
        let size = header_len + payload_len;
        if size > max_payload {
            return Err(PublishError::PayloadTooLarge { size, max_payload });
        }
        Ok(())
    }
}
