//! Continuing a trace across a process boundary or a restart: the ids travel as hex (in
//! persisted state, in audit records), and a new span is made a child of the old one.

/// Makes `span` a child of the span `parent` of trace `trace` (hex ids, as an audit record
/// or a persisted episode carries them). Ids that do not parse leave `span` as it is.
pub fn continue_trace(span: &tracing::Span, trace: &str, parent: &str) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let (Ok(trace), Ok(parent)) = (TraceId::from_hex(trace), SpanId::from_hex(parent)) else {
        return;
    };
    let remote = SpanContext::new(
        trace,
        parent,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    // Without trace export there is no OpenTelemetry layer, or the span is filtered out:
    // nothing to join, and nothing wrong. A span already started keeps its own trace.
    if let Err(problem) =
        span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
    {
        tracing::trace!(%problem, "the span keeps its own trace");
    }
}
