//! Dry-run under virtual time: the same decisions on a simulated ladder, nothing run, and
//! the enforced ladder untouched by what the simulation did.

mod common;

use hale_core::HealEventKind;
use hale_policy::Action;
use hale_reconciler::TargetState;

use common::*;

#[test]
fn dry_run_records_the_same_decisions_but_runs_nothing() {
    let spec_dry = spec("  mode: DryRun\n");
    let mut state = TargetState::default();
    let decision = step(&spec_dry, &unhealthy_since(0), &mut state, at(0));
    assert_eq!(
        kinds(&decision),
        [HealEventKind::Failing, HealEventKind::DryRun]
    );
    assert!(decision.events.iter().all(|e| e.dry_run));
    assert_eq!(decision.action, None);
    assert!(!state.in_flight);
    // The simulated action starts the same cooldown a real one would.
    assert_eq!(
        step(&spec_dry, &unhealthy_since(0), &mut state, at(10))
            .events
            .len(),
        0
    );
    let enforce = spec("");
    let global = step_with(
        &enforce,
        &unhealthy_since(0),
        &mut TargetState::default(),
        at(0),
        true,
        false,
    );
    assert_eq!(
        kinds(&global),
        [HealEventKind::Failing, HealEventKind::DryRun]
    );
    assert_eq!(global.action, None);
}

#[test]
fn turning_dry_run_to_enforce_remediates_a_still_failing_target_at_once() {
    let dry = spec("  mode: DryRun\n  remediation:\n    steps: [{action: restart, timeout: 1m}]\n");
    let enforce = spec("  remediation:\n    steps: [{action: restart, timeout: 1m}]\n");
    let mut state = TargetState::default();
    let simulated = step(&dry, &unhealthy_since(0), &mut state, at(0));
    assert_eq!(
        kinds(&simulated),
        [HealEventKind::Failing, HealEventKind::DryRun]
    );
    assert!(simulated.events[1].reason.contains("simulated ladder"));
    // The enforced ladder has not moved: the simulation holds the wait.
    assert_eq!(state.last_action, None);
    assert!(state.simulation.as_ref().unwrap().next_action_at.is_some());
    // Four seconds later the operator flips the policy: hale acts now, not in a minute.
    let enforced = step(&enforce, &unhealthy_since(0), &mut state, at(4));
    let action = enforced.action.expect("remediated at once");
    assert_eq!(
        (action.action, action.step, action.attempt),
        (Action::Restart, 0, 1)
    );
    let started = enforced
        .events
        .iter()
        .find(|e| e.kind == HealEventKind::ActionStarted)
        .unwrap();
    assert!(!started.dry_run);
    assert!(
        started
            .reason
            .contains("dry-run simulation's ladder was set aside"),
        "{}",
        started.reason
    );
    assert!(state.simulation.is_none());
}

#[test]
fn a_dry_run_quarantine_never_holds_the_enforced_ladder() {
    let dry = spec(
        "  mode: DryRun\n  remediation:\n    steps: [{action: restart, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 1}\n",
    );
    let mut state = TargetState::default();
    for second in [0, 5] {
        step(&dry, &failing_at(at(second)), &mut state, at(second));
    }
    assert!(state.ladder().quarantine.is_some());
    assert!(state.quarantine.is_none());
    let enforce = spec("  remediation:\n    steps: [{action: restart, timeout: 1s}]\n");
    assert!(
        step(&enforce, &unhealthy_since(0), &mut state, at(6))
            .action
            .is_some()
    );
}
