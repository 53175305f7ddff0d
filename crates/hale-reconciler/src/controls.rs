//! What operators ask for: pause, resume, heal, unquarantine (API and request files), and
//! how a target is named (a name, or a unique container ID prefix).

use std::sync::Arc;

use hale_core::{HealEvent, HealEventKind, Timestamp};
use hale_policy::HealPolicy;
use hale_store::Request;

use crate::persist::disabled_key;
use crate::persist::paused_key;
use crate::persist::target_ref;
use crate::state::ControlFailure;
use crate::state::ReconcilerState;

/// Releases `target` (name or ID prefix) from quarantine in `policy` (or every policy);
/// returns the policies it was released in.
pub(crate) fn release_matching(
    state: &mut ReconcilerState,
    target: &str,
    policy: Option<&str>,
    now: Timestamp,
) -> Result<Vec<String>, ControlFailure> {
    let keys: Vec<(String, String)> = matching_keys(state, target, policy)?
        .into_iter()
        .filter(|key| {
            state
                .targets
                .get(key)
                .is_some_and(|s| s.quarantine.is_some())
        })
        .collect();
    let mut released = Vec::new();
    for key in keys {
        let Some(target_state) = state.targets.get_mut(&key) else {
            continue;
        };
        crate::decide::release(target_state, now);
        state.effects.persist(&key, target_state);
        let reference = target_ref(&state.containers, &key.1);
        let event = HealEvent::new(
            now,
            HealEventKind::Released,
            &key.0,
            Some(&reference),
            "released by an operator; the next failure starts the ladder again",
        );
        // A fleet-scoped service's quarantine is released on every node.
        if let Some(policy) = state
            .args
            .policies
            .iter()
            .find(|p| p.metadata.name == key.0)
            && let Some(container) = state.containers.values().find(|c| c.name == key.1)
        {
            crate::fleet_rails::share_outcome(
                state.args.fleet.as_ref(),
                policy,
                container,
                std::slice::from_ref(&event),
                None,
            );
        }
        state.effects.record(event);
        released.push(key.0);
    }
    Ok(released)
}

