//! The host target of a disk probe on the ladder, in virtual time: only it climbs a
//! `prune` rung (with the step's block, or the defaults), a container of the same policy
//! skips it, and in dry-run the decision asks for an estimate instead of an action.

mod common;

use common::{T0, at, failed_tracks};
use hale_core::{HealEventKind, Timestamp};
use hale_policy::{Action, HealPolicySpec, ImagePrune, Step};
use hale_reconciler::{
    Decision, PolicyContext, Subject, TargetState, assess_policy_target, decide,
};

fn spec(mode: &str) -> HealPolicySpec {
    let text = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: disk}}\nspec:\n  probes:\n    - name: data\n      disk: {{path: /var/lib/docker, freeBelow: 10%}}\n      failureThreshold: 2\n  remediation:\n    steps:\n      - action: prune\n        prune: {{images: unused, until: 24h}}\n      - action: notify\n  mode: {mode}\n"
    );
    let report = hale_policy::load_str("disk.yaml", &text);
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report.set.policies[0].resource.spec.clone()
}

/// One reconcile of `host:data` after `failures` low-space readings.
fn host_step(
    spec: &HealPolicySpec,
    failures: u32,
    state: &mut TargetState,
    now: Timestamp,
) -> Decision {
    let tracks = failed_tracks(
        spec,
        failures,
        T0,
        "free 1 GiB of 100 GiB (1.0%) on /var/lib/docker, below 10%",
    );
    let assessment = assess_policy_target(spec, "host:data", &tracks, None, now);
    let context = PolicyContext {
        name: "disk",
        spec,
        global_dry_run: false,
        circuit_open: false,
    };
    decide(context, Subject::Host("data"), &assessment, state, now)
}

#[test]
fn the_host_prunes_with_the_steps_filters_once_low_space_is_confirmed() {
    let spec = spec("Enforce");
    let mut state = TargetState::default();
    // One reading below the threshold is not yet a confirmed failure.
    assert!(host_step(&spec, 1, &mut state, at(1)).action.is_none());
    let decision = host_step(&spec, 2, &mut state, at(2));
    let planned = decision.action.expect("a prune");
    assert_eq!(planned.action, Action::Prune);
    let prune = planned.prune.expect("the step's prune block");
    assert_eq!(prune.images, ImagePrune::Unused);
    assert_eq!(
        prune.until,
        Some(hale_policy::Duration::from_secs(24 * 3600))
    );
    assert!(prune.containers && !prune.volumes);
    assert!(decision.estimate.is_none());
    let started = decision
        .events
        .iter()
        .find(|e| e.kind == HealEventKind::ActionStarted)
        .unwrap();
    assert_eq!(started.target.as_ref().unwrap().name, "host:data");
}

#[test]
fn in_dry_run_the_host_asks_for_an_estimate_and_acts_on_nothing() {
    let spec = spec("DryRun");
    let mut state = TargetState::default();
    let decision = host_step(&spec, 2, &mut state, at(2));
    assert!(decision.action.is_none());
    assert_eq!(decision.estimate.map(|p| p.action), Some(Action::Prune));
}

#[test]
fn only_the_host_can_use_a_prune_rung() {
    let prune = Step {
        action: Action::Prune,
        attempts: 1,
        timeout: hale_policy::Duration::from_secs(60),
        webhook: None,
        prune: None,
    };
    assert!(Subject::Host("data").can_use(&prune));
    let container = hale_core::ContainerSnapshot::new(
        "0123456789abcdef",
        "web-1",
        hale_core::ContainerStatus::Running,
    );
    assert!(!Subject::Container(&container).can_use(&prune));
}
