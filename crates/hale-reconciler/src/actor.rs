//! The Reconciler actor: feeds observations to the pure decision logic, runs actions in
//! spawned tasks, and persists state and audit records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hale_core::{
    ContainerSnapshot, DockerPort, HealEvent, HealEventKind, StatusBoard, TargetRef, TargetStatus,
    Timestamp,
};
use hale_policy::HealPolicy;
use hale_store::{Request, RequestQueue, Store, StoreWriter};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

use crate::action::{ActionOutcome, ActionResult, PlannedAction};
use crate::assess::{ProbeTrack, assess, assess_site};
use crate::circuit::{CircuitReading, counts_as_failing};
use crate::decide::{PolicyContext, Subject, TargetState, decide};
use crate::executor::execute;

/// A pending [`ReconcilerMsg::Tick`], as ractor's `send_after` returns it.
type TickTimer = JoinHandle<Result<(), ractor::MessagingErr<ReconcilerMsg>>>;

/// The name the reconciler registers under, so that other actors find its current
/// incarnation after a restart.
pub const RECONCILER_NAME: &str = "hale-reconciler";

/// A timer never fires sooner than this after the last one: the floor of how often an idle
/// reconciler wakes up, and how late a timer (threshold, cooldown, backoff, quarantine
/// release) may be.
const MIN_TICK: Duration = Duration::from_millis(50);

/// Reconcile everything at least this often, timers or not.
const MAX_IDLE: Duration = Duration::from_secs(5);

/// State of a vanished container is kept this long, so a container that is recreated
/// (same name, new ID) keeps its ladder position, backoff and quarantine.
const GONE_RETENTION: Duration = Duration::from_secs(3600);

/// A firing alert not notified again for this long is dropped (Alertmanager repeats
/// firing alerts every `repeat_interval`, 4 h by default).
const ALERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// How often the request directory is checked.
const REQUEST_POLL: Duration = Duration::from_secs(1);

/// Set once the `reconciler-panic-once` failpoint fired in this process.
static PANICKED_ONCE: AtomicBool = AtomicBool::new(false);

/// Messages the reconciler understands.
pub enum ReconcilerMsg {
    /// A container's current state (after an event or an inspect).
    Observed(ContainerSnapshot),
    /// A container was removed.
    Removed {
        /// Its ID.
        id: String,
    },
    /// The complete list of containers (after start-up or a reconnect): replaces what the
    /// reconciler knew.
    Relisted(Vec<ContainerSnapshot>),
    /// An action task finished.
    ActionFinished {
        /// The policy and target name the action was for.
        key: (String, String),
        /// The action.
        planned: PlannedAction,
        /// How it went.
        outcome: ActionOutcome,
    },
    /// A probe ran.
    Probed(hale_core::ProbeOutcome),
    /// The policies in force changed (a reload), with their generations.
    Policies {
        /// The policies now in force.
        policies: Arc<Vec<HealPolicy>>,
        /// Their generations, by name.
        generations: Arc<BTreeMap<String, u64>>,
    },
    /// Pause (`true`) or resume a policy; replies what was done.
    Pause {
        /// The policy.
        policy: String,
        /// Pause or resume.
        paused: bool,
        /// The answer.
        reply: RpcReplyPort<Result<String, ControlFailure>>,
    },
    /// Release a quarantined target.
    Unquarantine {
        /// Target name or ID prefix.
        target: String,
        /// Only in this policy.
        policy: Option<String>,
        /// The answer.
        reply: RpcReplyPort<Result<String, ControlFailure>>,
    },
    /// Remediate a target now (the next rung of its ladder), whatever its state.
    Heal {
        /// Target name or ID prefix.
        target: String,
        /// Only in this policy.
        policy: Option<String>,
        /// The answer.
        reply: RpcReplyPort<Result<String, ControlFailure>>,
    },
    /// Alerts from Alertmanager: firing ones mark their targets failing, resolved ones
    /// clear them.
    Alerts(Vec<Alert>),
    /// A timer came due (see [`schedule_tick`]).
    Tick,
    /// Shutdown: start no new action, wait up to the given time for running ones, record
    /// the rest as interrupted, flush the store, then reply with how many were interrupted.
    Drain(Duration, RpcReplyPort<usize>),
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlFailure {
    /// No such policy or target.
    NotFound(String),
    /// The target's state does not allow it.
    Conflict(String),
}

/// One alert, as Alertmanager's webhook reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Firing (`true`) or resolved.
    pub firing: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Alertmanager's identity of the alert.
    pub fingerprint: String,
}

