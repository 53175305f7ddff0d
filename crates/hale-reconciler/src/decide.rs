//! The remediation state machine of one target: a pure function of (policy, observation,
//! remediation state, now). The state it moves is [`TargetState`] (`target_state.rs`).
//!
//! No clock is read and nothing is touched here: the caller passes `now`, applies the
//! returned [`Decision`] (runs the action, stores the events) and keeps the updated
//! [`TargetState`]. That is what makes every rule testable with made-up instants.

use std::time::Duration;

use hale_core::{
    ContainerSnapshot, ContainerStatus, HealEvent, HealEventKind, TargetRef, Timestamp,
};
use hale_policy::{Action, HealPolicySpec, Mode, Site, Step};

use crate::action::{ActionResult, PlannedAction};
use crate::assess::{Assessment, FailureSignal};
use crate::target_state::{QuarantineState, TargetState};

/// The policy-level facts a target's decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct PolicyContext<'a> {
    /// The policy's name.
    pub name: &'a str,
    /// Its spec.
    pub spec: &'a HealPolicySpec,
    /// `--dry-run` for the whole controller.
    pub global_dry_run: bool,
    /// The `maxUnhealthy` circuit breaker is open: act on nothing.
    pub circuit_open: bool,
}

impl PolicyContext<'_> {
    fn dry_run(&self) -> bool {
        self.global_dry_run || self.spec.mode == Mode::DryRun
    }
}

/// What a decision is about: a container, or a site of the policy.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A selected container.
    Container(&'a ContainerSnapshot),
    /// One of the policy's sites.
    Site(&'a Site),
    /// The host, as the disk probe of this name watches it.
    Host(&'a str),
}

impl<'a> From<&'a ContainerSnapshot> for Subject<'a> {
    fn from(container: &'a ContainerSnapshot) -> Self {
        Self::Container(container)
    }
}

impl<'a> From<&'a Site> for Subject<'a> {
    fn from(site: &'a Site) -> Self {
        Self::Site(site)
    }
}

impl Subject<'_> {
    /// The reference audit records carry.
    pub fn target_ref(&self) -> TargetRef {
        match self {
            Self::Container(container) => TargetRef {
                id: container.id.clone(),
                name: container.name.clone(),
            },
            Self::Site(site) => {
                let name = hale_core::site_target_name(&site.name);
                TargetRef {
                    id: name.clone(),
                    name,
                }
            }
            Self::Host(probe) => {
                let name = hale_core::host_target_name(probe);
                TargetRef {
                    id: name.clone(),
                    name,
                }
            }
        }
    }

    /// Whether a ladder step can act on this target: container actions (restart,
    /// stopStart, recreate) need a container, Coolify actions a site with a `coolify`
    /// application, prune the host; webhook and notify act on anything. A policy that watches both
    /// containers and sites shares one ladder, and each target climbs the rungs it can use.
    pub fn can_use(&self, step: &Step) -> bool {
        match (self, step.action) {
            (Self::Container(_), Action::Restart | Action::StopStart | Action::Recreate) => true,
            (Self::Site(site), Action::CoolifyRestart | Action::CoolifyRedeploy) => {
                site.coolify.is_some()
            }
            (Self::Host(_), Action::Prune) => true,
            (_, Action::Webhook | Action::Notify) => true,
            _ => false,
        }
    }
}

/// What to do after a reconcile of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Audit records to store, in order.
    pub events: Vec<HealEvent>,
    /// The action to execute now (never in dry-run).
    pub action: Option<PlannedAction>,
    /// Reconcile this target again at this instant even if nothing changes.
    pub wake_at: Option<Timestamp>,
    /// A dry-run prune whose estimate (what it would free) the shell reads from Docker.
    pub estimate: Option<PlannedAction>,
}

