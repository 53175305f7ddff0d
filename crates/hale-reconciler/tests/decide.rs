//! The remediation state machine of a container under virtual time: every rule, with
//! made-up instants. Sites and heal requests are in `decide_sites.rs`, dry-run in
//! `dry_run.rs`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use hale_core::{ContainerSnapshot, ContainerStatus, HealEventKind, HealthStatus, RestartPolicy};
use hale_policy::Action;
use hale_reconciler::{
    Assessment, Decision, PolicyContext, TargetState, assess, decide, finish_action,
};

use common::*;

#[test]
fn an_unhealthy_container_is_restarted_once_and_then_waited_for() {
    let spec = spec("");
    let mut state = TargetState::default();
    let decision = step(&spec, &unhealthy_since(0), &mut state, at(0));
    assert_eq!(
        kinds(&decision),
        [HealEventKind::Failing, HealEventKind::ActionStarted]
    );
    let planned = decision.action.unwrap();
    assert_eq!(
        (planned.action, planned.step, planned.attempt),
        (Action::Restart, 0, 1)
    );
    assert_eq!(planned.stop_timeout, 10);
    // While the restart runs, nothing more is decided.
    assert_eq!(
        step(&spec, &unhealthy_since(0), &mut state, at(1)),
        Decision::default()
    );
    finish_action(&mut state, Action::Restart, &succeeded(), at(1));
    // Evidence from before the restart is stale: nothing to decide until a fresh signal.
    assert_eq!(
        step(&spec, &unhealthy_since(0), &mut state, at(2)),
        Decision::default()
    );
    // Unhealthy again after the restart: a fresh failure, but the cooldown (30s default,
    // longer than the first backoff of 10s) holds the retry, and says so once.
    let waiting = step(&spec, &unhealthy_since(5), &mut state, at(5));
    assert_eq!(waiting.action, None);
    assert_eq!(waiting.wake_at, Some(at(30)));
    assert_eq!(kinds(&waiting), [HealEventKind::CooldownSkip]);
    assert_eq!(
        step(&spec, &unhealthy_since(5), &mut state, at(30))
            .action
            .map(|a| a.action),
        Some(Action::Restart)
    );
}

#[test]
fn recovery_is_recorded_when_healthy_again_after_an_action() {
    let spec = spec("");
    let mut state = TargetState::default();
    assert_eq!(
        act(&spec, &unhealthy_since(0), &mut state, at(0)),
        Some(Action::Restart)
    );
    // A healthy report from before the restart proves nothing.
    assert!(step(&spec, &running(), &mut state, at(1)).events.is_empty());
    // Health check still starting after the restart: neither failing nor recovered.
    let starting = ContainerSnapshot {
        health: Some(HealthStatus::Starting),
        started_at: Some(at(1)),
        ..running()
    };
    assert!(step(&spec, &starting, &mut state, at(2)).events.is_empty());
    let healthy_again = ContainerSnapshot {
        health_since: Some(at(3)),
        started_at: Some(at(1)),
        ..running()
    };
    let recovered = step(&spec, &healthy_again, &mut state, at(3));
    assert_eq!(kinds(&recovered), [HealEventKind::Recovered]);
    assert_eq!(recovered.events[0].reason, "healthy again after restart");
    assert!(
        step(&spec, &healthy_again, &mut state, at(4))
            .events
            .is_empty()
    );
}

#[test]
fn dockers_unhealthy_is_acted_on_at_once_whether_probes_are_omitted_or_written_out() {
    let written = spec("  probes:\n    - {name: docker-health, dockerHealth: {}}\n");
    let omitted = spec("");
    for spec in [&written, &omitted] {
        let mut state = TargetState::default();
        let decision = step(spec, &unhealthy_since(7), &mut state, at(7));
        assert_eq!(decision.action.map(|a| a.action), Some(Action::Restart));
    }
    // The same defaults, whichever way they are reached.
    let probe = &written.probes[0];
    assert_eq!(probe.effective_failure_threshold(), 1);
    assert_eq!(
        hale_reconciler::default_probes()[0].effective_failure_threshold(),
        1
    );
}

#[test]
fn a_docker_health_failure_threshold_counts_dockers_failing_streak() {
    let spec = spec("  probes:\n    - {name: h, dockerHealth: {}, failureThreshold: 3}\n");
    let mut state = TargetState::default();
    // Docker said unhealthy after one failed check (--health-retries 1), every 2 s.
    let one = ContainerSnapshot {
        health_failing_streak: 1,
        health_interval_ms: Some(2_000),
        ..unhealthy_since(0)
    };
    let early = step(&spec, &one, &mut state, at(0));
    assert_eq!((early.action, early.wake_at), (None, Some(at(4))));
    assert!(early.events.is_empty());
    let three = ContainerSnapshot {
        health_failing_streak: 3,
        ..one
    };
    let due = step(&spec, &three, &mut state, at(4));
    assert_eq!(due.action.map(|a| a.action), Some(Action::Restart));
}