/// The firing alerts that mark one target failing: fingerprint to (alert name, when the
/// latest notification arrived).
type FiringAlerts = BTreeMap<String, (String, Timestamp)>;

/// What the reconciler starts with.
#[derive(Clone)]
pub struct ReconcilerArgs {
    /// The policies in force.
    pub policies: Arc<Vec<HealPolicy>>,
    /// Their generations, by name; reported as observed once applied.
    pub generations: Arc<BTreeMap<String, u64>>,
    /// Where the controller's status is published.
    pub status: StatusBoard,
    /// The Docker daemon.
    pub docker: Arc<dyn DockerPort>,
    /// Where state and audit records are persisted.
    pub store: Arc<Store>,
    /// The writer of that store.
    pub writer: StoreWriter,
    /// `--dry-run`: decide and record, act on nothing.
    pub global_dry_run: bool,
    /// Test-only fault injection (`HALE_FAILPOINTS`), e.g. `reconciler-panic-once`.
    pub failpoints: Vec<String>,
    /// Operator requests (`hale unquarantine`).
    pub requests: RequestQueue,
    /// The HTTP client for webhook actions (shared, so connections are reused).
    pub http: reqwest::Client,
    /// Actions running right now, by (policy, target). Shared across incarnations, so a
    /// restarted reconciler knows an in-flight action is still running rather than
    /// interrupted, and accepts its result.
    pub live_actions: Arc<std::sync::Mutex<std::collections::HashSet<(String, String)>>>,
}

/// The Reconciler actor.
pub struct Reconciler;

/// The reconciler's working state.
pub struct ReconcilerState {
    args: ReconcilerArgs,
    containers: HashMap<String, ContainerSnapshot>,
    targets: BTreeMap<(String, String), TargetState>,
    /// Policies whose circuit is open, with the targets that were unhealthy when it opened.
    circuits: HashMap<String, BTreeSet<String>>,
    /// Periodic probes' tallies by (policy, target name), then probe name.
    probe_tracks: HashMap<(String, String), BTreeMap<String, crate::assess::ProbeTrack>>,
    gone_since: HashMap<String, Timestamp>,
    running: HashMap<(String, String), JoinHandle<ActionOutcome>>,
    next_wake: Timestamp,
    next_request_poll: Timestamp,
    /// The one pending [`ReconcilerMsg::Tick`] timer and when it fires.
    tick: Option<(Timestamp, TickTimer)>,
    /// Requests applied but not yet durable; their files are deleted once they are.
    requests_in_progress: Arc<std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>>,
    draining: bool,
    /// Policies paused by an operator (persisted as `paused/<policy>` controls).
    paused: std::collections::BTreeSet<String>,
    /// Firing alerts by (policy, target name).
    alerts: HashMap<(String, String), FiringAlerts>,
    /// The trace span of each remediation episode in progress, by (policy, target name):
    /// opened at the first failure, closed at recovery or quarantine.
    episodes: HashMap<(String, String), tracing::Span>,
}

/// The trace and span ids of `span`, when traces are exported.
fn trace_ids(span: &tracing::Span) -> Option<(String, String)> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

/// Marks `event` as part of the episode traced by `span`.
fn link(event: &mut HealEvent, span: Option<&tracing::Span>) {
    if let Some((trace, span)) = span.and_then(trace_ids) {
        event.trace_id = Some(trace);
        event.span_id = Some(span);
    }
}

/// The store key of a paused policy.
fn paused_key(policy: &str) -> String {
    format!("paused/{policy}")
}

