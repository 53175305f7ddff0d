//! What the decision tests share: made-up instants, a policy spec from YAML, container
//! snapshots in each state, and one reconcile step of a container or of a site.

#![allow(dead_code)] // each test binary uses its own part of it

use std::collections::BTreeMap;
use std::time::Duration;

use hale_core::{ContainerSnapshot, ContainerStatus, HealEventKind, HealthStatus, Timestamp};
use hale_policy::{Action, HealPolicySpec};
use hale_reconciler::{
    ActionResult, Decision, PolicyContext, ProbeTrack, TargetState, assess, assess_policy_target,
    decide, finish_action,
};

pub const T0: Timestamp = Timestamp(1_800_000_000_000);

pub fn at(seconds: u64) -> Timestamp {
    T0.plus(Duration::from_secs(seconds))
}

/// A policy spec from the YAML of its `spec`, indented by two spaces.
pub fn spec(body: &str) -> HealPolicySpec {
    let text = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n{body}"
    );
    let report = hale_policy::load_str("test.yaml", &text);
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report.set.policies[0].resource.spec.clone()
}

pub fn running() -> ContainerSnapshot {
    ContainerSnapshot {
        labels: BTreeMap::from([("app".into(), "web".into())]),
        health: Some(HealthStatus::Healthy),
        started_at: Some(T0),
        health_since: Some(T0),
        ..ContainerSnapshot::new("0123456789abcdef", "web-1", ContainerStatus::Running)
    }
}

pub fn unhealthy_since(seconds: u64) -> ContainerSnapshot {
    ContainerSnapshot {
        health: Some(HealthStatus::Unhealthy),
        health_since: Some(at(seconds)),
        ..running()
    }
}

/// Unhealthy since exactly `now`: fresh evidence, as after each restart of a container
/// that keeps failing.
pub fn failing_at(now: Timestamp) -> ContainerSnapshot {
    ContainerSnapshot {
        health: Some(HealthStatus::Unhealthy),
        health_since: Some(now),
        ..running()
    }
}

/// Started again at `started` (hale's restart) and reported healthy by Docker at `healthy`:
/// the fresh evidence a recovery needs.
pub fn healthy_after_restart(started: u64, healthy: u64) -> ContainerSnapshot {
    ContainerSnapshot {
        started_at: Some(at(started)),
        health_since: Some(at(healthy)),
        health_checked_at: Some(at(healthy)),
        ..running()
    }
}

pub fn exited(code: i64, seconds: u64) -> ContainerSnapshot {
    ContainerSnapshot {
        status: ContainerStatus::Exited,
        health: None,
        exit_code: code,
        exit_seen: true,
        finished_at: Some(at(seconds)),
        ..running()
    }
}

/// Runs one reconcile of `container` at `now` and returns the decision.
pub fn step(
    spec: &HealPolicySpec,
    container: &ContainerSnapshot,
    state: &mut TargetState,
    now: Timestamp,
) -> Decision {
    step_with(spec, container, state, now, false, false)
}

pub fn step_with(
    spec: &HealPolicySpec,
    container: &ContainerSnapshot,
    state: &mut TargetState,
    now: Timestamp,
    global_dry_run: bool,
    circuit_open: bool,
) -> Decision {
    reconcile_once(
        spec,
        container,
        &BTreeMap::new(),
        state,
        now,
        global_dry_run,
        circuit_open,
    )
}

/// One reconcile of `container` with periodic tallies `tracks`, as the reconciler runs it.
pub fn step_tracked(
    spec: &HealPolicySpec,
    container: &ContainerSnapshot,
    tracks: &BTreeMap<String, ProbeTrack>,
    state: &mut TargetState,
    now: Timestamp,
) -> Decision {
    reconcile_once(spec, container, tracks, state, now, false, false)
}

/// One reconcile of `container`: assessed with `tracks` and the verification of the
/// ladder that `global_dry_run` (or the policy's mode) moves, then decided.
fn reconcile_once(
    spec: &HealPolicySpec,
    container: &ContainerSnapshot,
    tracks: &BTreeMap<String, ProbeTrack>,
    state: &mut TargetState,
    now: Timestamp,
    global_dry_run: bool,
    circuit_open: bool,
) -> Decision {
    let context = PolicyContext {
        name: "web",
        spec,
        global_dry_run,
        circuit_open,
    };
    let dry_run = global_dry_run || spec.mode == hale_policy::Mode::DryRun;
    let verify = state
        .ladder_for(dry_run)
        .verification(spec.remediation.stable_period.as_std());
    let assessment = assess(spec, container, tracks, verify.as_ref(), now);
    decide(context, container, &assessment, state, now)
}

pub fn succeeded() -> ActionResult {
    ActionResult::Succeeded("ok".into())
}

pub fn failed() -> ActionResult {
    ActionResult::Failed("boom".into())
}

pub fn kinds(decision: &Decision) -> Vec<HealEventKind> {
    decision.events.iter().map(|e| e.kind).collect()
}

/// Decides, and if an action was chosen, reports it finished (as the executor would).
pub fn act(
    spec: &HealPolicySpec,
    container: &ContainerSnapshot,
    state: &mut TargetState,
    now: Timestamp,
) -> Option<Action> {
    let decision = step(spec, container, state, now);
    let action = decision.action.map(|a| a.action);
    if let Some(action) = action {
        finish_action(state, action, &succeeded(), now);
    }
    action
}

/// A policy spec with a site `shop` (a Coolify application) probed by `http`, the
/// selected containers judged by their health check, and the given remediation block
/// (indented by four spaces).
pub fn site_spec(remediation: &str) -> HealPolicySpec {
    spec(&format!(
        "  sites:\n  - name: shop\n    url: https://shop.example.com\n    coolify: {{applicationUuid: app-1, url: https://coolify.example.com}}\n  probes:\n  - name: http\n    siteRef: shop\n    httpGet: {{}}\n    failureThreshold: 2\n  - name: health\n    dockerHealth: {{}}\n    failureThreshold: 1\n  remediation:\n{remediation}"
    ))
}

/// The tallies of the site's `http` probe after `failures` failures in a row.
pub fn site_tracks(
    spec: &HealPolicySpec,
    failures: u32,
    since: Timestamp,
) -> BTreeMap<String, ProbeTrack> {
    failed_tracks(spec, failures, since, "HTTP 502")
}

/// The tallies of the spec's first probe after `failures` failures in a row, one a second
/// from `since`, each seeing `what`.
pub fn failed_tracks(
    spec: &HealPolicySpec,
    failures: u32,
    since: Timestamp,
    what: &str,
) -> BTreeMap<String, ProbeTrack> {
    let probe = &spec.probes[0];
    let mut track = ProbeTrack::default();
    for i in 0..failures {
        track.record(
            probe,
            false,
            since.plus(Duration::from_secs(u64::from(i))),
            what,
        );
    }
    BTreeMap::from([(probe.name.clone(), track)])
}

/// Runs one reconcile of the site `shop` with `failures` failed probes.
pub fn site_step(
    spec: &HealPolicySpec,
    failures: u32,
    state: &mut TargetState,
    now: Timestamp,
) -> Decision {
    let context = PolicyContext {
        name: "web",
        spec,
        global_dry_run: false,
        circuit_open: false,
    };
    let verify = state.verification(spec.remediation.stable_period.as_std());
    let assessment = assess_policy_target(
        spec,
        "site:shop",
        &site_tracks(spec, failures, T0),
        verify.as_ref(),
        now,
    );
    decide(context, &spec.sites[0], &assessment, state, now)
}