/// Decides what to do about a target (a container or a site) under a policy, updating
/// `state`.
///
/// # Guarantees
/// - Never acts while an action on the target is in flight, while quarantined, while the
///   policy's circuit is open, or before `next_action_at` (step timeout, cooldown and
///   backoff, whichever ends last).
/// - Never acts on an operator's stop, on an exit Docker's restart policy will handle, or
///   on a container Docker is already restarting.
/// - Skips the ladder's rungs the target cannot use (see [`Subject::can_use`]).
/// - In dry-run, makes the same decisions and state changes, on the simulated ladder (see
///   [`TargetState::simulation`]), but returns no action. Out of dry-run the simulation is
///   set aside, and the first enforced action says so.
pub fn decide<'a>(
    policy: PolicyContext<'_>,
    subject: impl Into<Subject<'a>>,
    assessment: &Assessment,
    state: &mut TargetState,
    now: Timestamp,
) -> Decision {
    let subject = subject.into();
    if policy.dry_run() {
        return decide_on_ladder(policy, subject, assessment, state.ladder_mut(true), now);
    }
    let set_aside = state.simulation.take().is_some();
    let mut decision = decide_on_ladder(policy, subject, assessment, state, now);
    if set_aside {
        for event in &mut decision.events {
            if event.kind == HealEventKind::ActionStarted {
                event.reason.push_str(
                    "; the policy now enforces: the dry-run simulation's ladder was set aside, and this is the enforced ladder's decision",
                );
            }
        }
    }
    decision
}