fn state_key((policy, name): &(String, String)) -> String {
    format!("{policy}\0{name}")
}

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
        let now = Timestamp::now();
        for (key, bytes) in stored {
            let Some((policy, name)) = key.split_once('\0') else {
                continue;
            };
            let Ok(mut state) = serde_json::from_slice::<TargetState>(&bytes) else {
                tracing::warn!(key = %key.replace('\0', "/"), "ignoring unreadable stored state");
                continue;
            };
            let still_running = args
                .live_actions
                .lock()
                .is_ok_and(|live| live.contains(&(policy.to_owned(), name.to_owned())));
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
        let paused: std::collections::BTreeSet<String> =
            tokio::task::spawn_blocking(move || store.controls())
                .await??
                .into_iter()
                .filter_map(|(key, _)| key.strip_prefix("paused/").map(str::to_owned))
                .collect();
        let published = paused.clone();
        args.status.update(|status| status.paused = published);
        tracing::info!(
            policies = args.policies.len(),
            restored_targets = targets.len(),
            "reconciler started"
        );
        Ok(ReconcilerState {
            args,
            containers: HashMap::new(),
            targets,
            circuits: HashMap::new(),
            probe_tracks,
            gone_since: HashMap::new(),
            running: HashMap::new(),
            next_wake: now,
            next_request_poll: now,
            tick: None,
            requests_in_progress: Arc::default(),
            draining: false,
            paused,
            alerts: HashMap::new(),
            episodes: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ReconcilerMsg,
        state: &mut ReconcilerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ReconcilerMsg::Observed(snapshot) => {
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
                    state.gone_since.insert(gone.name, Timestamp::now());
                }
                reconcile(&myself, state);
            }
            ReconcilerMsg::Relisted(list) => {
                let now = Timestamp::now();
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
                let _ = reply.send(pause(state, &policy, paused));
                reconcile(&myself, state);
            }
            ReconcilerMsg::Unquarantine {
                target,
                policy,
                reply,
            } => {
                let answer = release_matching(state, &target, policy.as_deref(), Timestamp::now())
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
                let _ = reply.send(answer);
                state.next_wake = Timestamp::now();
                reconcile(&myself, state);
            }
            ReconcilerMsg::Heal {
                target,
                policy,
                reply,
            } => {
                let _ = reply.send(heal(state, &target, policy.as_deref()));
                reconcile(&myself, state);
            }
            ReconcilerMsg::Alerts(alerts) => {
                if take_alerts(state, alerts) {
                    reconcile(&myself, state);
                }
            }
            ReconcilerMsg::Tick => {
                state.tick = None;
                let now = Timestamp::now();
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
            ReconcilerMsg::Drain(grace, reply) => {
                state.draining = true;
                let interrupted = drain(state, grace).await;
                let _ = state.args.writer.sync().await;
                let _ = reply.send(interrupted);
            }
        }
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
fn schedule_tick(myself: &ActorRef<ReconcilerMsg>, state: &mut ReconcilerState) {
    if state.draining {
        return;
    }
    let now = Timestamp::now();
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

/// Re-evaluates every target of every policy, records what was decided, and starts the
/// chosen actions.
fn reconcile(myself: &ActorRef<ReconcilerMsg>, state: &mut ReconcilerState) {
    if state.draining {
        // Shutting down: decide nothing more (a decision changes the ladder even when its
        // action is never run).
        return;
    }
    let now = Timestamp::now();
    let mut next_wake = now.plus(MAX_IDLE);
    let mut to_start = Vec::new();
    let mut published: Vec<(String, Option<String>, Vec<TargetStatus>)> = Vec::new();
    let policies = Arc::clone(&state.args.policies);
    for policy in policies.iter() {
        let name = policy.metadata.name.as_str();
        let spec = &policy.spec;
        let mut selected: Vec<&ContainerSnapshot> = match &spec.selector {
            Some(selector) => state
                .containers
                .values()
                .filter(|c| selector.matches(&c.labels))
                .collect(),
            None => Vec::new(),
        };
        selected.sort_by(|a, b| a.name.cmp(&b.name));
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
                assess_site(spec, &site.name, tracks_of(&target), verify.as_ref(), now),
            )
        });
        let alerts = &state.alerts;
        let assessed: Vec<(Subject<'_>, _)> = containers
            .chain(sites)
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
        let reading = CircuitReading {
            max_unhealthy: spec.remediation.max_unhealthy,
            total: assessed.len(),
            failing: unhealthy.len(),
        };
        let open = reading.is_open();
        let previous = state.circuits.remove(name);
        let was_open = previous.is_some();
        let circuit = reading.open_reason();
        if let Some(mut change) = reading.change(name, was_open, now) {
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
            state.args.writer.record(change);
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
            let target_state = state.targets.entry(key.clone()).or_default();
            if paused {
                // Paused: assessed and reported, never decided (the ladder does not move).
                statuses.push(target_status(
                    &target,
                    &assessment,
                    degraded,
                    target_state.ladder(),
                ));
                continue;
            }
            let before = target_state.clone();
            let decision = decide(context, subject, &assessment, target_state, now);
            statuses.push(target_status(
                &target,
                &assessment,
                degraded,
                target_state.ladder(),
            ));
            let episode = trace_episode(
                &mut state.episodes,
                &mut target_state.episode,
                &key,
                &target,
                &decision,
            );
            if *target_state != before {
                persist(&state.args.writer, &key, target_state);
            }
            for mut event in decision.events {
                link(&mut event, episode.as_ref());
                state.args.writer.record(event);
            }
            if let Some(wake) = decision.wake_at {
                next_wake = next_wake.min(wake);
            }
            if let Some(planned) = decision.action {
                to_start.push((key, target, planned, episode));
            }
        }
        published.push((name.to_owned(), circuit, statuses));
    }
    let generations = Arc::clone(&state.args.generations);
    state.args.status.update(|status| {
        for (name, circuit, targets) in published {
            if let Some(policy) = status.policies.get_mut(&name) {
                policy.circuit_open = circuit;
                policy.targets = targets;
                if let Some(generation) = generations.get(&name) {
                    policy.observed_generation = policy.observed_generation.max(*generation);
                }
            }
        }
    });
    state.next_wake = next_wake;
    for (key, target, planned, episode) in to_start {
        start_action(myself, state, key, target, planned, episode);
    }
}

fn start_action(
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
    let writer = state.args.writer.clone();
    let reply_to = myself.clone();
    let task_key = key.clone();
    let live = Arc::clone(&state.args.live_actions);
    if let Ok(mut running) = live.lock() {
        running.insert(key.clone());
    }
    let handle = tokio::spawn(tracing::Instrument::instrument(
        async move {
            // The decision (and the in-flight mark with its cooldown) must be on disk before
            // Docker is touched: a crash right after the restart must not cause another one.
            let span = tracing::Span::current();
            let outcome = match writer.sync().await {
                Ok(()) => execute(docker.as_ref(), &http, &task_key.0, &target, &planned).await,
                Err(error) => ActionOutcome {
                    result: ActionResult::Failed(format!(
                        "not run: the state store failed ({error})"
                    )),
                    duration: Duration::ZERO,
                },
            };
            if let ActionResult::Failed(_) = &outcome.result {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", "action_failed");
            }
            if let Ok(mut running) = live.lock() {
                running.remove(&task_key);
            }
            // The reconciler that asked may have been restarted: tell the current one.
            let current = ractor::registry::where_is(RECONCILER_NAME)
                .map(ActorRef::<ReconcilerMsg>::from)
                .unwrap_or(reply_to);
            let _ = current.cast(ReconcilerMsg::ActionFinished {
                key: task_key,
                planned,
                outcome: outcome.clone(),
            });
            outcome
        },
        action_span,
    ));
    state.running.insert(key, handle);
}

/// Applies an action's outcome to the target's state and records it.
fn finish(
    state: &mut ReconcilerState,
    key: &(String, String),
    planned: &PlannedAction,
    outcome: &ActionOutcome,
) {
    let now = Timestamp::now();
    let Some(target_state) = state.targets.get_mut(key) else {
        return;
    };
    crate::decide::finish_action(target_state, planned.action, &outcome.result, now);
    if matches!(
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
    persist(&state.args.writer, key, target_state);
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
    };
    let mut event = HealEvent::new(now, kind, &key.0, Some(&target), reason);
    event.action = Some(planned.action);
    event.step = Some((planned.step, planned.attempt));
    event.result = Some(result);
    event.duration_ms = Some(outcome.duration.as_millis() as u64);
    link(&mut event, state.episodes.get(key));
    state.args.writer.record(event);
    if matches!(outcome.result, ActionResult::OperatorStopped(_)) {
        state.episodes.remove(key);
        if let Some(target_state) = state.targets.get_mut(key) {
            target_state.episode = None;
            persist(&state.args.writer, key, target_state);
        }
    }
}

/// Waits up to `grace` for running actions; records the rest as interrupted.
async fn drain(state: &mut ReconcilerState, grace: Duration) -> usize {
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
                    reason: String::new(),
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
                    Timestamp::now(),
                    HealEventKind::Interrupted,
                    &key.0,
                    Some(&target),
                    format!(
                        "hale is shutting down; the action did not finish within {}s",
                        grace.as_secs()
                    ),
                );
                event.action = state.targets.get(&key).and_then(|t| t.last_action);
                state.args.writer.record(event);
                // Recorded now, so the next start must not record it again; the cooldown
                // the action set stays.
                if let Some(target) = state.targets.get_mut(&key) {
                    target.in_flight = false;
                    persist(&state.args.writer, &key, target);
                }
            }
        }
    }
    interrupted
}

