//! The remediation state machine of a site under virtual time (thresholds, the Coolify
//! rungs, a skipped action, the rungs each target can use, degraded answers), and an
//! operator's heal request.

mod common;

use std::collections::BTreeMap;

use hale_core::HealEventKind;
use hale_policy::Action;
use hale_reconciler::{
    ActionResult, Assessment, ProbeTrack, TargetState, assess_policy_target, finish_action,
};

use common::*;

#[test]
fn a_site_fails_after_its_threshold_and_climbs_restart_then_redeploy() {
    let spec = site_spec(
        "    steps:\n    - {action: coolifyRestart, attempts: 1, timeout: 30s}\n    - {action: coolifyRedeploy, attempts: 1, timeout: 5m}\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let mut state = TargetState::default();
    // One failure is below failureThreshold 2: pending, no action.
    let pending = site_step(&spec, 1, &mut state, at(1));
    assert!(pending.action.is_none() && pending.events.is_empty());
    let first = site_step(&spec, 2, &mut state, at(2));
    assert_eq!(
        kinds(&first),
        [HealEventKind::Failing, HealEventKind::ActionStarted]
    );
    let planned = first.action.unwrap();
    assert_eq!(planned.action, Action::CoolifyRestart);
    assert_eq!(
        planned
            .coolify
            .as_ref()
            .map(|c| c.application_uuid.as_str()),
        Some("app-1")
    );
    assert_eq!(first.events[0].target.as_ref().unwrap().name, "site:shop");
    finish_action(&mut state, Action::CoolifyRestart, &succeeded(), at(2));
    // Waiting for the restart to help: nothing before the step's 30 s are over.
    assert!(site_step(&spec, 5, &mut state, at(20)).action.is_none());
    let second = site_step(&spec, 30, &mut state, at(33));
    assert_eq!(
        kinds(&second),
        [HealEventKind::Escalated, HealEventKind::ActionStarted]
    );
    assert_eq!(
        second.action.map(|a| a.action),
        Some(Action::CoolifyRedeploy)
    );
}

#[test]
fn a_skipped_coolify_action_gives_its_attempt_back() {
    let spec = site_spec(
        "    steps:\n    - {action: coolifyRestart, attempts: 1, timeout: 10s}\n    - {action: coolifyRedeploy}\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    );
    let mut state = TargetState::default();
    let first = site_step(&spec, 2, &mut state, at(2));
    assert_eq!(first.action.map(|a| a.action), Some(Action::CoolifyRestart));
    finish_action(
        &mut state,
        Action::CoolifyRestart,
        &ActionResult::Skipped("deployment d1 is in progress".into()),
        at(2),
    );
    // The step's wait holds even so ...
    assert!(site_step(&spec, 5, &mut state, at(5)).action.is_none());
    // ... and after it the same rung is tried again instead of escalating.
    let again = site_step(&spec, 20, &mut state, at(13));
    assert_eq!(kinds(&again), [HealEventKind::ActionStarted]);
    assert_eq!(
        again.action.map(|a| (a.action, a.attempt)),
        Some((Action::CoolifyRestart, 1))
    );
}

#[test]
fn each_target_climbs_only_the_rungs_it_can_use() {
    let ladder = "    steps:\n    - {action: restart, attempts: 1, timeout: 1s}\n    - {action: coolifyRestart, attempts: 1, timeout: 1s}\n    - {action: notify}\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n";
    let spec = site_spec(ladder);
    // The site skips restart (it needs a container) without an "escalated" record.
    let mut site = TargetState::default();
    let decision = site_step(&spec, 2, &mut site, at(2));
    assert_eq!(
        kinds(&decision),
        [HealEventKind::Failing, HealEventKind::ActionStarted]
    );
    assert_eq!(
        decision.action.map(|a| a.action),
        Some(Action::CoolifyRestart)
    );
    // The container skips coolifyRestart (it needs a site): restart, then notify.
    let mut container = TargetState::default();
    assert_eq!(
        act(&spec, &unhealthy_since(0), &mut container, at(0)),
        Some(Action::Restart)
    );
    assert_eq!(
        act(&spec, &failing_at(at(5)), &mut container, at(5)),
        Some(Action::Notify)
    );
}

#[test]
fn a_site_with_no_usable_rung_is_quarantined_with_the_reason() {
    let spec = site_spec("    steps: [{action: restart}, {action: recreate}]\n");
    let mut state = TargetState::default();
    let decision = site_step(&spec, 2, &mut state, at(2));
    assert_eq!(
        kinds(&decision),
        [HealEventKind::Failing, HealEventKind::Quarantined]
    );
    assert!(decision.action.is_none());
    assert!(
        decision.events[1]
            .reason
            .contains("no step of the remediation ladder can act"),
        "{}",
        decision.events[1].reason
    );
}

#[test]
fn a_degraded_site_is_healthy_and_only_its_own_probes_judge_it() {
    let spec = site_spec("    steps: [{action: coolifyRestart}]\n");
    let probe = &spec.probes[0];
    let mut track = ProbeTrack::default();
    // A 4xx passes (degraded): the tally stays healthy.
    track.record(probe, true, at(0), "");
    track.degraded = true;
    let tracks = BTreeMap::from([("http".to_owned(), track.clone())]);
    assert_eq!(
        assess_policy_target(&spec, "site:shop", &tracks, None, at(1)),
        Assessment::Healthy
    );
    // Another site's probes say nothing about this one.
    assert_eq!(
        assess_policy_target(&spec, "site:other", &site_tracks(&spec, 5, T0), None, at(9)),
        Assessment::Healthy
    );
    assert!(matches!(
        assess_policy_target(&spec, "site:shop", &site_tracks(&spec, 2, T0), None, at(9)),
        Assessment::Failing(_)
    ));
}

#[test]
fn a_heal_request_acts_now_on_a_healthy_target_despite_cooldown_and_circuit() {
    let spec = spec(
        "  remediation:\n    steps: [{action: restart, attempts: 1, timeout: 1m}, {action: recreate}]\n    cooldown: 10m\n",
    );
    let mut state = TargetState::default();
    // An action a moment ago: cooldown holds for ten minutes.
    assert_eq!(
        act(&spec, &unhealthy_since(0), &mut state, at(0)),
        Some(Action::Restart)
    );
    assert!(
        step(&spec, &failing_at(at(5)), &mut state, at(5))
            .action
            .is_none()
    );

    state.heal_requested = true;
    let decision = step_with(&spec, &running(), &mut state, at(6), false, true);
    let planned = decision.action.expect("a heal request acts at once");
    assert_eq!(
        planned.action,
        Action::Recreate,
        "the next rung of the ladder"
    );
    assert!(
        planned.reason.contains("heal requested by an operator"),
        "{}",
        planned.reason
    );
    assert!(!state.heal_requested, "the request is consumed");
}
