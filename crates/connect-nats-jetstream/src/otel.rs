//! W3C trace context in consumers (cargo feature `otel`).
//!
//! With the feature on, [`consume`](crate::consume) runs every handler call
//! inside a `tracing` span named `connect_nats.consume` (level INFO) with the
//! fields `stream`, `consumer`, `subject`, `stream_sequence`, `delivered` and
//! `otel.kind = "consumer"`. When the message carries a valid W3C
//! `traceparent` header (written by `connect-nats-publisher` with its `otel`
//! feature, or by any OpenTelemetry-instrumented publisher), that span's
//! OpenTelemetry parent is the remote publishing span, with the `tracestate`
//! entries kept: the handler's work joins the publisher's trace. Without the
//! header the span starts a new trace. The parent is set through
//! `tracing-opentelemetry`, so the subscriber needs its `OpenTelemetryLayer`
//! for the span to reach an OpenTelemetry exporter.
//!
//! The headers are parsed here by hand (the format is fixed; invalid values
//! are ignored, as the W3C specification asks) rather than through
//! `opentelemetry_sdk`'s `TraceContextPropagator`, so the SDK is not a
//! dependency of every service.
//!
//! Without the feature no OpenTelemetry code is compiled: the handler future
//! is run as it is.

#[cfg(feature = "otel")]
pub use enabled::{extract_trace_context, HEADER_TRACEPARENT, HEADER_TRACESTATE};

#[cfg(feature = "otel")]
pub(crate) use enabled::instrument_handler;

#[cfg(not(feature = "otel"))]
pub(crate) use disabled::instrument_handler;

#[cfg(not(feature = "otel"))]
mod disabled {
    /// No-op: the handler future as it is.
    #[inline(always)]
    pub(crate) fn instrument_handler<F>(
        _message: &async_nats::jetstream::Message,
        handler: F,
    ) -> F {
        handler
    }
}

#[cfg(feature = "otel")]
mod enabled {
    use std::future::Future;
    use std::str::FromStr;

    use async_nats::HeaderMap;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    pub use connect_nats_core::envelope::{HEADER_TRACEPARENT, HEADER_TRACESTATE};

    /// The remote trace context in `headers` (W3C `traceparent` and
    /// `tracestate`), as an OpenTelemetry context to parent a span on; `None`
    /// when there is no `traceparent` or it is not valid.
    ///
    /// For messages read without [`consume`](crate::consume):
    /// `span.set_parent(cx)` (from `tracing_opentelemetry::OpenTelemetrySpanExt`).
    ///
    /// ```
    /// use async_nats::HeaderMap;
    /// use opentelemetry::trace::TraceContextExt;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// let cx = connect_nats_jetstream::otel::extract_trace_context(&headers).unwrap();
    /// let parent = cx.span().span_context().clone();
    /// assert_eq!(parent.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(parent.is_remote() && parent.is_sampled());
    /// ```
    pub fn extract_trace_context(headers: &HeaderMap) -> Option<opentelemetry::Context> {
        let span = remote_span_context(headers)?;
        Some(opentelemetry::Context::new().with_remote_span_context(span))
    }

    /// The remote span context in `headers`, when valid.
    fn remote_span_context(headers: &HeaderMap) -> Option<SpanContext> {
        let parent = headers.get(HEADER_TRACEPARENT)?;
        let (trace_id, span_id, flags) = parse_traceparent(parent.as_str())?;
        // Several `tracestate` headers form one list; an invalid one is dropped.
        let state = headers
            .get_all(HEADER_TRACESTATE)
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let state = TraceState::from_str(&state).unwrap_or_default();
        Some(SpanContext::new(trace_id, span_id, flags, true, state))
    }

    /// `version-traceid-spanid-flags`, lowercase hex; version `ff` and all-zero
    /// ids are invalid; version `00` has exactly these four fields, later
    /// versions may append more.
    fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
        let mut fields = value.trim().split('-');
        let version = fields.next()?;
        let trace = fields.next()?;
        let span = fields.next()?;
        let flags = fields.next()?;
        let well_formed = |field: &str, len: usize| {
            field.len() == len
                && field
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !well_formed(version, 2)
            || version == "ff"
            || (version == "00" && fields.next().is_some())
            || !well_formed(trace, 32)
            || !well_formed(span, 16)
            || !well_formed(flags, 2)
        {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(span).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return None;
        }
        Some((
            trace_id,
            span_id,
            TraceFlags::new(flags) & TraceFlags::SAMPLED,
        ))
    }

    /// The handler future of `message`, run in its `connect_nats.consume`
    /// span, child of the message's trace context when it has one.
    pub(crate) fn instrument_handler<F: Future>(
        message: &async_nats::jetstream::Message,
        handler: F,
    ) -> tracing::instrument::Instrumented<F> {
        let (stream, consumer, stream_sequence, delivered) = match message.info() {
            Ok(info) => (
                info.stream,
                info.consumer,
                info.stream_sequence,
                info.delivered,
            ),
            Err(_) => ("", "", 0, 0),
        };
        let span = tracing::info_span!(
            "connect_nats.consume",
            otel.kind = "consumer",
            stream,
            consumer,
            subject = %message.subject,
            stream_sequence,
            delivered,
        );
        if let Some(parent) = message.headers.as_ref().and_then(extract_trace_context) {
            // Fails only when the subscriber has no OpenTelemetry layer (or
            // the span is disabled): then there is no trace to join.
            let _ = span.set_parent(parent);
        }
        handler.instrument(span)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

        fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, *value);
            }
            headers
        }

        #[test]
        fn valid_traceparent_and_tracestate_become_a_remote_parent() {
            let h = headers(&[
                (HEADER_TRACEPARENT, VALID),
                (HEADER_TRACESTATE, "vendor=abc"),
                (HEADER_TRACESTATE, "other=x1"),
            ]);
            let cx = extract_trace_context(&h).expect("valid context");
            let span = cx.span().span_context().clone();
            assert_eq!(
                span.trace_id(),
                TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128)
            );
            assert_eq!(span.span_id(), SpanId::from(0xb7ad6b7169203331_u64));
            assert!(span.is_sampled());
            assert!(span.is_remote());
            assert_eq!(span.trace_state().header(), "vendor=abc,other=x1");
        }

        #[test]
        fn unsampled_flag_and_future_versions_are_understood() {
            let unsampled = VALID.replace("-01", "-00");
            let span = remote_span_context(&headers(&[(HEADER_TRACEPARENT, &unsampled)])).unwrap();
            assert!(!span.is_sampled());
            let future = format!("cc{}-extra", &VALID[2..]);
            assert!(remote_span_context(&headers(&[(HEADER_TRACEPARENT, &future)])).is_some());
        }

        #[test]
        fn invalid_traceparents_are_ignored() {
            for bad in [
                "",
                "garbage",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
                "00-+af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ] {
                assert!(
                    remote_span_context(&headers(&[(HEADER_TRACEPARENT, bad)])).is_none(),
                    "accepted {bad:?}"
                );
            }
            assert!(extract_trace_context(&HeaderMap::new()).is_none());
        }

        #[test]
        fn invalid_tracestate_is_dropped_but_the_parent_kept() {
            let h = headers(&[
                (HEADER_TRACEPARENT, VALID),
                (HEADER_TRACESTATE, "no equals sign"),
            ]);
            let span = remote_span_context(&h).unwrap();
            assert_eq!(span.trace_state().header(), "");
        }
    }
}
