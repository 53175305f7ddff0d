//! One reconcile pass: assess every target of every policy, hold the `maxUnhealthy`
//! circuit, decide, publish the status, and start the actions decided.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use hale_core::{HealEvent, HealEventKind, TargetRef, TargetStatus};
use ractor::ActorRef;

use crate::actions::start_action;
use crate::alerts::with_alerts;
use crate::assess::{assess, assess_policy_target};
use crate::circuit::{CircuitReading, counts_as_failing};
use crate::decide::{PolicyContext, Subject, decide};
use crate::episodes::link;
use crate::episodes::trace_episode;
use crate::fleet_circuit::{self, FleetVerdict, Pending};
use crate::selection::{self, Selection};
use crate::state::ReconcilerMsg;
use crate::state::ReconcilerState;
use crate::target_state::TargetState;

/// Reconcile everything at least this often, timers or not.
const MAX_IDLE: Duration = Duration::from_secs(5);

/// How soon to look again at a failure waiting for the fleet's settled counts, should the
/// counter's reading not wake the reconciler first.
const FLEET_RECHECK: Duration = Duration::from_millis(500);

/// Re-evaluates every target of every policy, records what was decided, and starts the
/// chosen actions.
pub(crate) fn reconcile(myself: &ActorRef<ReconcilerMsg>, state: &mut ReconcilerState) {
    if state.draining {
        // Shutting down: decide nothing more (a decision changes the ladder even when its
        // action is never run).
        return;
    }
    let now = state.args.clock.now();
    let mut next_wake = now.plus(MAX_IDLE);
    let mut to_start = Vec::new();
    let mut to_estimate = Vec::new();
    let mut published: Vec<(String, Option<String>, Vec<TargetStatus>)> = Vec::new();
    // Fleet mode: the lease subjects seen in this pass, for the keeper.
    let mut subjects = Vec::new();
    // Fleet mode: the fleet-scoped policies of this pass, for the circuit counter.
    let mut fleet_policies = BTreeSet::new();
    let policies = Arc::clone(&state.args.policies);
    for policy in policies.iter() {
        let name = policy.metadata.name.as_str();
        let spec = &policy.spec;
        let Selection {
            targets: selected,
            own,
        } = selection::selected(&state.containers, spec, state.args.own_container.as_deref());
        if let Some(me) = own {
            // hale never remediates itself: a restart would lose the decision being made.
            if state.own_container_noted.insert(name.to_owned()) {
                let reference = TargetRef {
                    id: me.id.clone(),
                    name: me.name.clone(),
                };
                state.effects.record(HealEvent::new(
                    now,
                    HealEventKind::Skipped,
                    name,
                    Some(&reference),
                    "this is hale's own container: hale never remediates itself (Docker's restart policy brings it back)",
                ));
            }
        }
        let no_tracks = BTreeMap::new();
        let tracks_of = |target: &str| {
            state
                .probe_tracks
                .get(&(name.to_owned(), target.to_owned()))
                .unwrap_or(&no_tracks)
        };
        let dry_run = state.args.global_dry_run || spec.mode == hale_policy::Mode::DryRun;
        let stable_period = spec.remediation.stable_period.as_std();
        let verification_of = |target: &str| {
            state
                .targets
                .get(&(name.to_owned(), target.to_owned()))
                .and_then(|t| t.ladder_for(dry_run).verification(stable_period))
        };
        let containers = selected.iter().map(|c| {
            let verify = verification_of(&c.name);
            let assessment = assess(spec, c, tracks_of(&c.name), verify.as_ref(), now);
            (Subject::Container(c), assessment)
        });
        let sites = spec.sites.iter().map(|site| {
            let target = hale_core::site_target_name(&site.name);
            let verify = verification_of(&target);
            (
                Subject::Site(site),
                assess_policy_target(spec, &target, tracks_of(&target), verify.as_ref(), now),
            )
        });
        let hosts = spec
            .probes
            .iter()
            .filter(|p| p.disk.is_some())
            .map(|probe| {
                let target = hale_core::host_target_name(&probe.name);
                let verify = verification_of(&target);
                (
                    Subject::Host(probe.name.as_str()),
                    assess_policy_target(spec, &target, tracks_of(&target), verify.as_ref(), now),
                )
            });
        let alerts = &state.alerts;
        let assessed: Vec<(Subject<'_>, _)> = containers
            .chain(sites)
            .chain(hosts)
            .map(|(subject, assessment)| {
                let key = (name.to_owned(), subject.target_ref().name);
                let assessment = with_alerts(assessment, alerts.get(&key));
                (subject, assessment)
            })
            .collect();
        let paused = state.paused.contains(name);

        // Being remediated: an action running, or done and not yet proven by fresh
        // evidence (whatever the assessment says meanwhile: a restarted container not yet
        // seen running again is `unknown`, and must not stop counting).
        let being_remediated = |target: &str| {
            state
                .targets
                .get(&(name.to_owned(), target.to_owned()))
                .is_some_and(|t| t.in_flight || t.verifying_since.is_some())
        };
        let unhealthy: BTreeSet<String> = assessed
            .iter()
            .map(|(subject, assessment)| (subject.target_ref().name, assessment))
            .filter(|(target, assessment)| {
                counts_as_failing(assessment) || being_remediated(target)
            })
            .map(|(target, _)| target)
            .collect();
        let local = CircuitReading {
            max_unhealthy: spec.remediation.max_unhealthy,
            total: assessed.len(),
            failing: unhealthy.len(),
        };
        // Fleet mode, `scope: Fleet`: the circuit counts the other nodes' replicas too.
        let fleet_counting = state
            .args
            .fleet
            .as_ref()
            .filter(|_| spec.scope == hale_policy::Scope::Fleet)
            .map(|gate| &gate.counting);
        let (verdict, waiting) = match fleet_counting {
            None => (
                FleetVerdict {
                    reading: local,
                    frozen: false,
                    stale: false,
                },
                None,
            ),
            Some(counting) => {
                fleet_policies.insert(name.to_owned());
                // A site is one target that every node probes: each node counts it in its
                // own reading, none publishes it, so the fleet counts it once.
                let sites: Vec<String> = assessed
                    .iter()
                    .filter(|(subject, _)| matches!(subject, Subject::Site(_)))
                    .map(|(subject, _)| subject.target_ref().name)
                    .collect();
                let counts = hale_fleet::Counts {
                    failing: local.failing
                        - sites.iter().filter(|s| unhealthy.contains(*s)).count(),
                    total: local.total - sites.len(),
                };
                let seq = counting.send(name, counts);
                let reading = Arc::clone(&counting.reading.borrow());
                let last = reading.others.get(name).copied().unwrap_or_default();
                let verdict = fleet_circuit::verdict(
                    local,
                    reading.fresh_others(name),
                    last,
                    // Without maxUnhealthy there is no circuit to wait for.
                    local.max_unhealthy.is_none() || reading.settled >= seq,
                );
                let pending = state.fleet_pending.entry(name.to_owned()).or_default();
                if local.max_unhealthy.is_some() {
                    pending.follow(&unhealthy, seq);
                } else {
                    // Without maxUnhealthy there is no circuit to wait for.
                    *pending = Pending::default();
                }
                if pending.any_waits(reading.settled) {
                    // The counter's reading wakes the reconciler; this is the fallback.
                    next_wake = next_wake.min(now.plus(FLEET_RECHECK));
                }
                (verdict, Some((pending.clone(), reading.settled)))
            }
        };
        let reading = verdict.reading;
        let previous = state.circuits.remove(name);
        let was_open = previous.is_some();
        let open = verdict.is_open(was_open);
        let circuit = verdict.open_reason(was_open);
        let change = if verdict.frozen {
            None
        } else {
            reading.change(name, was_open, now)
        };
        if let Some(mut change) = change {
            if waiting.is_some() {
                change
                    .reason
                    .push_str("; counted across the fleet (scope: Fleet)");
            }
            if let Some(held) = &previous {
                // Closed: say who proved healthy, and from now on count only failures
                // observed after this instant (acting on what was seen while the shared
                // cause was still there would remediate targets that are fine again).
                let recovered: Vec<&str> = held
                    .iter()
                    .filter(|target| !unhealthy.contains(*target))
                    .map(String::as_str)
                    .collect();
                change.reason.push_str(&format!(
                    "; proven healthy since the circuit opened: {}; failures seen before now no longer count",
                    if recovered.is_empty() { "none (targets left the policy)".to_owned() } else { recovered.join(", ") }
                ));
                for ((policy, _), target) in state.targets.iter_mut() {
                    if policy == name {
                        target.fresh_after = Some(now);
                    }
                }
            }
            state.effects.record(change);
        }
        if open {
            state.circuits.insert(
                name.to_owned(),
                previous.unwrap_or_else(|| unhealthy.clone()),
            );
        }

        let context = PolicyContext {
            name,
            spec,
            global_dry_run: state.args.global_dry_run,
            circuit_open: open,
        };
        let mut statuses = Vec::with_capacity(assessed.len());
        for (subject, assessment) in assessed {
            let target = subject.target_ref();
            let key = (name.to_owned(), target.name.clone());
            let degraded = state.probe_tracks.get(&key).and_then(|tracks| {
                tracks
                    .values()
                    .find(|track| track.degraded)
                    .map(|track| track.degraded_reason.clone())
            });
            let disabled = state.disabled.contains(&target.name);
            let probes = probe_summaries(state.probe_tracks.get(&key));
            let standby = state.args.fleet.as_ref().and_then(|gate| {
                let subject = crate::fleet::lease_subject(name, &target.name)?;
                let standby = gate.standby(&subject);
                subjects.push(subject);
                standby
            });
            // Fleet-counted circuit: a new failure waits for the fleet's settled counts.
            let unsettled = waiting
                .as_ref()
                .is_some_and(|(pending, settled)| pending.waits(&target.name, *settled));
            let target_state = state.targets.entry(key.clone()).or_default();
            if paused || disabled || standby.is_some() || unsettled {
                // Paused, healing turned off for this target, (fleet mode) another node
                // holds its lease, or its failure is not yet counted across the fleet:
                // assessed and reported, never decided (the ladder does not move).
                let mut status =
                    target_status(&target, &assessment, degraded, target_state.ladder());
                status.disabled = disabled;
                status.standby = standby.or_else(|| {
                    unsettled.then(|| crate::fleet_circuit::Pending::REASON.to_owned())
                });
                status.probes = probes;
                status.selected_by = selected_by(spec, &subject);
                statuses.push(status);
                continue;
            }
            let before = target_state.clone();
            let decision = decide(context, subject, &assessment, target_state, now);
            let mut status = target_status(&target, &assessment, degraded, target_state.ladder());
            status.probes = probes;
            status.selected_by = selected_by(spec, &subject);
            statuses.push(status);
            let episode = trace_episode(
                &mut state.episodes,
                &mut target_state.episode,
                &key,
                &target,
                &decision,
            );
            if *target_state != before {
                state.effects.persist(&key, target_state);
            }
            if let Subject::Container(container) = subject {
                crate::fleet_rails::share_outcome(
                    state.args.fleet.as_ref(),
                    policy,
                    container,
                    &decision.events,
                    target_state.quarantine.as_ref(),
                );
            }
            for mut event in decision.events {
                link(&mut event, episode.as_ref());
                state.effects.record(event);
            }
            if let Some(wake) = decision.wake_at {
                next_wake = next_wake.min(wake);
            }
            if let Some(planned) = decision.estimate {
                to_estimate.push((name.to_owned(), target.clone(), planned));
            }
            if let Some(planned) = decision.action {
                to_start.push((key, target, planned, episode));
            }
        }
        published.push((name.to_owned(), circuit, statuses));
    }
    if let Some(gate) = &state.args.fleet {
        gate.cover(subjects);
        gate.counting.keep_only(&fleet_policies);
    }
    state
        .fleet_pending
        .retain(|policy, _| fleet_policies.contains(policy));
    let generations = Arc::clone(&state.args.generations);
    let unselected = unselected(state);
    state
        .effects
        .publish_targets(published, generations, unselected, now);
    state.next_wake = next_wake;
    for (key, target, planned, episode) in to_start {
        start_action(myself, state, key, target, planned, episode);
    }
    for (policy, target, planned) in to_estimate {
        crate::estimate::estimate_dry_run(myself, state, policy, target, planned);
    }
}

/// Where a target stands, for the status API. `degraded`: what a probe that passes but
/// sees a refusal (a site's 4xx) saw, shown as `degraded` rather than `healthy`.
fn target_status(
    target: &TargetRef,
    assessment: &crate::assess::Assessment,
    degraded: Option<String>,
    state: &TargetState,
) -> TargetStatus {
    use crate::assess::Assessment;
    let kind = if state.quarantine.is_some() {
        "quarantined"
    } else {
        match assessment {
            Assessment::Healthy if degraded.is_some() => "degraded",
            Assessment::Healthy => "healthy",
            Assessment::Verifying { .. } => "verifying",
            Assessment::Unknown => "unknown",
            Assessment::Pending { .. } => "pending",
            Assessment::Failing(_) => "failing",
        }
    };
    TargetStatus {
        name: target.name.clone(),
        id: if target.id == target.name {
            String::new()
        } else {
            target.id.clone()
        },
        state: kind.to_owned(),
        signal: assessment
            .failure()
            .map(|f| f.signal.clone())
            .or(degraded.filter(|_| matches!(assessment, Assessment::Healthy))),
        step: state.step + 1,
        last_action: state.last_action.map(hale_core::action_name),
        last_action_at: state.last_action_at,
        next_action_at: state.next_action_at,
        attempts: state.attempts_in_step,
        last_action_failed: state.last_action_failed,
        disabled: false,
        standby: None,
        probes: Vec::new(),
        selected_by: None,
    }
}

/// Which rule of the policy selected `subject`, for `hale get targets -o wide`.
fn selected_by(spec: &hale_policy::HealPolicySpec, subject: &Subject<'_>) -> Option<String> {
    match subject {
        Subject::Container(container) => spec
            .selector
            .as_ref()
            .and_then(|s| s.selects(&container.name, &container.labels)),
        Subject::Site(_) => Some("site".to_owned()),
        Subject::Host(_) => Some("disk probe".to_owned()),
    }
}

/// The periodic probes' tallies of one target, for the status API.
fn probe_summaries(
    tracks: Option<&BTreeMap<String, crate::assess::ProbeTrack>>,
) -> Vec<hale_core::ProbeSummary> {
    tracks
        .into_iter()
        .flatten()
        .map(|(name, track)| {
            let passing = track.consecutive_failures == 0;
            hale_core::ProbeSummary {
                name: name.clone(),
                passing,
                streak: if passing {
                    track.consecutive_successes
                } else {
                    track.consecutive_failures
                },
                last_failure: track.last_failure.clone(),
                last_failure_at: track.last_failure_at,
            }
        })
        .collect()
}

/// The containers that no policy in force selects, by name: what the dashboard lists
/// with the label that would opt each in.
fn unselected(state: &ReconcilerState) -> Vec<hale_core::UnselectedContainer> {
    let mut list: Vec<hale_core::UnselectedContainer> = state
        .containers
        .values()
        .filter(|c| {
            !state.args.policies.iter().any(|p| {
                p.spec
                    .selector
                    .as_ref()
                    .is_some_and(|s| s.matches(&c.name, &c.labels))
            })
        })
        .map(|c| hale_core::UnselectedContainer {
            name: c.name.clone(),
            id: c.id.clone(),
            labels: c.labels.clone(),
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}
