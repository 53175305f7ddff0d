//! The root of the supervision tree: starts the PolicyWatcher, the DockerWatcher, the
//! Prober and the Reconciler, and restarts any of them with backoff when it fails. ractor
//! reports a child's failure; it does not restart it — this actor does.
//!
//! It is also where a policy reload lands: it records the reload's audit events, persists
//! generations, publishes the status, and hands the new policies to the Prober and the
//! Reconciler (and keeps them for their next restart).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hale_core::{PolicyStatus, StatusBoard, Timestamp};
use hale_notifier::{NOTIFIER_NAME, NotifierActor, NotifierArgs, NotifierMsg};
use hale_prober::{PROBER_NAME, Prober, ProberArgs, ProberMsg};
use hale_reconciler::{RECONCILER_NAME, Reconciler, ReconcilerArgs, ReconcilerMsg};
use hale_store::StoreWriter;
use hale_watcher::{
    DockerWatcher, DockerWatcherArgs, POLICY_WATCHER_NAME, PolicyUpdate, PolicyWatcher,
    PolicyWatcherArgs, PolicyWatcherMsg, WATCHER_NAME, WatcherMsg,
};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

/// First and largest delay before a failed child is started again.
const RESTART_INITIAL: Duration = Duration::from_millis(200);
const RESTART_MAX: Duration = Duration::from_secs(30);
/// A child that ran this long before failing starts again from the initial delay.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// The supervised children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Child {
    /// The Reconciler.
    Reconciler,
    /// The DockerWatcher.
    Watcher,
    /// The Prober.
    Prober,
    /// The PolicyWatcher.
    PolicyWatcher,
    /// The Notifier.
    Notifier,
}

impl Child {
    fn name(self) -> &'static str {
        match self {
            Self::Reconciler => RECONCILER_NAME,
            Self::Watcher => WATCHER_NAME,
            Self::Prober => PROBER_NAME,
            Self::PolicyWatcher => POLICY_WATCHER_NAME,
            Self::Notifier => NOTIFIER_NAME,
        }
    }

    fn from_cell(cell: &ActorCell) -> Option<Self> {
        match cell.get_name().as_deref() {
            Some(RECONCILER_NAME) => Some(Self::Reconciler),
            Some(WATCHER_NAME) => Some(Self::Watcher),
            Some(PROBER_NAME) => Some(Self::Prober),
            Some(POLICY_WATCHER_NAME) => Some(Self::PolicyWatcher),
            Some(NOTIFIER_NAME) => Some(Self::Notifier),
            _ => None,
        }
    }
}

/// Messages of the supervisor.
pub enum SupervisorMsg {
    /// Start a child again (sent to itself after the backoff).
    Respawn(Child),
    /// The policy directory was reloaded.
    Policies(Box<PolicyUpdate>),
    /// Reload the policy directory now (`SIGHUP`).
    ReloadPolicies,
}

/// The name the supervisor registers under.
pub const SUPERVISOR_NAME: &str = "hale-supervisor";

/// What the supervisor starts its children with.
pub struct SupervisorArgs {
    /// The reconciler's arguments.
    pub reconciler: ReconcilerArgs,
    /// The watcher's arguments.
    pub watcher: DockerWatcherArgs,
    /// The prober's arguments.
    pub prober: ProberArgs,
    /// The policy watcher's arguments.
    pub policy_watcher: PolicyWatcherArgs,
    /// The notifier's arguments.
    pub notifier: NotifierArgs,
    /// Where reloads are recorded and generations persisted.
    pub writer: StoreWriter,
    /// Where the controller's status is published.
    pub status: StatusBoard,
    /// Where reloads are counted.
    pub metrics: Arc<hale_server::Metrics>,
    /// The start-up load, applied before any child starts (so a reload by the
    /// PolicyWatcher can never be overtaken by it).
    pub initial: Option<Box<PolicyUpdate>>,
}

/// The supervisor actor.
pub struct Supervisor;

/// The supervisor's state: arguments to restart children with, and their restart history.
pub struct SupervisorState {
    args: SupervisorArgs,
    started: HashMap<Child, Instant>,
    delays: HashMap<Child, Duration>,
    /// The diagnostics logged at the last reload, so unchanged ones are not logged again.
    logged: Vec<String>,
}