/// [`decide`] on one ladder: the enforced one, or the dry-run simulation.
fn decide_on_ladder(
    policy: PolicyContext<'_>,
    subject: Subject<'_>,
    assessment: &Assessment,
    state: &mut TargetState,
    now: Timestamp,
) -> Decision {
    let container = match subject {
        Subject::Container(container) => Some(container),
        Subject::Site(_) | Subject::Host(_) => None,
    };
    let target = subject.target_ref();
    let mut decision = Decision::default();
    let remediation = &policy.spec.remediation;
    // The ladder may have been shortened since this state was stored.
    if state.step >= remediation.steps.len() {
        state.step = remediation.steps.len().saturating_sub(1);
        state.attempts_in_step = 0;
    }
    let event = |kind: HealEventKind, reason: String| {
        let mut event = HealEvent::new(now, kind, policy.name, Some(&target), reason);
        event.dry_run = policy.dry_run();
        event
    };

    if let Some(quarantine) = &state.quarantine {
        match quarantine.until {
            Some(until) if now >= until => {
                decision.events.push(event(
                    HealEventKind::Released,
                    "quarantine ended (releaseAfter elapsed)".into(),
                ));
                release(state, now);
            }
            until => {
                decision.wake_at = until;
                return decision;
            }
        }
    }
    if state.in_flight {
        return decision;
    }

    let owned_failure: FailureSignal;
    let forced = std::mem::take(&mut state.heal_requested);
    let failure = match assessment {
        _ if forced => {
            owned_failure = FailureSignal {
                probe: "operator".to_owned(),
                signal: "heal requested by an operator".to_owned(),
                since: now,
                observed_at: now,
            };
            &owned_failure
        }
        Assessment::Healthy => {
            if state.failing_since.is_some() || state.verifying_since.is_some() {
                if state.remediated {
                    let action = state
                        .last_action
                        .map(hale_core::action_name)
                        .unwrap_or_default();
                    decision.events.push(event(
                        HealEventKind::Recovered,
                        format!("healthy again after {action}"),
                    ));
                }
                state.failing_since = None;
                state.signal = None;
                state.healthy_since = Some(now);
                state.remediated = false;
                state.verifying_since = None;
            }
            state.reported_skip = None;
            return decision;
        }
        Assessment::Verifying { recheck_at } => {
            decision.wake_at = *recheck_at;
            return decision;
        }
        Assessment::Unknown => {
            if let Some(failure) = container.and_then(|c| left_stopped_by_own_action(c, state)) {
                owned_failure = failure;
                &owned_failure
            } else {
                // (A stop that ended before hale's own action did is hale's own stop, seen
                // late.)
                let stopped_since_action = container.is_some_and(|c| {
                    c.finished_at.is_some_and(|finished| {
                        state
                            .verifying_since
                            .or(state.last_action_at)
                            .is_none_or(|action_end| finished > action_end)
                    })
                });
                if let Some(container) = container
                    && container.stopped_by_operator
                    && container.status == ContainerStatus::Exited
                    && stopped_since_action
                    && (state.failing_since.is_some() || state.verifying_since.is_some())
                {
                    // An operator's hand wins: whatever hale was doing about this target,
                    // the episode ends with the operator's stop.
                    decision.events.push(event(
                        HealEventKind::Skipped,
                        "stopped by an operator; hale leaves it stopped and the episode ends"
                            .to_owned(),
                    ));
                    end_episode(state, now);
                }
                return decision;
            }
        }
        Assessment::Pending { until, .. } => {
            decision.wake_at = Some(*until);
            return decision;
        }
        Assessment::Failing(failure) => failure,
    };
    if !forced
        && state
            .fresh_after
            .is_some_and(|fresh| failure.observed_at <= fresh)
    {
        // Seen before hale's last action, or before the release or circuit close that
        // followed it: wait for a result newer than that.
        return decision;
    }
    // A fresh failure ends any verification: the action did not hold.
    state.verifying_since = None;

    if state.failing_since.is_none() {
        begin_failure(state, failure, remediation.backoff.reset_after.as_std());
        let mut failing = event(
            HealEventKind::Failing,
            format!("probe {} failed: {}", failure.probe, failure.signal),
        );
        failing.signal = Some(failure.signal.clone());
        failing.signal_at = Some(failure.since);
        decision.events.push(failing);
    }

    if let Some(reason) = container.and_then(leave_alone_reason).filter(|_| !forced) {
        if state.reported_skip.as_deref() != Some(reason) {
            decision
                .events
                .push(event(HealEventKind::Skipped, reason.to_owned()));
            state.reported_skip = Some(reason.to_owned());
        }
        return decision;
    }
    if policy.circuit_open && !forced {
        return decision;
    }
    if let Some(next) = state.next_action_at
        && now < next
        && !forced
    {
        decision.wake_at = Some(next);
        // A fresh failure, but the cooldown or backoff holds the next action: say so once.
        if state.reported_cooldown != Some(next) {
            state.reported_cooldown = Some(next);
            decision.events.push(event(
                HealEventKind::CooldownSkip,
                format!("still failing; cooldown and backoff hold the next action until {next}"),
            ));
        }
        return decision;
    }

    // Climb the ladder: past the rungs whose attempts are used up and those this target
    // cannot use; past the top, there is nothing left to try.
    let steps = &remediation.steps;
    let tried_at = (state.attempts_in_step > 0).then_some(state.step);
    let climbing = tried_at.is_some()
        && (state.attempts_in_step >= steps[state.step].attempts
            || !subject.can_use(&steps[state.step]));
    if climbing
        && !forced
        && let Some(escalate_at) = state.escalate_at
        && now < escalate_at
    {
        // The step's attempts are used up, but its timeout (the time it gets to work) is
        // not over: neither escalate nor give up yet.
        decision.wake_at = Some(escalate_at);
        return decision;
    }
    while state.step < steps.len()
        && (state.attempts_in_step >= steps[state.step].attempts
            || !subject.can_use(&steps[state.step]))
    {
        state.step += 1;
        state.attempts_in_step = 0;
    }
    if state.step >= steps.len() {
        state.step = steps.len() - 1;
        state.attempts_in_step = steps[state.step].attempts;
        let reason = if steps.iter().any(|step| subject.can_use(step)) {
            let attempts: u32 = steps.iter().map(|step| step.attempts).sum();
            format!(
                "still failing after the whole remediation ladder ({} {}, {attempts} {})",
                steps.len(),
                if steps.len() == 1 { "step" } else { "steps" },
                if attempts == 1 { "attempt" } else { "attempts" }
            )
        } else {
            "no step of the remediation ladder can act on this target (restart, stopStart and recreate need a container; coolifyRestart and coolifyRedeploy a site with a coolify application)".to_owned()
        };
        quarantine(state, policy, now, reason, &mut decision, &event);
        return decision;
    }
    if let Some(tried) = tried_at
        && tried != state.step
    {
        let next = hale_core::action_name(steps[state.step].action);
        decision.events.push(event(
            HealEventKind::Escalated,
            format!(
                "still failing after step {}; escalating to {next} (step {})",
                tried + 1,
                state.step + 1
            ),
        ));
    }
    let window = remediation.quarantine.within.as_std();
    state.action_times.retain(|t| now.since(*t) < window);
    if state.action_times.len() >= remediation.quarantine.after as usize {
        quarantine(
            state,
            policy,
            now,
            format!(
                "{} remediations within {} did not fix it",
                state.action_times.len(),
                remediation.quarantine.within
            ),
            &mut decision,
            &event,
        );
        return decision;
    }

    let step = &steps[state.step];
    let before = crate::held::LadderBefore::of(state);
    state.attempts_in_step += 1;
    state.action_times.push(now);
    state.last_action = Some(step.action);
    state.last_action_at = Some(now);
    state.last_step_timeout_ms = Some(step.timeout.as_std().as_millis() as u64);
    state.remediated = true;
    state.reported_skip = None;
    let backoff = match state.backoff_ms {
        None => remediation.backoff.initial.as_std(),
        Some(previous) => {
            (Duration::from_millis(previous) * 2).min(remediation.backoff.max.as_std())
        }
    };
    state.backoff_ms = Some(backoff.as_millis() as u64);
    // Retries come at the pace of the cooldown and the backoff (CrashLoopBackOff's 10 s,
    // 20 s, 40 s ... with the defaults), each only on a failure seen after this action;
    // climbing to the next rung also waits out this step's timeout.
    let wait = remediation.cooldown.as_std().max(backoff);
    state.next_action_at = Some(now.plus(wait));
    state.escalate_at = Some(now.plus(step.timeout.as_std()));
    state.fresh_after = Some(now);
    decision.wake_at = state.next_action_at;

    let planned = PlannedAction {
        action: step.action,
        step: state.step,
        attempt: state.attempts_in_step,
        stop_timeout: container.map_or(0, ContainerSnapshot::effective_stop_timeout),
        webhook: step.webhook.clone(),
        coolify: match subject {
            Subject::Site(site) => site.coolify.clone(),
            Subject::Container(_) | Subject::Host(_) => None,
        },
        prune: (step.action == hale_policy::Action::Prune)
            .then(|| step.prune.clone().unwrap_or_default()),
        reason: format!("probe {} failed: {}", failure.probe, failure.signal),
        before,
    };
    let verb = hale_core::action_name(step.action);
    let mut record = event(
        if policy.dry_run() {
            HealEventKind::DryRun
        } else {
            HealEventKind::ActionStarted
        },
        format!(
            "{verb} (step {} attempt {}/{}) because {}; next action no sooner than {}{}",
            state.step + 1,
            planned.attempt,
            step.attempts,
            failure.signal,
            hale_policy::Duration::from(wait),
            if policy.dry_run() {
                " (dry-run: nothing was done; this is the simulated ladder, and Enforce acts on its own)"
            } else {
                ""
            },
        ),
    );
    record.action = Some(step.action);
    record.step = Some((planned.step, planned.attempt));
    record.signal = Some(failure.signal.clone());
    record.signal_at = Some(failure.since);
    // From the newest evidence that confirmed the failure: a probe's result (observed_at),
    // or the Docker event hale received (a health check's own time is Docker's, earlier).
    let evidence = container
        .and_then(|c| c.received_at)
        .map_or(failure.observed_at, |received| {
            received.max(failure.observed_at)
        });
    record.reaction_ms = Some(now.since(evidence).as_millis() as u64);
    decision.events.push(record);
    if !policy.dry_run() {
        state.in_flight = true;
        decision.action = Some(planned);
    } else if planned.action == Action::Prune {
        decision.estimate = Some(planned);
    }
    decision
}

