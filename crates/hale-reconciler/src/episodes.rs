//! Trace spans of remediation episodes, kept across decisions and restarts of hale.

use std::collections::HashMap;

use hale_core::{HealEvent, HealEventKind, TargetRef};

/// The trace and span ids of `span`, when traces are exported.
fn trace_ids(span: &tracing::Span) -> Option<(String, String)> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

/// Marks `event` as part of the episode traced by `span`.
pub(crate) fn link(event: &mut HealEvent, span: Option<&tracing::Span>) {
    if let Some((trace, span)) = span.and_then(trace_ids) {
        event.trace_id = Some(trace);
        event.span_id = Some(span);
    }
}

/// Keeps the trace of a target's remediation episode: opened (a root span) when the target
/// starts failing, a child span per decision that recorded something, closed when the
/// target recovers, is quarantined or its policy goes. Returns the episode span, if any.
///
/// `stored` is the episode's trace and span ids as the target's persisted state keeps them:
/// after a restart of hale, an episode still in progress goes on in the same trace (its new
/// root span is a child of the old one).
pub(crate) fn trace_episode(
    episodes: &mut HashMap<(String, String), tracing::Span>,
    stored: &mut Option<(String, String)>,
    key: &(String, String),
    target: &TargetRef,
    decision: &crate::decide::Decision,
) -> Option<tracing::Span> {
    let begins = decision
        .events
        .iter()
        .any(|e| e.kind == HealEventKind::Failing);
    let resumes = stored.is_some() && !decision.events.is_empty();
    if (begins || resumes) && !episodes.contains_key(key) {
        let span = tracing::info_span!(
            parent: None,
            "hale.episode",
            otel.name = %format!("heal {}", target.name),
            hale.policy = %key.0,
            hale.target = %target.name,
            container.id = %target.id,
            container.name = %target.name,
        );
        if let Some((trace, parent)) = stored.as_ref().filter(|_| !begins) {
            hale_core::continue_trace(&span, trace, parent);
        }
        *stored = trace_ids(&span);
        episodes.insert(key.clone(), span);
    }
    let episode = episodes.get(key).cloned()?;
    if !decision.events.is_empty() {
        let kinds: Vec<&str> = decision.events.iter().map(|e| e.kind.as_str()).collect();
        let _decision = tracing::info_span!(
            parent: episode.id(),
            "hale.decision",
            hale.policy = %key.0,
            hale.target = %target.name,
            hale.decision = %kinds.join(","),
            hale.action = %decision.action.as_ref().map(|a| hale_core::action_name(a.action)).unwrap_or_default(),
        );
    }
    if decision.events.iter().any(|e| {
        matches!(
            e.kind,
            HealEventKind::Recovered | HealEventKind::Quarantined | HealEventKind::Skipped
        ) && (e.kind != HealEventKind::Skipped || e.reason.contains("the episode ends"))
    }) {
        episodes.remove(key);
        *stored = None;
    }
    Some(episode)
}
