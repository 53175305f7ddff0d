//! Periodic probe outcomes folded into each target's tallies.

use hale_core::{HealEvent, HealEventKind};

use crate::controls::policy_of;
use crate::persist::target_ref;
use crate::state::ReconcilerState;

/// Counts a probe outcome for its target; true when the target's tally changed state.
/// Records a `degraded` event when a site starts answering 4xx.
pub(crate) fn record_probe(state: &mut ReconcilerState, outcome: &hale_core::ProbeOutcome) -> bool {
    let Some(probe) = state
        .args
        .policies
        .iter()
        .find(|p| p.metadata.name == outcome.policy)
        .and_then(|p| {
            p.spec
                .probes
                .iter()
                .find(|probe| probe.name == outcome.probe)
        })
    else {
        return false;
    };
    let target_name = if hale_core::is_policy_target(&outcome.target_id) {
        // A late outcome of a site or disk probe the policy no longer has.
        if !policy_of(state, &outcome.policy)
            .is_some_and(|p| hale_core::policy_has_target(&p.spec, &outcome.target_id))
        {
            return false;
        }
        outcome.target_id.clone()
    } else {
        let Some(container) = state.containers.get(&outcome.target_id) else {
            return false;
        };
        // Failures during the start period do not count (a pass does, as with Docker's own
        // start period: it is evidence that the container is up).
        if !outcome.success
            && let Some(started) = container.started_at
            && outcome.time < started.plus(probe.start_period.as_std())
        {
            return false;
        }
        container.name.clone()
    };
    let key = (outcome.policy.clone(), target_name);
    // A probe that started before hale's last action ended says nothing about the result.
    let verifying_since = state.targets.get(&key).and_then(|t| t.verifying_since);
    if verifying_since.is_some_and(|since| outcome.time < since) {
        return false;
    }
    let track = state
        .probe_tracks
        .entry(key.clone())
        .or_default()
        .entry(outcome.probe.clone())
        .or_default();
    let before = track.clone();
    track.record(probe, outcome.success, outcome.time, &outcome.reason);
    // Inside a remediation episode, each probe result is part of the story.
    if let Some(episode) = state.episodes.get(&key) {
        let _probe = tracing::info_span!(
            parent: episode.id(),
            "hale.probe",
            otel.name = %format!("probe {}", outcome.probe),
            hale.policy = %key.0,
            hale.target = %key.1,
            hale.probe = %outcome.probe,
            hale.probe.success = outcome.success,
            hale.probe.latency_ms = outcome.latency_ms,
            hale.probe.reason = %outcome.reason,
        );
    }
    track.degraded = outcome.degraded;
    track.degraded_reason = if outcome.degraded {
        format!("probe {} sees {}", outcome.probe, outcome.reason)
    } else {
        String::new()
    };
    if track.degraded && !before.degraded {
        let target = target_ref(&state.containers, &key.1);
        state.effects.record(HealEvent::new(
                outcome.time,
                HealEventKind::Degraded,
                &key.0,
                Some(&target),
                format!(
                    "probe {} sees {}: the site answers but refuses the request; recorded, not acted on (add a condition such as \"[STATUS] < 400\" to treat it as a failure)",
                    outcome.probe, outcome.reason
                ),
            ),
        );
    }
    let turned = before.failing_since != track.failing_since
        || (before.consecutive_failures == 0) != (track.consecutive_failures == 0);
    // The pass that completes `successThreshold` may be the evidence a verification waits for.
    let proven =
        track.consecutive_successes == probe.success_threshold && verifying_since.is_some();
    // With a failure window, its failures are what a restarted hale must not forget.
    let window_changed = before.recent_failures != track.recent_failures;
    if (turned || window_changed)
        && let Some(target) = state.targets.get_mut(&key)
    {
        // A confirmed failure (or its end) is state worth keeping across a restart of hale.
        target.tracks = state.probe_tracks.get(&key).cloned().unwrap_or_default();
        state.effects.persist(&key, target);
    }
    turned || proven
}
