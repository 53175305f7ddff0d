//! The Reconciler actor: restores state, routes messages to the concept modules, and
//! keeps one timer for the next thing due.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
#[cfg(feature = "failpoints")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hale_core::{HealEvent, HealEventKind, TargetRef};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::actions::drain;
use crate::actions::finish;
use crate::alerts::take_alerts;
use crate::controls::apply_requests;
use crate::controls::disable;
use crate::controls::heal;
use crate::controls::pause;
use crate::controls::release_matching;
use crate::forget::collect_garbage;
use crate::forget::forget_changed_probes;
use crate::forget::forget_removed_policies;
use crate::reconcile::reconcile;
use crate::state::ControlFailure;
use crate::state::ReconcilerArgs;
use crate::state::ReconcilerMsg;
use crate::state::ReconcilerState;
use crate::tallies::record_probe;
use crate::target_state::TargetState;

/// A timer never fires sooner than this after the last one: the floor of how often an idle
/// reconciler wakes up, and how late a timer (threshold, cooldown, backoff, quarantine
/// release) may be.
const MIN_TICK: Duration = Duration::from_millis(50);

/// How often the request directory is checked.
const REQUEST_POLL: Duration = Duration::from_secs(1);

/// Set once the `reconciler-panic-once` failpoint fired in this process.
#[cfg(feature = "failpoints")]
static PANICKED_ONCE: AtomicBool = AtomicBool::new(false);

/// The Reconciler actor.
pub struct Reconciler;