impl SupervisorState {
    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        child: Child,
    ) -> Result<(), ActorProcessingErr> {
        match child {
            Child::Reconciler => {
                Actor::spawn_linked(
                    Some(RECONCILER_NAME.to_owned()),
                    Reconciler,
                    self.args.reconciler.clone(),
                    myself.get_cell(),
                )
                .await?;
                resync_watcher();
            }
            Child::Prober => {
                Actor::spawn_linked(
                    Some(PROBER_NAME.to_owned()),
                    Prober,
                    self.args.prober.clone(),
                    myself.get_cell(),
                )
                .await?;
                resync_watcher();
            }
            Child::Watcher => {
                Actor::spawn_linked(
                    Some(WATCHER_NAME.to_owned()),
                    DockerWatcher,
                    self.args.watcher.clone(),
                    myself.get_cell(),
                )
                .await?;
            }
            Child::Notifier => {
                Actor::spawn_linked(
                    Some(NOTIFIER_NAME.to_owned()),
                    NotifierActor,
                    self.args.notifier.clone(),
                    myself.get_cell(),
                )
                .await?;
            }
            Child::PolicyWatcher => {
                Actor::spawn_linked(
                    Some(POLICY_WATCHER_NAME.to_owned()),
                    PolicyWatcher,
                    self.args.policy_watcher.clone(),
                    myself.get_cell(),
                )
                .await?;
            }
        }
        self.started.insert(child, Instant::now());
        Ok(())
    }
}

/// A restarted child knows no container yet: have the watcher relist.
fn resync_watcher() {
    if let Some(watcher) = ractor::registry::where_is(WATCHER_NAME) {
        let _ = ActorRef::<WatcherMsg>::from(watcher).cast(WatcherMsg::Resync);
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            args,
            started: HashMap::new(),
            delays: HashMap::new(),
            logged: Vec::new(),
        };
        if let Some(initial) = state.args.initial.take() {
            apply_policies(&mut state, *initial);
        }
        state.spawn(&myself, Child::Notifier).await?;
        state.spawn(&myself, Child::Reconciler).await?;
        state.spawn(&myself, Child::Prober).await?;
        state.spawn(&myself, Child::Watcher).await?;
        state.spawn(&myself, Child::PolicyWatcher).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Respawn(child) => {
                if let Err(error) = state.spawn(&myself, child).await {
                    tracing::error!(child = child.name(), %error, "restarting a child failed; trying again");
                    schedule_respawn(&myself, state, child);
                } else {
                    tracing::info!(child = child.name(), "child restarted by its supervisor");
                }
            }
            SupervisorMsg::Policies(update) => apply_policies(state, *update),
            SupervisorMsg::ReloadPolicies => {
                if let Some(cell) = ractor::registry::where_is(POLICY_WATCHER_NAME) {
                    tracing::info!("reloading the policy directory (SIGHUP)");
                    let _ = ActorRef::<PolicyWatcherMsg>::from(cell)
                        .cast(PolicyWatcherMsg::Reload { reason: "SIGHUP" });
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            _ => return Ok(()),
        };
        let Some(child) = Child::from_cell(&cell) else {
            return Ok(());
        };
        tracing::error!(child = child.name(), %reason, "child actor failed; its supervisor restarts it");
        schedule_respawn(&myself, state, child);
        Ok(())
    }
}

