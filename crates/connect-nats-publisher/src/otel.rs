//! W3C trace context on published messages (cargo feature `otel`).
//!
//! With the feature on, every publish — core and JetStream, events and plain
//! JSON, whatever the [`HeaderPolicy`](crate::HeaderPolicy) — reads the OpenTelemetry span context of the current `tracing` span
//! (through `tracing-opentelemetry`; when that span has none, the
//! OpenTelemetry context current on this thread) and, when it holds a valid
//! span, adds two headers:
//!
//! | header | value |
//! |---|---|
//! | `traceparent` (`HEADER_TRACEPARENT`) | `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` |
//! | `tracestate` (`HEADER_TRACESTATE`) | the span's vendor entries, only when there are any |
//!
//! The context is taken when the publish is called: a JetStream publish
//! re-sent after a reconnect carries the same `traceparent` as its first
//! attempt. With no span (or no OpenTelemetry layer in the subscriber) the
//! headers are left out and a publish costs what it did without the feature.
//! `connect-nats-jetstream`'s consumer (its own `otel` feature, turned on by
//! this one) reads them back and runs the handler in a child span.
//!
//! The `traceparent` is written here by hand (it is a fixed 55-character
//! format) rather than through `opentelemetry_sdk`'s `TraceContextPropagator`:
//! the SDK would be a dependency of every service only for that string, and
//! the message always carries W3C trace context, whatever global propagator
//! the application installed (or none).
//!
//! Without the feature no OpenTelemetry code is compiled: the hooks below are
//! empty inline functions.

#[cfg(feature = "otel")]
pub use enabled::{inject_trace_context, traceparent, HEADER_TRACEPARENT, HEADER_TRACESTATE};

#[cfg(feature = "otel")]
pub(crate) use enabled::with_trace_context;
#[cfg(all(feature = "otel", feature = "jetstream"))]
pub(crate) use enabled::with_trace_context_template;

#[cfg(not(feature = "otel"))]
pub(crate) use disabled::with_trace_context;
#[cfg(all(not(feature = "otel"), feature = "jetstream"))]
pub(crate) use disabled::with_trace_context_template;

#[cfg(feature = "otel")]
mod enabled {
    use std::str::FromStr;

    use async_nats::{HeaderMap, HeaderName, HeaderValue};
    use opentelemetry::trace::{SpanContext, TraceContextExt};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    pub use connect_nats_core::envelope::{HEADER_TRACEPARENT, HEADER_TRACESTATE};

    use crate::template::HEADER_LINE_EXTRA;

    const NAME_TRACEPARENT: HeaderName = HeaderName::from_static(HEADER_TRACEPARENT);
    const NAME_TRACESTATE: HeaderName = HeaderName::from_static(HEADER_TRACESTATE);