/// Counts a probe outcome for its target; true when the target's tally changed state.
/// Records a `degraded` event when a site starts answering 4xx.
fn record_probe(state: &mut ReconcilerState, outcome: &hale_core::ProbeOutcome) -> bool {
    let Some(probe) = state
        .args
        .policies
        .iter()
        .find(|p| p.metadata.name == outcome.policy)
        .and_then(|p| {
            p.spec
                .probes
                .iter()
                .find(|probe| probe.name == outcome.probe)
        })
    else {
        return false;
    };
    let target_name = if let Some(site) = hale_core::site_of_target(&outcome.target_id) {
        // A late outcome of a site the policy no longer has.
        if !policy_of(state, &outcome.policy)
            .is_some_and(|p| p.spec.sites.iter().any(|s| s.name == site))
        {
            return false;
        }
        outcome.target_id.clone()
    } else {
        let Some(container) = state.containers.get(&outcome.target_id) else {
            return false;
        };
        // Failures during the start period do not count (a pass does, as with Docker's own
        // start period: it is evidence that the container is up).
        if !outcome.success
            && let Some(started) = container.started_at
            && outcome.time < started.plus(probe.start_period.as_std())
        {
            return false;
        }
        container.name.clone()
    };
    let key = (outcome.policy.clone(), target_name);
    // A probe that started before hale's last action ended says nothing about the result.
    let verifying_since = state.targets.get(&key).and_then(|t| t.verifying_since);
    if verifying_since.is_some_and(|since| outcome.time < since) {
        return false;
    }
    let track = state
        .probe_tracks
        .entry(key.clone())
        .or_default()
        .entry(outcome.probe.clone())
        .or_default();
    let before = track.clone();
    track.record(probe, outcome.success, outcome.time, &outcome.reason);
    // Inside a remediation episode, each probe result is part of the story.
    if let Some(episode) = state.episodes.get(&key) {
        let _probe = tracing::info_span!(
            parent: episode.id(),
            "hale.probe",
            otel.name = %format!("probe {}", outcome.probe),
            hale.policy = %key.0,
            hale.target = %key.1,
            hale.probe = %outcome.probe,
            hale.probe.success = outcome.success,
            hale.probe.latency_ms = outcome.latency_ms,
            hale.probe.reason = %outcome.reason,
        );
    }
    track.degraded = outcome.degraded;
    track.degraded_reason = if outcome.degraded {
        format!("probe {} sees {}", outcome.probe, outcome.reason)
    } else {
        String::new()
    };
    if track.degraded && !before.degraded {
        let target = target_ref(&state.containers, &key.1);
        state.args.writer.record(HealEvent::new(
                outcome.time,
                HealEventKind::Degraded,
                &key.0,
                Some(&target),
                format!(
                    "probe {} sees {}: the site answers but refuses the request; recorded, not acted on (add a condition such as \"[STATUS] < 400\" to treat it as a failure)",
                    outcome.probe, outcome.reason
                ),
            ),
        );
    }
    let turned = before.failing_since != track.failing_since
        || (before.consecutive_failures == 0) != (track.consecutive_failures == 0);
    // The pass that completes `successThreshold` may be the evidence a verification waits for.
    let proven =
        track.consecutive_successes == probe.success_threshold && verifying_since.is_some();
    if turned && let Some(target) = state.targets.get_mut(&key) {
        // A confirmed failure (or its end) is state worth keeping across a restart of hale.
        target.tracks = state.probe_tracks.get(&key).cloned().unwrap_or_default();
        persist(&state.args.writer, &key, target);
    }
    turned || proven
}