#[test]
fn an_unexpected_exit_is_a_failure_at_once_whatever_the_threshold_says() {
    let spec = spec("  probes:\n    - {name: exit, exit: {}, failureThreshold: 5}\n");
    let mut state = TargetState::default();
    let decision = step(&spec, &exited(1, 3), &mut state, at(3));
    assert_eq!(decision.action.map(|a| a.action), Some(Action::Restart));
}

#[test]
fn the_shipped_default_policy_restarts_a_lone_unhealthy_container_at_once() {
    let report = hale_policy::load_paths(&[concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies")]);
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    let policy = &report.set.policies[0].resource;
    let container = ContainerSnapshot {
        labels: BTreeMap::from([("autoheal".into(), "true".into())]),
        ..unhealthy_since(10)
    };
    assert!(
        policy
            .spec
            .selector
            .as_ref()
            .unwrap()
            .matches(&container.name, &container.labels)
    );
    let assessment = assess(&policy.spec, &container, &BTreeMap::new(), None, at(10));
    let circuit =
        hale_reconciler::CircuitReading::of(policy.spec.remediation.max_unhealthy, [&assessment]);
    assert!(!circuit.is_open(), "{:?}", circuit.open_reason());
    let context = PolicyContext {
        name: &policy.metadata.name,
        spec: &policy.spec,
        global_dry_run: false,
        circuit_open: circuit.is_open(),
    };
    let mut state = TargetState::default();
    let decision = decide(context, &container, &assessment, &mut state, at(10));
    assert_eq!(
        decision.action.as_ref().map(|a| a.action),
        Some(Action::Restart)
    );
    assert_eq!(
        kinds(&decision),
        [HealEventKind::Failing, HealEventKind::ActionStarted]
    );
}

#[test]
fn health_failures_inside_the_start_period_are_not_counted() {
    let spec = spec(
        "  probes:\n    - {name: h, dockerHealth: {}, failureThreshold: 1, startPeriod: 30s}\n",
    );
    let mut state = TargetState::default();
    let graced = step(&spec, &unhealthy_since(5), &mut state, at(10));
    assert_eq!((graced.action, graced.wake_at), (None, Some(at(30))));
    assert!(
        step(&spec, &unhealthy_since(5), &mut state, at(30))
            .action
            .is_some()
    );
}

#[test]
fn restart_is_skipped_while_in_cooldown() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 5, timeout: 10s}]\n    cooldown: 2m\n",
    );
    let mut state = TargetState::default();
    assert_eq!(
        act(&spec, &unhealthy_since(0), &mut state, at(0)),
        Some(Action::Restart)
    );
    let held = step(&spec, &unhealthy_since(20), &mut state, at(30));
    assert_eq!(held.action, None);
    assert_eq!(kinds(&held), [HealEventKind::CooldownSkip]);
    assert_eq!(held.wake_at, Some(at(120)));
    // Reported once per wait, not at every tick.
    assert!(
        step(&spec, &unhealthy_since(20), &mut state, at(31))
            .events
            .is_empty()
    );
    assert_eq!(
        act(&spec, &unhealthy_since(20), &mut state, at(120)),
        Some(Action::Restart)
    );
}

#[test]
fn backoff_doubles_up_to_its_maximum() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 10, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 10s, max: 40s}\n    quarantine: {after: 100}\n",
    );
    let mut state = TargetState::default();
    let mut now = at(0);
    let mut gaps = Vec::new();
    for _ in 0..5 {
        assert_eq!(
            act(&spec, &failing_at(now), &mut state, now),
            Some(Action::Restart)
        );
        let next = state.next_action_at.unwrap();
        gaps.push(next.since(now).as_secs());
        // One second early: held back.
        assert_eq!(
            act(
                &spec,
                &failing_at(next.minus(Duration::from_secs(1))),
                &mut state,
                next.minus(Duration::from_secs(1))
            ),
            None
        );
        now = next;
    }
    assert_eq!(gaps, [10, 20, 40, 40, 40]);
}

