//! `scope: Fleet` and its settings: read, defaulted, and refused where they mean nothing.

use hale_policy::{Scope, load_str};

fn diagnostics(text: &str) -> Vec<String> {
    load_str("policies/web.yaml", text)
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn policy(spec: &str) -> String {
    format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n{spec}"
    )
}

#[test]
fn a_policy_is_host_scoped_unless_it_says_fleet() {
    let report = load_str("p.yaml", &policy(""));
    let spec = &report.set.policies[0].resource.spec;
    assert_eq!(spec.scope, Scope::Host);
    assert_eq!(spec.identity_label, None);
    assert_eq!(spec.remediation.max_concurrent, None);

    let text =
        policy("  scope: Fleet\n  identityLabel: app\n  remediation:\n    maxConcurrent: 1\n");
    let report = load_str("p.yaml", &text);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    let spec = &report.set.policies[0].resource.spec;
    assert_eq!(spec.scope, Scope::Fleet);
    assert_eq!(spec.identity_label.as_deref(), Some("app"));
    assert_eq!(spec.remediation.max_concurrent, Some(1));
}

#[test]
fn fleet_settings_without_scope_fleet_are_refused_and_say_how_to_fix_it() {
    assert_eq!(
        diagnostics(&policy("  remediation:\n    maxConcurrent: 1\n")),
        [
            "policies/web.yaml:9:20: spec.remediation.maxConcurrent: is a fleet-wide budget: add `scope: Fleet` to the spec (and run hale with --fleet), or remove it"
        ]
    );
    assert_eq!(
        diagnostics(&policy("  identityLabel: app\n")),
        [
            "policies/web.yaml:8:18: spec.identityLabel: names the replicas of a service across the fleet: add `scope: Fleet` to the spec, or remove it"
        ]
    );
}

#[test]
fn a_budget_of_zero_and_an_empty_identity_label_are_refused() {
    assert_eq!(
        diagnostics(&policy(
            "  scope: Fleet\n  identityLabel: ''\n  remediation:\n    maxConcurrent: 0\n"
        )),
        [
            "policies/web.yaml:9:19: spec.identityLabel: must not be empty",
            "policies/web.yaml:11:20: spec.remediation.maxConcurrent: 0 would never remediate anything: give at least 1, or remove it for no limit",
        ]
    );
    assert_eq!(
        diagnostics(&policy("  scope: Everywhere\n")).len(),
        1,
        "an unknown scope is refused"
    );
}
