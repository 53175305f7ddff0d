//! The rules of a policy's `alerts`: what each rule marks failing is said exactly once.

use std::collections::HashSet;

use super::{Checker, missing_site_message};
use crate::policy::{HealPolicy, HealPolicySpec};

/// Checks every rule of `spec.alerts`; `sites` are the names in `spec.sites`.
pub(super) fn check_alerts(
    c: &mut Checker<'_, HealPolicy>,
    spec: &HealPolicySpec,
    sites: &HashSet<&str>,
) {
    let selects_containers = spec.selector.as_ref().is_some_and(|s| !s.is_empty());
    for (i, alert) in spec.alerts.iter().enumerate() {
        let path = format!("spec.alerts[{i}]");
        if alert.match_labels.is_empty() {
            c.error(
                format!("{path}.matchLabels"),
                "must name at least one label (e.g. alertname), or every alert would match",
            );
        }
        if alert.target_label.as_deref() == Some("") {
            c.error(format!("{path}.targetLabel"), "must not be empty");
        }
        if let Some(site) = &alert.site_ref
            && !sites.contains(site.as_str())
        {
            c.error(format!("{path}.siteRef"), missing_site_message(site, sites));
        }
        if !alert.target_selected {
            continue;
        }
        // One rule names one kind of target: a site, a labelled container, or the
        // selection. Accepting two would leave one of them silently unused.
        if alert.site_ref.is_some() {
            c.error(
                format!("{path}.targetSelected"),
                "targetSelected marks every container the policy selects, siteRef one site: set only one of them",
            );
        }
        if alert.target_label.is_some() {
            c.error(
                format!("{path}.targetLabel"),
                "not used with targetSelected: true, which marks every container the policy selects rather than the one a label names; remove one of them",
            );
        }
        if !selects_containers {
            c.error(
                format!("{path}.targetSelected"),
                "targetSelected marks the containers this policy selects, and it selects none: add spec.selector",
            );
        } else if let Some(limit) = spec.remediation.max_unhealthy {
            c.warning(
                format!("{path}.targetSelected"),
                format!(
                    "this alert marks every selected container failing at once, so with maxUnhealthy {limit} the circuit holds back every action while it fires if more containers than that are selected"
                ),
            );
        }
    }
}