/// A container hale itself stopped (its restart, stopStart or recreate) whose action then
/// failed is not an operator's stop: it is a failure hale must keep handling.
fn left_stopped_by_own_action(
    container: &ContainerSnapshot,
    state: &TargetState,
) -> Option<FailureSignal> {
    let acted_at = state.last_action_at?;
    let stopped_by_hale = container.status == ContainerStatus::Exited
        && container.stopped_by_operator
        && state.last_action_failed
        && container
            .finished_at
            .is_some_and(|finished| finished >= acted_at);
    stopped_by_hale.then(|| FailureSignal {
        probe: "remediation".to_owned(),
        signal: "left stopped by hale's own failed action".to_owned(),
        since: container.finished_at.unwrap_or(acted_at),
        observed_at: container.finished_at.unwrap_or(acted_at),
    })
}

/// Starts tracking a new failure. The ladder and the backoff start over only when the
/// target had been healthy for `reset_after` (like the kubelet's CrashLoopBackOff), so a
/// target that flaps keeps escalating instead of restarting forever at the first rung.
fn begin_failure(state: &mut TargetState, failure: &FailureSignal, reset_after: Duration) {
    let recovered_for_long = state
        .healthy_since
        .is_some_and(|healthy| failure.since.since(healthy) >= reset_after);
    if recovered_for_long || state.last_action.is_none() {
        state.step = 0;
        state.attempts_in_step = 0;
        state.backoff_ms = None;
    }
    state.failing_since = Some(failure.since);
    state.healthy_since = None;
    state.signal = Some(failure.signal.clone());
    state.reported_cooldown = None;
}