#[test]
fn the_ladder_escalates_after_a_steps_attempts() {
    let spec = spec(
        "  remediation:\n    steps:\n      - {action: restart, attempts: 2, timeout: 10s}\n      - {action: recreate, timeout: 10s}\n      - {action: notify}\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 10}\n",
    );
    let mut state = TargetState::default();
    let mut actions = Vec::new();
    for n in 0..4 {
        let now = at(n * 60);
        // Each time, a failure seen after hale's last action.
        let decision = step(&spec, &failing_at(now), &mut state, now);
        if kinds(&decision).contains(&HealEventKind::Escalated) {
            actions.push(None);
        }
        actions.push(decision.action.map(|a| a.action));
        state.in_flight = false;
    }
    assert_eq!(
        actions,
        [
            Some(Action::Restart),
            Some(Action::Restart),
            None,
            Some(Action::Recreate),
            None,
            Some(Action::Notify)
        ]
    );
}

#[test]
fn a_target_failing_forever_is_quarantined_after_n_remediations() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 100, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 3, within: 1h}\n",
    );
    let mut state = TargetState::default();
    for n in 0..3 {
        assert_eq!(
            act(&spec, &failing_at(at(n * 10)), &mut state, at(n * 10)),
            Some(Action::Restart)
        );
    }
    let decision = step(&spec, &failing_at(at(30)), &mut state, at(30));
    assert_eq!(kinds(&decision), [HealEventKind::Quarantined]);
    assert_eq!(
        decision.events[0].reason,
        "3 remediations within 1h did not fix it; release it with `hale unquarantine`"
    );
    assert!(decision.action.is_none());
    for n in 4..20 {
        assert_eq!(
            step(&spec, &failing_at(at(n * 600)), &mut state, at(n * 600)),
            Decision::default()
        );
    }
}

#[test]
fn remediations_outside_the_window_do_not_count_towards_quarantine() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 100, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 2, within: 1m}\n",
    );
    let mut state = TargetState::default();
    for n in 0..5 {
        assert_eq!(
            act(&spec, &failing_at(at(n * 61)), &mut state, at(n * 61)),
            Some(Action::Restart)
        );
    }
}

#[test]
fn quarantine_is_released_after_release_after() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 100, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 1, within: 1h, releaseAfter: 30m}\n",
    );
    let mut state = TargetState::default();
    assert_eq!(
        act(&spec, &unhealthy_since(0), &mut state, at(0)),
        Some(Action::Restart)
    );
    let quarantined = step(&spec, &failing_at(at(10)), &mut state, at(10));
    assert_eq!(kinds(&quarantined), [HealEventKind::Quarantined]);
    assert_eq!(quarantined.wake_at, Some(at(10 + 1800)));
    assert_eq!(
        step(&spec, &failing_at(at(1000)), &mut state, at(1000)).action,
        None
    );
    // Released while the old failure is the newest evidence: nothing is done on it.
    let released = step(&spec, &failing_at(at(1000)), &mut state, at(1810));
    assert_eq!(kinds(&released), [HealEventKind::Released]);
    // A failure seen after the release starts the ladder again.
    let again = step(&spec, &failing_at(at(1811)), &mut state, at(1811));
    assert_eq!(
        kinds(&again),
        [HealEventKind::Failing, HealEventKind::ActionStarted]
    );
}

#[test]
fn escalation_waits_for_a_failure_newer_than_the_action_not_just_the_timeout() {
    let spec = spec(
        "  remediation:\n    steps:\n      - {action: restart, timeout: 2s}\n      - {action: recreate}\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let mut state = TargetState::default();
    assert_eq!(
        act(&spec, &failing_at(at(0)), &mut state, at(0)),
        Some(Action::Restart)
    );
    // The step's 2 s are over, but the newest failure is the one acted on: wait.
    let stale = step(&spec, &failing_at(at(0)), &mut state, at(5));
    assert_eq!(stale, Decision::default());
    // A failure seen after the restart: now it escalates.
    let fresh = step(&spec, &failing_at(at(8)), &mut state, at(8));
    assert!(kinds(&fresh).contains(&HealEventKind::Escalated));
    assert_eq!(fresh.action.map(|a| a.action), Some(Action::Recreate));
}

#[test]
fn an_exhausted_ladder_quarantines() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let mut state = TargetState::default();
    assert_eq!(
        act(&spec, &unhealthy_since(0), &mut state, at(0)),
        Some(Action::Restart)
    );
    let decision = step(&spec, &failing_at(at(5)), &mut state, at(5));
    assert_eq!(kinds(&decision), [HealEventKind::Quarantined]);
    assert!(
        decision.events[0]
            .reason
            .starts_with("still failing after the whole remediation ladder (1 step, ")
    );
}

