//! The rules of host targets: a `disk` probe's path, and `prune` steps, which need one.

use super::Checker;
use crate::policy::{Action, HealPolicy, Probe, Step};

/// A disk probe watches an absolute path of the host, without a site.
pub(super) fn check_disk_probe(c: &mut Checker<'_, HealPolicy>, path: &str, probe: &Probe) {
    let Some(disk) = &probe.disk else {
        return;
    };
    if !disk.path.starts_with('/') {
        c.error(
            format!("{path}.disk.path"),
            format!(
                "path {:?} must be absolute, e.g. /var/lib/docker (as hale sees it: mount the host's directory into hale's container)",
                disk.path
            ),
        );
    }
}

/// Whether the policy has a host target a `prune` step can act on.
pub(super) fn has_disk_probe(policy: &HealPolicy) -> bool {
    policy.spec.probes.iter().any(|p| p.disk.is_some())
}

/// A prune step needs a disk probe's host target; only it takes a `prune` block; pruning
/// volumes deletes data, so it is said out loud.
pub(super) fn check_prune_step(
    c: &mut Checker<'_, HealPolicy>,
    path: &str,
    step: &Step,
    policy: &HealPolicy,
) {
    if step.action == Action::Prune && !has_disk_probe(policy) {
        c.error(
            format!("{path}.action"),
            "prune acts on the host target of a disk probe: add a probe with `disk: {path: /var/lib/docker, freeBelow: 10%}`",
        );
    }
    let Some(prune) = &step.prune else {
        return;
    };
    if step.action != Action::Prune {
        c.error(
            format!("{path}.prune"),
            "only `action: prune` takes a prune block",
        );
        return;
    }
    if prune.volumes {
        c.warning(
            format!("{path}.prune.volumes"),
            "removes every volume no container mounts, with its data, including those of stopped containers pruned in the same step",
        );
        if prune.until.is_some() {
            c.warning(
                format!("{path}.prune.until"),
                "Docker's volume prune has no age filter: volumes are pruned whatever their age",
            );
        }
    }
    for (field, labels) in [
        ("labels", &prune.labels),
        ("excludeLabels", &prune.exclude_labels),
    ] {
        for (i, label) in labels.iter().enumerate() {
            let key = label.split_once('=').map_or(label.as_str(), |(k, _)| k);
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                c.error(
                    format!("{path}.prune.{field}[{i}]"),
                    format!("invalid label {label:?}: expected key or key=value"),
                );
            }
        }
    }
}