/// Releases `target` (name or ID prefix) from quarantine in `policy` (or every policy);
/// returns the policies it was released in.
fn release_matching(
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
        persist(&state.args.writer, &key, target_state);
        let reference = target_ref(&state.containers, &key.1);
        state.args.writer.record(HealEvent::new(
            now,
            HealEventKind::Released,
            &key.0,
            Some(&reference),
            "released by an operator; the next failure starts the ladder again",
        ));
        released.push(key.0);
    }
    Ok(released)
}

/// Applies pending operator requests; true when any changed a target.
fn apply_requests(state: &mut ReconcilerState, now: Timestamp) -> bool {
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

/// A target with a firing alert is failing, whatever its probes say; the alert's latest
/// notification is the evidence (so Alertmanager's repeat notifications keep a target that
/// stays broken climbing the ladder).
fn with_alerts(
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
            signal: format!("alert {alertname} firing"),
            since: *since,
            // Alertmanager repeats a firing alert: its latest notification is the newest
            // evidence.
            observed_at: *since,
        }),
    }
}

/// Files alerts under the targets they name, per policy whose `alerts` rules match;
/// true when anything changed.
fn take_alerts(state: &mut ReconcilerState, alerts: Vec<Alert>) -> bool {
    let now = Timestamp::now();
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
                let target = match &rule.site_ref {
                    Some(site) => hale_core::site_target_name(site),
                    None => {
                        let Some(named) = alert.labels.get(&rule.target_label) else {
                            tracing::warn!(alert = %alertname, label = %rule.target_label, policy = %policy.metadata.name, "an alert matched but lacks the label that names its container");
                            continue;
                        };
                        state
                            .containers
                            .values()
                            .find(|c| {
                                c.name == *named
                                    || (named.len() >= 12 && c.id.starts_with(named.as_str()))
                            })
                            .map_or_else(|| named.clone(), |c| c.name.clone())
                    }
                };
                let key = (policy.metadata.name.clone(), target);
                state
                    .alerts
                    .entry(key)
                    .or_default()
                    .insert(alert.fingerprint.clone(), (alertname.clone(), now));
                changed = true;
            }
        }
    }
    changed
}