#[test]
fn an_operator_stop_is_intent_not_failure() {
    let spec = spec("");
    let mut state = TargetState::default();
    let stopped = ContainerSnapshot {
        stopped_by_operator: true,
        ..exited(143, 0)
    };
    let decision = step(&spec, &stopped, &mut state, at(1));
    assert_eq!(decision, Decision::default());
}

#[test]
fn a_non_zero_exit_is_restarted_but_a_clean_exit_is_not() {
    let spec = spec("");
    let mut state = TargetState::default();
    let decision = step(&spec, &exited(1, 0), &mut state, at(1));
    assert_eq!(
        decision.events[0].reason,
        "probe exit failed: exited with code 1"
    );
    assert_eq!(decision.action.map(|a| a.action), Some(Action::Restart));
    let mut clean = TargetState::default();
    assert_eq!(
        step(&spec, &exited(0, 0), &mut clean, at(1)),
        Decision::default()
    );
}

#[test]
fn an_exit_hale_did_not_see_is_not_acted_on() {
    let spec = spec("");
    let unseen = ContainerSnapshot {
        exit_seen: false,
        ..exited(1, 0)
    };
    assert_eq!(
        step(&spec, &unseen, &mut TargetState::default(), at(1)),
        Decision::default()
    );
}

#[test]
fn oom_kills_count_as_failures() {
    let spec = spec("");
    let oom = ContainerSnapshot {
        oom_killed: true,
        ..exited(137, 0)
    };
    let decision = step(&spec, &oom, &mut TargetState::default(), at(1));
    assert_eq!(
        decision.events[0].signal.as_deref(),
        Some("killed by the OOM killer")
    );
    assert!(decision.action.is_some());
}

#[test]
fn docker_restart_policy_is_not_raced_and_skips_are_reported_once() {
    let spec = spec("");
    let mut state = TargetState::default();
    let crashing = ContainerSnapshot {
        restart_policy: RestartPolicy::OnFailure { max_retries: 3 },
        restart_count: 1,
        ..exited(1, 0)
    };
    let first = step(&spec, &crashing, &mut state, at(1));
    assert_eq!(
        kinds(&first),
        [HealEventKind::Failing, HealEventKind::Skipped]
    );
    assert_eq!(
        first.events[1].reason,
        "its restart policy makes Docker restart it; not racing Docker"
    );
    assert_eq!(first.action, None);
    assert!(step(&spec, &crashing, &mut state, at(2)).events.is_empty());
    // Docker gave up (retries exhausted): now it is hale's job.
    let given_up = ContainerSnapshot {
        restart_count: 3,
        ..crashing
    };
    assert!(step(&spec, &given_up, &mut state, at(3)).action.is_some());
}

#[test]
fn a_container_docker_is_already_restarting_is_left_alone() {
    let spec = spec("");
    let restarting = ContainerSnapshot {
        status: ContainerStatus::Restarting,
        ..unhealthy_since(0)
    };
    // Restarting is not Running, so the health probe does not fire; an exit would not be
    // seen either. Nothing to do.
    assert_eq!(
        step(&spec, &restarting, &mut TargetState::default(), at(1)).action,
        None
    );
}

#[test]
fn an_open_circuit_blocks_every_action() {
    let spec = spec("");
    let mut state = TargetState::default();
    let decision = step_with(&spec, &unhealthy_since(0), &mut state, at(0), false, true);
    assert_eq!(kinds(&decision), [HealEventKind::Failing]);
    assert_eq!(decision.action, None);
    // Closed again: the action happens.
    let closed = step_with(&spec, &unhealthy_since(0), &mut state, at(1), false, false);
    assert!(closed.action.is_some());
}

#[test]
fn the_ladder_and_backoff_start_over_after_resetting_health_but_not_after_a_flap() {
    let spec = spec(
        "  remediation:\n    steps:\n      - {action: restart, timeout: 5s}\n      - {action: recreate, timeout: 5s}\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s, resetAfter: 10m}\n    quarantine: {after: 10}\n",
    );
    let mut state = TargetState::default();
    assert_eq!(
        act(&spec, &unhealthy_since(0), &mut state, at(0)),
        Some(Action::Restart)
    );
    let recovered = step(&spec, &healthy_after_restart(1, 2), &mut state, at(10));
    assert_eq!(kinds(&recovered), [HealEventKind::Recovered]);
    // Fails again a minute later: the restart did not really fix it, so escalate.
    assert_eq!(
        act(&spec, &unhealthy_since(70), &mut state, at(70)),
        Some(Action::Recreate)
    );
    step(&spec, &healthy_after_restart(71, 72), &mut state, at(80));
    // Fails again after 20 healthy minutes: a new incident, start from the first rung.
    assert_eq!(
        act(&spec, &unhealthy_since(1300), &mut state, at(1300)),
        Some(Action::Restart)
    );
}