/// Applies pending operator requests; true when any changed a target.
pub(crate) fn apply_requests(state: &mut ReconcilerState, now: Timestamp) -> bool {
    let mut changed = false;
    for (path, request) in state.args.requests.pending() {
        let in_progress = Arc::clone(&state.requests_in_progress);
        if !in_progress
            .lock()
            .is_ok_and(|mut set| set.insert(path.clone()))
        {
            continue;
        }
        match request {
            Ok(Request::Unquarantine { target, policy }) => {
                match release_matching(state, &target, policy.as_deref(), now) {
                    Ok(released) if released.is_empty() => {
                        tracing::warn!(%target, "unquarantine requested, but no policy has it quarantined");
                    }
                    Ok(_) => changed = true,
                    Err(failure) => {
                        tracing::warn!(%target, ?failure, "unquarantine request not applied");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "ignoring an unreadable request");
            }
        }
        // Delete the request only once what it changed is on disk: a crash in between
        // applies it again at the next start instead of losing it.
        state.effects.apply(&state.args.writer, &state.args.status);
        let writer = state.args.writer.clone();
        let queue = state.args.requests.clone();
        tokio::spawn(async move {
            if writer.sync().await.is_ok() {
                queue.done(&path);
            }
            if let Ok(mut set) = in_progress.lock() {
                set.remove(&path);
            }
        });
    }
    changed
}

/// Pauses or resumes a policy, persistently.
pub(crate) fn pause(
    state: &mut ReconcilerState,
    policy: &str,
    paused: bool,
) -> Result<String, ControlFailure> {
    if policy_of(state, policy).is_none() {
        return Err(ControlFailure::NotFound(format!(
            "no policy named {policy:?} is in force"
        )));
    }
    let changed = if paused {
        state.paused.insert(policy.to_owned())
    } else {
        state.paused.remove(policy)
    };
    let verb = if paused { "paused" } else { "resumed" };
    if !changed {
        return Ok(format!("{policy} was already {verb}"));
    }
    if paused {
        state
            .effects
            .control(paused_key(policy), Some(b"true".to_vec()));
    } else {
        state.effects.control(paused_key(policy), None);
    }
    state.effects.publish_paused(state.paused.clone());
    let (kind, reason) = if paused {
        (
            HealEventKind::Paused,
            "paused by an operator: targets are assessed but nothing is decided or done until `hale resume`",
        )
    } else {
        (HealEventKind::Resumed, "resumed by an operator")
    };
    state.effects.record(HealEvent::new(
        state.args.clock.now(),
        kind,
        policy,
        None,
        reason,
    ));
    Ok(format!("{policy} {verb}"))
}

/// Turns healing of `target` (name or ID prefix) off or back on, in every policy,
/// persistently: the per-container switch. A disabled target is still assessed and shown,
/// but nothing is decided or done for it.
pub(crate) fn disable(
    state: &mut ReconcilerState,
    target: &str,
    disabled: bool,
) -> Result<String, ControlFailure> {
    let keys = matching_keys(state, target, None)?;
    let Some((_, name)) = keys.first() else {
        return Err(ControlFailure::NotFound(format!(
            "no policy in force watches a target named {target:?} (see `hale get targets`)"
        )));
    };
    let name = name.clone();
    let changed = if disabled {
        state.disabled.insert(name.clone())
    } else {
        state.disabled.remove(&name)
    };
    let verb = if disabled {
        "healing is off"
    } else {
        "healing is on"
    };
    if !changed {
        return Ok(format!("{name}: {verb} already"));
    }
    state
        .effects
        .control(disabled_key(&name), disabled.then(|| b"true".to_vec()));
    state.effects.publish_disabled(state.disabled.clone());
    let (kind, reason) = if disabled {
        (
            HealEventKind::Disabled,
            "healing turned off by an operator: assessed and shown, never remediated, until it is turned back on",
        )
    } else {
        (
            HealEventKind::Enabled,
            "healing turned back on by an operator",
        )
    };
    let reference = target_ref(&state.containers, &name);
    let now = state.args.clock.now();
    for (policy, _) in &keys {
        state
            .effects
            .record(HealEvent::new(now, kind, policy, Some(&reference), reason));
    }
    Ok(format!("{name}: {verb}"))
}

/// The target keys matching `target` in `policy` (or all): a target name, else a prefix of
/// a container ID of any length, as the docker CLI takes them, if it names one container.
fn matching_keys(
    state: &ReconcilerState,
    target: &str,
    policy: Option<&str>,
) -> Result<Vec<(String, String)>, ControlFailure> {
    let named = state.targets.keys().any(|(_, n)| n == target);
    let by_id: Vec<&str> =
        if named || target.is_empty() || !target.bytes().all(|b| b.is_ascii_hexdigit()) {
            Vec::new()
        } else {
            state
                .containers
                .values()
                .filter(|c| c.id.starts_with(target))
                .map(|c| c.name.as_str())
                .collect()
        };
    if by_id.len() > 1 {
        return Err(ControlFailure::Conflict(format!(
            "{target:?} is the start of {} container IDs ({}); give more of the ID, or the name",
            by_id.len(),
            by_id.join(", ")
        )));
    }
    let name = by_id.first().copied().unwrap_or(target);
    Ok(state
        .targets
        .keys()
        .filter(|(p, n)| n == name && policy.is_none_or(|only| only == p))
        .filter(|(p, _)| policy_of(state, p).is_some())
        .cloned()
        .collect())
}

/// Asks for an immediate remediation of `target`: every matching (policy, target) is
/// checked first, and nothing is changed unless all can be healed.
pub(crate) fn heal(
    state: &mut ReconcilerState,
    target: &str,
    policy: Option<&str>,
) -> Result<String, ControlFailure> {
    let current: std::collections::HashSet<&str> =
        state.containers.values().map(|c| c.name.as_str()).collect();
    let keys: Vec<(String, String)> = matching_keys(state, target, policy)?
        .into_iter()
        .filter(|(p, name)| {
            if hale_core::is_policy_target(name) {
                policy_of(state, p).is_some_and(|p| hale_core::policy_has_target(&p.spec, name))
            } else {
                current.contains(name.as_str())
            }
        })
        .collect();
    if keys.is_empty() {
        return Err(ControlFailure::NotFound(format!(
            "no policy in force watches a current target named {target:?}{}",
            policy
                .map(|p| format!(" (in policy {p})"))
                .unwrap_or_default()
        )));
    }
    for key in &keys {
        if state.disabled.contains(&key.1) {
            return Err(ControlFailure::Conflict(format!(
                "healing of {} is turned off; `hale enable {}` first",
                key.1, key.1
            )));
        }
        if state.paused.contains(&key.0) {
            return Err(ControlFailure::Conflict(format!(
                "policy {} is paused; `hale resume {}` first",
                key.0, key.0
            )));
        }
        let Some(target_state) = state.targets.get(key) else {
            continue;
        };
        if target_state.quarantine.is_some() {
            return Err(ControlFailure::Conflict(format!(
                "{} is quarantined in policy {}; `hale unquarantine {}` first",
                key.1, key.0, key.1
            )));
        }
        if target_state.in_flight {
            return Err(ControlFailure::Conflict(format!(
                "an action on {} is running in policy {}",
                key.1, key.0
            )));
        }
    }
    for key in &keys {
        if let Some(target_state) = state.targets.get_mut(key) {
            target_state.heal_requested = true;
            state.effects.persist(key, target_state);
        }
    }
    let policies: Vec<&str> = keys.iter().map(|(p, _)| p.as_str()).collect();
    Ok(format!(
        "healing {target} now (policy {})",
        policies.join(", ")
    ))
}

/// The policy in force called `name`.
pub(crate) fn policy_of<'a>(state: &'a ReconcilerState, name: &str) -> Option<&'a HealPolicy> {
    state.args.policies.iter().find(|p| p.metadata.name == name)
}
