//! Alertmanager alerts as failure evidence: filed by policy rule and target, cleared when
//! resolved, and merged into assessments.

use hale_policy::{AlertRule, HealPolicy};

use crate::selection;
use crate::state::Alert;
use crate::state::FiringAlerts;
use crate::state::ReconcilerState;

/// A target with a firing alert is failing, whatever its probes say; the alert's latest
/// notification is the evidence (so Alertmanager's repeat notifications keep a target that
/// stays broken climbing the ladder).
pub(crate) fn with_alerts(
    assessment: crate::assess::Assessment,
    firing: Option<&FiringAlerts>,
) -> crate::assess::Assessment {
    use crate::assess::{Assessment, FailureSignal};
    let Some((alertname, since)) = firing.and_then(|f| f.values().max_by_key(|(_, at)| *at)) else {
        return assessment;
    };
    match assessment {
        Assessment::Failing(_) => assessment,
        _ => Assessment::Failing(FailureSignal {
            probe: "alert".to_owned(),
            signal: hale_core::alert_signal(alertname),
            since: *since,
            // Alertmanager repeats a firing alert: its latest notification is the newest
            // evidence.
            observed_at: *since,
        }),
    }
}

/// Files alerts under the targets they name, per policy whose `alerts` rules match;
/// true when anything changed.
pub(crate) fn take_alerts(state: &mut ReconcilerState, alerts: Vec<Alert>) -> bool {
    let now = state.args.clock.now();
    let mut changed = false;
    for alert in alerts {
        let alertname = alert.labels.get("alertname").cloned().unwrap_or_default();
        if !alert.firing {
            // Resolved: cleared wherever it was filed, even if a reload changed the rule
            // that filed it.
            for firing in state.alerts.values_mut() {
                changed |= firing.remove(&alert.fingerprint).is_some();
            }
            state.alerts.retain(|_, firing| !firing.is_empty());
            continue;
        }
        for policy in state.args.policies.iter() {
            for rule in &policy.spec.alerts {
                let matches = rule
                    .match_labels
                    .iter()
                    .all(|(k, v)| alert.labels.get(k) == Some(v));
                if !matches {
                    continue;
                }
                for target in targets(state, policy, rule, &alert, &alertname) {
                    state
                        .alerts
                        .entry((policy.metadata.name.clone(), target))
                        .or_default()
                        .insert(alert.fingerprint.clone(), (alertname.clone(), now));
                    changed = true;
                }
            }
        }
    }
    changed
}

/// The targets a firing `alert` that matched `rule` of `policy` marks failing, by name.
fn targets(
    state: &ReconcilerState,
    policy: &HealPolicy,
    rule: &AlertRule,
    alert: &Alert,
    alertname: &str,
) -> Vec<String> {
    if let Some(site) = &rule.site_ref {
        return vec![hale_core::site_target_name(site)];
    }
    if rule.target_selected {
        // The policy's own targets, as the reconcile pass selects them.
        let own = state.args.own_container.as_deref();
        let selected: Vec<String> = selection::selected(&state.containers, &policy.spec, own)
            .targets
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if selected.is_empty() {
            tracing::warn!(alert = %alertname, policy = %policy.metadata.name, "an alert with targetSelected matched, but the policy selects no container now");
        }
        return selected;
    }
    let label = rule.target_label();
    let Some(named) = alert.labels.get(label) else {
        tracing::warn!(alert = %alertname, label = %label, policy = %policy.metadata.name, "an alert matched but lacks the label that names its container");
        return Vec::new();
    };
    let name = state
        .containers
        .values()
        .find(|c| c.name == *named || (named.len() >= 12 && c.id.starts_with(named.as_str())))
        .map_or_else(|| named.clone(), |c| c.name.clone());
    vec![name]
}
