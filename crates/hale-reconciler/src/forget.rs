//! Forgetting: tallies of changed probes, state of removed policies and of containers gone
//! for long.

use std::time::Duration;

use hale_core::Timestamp;
use hale_policy::HealPolicy;

use crate::state::ReconcilerState;

/// State of a vanished container is kept this long, so a container that is recreated
/// (same name, new ID) keeps its ladder position, backoff and quarantine.
const GONE_RETENTION: Duration = Duration::from_secs(3600);

/// A firing alert not notified again for this long is dropped (Alertmanager repeats
/// firing alerts every `repeat_interval`, 4 h by default).
const ALERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// Before a reload takes effect: the tallies of probes whose definition changed (a fixed
/// path, a new URL or threshold) say nothing about the new probe, so they start afresh;
/// a site that changed or went away loses its tallies, and a removed site its state.
pub(crate) fn forget_changed_probes(state: &mut ReconcilerState, new: &[HealPolicy]) {
    for old in state.args.policies.iter() {
        let name = &old.metadata.name;
        let Some(new) = new.iter().find(|p| p.metadata.name == *name) else {
            continue;
        };
        let changed_probes: Vec<&str> = old
            .spec
            .probes
            .iter()
            .filter(|probe| !new.spec.probes.contains(probe))
            .map(|probe| probe.name.as_str())
            .collect();
        let changed_sites: Vec<String> = old
            .spec
            .sites
            .iter()
            .filter(|site| !new.spec.sites.contains(site))
            .map(|site| hale_core::site_target_name(&site.name))
            .collect();
        for ((policy, target), tracks) in &mut state.probe_tracks {
            if policy == name {
                tracks.retain(|probe, _| !changed_probes.contains(&probe.as_str()));
                if changed_sites.contains(target) {
                    tracks.clear();
                }
            }
        }
        let removed_sites: Vec<String> = old
            .spec
            .sites
            .iter()
            .map(|site| hale_core::site_target_name(&site.name))
            .chain(
                old.spec
                    .probes
                    .iter()
                    .filter(|p| p.disk.is_some())
                    .map(|p| hale_core::host_target_name(&p.name)),
            )
            .filter(|target| !hale_core::policy_has_target(&new.spec, target))
            .collect();
        let effects = &mut state.effects;
        state.targets.retain(|key, target| {
            let gone = key.0 == *name && removed_sites.contains(&key.1) && !target.in_flight;
            if gone {
                effects.forget(key);
            }
            !gone
        });
    }
}

/// After a reload: forgets the targets, tallies and circuits of policies no longer in
/// force. A target whose action is still running keeps its state until the action
/// reports, so the outcome is recorded; [`collect_garbage`] drops it afterwards.
pub(crate) fn forget_removed_policies(state: &mut ReconcilerState) {
    let in_force: std::collections::HashSet<&str> = state
        .args
        .policies
        .iter()
        .map(|p| p.metadata.name.as_str())
        .collect();
    let effects = &mut state.effects;
    state.targets.retain(|key, target| {
        let keep = in_force.contains(key.0.as_str()) || target.in_flight;
        if !keep {
            effects.forget(key);
        }
        keep
    });
    state
        .probe_tracks
        .retain(|(policy, _), _| in_force.contains(policy.as_str()));
    state
        .circuits
        .retain(|policy, _| in_force.contains(policy.as_str()));
    state
        .episodes
        .retain(|(policy, _), _| in_force.contains(policy.as_str()));
    // Alerts of policies gone, and alerts Alertmanager has not repeated for a day (a
    // lost "resolved" must not keep a target failing forever).
    let now = state.args.clock.now();
    state.alerts.retain(|(policy, _), firing| {
        firing.retain(|_, (_, seen)| now.since(*seen) < ALERT_TTL);
        in_force.contains(policy.as_str()) && !firing.is_empty()
    });
}

/// Drops the state of containers gone for longer than [`GONE_RETENTION`].
pub(crate) fn collect_garbage(state: &mut ReconcilerState, now: Timestamp) {
    forget_removed_policies(state);
    let expired: Vec<String> = state
        .gone_since
        .iter()
        .filter(|(_, since)| now.since(**since) >= GONE_RETENTION)
        .map(|(name, _)| name.clone())
        .collect();
    for name in expired {
        state.gone_since.remove(&name);
        let keys: Vec<_> = state
            .targets
            .keys()
            .filter(|(_, n)| *n == name)
            .cloned()
            .collect();
        for key in keys {
            state.targets.remove(&key);
            state.effects.forget(&key);
        }
    }
}