/// Takes in a reload: logs what is new, records and persists it, publishes the status,
/// and hands changed policies to the Prober and the Reconciler.
fn apply_policies(state: &mut SupervisorState, mut update: PolicyUpdate) {
    let lines: Vec<String> = update.diagnostics.iter().map(ToString::to_string).collect();
    if lines != state.logged {
        for diagnostic in &update.diagnostics {
            if diagnostic.is_error() {
                tracing::error!(%diagnostic, "policy rejected");
            } else {
                tracing::warn!(%diagnostic, "policy warning");
            }
        }
        state.logged = lines;
    }
    let writer = &state.args.writer;
    for event in std::mem::take(&mut update.events) {
        writer.record(event);
    }
    for (name, record) in &update.records {
        match serde_json::to_vec(record) {
            Ok(bytes) => writer.put_policy_record(name.clone(), bytes),
            Err(error) => tracing::error!(%error, "cannot serialize a policy record"),
        }
    }
    for name in &update.forgotten {
        writer.delete_policy_record(name.clone());
    }
    publish(&state.args.status, &update);
    let rejected = update
        .diagnostics
        .iter()
        .any(hale_policy::Diagnostic::is_error);
    state.args.metrics.observe_reload(rejected);
    if update.changed || *update.notifiers != *state.args.notifier.notifiers {
        state.args.notifier.policies = Arc::clone(&update.policies);
        state.args.notifier.notifiers = Arc::clone(&update.notifiers);
        if let Some(cell) = ractor::registry::where_is(NOTIFIER_NAME) {
            let _ = ActorRef::<NotifierMsg>::from(cell).cast(NotifierMsg::Config {
                policies: Arc::clone(&update.policies),
                notifiers: Arc::clone(&update.notifiers),
            });
        }
    }
    if update.changed {
        state.args.reconciler.policies = Arc::clone(&update.policies);
        state.args.reconciler.generations = Arc::clone(&update.generations);
        state.args.prober.policies = Arc::clone(&update.policies);
        if let Some(cell) = ractor::registry::where_is(PROBER_NAME) {
            let _ = ActorRef::<ProberMsg>::from(cell)
                .cast(ProberMsg::Policies(Arc::clone(&update.policies)));
        }
        if let Some(cell) = ractor::registry::where_is(RECONCILER_NAME) {
            let _ = ActorRef::<ReconcilerMsg>::from(cell).cast(ReconcilerMsg::Policies {
                policies: update.policies,
                generations: update.generations,
            });
        }
    }
}

/// Writes a reload's facts into the status board: the policies in force with their
/// generations and acceptance, and the rejected files.
pub fn publish(status: &StatusBoard, update: &PolicyUpdate) {
    status.update(|status| {
        status
            .policies
            .retain(|name, _| update.facts.iter().any(|f| f.name == *name));
        for facts in &update.facts {
            let entry = status
                .policies
                .entry(facts.name.clone())
                .or_insert_with(|| {
                    PolicyStatus::new(
                        &facts.name,
                        facts.file.display().to_string(),
                        facts.generation,
                        facts.created_at,
                        facts.spec.clone(),
                    )
                });
            entry.file = facts.file.display().to_string();
            entry.generation = facts.generation;
            entry.spec = facts.spec.clone();
            entry.rejected = facts.rejected.clone();
        }
        status.rejected_files = update.rejected_files.clone();
        status.last_reload = Some(Timestamp::now());
    });
}

fn schedule_respawn(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState, child: Child) {
    let stable = state
        .started
        .get(&child)
        .is_some_and(|started| started.elapsed() >= STABLE_AFTER);
    let delay = if stable {
        RESTART_INITIAL
    } else {
        state
            .delays
            .get(&child)
            .map_or(RESTART_INITIAL, |d| (*d * 2).min(RESTART_MAX))
    };
    state.delays.insert(child, delay);
    myself.send_after(delay, move || SupervisorMsg::Respawn(child));
}

/// Stops the children in order — the watcher first (no new observations), then the
/// reconciler after it drained its running actions — and returns how many actions were
/// interrupted.
pub async fn shutdown(supervisor: &ActorRef<SupervisorMsg>, grace: Duration) -> usize {
    // Unlink first, so the supervisor does not restart what is being stopped on purpose.
    for child in [
        Child::PolicyWatcher,
        Child::Watcher,
        Child::Prober,
        Child::Reconciler,
        Child::Notifier,
    ] {
        if let Some(cell) = ractor::registry::where_is(child.name()) {
            cell.unlink(supervisor.get_cell());
        }
    }
    for name in [POLICY_WATCHER_NAME, WATCHER_NAME] {
        if let Some(watcher) = ractor::registry::where_is(name) {
            let _ = watcher
                .stop_and_wait(None, Some(Duration::from_secs(5)))
                .await;
        }
    }
    let mut interrupted = 0;
    if let Some(cell) = ractor::registry::where_is(RECONCILER_NAME) {
        let reconciler = ActorRef::<ReconcilerMsg>::from(cell.clone());
        match ractor::call_t!(
            reconciler,
            ReconcilerMsg::Drain,
            (grace + Duration::from_secs(5)).as_millis() as u64,
            grace
        ) {
            Ok(count) => interrupted = count,
            Err(error) => tracing::warn!(%error, "the reconciler did not drain in time"),
        }
        let _ = cell.stop_and_wait(None, Some(Duration::from_secs(5))).await;
    }
    supervisor.stop(None);
    interrupted
}