#[test]
fn the_stop_timeout_label_reaches_the_planned_action() {
    let spec = spec("");
    let mut labelled = unhealthy_since(0);
    labelled
        .labels
        .insert("autoheal.stop.timeout".into(), "3".into());
    let decision = step(&spec, &labelled, &mut TargetState::default(), at(0));
    assert_eq!(decision.action.unwrap().stop_timeout, 3);
}

#[test]
fn assessment_of_a_stopped_or_starting_container_is_unknown_not_healthy() {
    let spec = spec("");
    let starting = ContainerSnapshot {
        health: Some(HealthStatus::Starting),
        ..running()
    };
    assert_eq!(
        assess(&spec, &starting, &BTreeMap::new(), None, at(0)),
        Assessment::Unknown
    );
    assert_eq!(
        assess(&spec, &running(), &BTreeMap::new(), None, at(0)),
        Assessment::Healthy
    );
    assert_eq!(
        assess(&spec, &exited(0, 0), &BTreeMap::new(), None, at(0)),
        Assessment::Unknown
    );
}

#[test]
fn a_periodic_probe_fails_after_failure_threshold_outcomes_and_passes_after_success_threshold() {
    let spec = spec(
        "  probes:\n    - {name: http, httpGet: {port: 80}, period: 1s, timeout: 500ms, failureThreshold: 3, successThreshold: 2}\n",
    );
    let probe = &spec.probes[0];
    let mut tracks = BTreeMap::new();
    let mut record = |success: bool, second: u64| {
        tracks
            .entry("http".to_owned())
            .or_insert_with(hale_reconciler::ProbeTrack::default)
            .record(probe, success, at(second), "HTTP 503");
        assess(&spec, &running(), &tracks, None, at(second))
    };
    assert!(matches!(record(false, 0), Assessment::Pending { .. }));
    assert!(matches!(record(false, 1), Assessment::Pending { .. }));
    let failing = record(false, 2);
    assert_eq!(
        failing,
        Assessment::Failing(hale_reconciler::FailureSignal {
            probe: "http".into(),
            signal: "HTTP 503".into(),
            since: at(2),
            observed_at: at(2),
        })
    );
    // One success is not enough to pass again with successThreshold 2.
    assert!(matches!(record(true, 3), Assessment::Failing(_)));
    assert_eq!(record(true, 4), Assessment::Healthy);
}

#[test]
fn a_crash_right_after_hales_restart_is_fresh_evidence() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let mut state = TargetState::default();
    assert_eq!(
        act(&spec, &exited(1, 0), &mut state, at(10)),
        Some(Action::Restart)
    );
    // The restarted process dies again 200 ms after the decision, before hale even heard
    // that the restart succeeded.
    let again = ContainerSnapshot {
        finished_at: Some(at(10).plus(Duration::from_millis(200))),
        ..exited(1, 0)
    };
    assert_eq!(
        act(&spec, &again, &mut state, at(12)),
        Some(Action::Restart)
    );
}

#[test]
fn a_container_left_stopped_by_hales_failed_restart_is_still_failing() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let mut state = TargetState::default();
    let decision = step(&spec, &unhealthy_since(0), &mut state, at(0));
    assert!(decision.action.is_some());
    hale_reconciler::finish_action(&mut state, Action::Restart, &failed(), at(0));
    // The restart stopped it (kill, die) and then failed to start it again.
    let stopped = ContainerSnapshot {
        stopped_by_operator: true,
        finished_at: Some(at(0).plus(Duration::from_millis(300))),
        ..exited(137, 0)
    };
    let retried = step(&spec, &stopped, &mut state, at(5));
    assert_eq!(retried.action.map(|a| a.action), Some(Action::Restart));
    // After a restart that worked, an operator's later stop is respected.
    hale_reconciler::finish_action(&mut state, Action::Restart, &succeeded(), at(5));
    let operator = ContainerSnapshot {
        stopped_by_operator: true,
        finished_at: Some(at(60)),
        ..exited(143, 0)
    };
    assert!(step(&spec, &operator, &mut state, at(61)).action.is_none());
}

#[test]
fn a_shortened_ladder_does_not_break_stored_state() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 2, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let mut state = TargetState {
        step: 2,
        attempts_in_step: 1,
        last_action: Some(Action::Recreate),
        ..TargetState::default()
    };
    let decision = step(&spec, &unhealthy_since(0), &mut state, at(0));
    assert_eq!(
        decision.action.map(|a| (a.action, a.step)),
        Some((Action::Restart, 0))
    );
}
