//! The rules of `scope: Fleet`: its settings mean nothing for a host-scoped policy, and a
//! remediation budget of zero would never heal.

use super::Checker;
use crate::policy::HealPolicy;
use crate::scope::Scope;

/// Checks `spec.scope`, `spec.identityLabel` and `spec.remediation.maxConcurrent`.
pub(super) fn check_scope(c: &mut Checker<'_, HealPolicy>, policy: &HealPolicy) {
    let spec = &policy.spec;
    let fleet = spec.scope == Scope::Fleet;
    if let Some(max) = spec.remediation.max_concurrent {
        if !fleet {
            c.error(
                "spec.remediation.maxConcurrent",
                "is a fleet-wide budget: add `scope: Fleet` to the spec (and run hale with --fleet), or remove it",
            );
        } else if max == 0 {
            c.error(
                "spec.remediation.maxConcurrent",
                "0 would never remediate anything: give at least 1, or remove it for no limit",
            );
        }
    }
    match spec.identity_label.as_deref() {
        Some(_) if !fleet => c.error(
            "spec.identityLabel",
            "names the replicas of a service across the fleet: add `scope: Fleet` to the spec, or remove it",
        ),
        Some("") => c.error("spec.identityLabel", "must not be empty"),
        _ => {}
    }
    if fleet && spec.selector.as_ref().is_none_or(|s| s.is_empty()) {
        c.warning(
            "spec.scope",
            "scope: Fleet shares rails among the replicas of containers; this policy selects no containers, so it has no effect (sites are already healed by one node under --fleet)",
        );
    }
}
