//! Actions run in spawned tasks, never in the mailbox: starting them, taking their results
//! back into the ladder, and draining them at shutdown.

use std::sync::Arc;
use std::time::Duration;

use hale_core::{HealEvent, HealEventKind, TargetRef};
use ractor::ActorRef;

use crate::action::{ActionOutcome, ActionResult, PlannedAction};
use crate::assess::ProbeTrack;
use crate::episodes::link;
use crate::executor::execute;
use crate::fleet_rails::RailsCheck;
use crate::persist::target_ref;
use crate::state::ReconcilerMsg;
use crate::state::ReconcilerState;

pub(crate) fn start_action(
    myself: &ActorRef<ReconcilerMsg>,
    state: &mut ReconcilerState,
    key: (String, String),
    target: TargetRef,
    planned: PlannedAction,
    episode: Option<tracing::Span>,
) {
    let action_span = tracing::info_span!(
        parent: episode.as_ref().and_then(tracing::Span::id),
        "hale.action",
        otel.name = %format!("{} {}", hale_core::action_name(planned.action), target.name),
        hale.policy = %key.0,
        hale.target = %target.name,
        hale.action = %hale_core::action_name(planned.action),
        hale.step = planned.step + 1,
        container.id = %target.id,
        container.name = %target.name,
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    let docker = Arc::clone(&state.args.docker);
    let http = state.args.http.clone();
    // Fleet mode: the fencing check this action must pass first (sites only).
    let fence = state.args.fleet.as_ref().and_then(|gate| {
        crate::fleet::lease_subject(&key.0, &target.name).map(|subject| gate.fence(subject))
    });
    // `scope: Fleet`: the rails the service's replicas share, asked right after the fence.
    let rails = rails_of(state, &key, &planned);
    // What this step decided (the in-flight mark above all) goes to the writer before
    // the task waits for it to be durable.
    state.effects.apply(&state.args.writer, &state.args.status);
    let writer = state.args.writer.clone();
    let reply_to = myself.clone();
    let mailbox = state.args.mailbox.clone();
    let task_key = key.clone();
    let live = Arc::clone(&state.args.live_actions);
    if let Ok(mut running) = live.lock() {
        running.insert(key.clone(), None);
    }
    let handle = tokio::spawn(tracing::Instrument::instrument(
        async move {
            // The decision (and the in-flight mark with its cooldown) must be on disk before
            // Docker is touched: a crash right after the restart must not cause another one.
            let span = tracing::Span::current();
            let outcome = match writer.sync().await {
                // The fencing check comes last, as close to the action as it can be.
                Ok(()) => match held_by(fence.as_ref(), rails.as_ref()).await {
                    Some(result) => ActionOutcome {
                        result,
                        duration: Duration::ZERO,
                        bytes_freed: None,
                    },
                    None => execute(docker.as_ref(), &http, &task_key.0, &target, &planned).await,
                },
                Err(error) => ActionOutcome {
                    result: ActionResult::Failed(format!(
                        "not run: the state store failed ({error})"
                    )),
                    duration: Duration::ZERO,
                    bytes_freed: None,
                },
            };
            if let ActionResult::Failed(_) = &outcome.result {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", "action_failed");
            }
            // Kept until a reconciler applies it: if none is there to be told now (it is
            // being restarted), its successor finds the result at its start.
            if let Ok(mut running) = live.lock() {
                running.insert(task_key.clone(), Some((planned.clone(), outcome.clone())));
            }
            // The reconciler that asked may have been restarted: tell the incarnation its
            // supervisor handed in last (none handed in: the one that asked).
            let current = mailbox.get().unwrap_or(reply_to);
            let _ = current.cast(ReconcilerMsg::ActionFinished {
                key: task_key,
                planned: Box::new(planned),
                outcome: outcome.clone(),
            });
            outcome
        },
        action_span,
    ));
    state.running.insert(key, handle);
}

/// The fleet rails `planned` must pass, when its target is a replica of a `scope: Fleet`
/// service and this node runs in fleet mode.
fn rails_of(
    state: &ReconcilerState,
    key: &(String, String),
    planned: &PlannedAction,
) -> Option<RailsCheck> {
    let gate = state.args.fleet.as_ref()?;
    let policy = state
        .args
        .policies
        .iter()
        .find(|p| p.metadata.name == key.0)?;
    let container = state.containers.values().find(|c| c.name == key.1)?;
    let replica = crate::fleet_rails::replica_of(gate, policy, container)?;
    Some(RailsCheck::new(gate, replica, policy, planned))
}

/// What to record instead of acting when fleet mode's fencing check or the fleet's rails
/// hold the action.
async fn held_by(
    fence: Option<&crate::fleet::Fence>,
    rails: Option<&RailsCheck>,
) -> Option<ActionResult> {
    if let Some(fence) = fence
        && let Some(held) = fence.check().await
    {
        return Some(held);
    }
    match rails {
        Some(rails) => rails.check().await,
        None => None,
    }
}

/// Applies an action's outcome to the target's state and records it.
pub(crate) fn finish(
    state: &mut ReconcilerState,
    key: &(String, String),
    planned: &PlannedAction,
    outcome: &ActionOutcome,
) {
    if let Ok(mut live) = state.args.live_actions.lock() {
        live.remove(key);
    }
    let now = state.args.clock.now();
    let Some(target_state) = state.targets.get_mut(key) else {
        return;
    };
    // What the action answered, carried on its result (metrics count actions by alert).
    let signal = target_state.signal.clone();
    crate::decide::finish_action(target_state, planned.action, &outcome.result, now);
    // A held action did nothing: its decision is taken back, and the hold is said once.
    let mut repeated_hold = false;
    let held = if let ActionResult::Held {
        reason,
        retry_in,
        rung,
    } = &outcome.result
    {
        planned.before.restore(target_state, *retry_in, now);
        if let Some(rung) = rung {
            crate::held::climb_to(target_state, *rung);
        }
        repeated_hold = target_state.reported_skip.as_deref() == Some(reason.as_str());
        target_state.reported_skip = Some(reason.clone());
        true
    } else {
        false
    };
    if held {
        // Nothing touched the target: its probes' tallies stand.
    } else if matches!(
        planned.action,
        hale_policy::Action::Restart
            | hale_policy::Action::StopStart
            | hale_policy::Action::Recreate
    ) {
        // The container was restarted or replaced: its probes start counting afresh, as
        // the kubelet's do after a restart.
        state.probe_tracks.remove(key);
    } else if let Some(tracks) = state.probe_tracks.get_mut(key) {
        // Only passes seen after the action count towards its recovery.
        tracks.values_mut().for_each(ProbeTrack::forget_successes);
    }
    target_state.tracks = state.probe_tracks.get(key).cloned().unwrap_or_default();
    state.effects.persist(key, target_state);
    let target = target_ref(&state.containers, &key.1);
    let (kind, result, reason) = match &outcome.result {
        ActionResult::Succeeded(detail) => (
            HealEventKind::ActionSucceeded,
            "ok".to_owned(),
            detail.clone(),
        ),
        ActionResult::Skipped(detail) => (
            HealEventKind::Skipped,
            "skipped".to_owned(),
            format!(
                "{detail}; the attempt is not counted, and hale looks again when the step's wait is over"
            ),
        ),
        ActionResult::Failed(error) => (
            HealEventKind::ActionFailed,
            error.clone(),
            format!("{error}; hale tries again or escalates when the step's wait is over"),
        ),
        ActionResult::OperatorStopped(detail) => (
            HealEventKind::Skipped,
            "operator".to_owned(),
            format!("{detail}: the operator's stop wins, and the episode ends"),
        ),
        // The fleet's ladder is further up: this replica escalates there, and says so as a
        // local escalation does.
        ActionResult::Held {
            reason,
            rung: Some(_),
            ..
        } => (
            HealEventKind::Escalated,
            "held".to_owned(),
            format!("{reason}; not an attempt"),
        ),
        ActionResult::Held { reason, .. } => (
            HealEventKind::Skipped,
            "held".to_owned(),
            format!("{reason}; not an attempt, hale asks again when the hold may be over"),
        ),
    };
    if repeated_hold {
        return;
    }
    let mut event = HealEvent::new(now, kind, &key.0, Some(&target), reason);
    event.action = Some(planned.action);
    event.step = Some((planned.step, planned.attempt));
    event.result = Some(result);
    event.duration_ms = Some(outcome.duration.as_millis() as u64);
    event.bytes_freed = outcome.bytes_freed;
    event.signal = signal;
    link(&mut event, state.episodes.get(key));
    state.effects.record(event);
    if matches!(outcome.result, ActionResult::OperatorStopped(_)) {
        state.episodes.remove(key);
        if let Some(target_state) = state.targets.get_mut(key) {
            target_state.episode = None;
            state.effects.persist(key, target_state);
        }
    }
}

/// Waits up to `grace` for running actions; records the rest as interrupted.
pub(crate) async fn drain(state: &mut ReconcilerState, grace: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + grace;
    let running: Vec<_> = state.running.drain().collect();
    let mut interrupted = 0;
    for (key, mut handle) in running {
        let finished = tokio::time::timeout_at(deadline, &mut handle).await;
        if finished.is_err() {
            // Stop waiting for Docker's answer; Docker finishes the operation on its own.
            handle.abort();
        }
        match finished {
            Ok(Ok(outcome)) => {
                // The task's own ActionFinished message will find nothing to do.
                let planned = PlannedAction {
                    action: state
                        .targets
                        .get(&key)
                        .and_then(|t| t.last_action)
                        .unwrap_or(hale_policy::Action::Notify),
                    step: state.targets.get(&key).map_or(0, |t| t.step),
                    attempt: state.targets.get(&key).map_or(0, |t| t.attempts_in_step),
                    stop_timeout: 0,
                    webhook: None,
                    coolify: None,
                    prune: None,
                    reason: String::new(),
                    before: crate::held::LadderBefore::default(),
                };
                finish(state, &key, &planned, &outcome);
            }
            _ => {
                interrupted += 1;
                let target = TargetRef {
                    id: String::new(),
                    name: key.1.clone(),
                };
                let mut event = HealEvent::new(
                    state.args.clock.now(),
                    HealEventKind::Interrupted,
                    &key.0,
                    Some(&target),
                    format!(
                        "hale is shutting down; the action did not finish within {}s",
                        grace.as_secs()
                    ),
                );
                event.action = state.targets.get(&key).and_then(|t| t.last_action);
                state.effects.record(event);
                // Recorded now, so the next start must not record it again; the cooldown
                // the action set stays.
                if let Some(target) = state.targets.get_mut(&key) {
                    target.in_flight = false;
                    state.effects.persist(&key, target);
                }
            }
        }
    }
    interrupted
}
