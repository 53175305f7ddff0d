//! Evidence before claims, in virtual time: after hale acts, a target is recovered only on
//! evidence newer than the action, escalates only on a failure seen since, and a crash loop
//! under the shipped policy gets CrashLoopBackOff's pace.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{at, kinds, spec, step_tracked as step};
use hale_core::{ContainerSnapshot, ContainerStatus, HealEventKind, HealthStatus};
use hale_policy::{Action, HealPolicySpec};
use hale_reconciler::{
    ActionResult, Assessment, CircuitReading, Decision, ProbeTrack, TargetState, assess,
    counts_as_failing, finish_action,
};

/// The shipped default policy, as `policies/autoheal.yaml` has it.
fn shipped() -> HealPolicySpec {
    let report = hale_policy::load_paths(&[concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies")]);
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report.set.policies[0].resource.spec.clone()
}

/// A running container (no health check) started at `started`.
fn up_since(started: u64) -> ContainerSnapshot {
    ContainerSnapshot {
        started_at: Some(at(started)),
        ..ContainerSnapshot::new("0123456789abcdef", "web-1", ContainerStatus::Running)
    }
}

/// The same container, crashed at `finished` with exit code 1 (hale saw the `die`).
fn crashed_at(started: u64, finished: u64) -> ContainerSnapshot {
    ContainerSnapshot {
        status: ContainerStatus::Exited,
        exit_code: 1,
        exit_seen: true,
        finished_at: Some(at(finished)),
        ..up_since(started)
    }
}

fn no_tracks() -> BTreeMap<String, ProbeTrack> {
    BTreeMap::new()
}

#[test]
fn a_container_whose_exec_probe_never_passes_is_never_called_recovered() {
    let spec = spec(
        "  probes:\n    - {name: ok, exec: {command: [test, -f, /tmp/ok]}, period: 2s, timeout: 1s, failureThreshold: 1}\n  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 5s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let probe = &spec.probes[0];
    let mut failing = ProbeTrack::default();
    failing.record(probe, false, at(0), "exit code 1");
    let tracks = BTreeMap::from([("ok".to_owned(), failing)]);
    let mut state = TargetState::default();
    let first = step(&spec, &up_since(0), &tracks, &mut state, at(0));
    assert_eq!(first.action.map(|a| a.action), Some(Action::Restart));
    finish_action(
        &mut state,
        Action::Restart,
        &ActionResult::Succeeded("ok".into()),
        at(1),
    );
    // Restarted, running, its tally forgotten (as the kubelet's): no probe has run yet.
    for second in [1, 2, 3] {
        let decision = step(&spec, &up_since(1), &no_tracks(), &mut state, at(second));
        assert!(kinds(&decision).is_empty(), "{:?}", decision.events);
    }
    let verify = state.verification(Duration::from_secs(10));
    assert_eq!(
        assess(&spec, &up_since(1), &no_tracks(), verify.as_ref(), at(3)),
        Assessment::Verifying { recheck_at: None }
    );
    // The probe runs and fails again: a fresh failure, not a recovery.
    let mut again = ProbeTrack::default();
    again.record(probe, false, at(3), "exit code 1");
    let tracks = BTreeMap::from([("ok".to_owned(), again)]);
    let retry = step(&spec, &up_since(1), &tracks, &mut state, at(3));
    assert!(!kinds(&retry).contains(&HealEventKind::Recovered));
    assert_eq!(retry.action.map(|a| a.action), Some(Action::Restart));
}

#[test]
fn a_probe_passing_success_threshold_times_after_the_restart_is_a_recovery() {
    let spec = spec(
        "  probes:\n    - {name: ok, exec: {command: [\"true\"]}, period: 2s, timeout: 1s, failureThreshold: 1, successThreshold: 2}\n  remediation:\n    steps: [{action: restart, timeout: 5s}]\n",
    );
    let probe = &spec.probes[0];
    let mut failing = ProbeTrack::default();
    failing.record(probe, false, at(0), "exit code 1");
    let mut state = TargetState::default();
    let tracks = BTreeMap::from([("ok".to_owned(), failing)]);
    assert!(
        step(&spec, &up_since(0), &tracks, &mut state, at(0))
            .action
            .is_some()
    );
    finish_action(
        &mut state,
        Action::Restart,
        &ActionResult::Succeeded("ok".into()),
        at(1),
    );
    let mut passing = ProbeTrack::default();
    passing.record(probe, true, at(3), "");
    let one = BTreeMap::from([("ok".to_owned(), passing.clone())]);
    assert!(kinds(&step(&spec, &up_since(1), &one, &mut state, at(3))).is_empty());
    passing.record(probe, true, at(5), "");
    let two = BTreeMap::from([("ok".to_owned(), passing)]);
    let recovered = step(&spec, &up_since(1), &two, &mut state, at(5));
    assert_eq!(kinds(&recovered), [HealEventKind::Recovered]);
}

#[test]
fn an_exit_probe_container_is_recovered_only_after_running_the_stable_period() {
    let spec = spec("  remediation:\n    stablePeriod: 10s\n");
    let mut state = TargetState::default();
    let first = step(&spec, &crashed_at(0, 2), &no_tracks(), &mut state, at(2));
    assert_eq!(first.action.map(|a| a.action), Some(Action::Restart));
    finish_action(
        &mut state,
        Action::Restart,
        &ActionResult::Succeeded("ok".into()),
        at(3),
    );
    // Up for 1-2 s after the restart: not recovered yet, and hale knows when to look.
    let early = step(&spec, &up_since(3), &no_tracks(), &mut state, at(5));
    assert!(kinds(&early).is_empty());
    assert_eq!(early.wake_at, Some(at(13)));
    let recovered = step(&spec, &up_since(3), &no_tracks(), &mut state, at(13));
    assert_eq!(kinds(&recovered), [HealEventKind::Recovered]);
}

#[test]
fn a_flapping_container_under_the_shipped_policy_gets_crash_loop_backoff_then_quarantine() {
    let spec = shipped();
    let mut state = TargetState::default();
    let mut restarts = Vec::new();
    let mut now = 0;
    let mut started = 0;
    // The container's health check fails 2 s after every start (Docker says unhealthy, and
    // hale's re-inspects see the failing checks go on); hale is consulted every second.
    while now < 1_000 && state.quarantine.is_none() {
        let container = if now >= started + 2 {
            ContainerSnapshot {
                health: Some(HealthStatus::Unhealthy),
                health_since: Some(at(started + 2)),
                health_checked_at: Some(at(now)),
                ..up_since(started)
            }
        } else {
            ContainerSnapshot {
                health: Some(HealthStatus::Starting),
                ..up_since(started)
            }
        };
        let decision = step(&spec, &container, &no_tracks(), &mut state, at(now));
        if let Some(planned) = decision.action {
            restarts.push(now);
            finish_action(
                &mut state,
                planned.action,
                &ActionResult::Succeeded("restarted".into()),
                at(now),
            );
            started = now;
        }
        now += 1;
    }
    let gaps: Vec<u64> = restarts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, [10, 20, 40, 80], "restarts at {restarts:?}");
    let quarantined = state.quarantine.as_ref().expect("quarantined").since;
    assert_eq!(
        quarantined.since(at(*restarts.last().unwrap())),
        Duration::from_secs(160)
    );
}

#[test]
fn an_operators_stop_after_hales_restart_ends_the_episode() {
    let spec = spec("");
    let mut state = TargetState::default();
    assert!(
        step(&spec, &crashed_at(0, 2), &no_tracks(), &mut state, at(2))
            .action
            .is_some()
    );
    finish_action(
        &mut state,
        Action::Restart,
        &ActionResult::Succeeded("ok".into()),
        at(3),
    );
    let stopped = ContainerSnapshot {
        stopped_by_operator: true,
        exit_code: 143,
        ..crashed_at(3, 5)
    };
    let decision = step(&spec, &stopped, &no_tracks(), &mut state, at(5));
    assert_eq!(kinds(&decision), [HealEventKind::Skipped]);
    assert!(decision.events[0].reason.contains("stopped by an operator"));
    assert_eq!(state.verifying_since, None);
    assert_eq!(state.failing_since, None);
    // Left alone from then on.
    for second in 6..60 {
        assert_eq!(
            step(&spec, &stopped, &no_tracks(), &mut state, at(second)),
            Decision::default()
        );
    }
}

#[test]
fn an_action_the_operator_overrode_ends_the_episode_without_a_recovery() {
    let spec = spec("");
    let mut state = TargetState::default();
    assert!(
        step(&spec, &crashed_at(0, 2), &no_tracks(), &mut state, at(2))
            .action
            .is_some()
    );
    finish_action(
        &mut state,
        Action::Restart,
        &ActionResult::OperatorStopped("someone else stopped it".into()),
        at(4),
    );
    assert!(!state.in_flight);
    assert_eq!((state.verifying_since, state.failing_since), (None, None));
    assert!(!state.remediated);
}

#[test]
fn a_target_being_verified_counts_against_max_unhealthy() {
    let spec = spec("  remediation:\n    maxUnhealthy: 50%\n");
    let mut state = TargetState::default();
    assert!(
        step(&spec, &crashed_at(0, 2), &no_tracks(), &mut state, at(2))
            .action
            .is_some()
    );
    finish_action(
        &mut state,
        Action::Restart,
        &ActionResult::Succeeded("ok".into()),
        at(3),
    );
    let verify = state.verification(Duration::from_secs(10));
    let verifying = assess(&spec, &up_since(3), &no_tracks(), verify.as_ref(), at(4));
    assert!(counts_as_failing(&verifying), "{verifying:?}");
    // Three containers: the one being verified and a second failing one open the circuit,
    // so the second is not restarted too.
    let failing = assess(&spec, &crashed_at(0, 4), &no_tracks(), None, at(4));
    let healthy = assess(&spec, &up_since(0), &no_tracks(), None, at(4));
    let reading = CircuitReading::of(
        spec.remediation.max_unhealthy,
        [&verifying, &failing, &healthy],
    );
    assert!(reading.is_open(), "{reading:?}");
}

#[test]
fn docker_health_must_pass_after_the_restart_not_before() {
    let spec = spec("");
    let unhealthy = ContainerSnapshot {
        health: Some(HealthStatus::Unhealthy),
        health_since: Some(at(1)),
        health_checked_at: Some(at(1)),
        ..up_since(0)
    };
    let mut state = TargetState::default();
    assert!(
        step(&spec, &unhealthy, &no_tracks(), &mut state, at(1))
            .action
            .is_some()
    );
    finish_action(
        &mut state,
        Action::Restart,
        &ActionResult::Succeeded("ok".into()),
        at(2),
    );
    // A stale "healthy" from the old run (started at 0) is no evidence.
    let stale = ContainerSnapshot {
        health: Some(HealthStatus::Healthy),
        health_since: Some(at(0)),
        ..up_since(0)
    };
    assert!(kinds(&step(&spec, &stale, &no_tracks(), &mut state, at(3))).is_empty());
    let fresh = ContainerSnapshot {
        health: Some(HealthStatus::Healthy),
        health_since: Some(at(4)),
        health_checked_at: Some(at(4)),
        ..up_since(2)
    };
    let recovered = step(&spec, &fresh, &no_tracks(), &mut state, at(4));
    assert_eq!(kinds(&recovered), [HealEventKind::Recovered]);
}

#[test]
fn a_running_container_not_yet_probed_is_unknown_not_healthy() {
    let spec = spec(
        "  probes:\n  - {name: ok, exec: {command: [test, -f, /tmp/ok]}, period: 1s, timeout: 500ms}\n",
    );
    let container = up_since(0);
    assert_eq!(
        assess(&spec, &container, &no_tracks(), None, at(5)),
        Assessment::Unknown,
        "no probe has run in this container's run"
    );
    let mut tracks = no_tracks();
    tracks.insert(
        "ok".into(),
        ProbeTrack {
            consecutive_successes: 1,
            first_counted_at: Some(at(1)),
            ..ProbeTrack::default()
        },
    );
    assert_eq!(
        assess(&spec, &container, &tracks, None, at(5)),
        Assessment::Healthy
    );
    // A pass counted in an earlier run says nothing about this one.
    let restarted = up_since(3);
    assert_eq!(
        assess(&spec, &restarted, &tracks, None, at(5)),
        Assessment::Unknown
    );
}