/// Why a failing container must be left alone, if it must.
fn leave_alone_reason(container: &ContainerSnapshot) -> Option<&'static str> {
    if container.status == ContainerStatus::Restarting {
        return Some("Docker is already restarting it");
    }
    if container.docker_will_restart() {
        return Some("its restart policy makes Docker restart it; not racing Docker");
    }
    None
}

fn quarantine(
    state: &mut TargetState,
    policy: PolicyContext<'_>,
    now: Timestamp,
    reason: String,
    decision: &mut Decision,
    event: &dyn Fn(HealEventKind, String) -> HealEvent,
) {
    let until = policy
        .spec
        .remediation
        .quarantine
        .release_after
        .map(|after| now.plus(after.as_std()));
    let release = match until {
        Some(until) => format!("; released automatically at {until}"),
        None => "; release it with `hale unquarantine`".to_owned(),
    };
    decision.events.push(event(
        HealEventKind::Quarantined,
        format!("{reason}{release}"),
    ));
    state.quarantine = Some(QuarantineState {
        since: now,
        until,
        reason,
    });
    decision.wake_at = until;
}

/// Ends a quarantine at `now`: the ladder starts again from the first rung, on a failure
/// observed from now on (the failure that led to the quarantine is old news; acting on it
/// would remediate a target that may have recovered meanwhile).
pub fn release(state: &mut TargetState, now: Timestamp) {
    state.quarantine = None;
    state.step = 0;
    state.attempts_in_step = 0;
    state.backoff_ms = None;
    state.action_times.clear();
    state.next_action_at = None;
    state.escalate_at = None;
    state.failing_since = None;
    state.verifying_since = None;
    state.reported_skip = None;
    state.fresh_after = Some(now);
}

/// Records the end of an action at `now`. A skipped action (Coolify was already
/// deploying) gives its attempt back: its wait still holds, but waiting for someone else's
/// remediation neither escalates nor leads to quarantine. An action an operator overrode
/// (stopped the container during it) ends the episode. Any other starts the verification:
/// the target is recovered only on evidence newer than `now`.
pub fn finish_action(
    state: &mut TargetState,
    action: Action,
    result: &ActionResult,
    now: Timestamp,
) {
    state.in_flight = false;
    state.last_action_failed = matches!(result, ActionResult::Failed(_));
    match result {
        // Taken back whole by the caller (`LadderBefore::restore`).
        ActionResult::Held { .. } => {}
        ActionResult::Skipped(_) => {
            state.attempts_in_step = state.attempts_in_step.saturating_sub(1);
            state.action_times.pop();
            // Someone else is remediating (a deployment in progress): give it the step's
            // time before trying again, rather than the cooldown's.
            state.next_action_at = state.next_action_at.max(state.escalate_at);
        }
        ActionResult::OperatorStopped(_) => end_episode(state, now),
        ActionResult::Succeeded(_) | ActionResult::Failed(_) => {
            state.verifying_since = Some(now);
            state.verifying_restart = matches!(
                action,
                Action::Restart | Action::StopStart | Action::Recreate
            );
        }
    }
}

/// Ends the current episode without a recovery (an operator took over): the ladder's
/// position, cooldown and quarantine window stay, but nothing is failing or verifying.
fn end_episode(state: &mut TargetState, now: Timestamp) {
    state.failing_since = None;
    state.signal = None;
    state.verifying_since = None;
    state.remediated = false;
    state.healthy_since = None;
    state.fresh_after = Some(now);
}