    /// The W3C `traceparent` of a span context: `00-<trace id>-<span id>-<flags>`.
    ///
    /// ```
    /// use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    ///
    /// let span = SpanContext::new(
    ///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
    ///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
    ///     TraceFlags::SAMPLED,
    ///     false,
    ///     TraceState::default(),
    /// );
    /// assert_eq!(
    ///     connect_nats_publisher::otel::traceparent(&span),
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    /// );
    /// ```
    pub fn traceparent(span: &SpanContext) -> String {
        format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8()
        )
    }

    /// Adds the current span's `traceparent` (and `tracestate`, when not
    /// empty) to `headers`, replacing any already there; for messages sent
    /// with the raw client. Returns `false`, leaving `headers` alone, when
    /// there is no valid span context to propagate.
    pub fn inject_trace_context(headers: &mut HeaderMap) -> bool {
        match current_span_context() {
            Some(span) => {
                inject(&span, headers);
                true
            }
            None => false,
        }
    }

    /// The span context to propagate: the current `tracing` span's, else the
    /// OpenTelemetry context current on this thread.
    fn current_span_context() -> Option<SpanContext> {
        let span = tracing::Span::current();
        if !span.is_none() {
            let cx = span.context();
            let context = cx.span().span_context().clone();
            if context.is_valid() {
                return Some(context);
            }
        }
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| context.clone())
    }

    /// Writes the headers; returns how many bytes they add on the wire.
    /// (Both values are always valid header values: hex digits and dashes,
    /// and `TraceState`'s validated printable entries; `from_str` keeps an
    /// impossible bad one from ever panicking.)
    fn inject(span: &SpanContext, headers: &mut HeaderMap) -> usize {
        let parent = traceparent(span);
        let Ok(value) = HeaderValue::from_str(&parent) else {
            return 0;
        };
        let mut added = HEADER_TRACEPARENT.len() + parent.len() + HEADER_LINE_EXTRA;
        headers.insert(NAME_TRACEPARENT, value);
        let state = span.trace_state().header();
        if !state.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&state) {
                added += HEADER_TRACESTATE.len() + state.len() + HEADER_LINE_EXTRA;
                headers.insert(NAME_TRACESTATE, value);
            }
        }
        added
    }

    /// The wire length of a header block of `len` bytes after `added` bytes
    /// of header lines (a block that was empty gains its frame too).
    fn grown(len: usize, added: usize) -> usize {
        if len == 0 {
            crate::template::header_block_len(added)
        } else {
            len + added
        }
    }

    /// `headers` with the current trace context, and their wire length.
    #[inline]
    pub(crate) fn with_trace_context(
        mut headers: HeaderMap,
        header_len: usize,
    ) -> (HeaderMap, usize) {
        match current_span_context() {
            Some(span) => {
                let added = inject(&span, &mut headers);
                (headers, grown(header_len, added))
            }
            None => (headers, header_len),
        }
    }

    /// The template with the current trace context added to its headers (a
    /// copy, so retries of this publish re-send the same context), and the
    /// headers' wire length.
    #[cfg(feature = "jetstream")]
    #[inline]
    pub(crate) fn with_trace_context_template(
        template: std::sync::Arc<crate::template::HeaderTemplate>,
        header_len: usize,
    ) -> (std::sync::Arc<crate::template::HeaderTemplate>, usize) {
        match current_span_context() {
            Some(span) => {
                let mut headers = template.headers.clone();
                let added = inject(&span, &mut headers);
                (
                    std::sync::Arc::new(template.with_headers(headers)),
                    grown(header_len, added),
                )
            }
            None => (template, header_len),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

        fn span(flags: TraceFlags, state: TraceState) -> SpanContext {
            SpanContext::new(
                TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128),
                SpanId::from(0xb7ad6b7169203331_u64),
                flags,
                false,
                state,
            )
        }

        #[test]
        fn traceparent_is_the_w3c_format() {
            let value = traceparent(&span(TraceFlags::SAMPLED, TraceState::default()));
            assert_eq!(
                value,
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            );
            assert_eq!(value.len(), 55);
            let unsampled = traceparent(&span(TraceFlags::NOT_SAMPLED, TraceState::default()));
            assert!(unsampled.ends_with("-00"), "{unsampled}");
        }

        #[test]
        fn inject_writes_both_headers_and_counts_their_bytes() {
            let state = TraceState::from_key_value([("vendor", "abc"), ("other", "x1")]).unwrap();
            let mut headers = HeaderMap::new();
            let added = inject(&span(TraceFlags::SAMPLED, state), &mut headers);
            assert_eq!(
                headers.get(HEADER_TRACEPARENT).map(|v| v.as_str()),
                Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            );
            assert_eq!(
                headers.get(HEADER_TRACESTATE).map(|v| v.as_str()),
                Some("vendor=abc,other=x1")
            );
            let expected = "traceparent".len() + 55 + 4 + "tracestate".len() + 19 + 4;
            assert_eq!(added, expected);
        }

        #[test]
        fn empty_tracestate_is_left_out() {
            let mut headers = HeaderMap::new();
            let added = inject(
                &span(TraceFlags::SAMPLED, TraceState::default()),
                &mut headers,
            );
            assert!(headers.get(HEADER_TRACESTATE).is_none());
            assert_eq!(added, "traceparent".len() + 55 + 4);
        }

        #[test]
        fn nothing_is_injected_without_a_span() {
            let mut headers = HeaderMap::new();
            assert!(!inject_trace_context(&mut headers));
            assert!(headers.is_empty());
            let (headers, len) = with_trace_context(HeaderMap::new(), 42);
            assert!(headers.is_empty());
            assert_eq!(len, 42);
        }
    }
}

#[cfg(not(feature = "otel"))]
mod disabled {
    use async_nats::HeaderMap;

    /// No-op: the headers unchanged.
    #[inline(always)]
    pub(crate) fn with_trace_context(headers: HeaderMap, header_len: usize) -> (HeaderMap, usize) {
        (headers, header_len)
    }

    /// No-op: the template unchanged.
    #[cfg(feature = "jetstream")]
    #[inline(always)]
    pub(crate) fn with_trace_context_template(
        template: std::sync::Arc<crate::template::HeaderTemplate>,
        header_len: usize,
    ) -> (std::sync::Arc<crate::template::HeaderTemplate>, usize) {
        (template, header_len)
    }
}