impl Actor for Reconciler {
    type Msg = ReconcilerMsg;
    type State = ReconcilerState;
    type Arguments = ReconcilerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ReconcilerArgs,
    ) -> Result<ReconcilerState, ActorProcessingErr> {
        // A previous incarnation may still have writes queued: read after they landed.
        args.writer.sync().await.map_err(ActorProcessingErr::from)?;
        let store = Arc::clone(&args.store);
        let stored = tokio::task::spawn_blocking(move || store.states()).await??;
        let mut targets = BTreeMap::new();
        let mut probe_tracks = HashMap::new();
        let mut ended = Vec::new();
        let now = args.clock.now();
        for (key, bytes) in stored {
            let Some((policy, name)) = key.split_once('\0') else {
                continue;
            };
            let Ok(mut state) = serde_json::from_slice::<TargetState>(&bytes) else {
                tracing::warn!(key = %key.replace('\0', "/"), "ignoring unreadable stored state");
                continue;
            };
            let live = args
                .live_actions
                .lock()
                .ok()
                .and_then(|live| live.get(&(policy.to_owned(), name.to_owned())).cloned());
            if state.in_flight
                && let Some(Some((planned, outcome))) = &live
            {
                // It ended while no reconciler was there to be told: applied below.
                ended.push((
                    (policy.to_owned(), name.to_owned()),
                    planned.clone(),
                    outcome.clone(),
                ));
            }
            let still_running = live.is_some();
            if state.in_flight && !still_running {
                // hale stopped (or crashed) while this action ran: record it, and keep the
                // cooldown it set so that the restart does not cause an extra action.
                state.in_flight = false;
                let target = TargetRef {
                    id: String::new(),
                    name: name.to_owned(),
                };
                let mut event = HealEvent::new(
                    now,
                    HealEventKind::Interrupted,
                    policy,
                    Some(&target),
                    "hale stopped while this action was running; its outcome is unknown",
                );
                event.action = state.last_action;
                args.writer.record(event);
                args.writer
                    .put_state(key.clone(), serde_json::to_vec(&state)?);
            }
            if !state.tracks.is_empty() {
                probe_tracks.insert((policy.to_owned(), name.to_owned()), state.tracks.clone());
            }
            targets.insert((policy.to_owned(), name.to_owned()), state);
        }
        let store = Arc::clone(&args.store);
        let controls = tokio::task::spawn_blocking(move || store.controls()).await??;
        let with_prefix = |prefix: &str| -> std::collections::BTreeSet<String> {
            controls
                .iter()
                .filter_map(|(key, _)| key.strip_prefix(prefix).map(str::to_owned))
                .collect()
        };
        let paused = with_prefix("paused/");
        let disabled = with_prefix("disabled/");
        let (published_paused, published_disabled) = (paused.clone(), disabled.clone());
        args.status.update(|status| {
            status.paused = published_paused;
            status.disabled = published_disabled;
        });
        tracing::info!(
            policies = args.policies.len(),
            restored_targets = targets.len(),
            "reconciler started"
        );
        let mut state = ReconcilerState {
            args,
            containers: HashMap::new(),
            targets,
            circuits: HashMap::new(),
            fleet_pending: HashMap::new(),
            probe_tracks,
            gone_since: HashMap::new(),
            running: HashMap::new(),
            next_wake: now,
            next_request_poll: now,
            tick: None,
            requests_in_progress: Arc::default(),
            draining: false,
            paused,
            disabled,
            own_container_noted: std::collections::BTreeSet::new(),
            alerts: HashMap::new(),
            episodes: HashMap::new(),
            effects: crate::effects::Effects::default(),
        };
        for (key, planned, outcome) in ended {
            finish(&mut state, &key, &planned, &outcome);
        }
        state.effects.apply(&state.args.writer, &state.args.status);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ReconcilerMsg,
        state: &mut ReconcilerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ReconcilerMsg::Observed(snapshot) => {
                #[cfg(feature = "failpoints")]
                if state
                    .args
                    .failpoints
                    .iter()
                    .any(|f| f == "reconciler-panic-once")
                    && !PANICKED_ONCE.swap(true, Ordering::SeqCst)
                {
                    panic!("failpoint reconciler-panic-once fired");
                }
                state.gone_since.remove(&snapshot.name);
                let new_run = state
                    .containers
                    .get(&snapshot.id)
                    .is_none_or(|known| known.started_at != snapshot.started_at);
                if new_run {
                    state
                        .probe_tracks
                        .retain(|(_, name), _| *name != snapshot.name);
                }
                state.containers.insert(snapshot.id.clone(), snapshot);
                reconcile(&myself, state);
            }
            ReconcilerMsg::Removed { id } => {
                if let Some(gone) = state.containers.remove(&id) {
                    state.gone_since.insert(gone.name, state.args.clock.now());
                }
                reconcile(&myself, state);
            }
            ReconcilerMsg::Relisted(list) => {
                let now = state.args.clock.now();
                let present: std::collections::HashSet<&str> =
                    list.iter().map(|c| c.name.as_str()).collect();
                for old in state.containers.values() {
                    if !present.contains(old.name.as_str()) {
                        state.gone_since.entry(old.name.clone()).or_insert(now);
                    }
                }
                for name in &present {
                    state.gone_since.remove(*name);
                }
                state.containers = list.into_iter().map(|c| (c.id.clone(), c)).collect();
                reconcile(&myself, state);
            }
            ReconcilerMsg::ActionFinished {
                key,
                planned,
                outcome,
            } => {
                let ours = state.running.remove(&key).is_some();
                // Or started by the previous incarnation of this reconciler.
                let inherited = state.targets.get(&key).is_some_and(|t| t.in_flight);
                if ours || inherited {
                    finish(state, &key, &planned, &outcome);
                    reconcile(&myself, state);
                }
            }
            ReconcilerMsg::Probed(outcome) => {
                if record_probe(state, &outcome) {
                    reconcile(&myself, state);
                }
            }
            ReconcilerMsg::Policies {
                policies,
                generations,
            } => {
                forget_changed_probes(state, &policies);
                state.args.policies = policies;
                state.args.generations = generations;
                forget_removed_policies(state);
                reconcile(&myself, state);
            }
            ReconcilerMsg::Pause {
                policy,
                paused,
                reply,
            } => {
                let answer = pause(state, &policy, paused);
                answer_control(state, reply, answer);
                reconcile(&myself, state);
            }
            ReconcilerMsg::Unquarantine {
                target,
                policy,
                reply,
            } => {
                let answer =
                    release_matching(state, &target, policy.as_deref(), state.args.clock.now())
                        .and_then(|released| {
                            if released.is_empty() {
                                Err(ControlFailure::NotFound(format!(
                                    "{target} is not quarantined{}",
                                    policy
                                        .map(|p| format!(" in policy {p}"))
                                        .unwrap_or_default()
                                )))
                            } else {
                                Ok(format!("released {target} in {}", released.join(", ")))
                            }
                        });
                answer_control(state, reply, answer);
                state.next_wake = state.args.clock.now();
                reconcile(&myself, state);
            }
            ReconcilerMsg::Disable {
                target,
                disabled,
                reply,
            } => {
                let answer = disable(state, &target, disabled);
                answer_control(state, reply, answer);
                reconcile(&myself, state);
            }
            ReconcilerMsg::Heal {
                target,
                policy,
                reply,
            } => {
                let answer = heal(state, &target, policy.as_deref());
                answer_control(state, reply, answer);
                reconcile(&myself, state);
            }
            ReconcilerMsg::Recorded(event) => {
                state.effects.record(*event);
            }
            ReconcilerMsg::Alerts(alerts) => {
                if take_alerts(state, alerts) {
                    reconcile(&myself, state);
                }
            }
            ReconcilerMsg::Tick => {
                state.tick = None;
                let now = state.args.clock.now();
                if now >= state.next_request_poll {
                    state.next_request_poll = now.plus(REQUEST_POLL);
                    if apply_requests(state, now) {
                        state.next_wake = now;
                    }
                }
                if now >= state.next_wake {
                    collect_garbage(state, now);
                    reconcile(&myself, state);
                }
            }
            ReconcilerMsg::LeaseWon | ReconcilerMsg::FleetCounted => reconcile(&myself, state),
            ReconcilerMsg::Drain(grace, reply) => {
                state.draining = true;
                let interrupted = drain(state, grace).await;
                state.effects.apply(&state.args.writer, &state.args.status);
                let _ = state.args.writer.sync().await;
                let _ = reply.send(interrupted);
            }
        }
        state.effects.apply(&state.args.writer, &state.args.status);
        schedule_tick(&myself, state);
        Ok(())
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut ReconcilerState,
    ) -> Result<(), ActorProcessingErr> {
        schedule_tick(&myself, state);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut ReconcilerState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some((_, timer)) = state.tick.take() {
            timer.abort();
        }
        Ok(())
    }
}

/// Keeps one timer pending, for the earliest of the next reconcile that a policy's timers
/// ask for and the next look at the request directory. An idle reconciler so wakes up about
/// once a second instead of polling.
pub(crate) fn schedule_tick(myself: &ActorRef<ReconcilerMsg>, state: &mut ReconcilerState) {
    if state.draining {
        return;
    }
    let now = state.args.clock.now();
    let due = state
        .next_wake
        .min(state.next_request_poll)
        .max(now.plus(MIN_TICK));
    if state.tick.as_ref().is_some_and(|(at, _)| *at <= due) {
        return;
    }
    if let Some((_, timer)) = state.tick.take() {
        timer.abort();
    }
    let timer = myself.send_after(Duration::from_millis(due.0.saturating_sub(now.0)), || {
        ReconcilerMsg::Tick
    });
    state.tick = Some((due, timer));
}

/// Gives an operator's control request its answer, once what the answer says is published
/// and queued for the store (a reader of the status right after sees it).
fn answer_control(
    state: &mut ReconcilerState,
    reply: ractor::RpcReplyPort<Result<String, ControlFailure>>,
    answer: Result<String, ControlFailure>,
) {
    state.effects.apply(&state.args.writer, &state.args.status);
    let _ = reply.send(answer);
}