/// Pauses or resumes a policy, persistently.
fn pause(
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
            .args
            .writer
            .put_control(paused_key(policy), b"true".to_vec());
    } else {
        state.args.writer.delete_control(paused_key(policy));
    }
    let set = state.paused.clone();
    state.args.status.update(|status| status.paused = set);
    let (kind, reason) = if paused {
        (
            HealEventKind::Paused,
            "paused by an operator: targets are assessed but nothing is decided or done until `hale resume`",
        )
    } else {
        (HealEventKind::Resumed, "resumed by an operator")
    };
    state
        .args
        .writer
        .record(HealEvent::new(Timestamp::now(), kind, policy, None, reason));
    Ok(format!("{policy} {verb}"))
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
fn heal(
    state: &mut ReconcilerState,
    target: &str,
    policy: Option<&str>,
) -> Result<String, ControlFailure> {
    let current: std::collections::HashSet<&str> =
        state.containers.values().map(|c| c.name.as_str()).collect();
    let keys: Vec<(String, String)> = matching_keys(state, target, policy)?
        .into_iter()
        .filter(|(p, name)| match hale_core::site_of_target(name) {
            Some(site) => {
                policy_of(state, p).is_some_and(|p| p.spec.sites.iter().any(|s| s.name == site))
            }
            None => current.contains(name.as_str()),
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
            persist(&state.args.writer, key, target_state);
        }
    }
    let policies: Vec<&str> = keys.iter().map(|(p, _)| p.as_str()).collect();
    Ok(format!(
        "healing {target} now (policy {})",
        policies.join(", ")
    ))
}

/// The policy in force called `name`.
fn policy_of<'a>(state: &'a ReconcilerState, name: &str) -> Option<&'a HealPolicy> {
    state.args.policies.iter().find(|p| p.metadata.name == name)
}

/// Keeps the trace of a target's remediation episode: opened (a root span) when the target
/// starts failing, a child span per decision that recorded something, closed when the
/// target recovers, is quarantined or its policy goes. Returns the episode span, if any.
///
/// `stored` is the episode's trace and span ids as the target's persisted state keeps them:
/// after a restart of hale, an episode still in progress goes on in the same trace (its new
/// root span is a child of the old one).
fn trace_episode(
    episodes: &mut HashMap<(String, String), tracing::Span>,
    stored: &mut Option<(String, String)>,
    key: &(String, String),
    target: &TargetRef,
    decision: &crate::decide::Decision,
) -> Option<tracing::Span> {
    let begins = decision
        .events
        .iter()
        .any(|e| e.kind == HealEventKind::Failing);
    let resumes = stored.is_some() && !decision.events.is_empty();
    if (begins || resumes) && !episodes.contains_key(key) {
        let span = tracing::info_span!(
            parent: None,
            "hale.episode",
            otel.name = %format!("heal {}", target.name),
            hale.policy = %key.0,
            hale.target = %target.name,
            container.id = %target.id,
            container.name = %target.name,
        );
        if let Some((trace, parent)) = stored.as_ref().filter(|_| !begins) {
            continue_trace(&span, trace, parent);
        }
        *stored = trace_ids(&span);
        episodes.insert(key.clone(), span);
    }
    let episode = episodes.get(key).cloned()?;
    if !decision.events.is_empty() {
        let kinds: Vec<&str> = decision.events.iter().map(|e| e.kind.as_str()).collect();
        let _decision = tracing::info_span!(
            parent: episode.id(),
            "hale.decision",
            hale.policy = %key.0,
            hale.target = %target.name,
            hale.decision = %kinds.join(","),
            hale.action = %decision.action.as_ref().map(|a| hale_core::action_name(a.action)).unwrap_or_default(),
        );
    }
    if decision.events.iter().any(|e| {
        matches!(
            e.kind,
            HealEventKind::Recovered | HealEventKind::Quarantined | HealEventKind::Skipped
        ) && (e.kind != HealEventKind::Skipped || e.reason.contains("the episode ends"))
    }) {
        episodes.remove(key);
        *stored = None;
    }
    Some(episode)
}

/// Makes `span` a child of the span `parent` of trace `trace` (hex ids), recorded before a
/// restart of hale.
fn continue_trace(span: &tracing::Span, trace: &str, parent: &str) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let (Ok(trace), Ok(parent)) = (TraceId::from_hex(trace), SpanId::from_hex(parent)) else {
        return;
    };
    let remote = SpanContext::new(
        trace,
        parent,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
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
    }
}

/// Before a reload takes effect: the tallies of probes whose definition changed (a fixed
/// path, a new URL or threshold) say nothing about the new probe, so they start afresh;
/// a site that changed or went away loses its tallies, and a removed site its state.
fn forget_changed_probes(state: &mut ReconcilerState, new: &[HealPolicy]) {
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
            .filter(|site| !new.spec.sites.iter().any(|s| s.name == site.name))
            .map(|site| hale_core::site_target_name(&site.name))
            .collect();
        let writer = &state.args.writer;
        state.targets.retain(|key, target| {
            let gone = key.0 == *name && removed_sites.contains(&key.1) && !target.in_flight;
            if gone {
                writer.delete_state(state_key(key));
            }
            !gone
        });
    }
}

/// After a reload: forgets the targets, tallies and circuits of policies no longer in
/// force. A target whose action is still running keeps its state until the action
/// reports, so the outcome is recorded; [`collect_garbage`] drops it afterwards.
fn forget_removed_policies(state: &mut ReconcilerState) {
    let in_force: std::collections::HashSet<&str> = state
        .args
        .policies
        .iter()
        .map(|p| p.metadata.name.as_str())
        .collect();
    let writer = &state.args.writer;
    state.targets.retain(|key, target| {
        let keep = in_force.contains(key.0.as_str()) || target.in_flight;
        if !keep {
            writer.delete_state(state_key(key));
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
    let now = Timestamp::now();
    state.alerts.retain(|(policy, _), firing| {
        firing.retain(|_, (_, seen)| now.since(*seen) < ALERT_TTL);
        in_force.contains(policy.as_str()) && !firing.is_empty()
    });
}

/// Drops the state of containers gone for longer than [`GONE_RETENTION`].
fn collect_garbage(state: &mut ReconcilerState, now: Timestamp) {
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
            state.args.writer.delete_state(state_key(&key));
        }
    }
}

/// The reference to the target called `name`: a site's, or the container's with its
/// current ID when it exists.
fn target_ref(containers: &HashMap<String, ContainerSnapshot>, name: &str) -> TargetRef {
    if hale_core::site_of_target(name).is_some() {
        return TargetRef {
            id: name.to_owned(),
            name: name.to_owned(),
        };
    }
    containers.values().find(|c| c.name == name).map_or_else(
        || TargetRef {
            id: String::new(),
            name: name.to_owned(),
        },
        |c| TargetRef {
            id: c.id.clone(),
            name: c.name.clone(),
        },
    )
}

/// Queues a target's state for the store.
fn persist(writer: &StoreWriter, key: &(String, String), target: &TargetState) {
    match serde_json::to_vec(target) {
        Ok(bytes) => writer.put_state(state_key(key), bytes),
        Err(error) => tracing::error!(%error, "cannot serialize target state"),
    }
}
