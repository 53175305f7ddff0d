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
use hale_notifier::{NotifierActor, NotifierArgs};
use hale_prober::{Prober, ProberArgs};
use hale_reconciler::{Reconciler, ReconcilerArgs, ReconcilerMsg};
use hale_store::StoreWriter;
use hale_watcher::{
    DockerWatcher, DockerWatcherArgs, PolicySnapshot, PolicyUpdate, PolicyWatcher,
    PolicyWatcherArgs, PolicyWatcherMsg,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::routes::{Child, Routes, Started};

/// How restarts of a failing child are spaced.
const RESTART: hale_core::RetryPolicy = hale_core::RetryPolicy::RESTART;
/// A child that ran this long before failing starts again from the initial delay.
const STABLE_AFTER: Duration = Duration::from_secs(60);

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

/// What the supervisor starts its children with. Their policies come from the current
/// [`PolicySnapshot`], filled in at each start.
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
    /// The mailboxes and flows between the children.
    pub routes: Routes,
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

/// The supervisor actor: it starts, restarts and stops the children, and takes in reloads.
pub struct Supervisor;

/// The supervisor's state: arguments to restart children with, and their restart history.
pub struct SupervisorState {
    args: SupervisorArgs,
    /// The policies in force, handed to each child at its start.
    snapshot: PolicySnapshot,
    started: HashMap<Child, Instant>,
    /// Restarts of each child since it last ran stably.
    restarts: HashMap<Child, u32>,
    /// The diagnostics logged at the last reload, so unchanged ones are not logged again.
    logged: Vec<String>,
}

impl SupervisorState {
    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        child: Child,
    ) -> Result<(), ActorProcessingErr> {
        let name = Some(child.name().to_owned());
        let parent = myself.get_cell();
        let snapshot = &self.snapshot;
        let started = match child {
            Child::Reconciler => {
                let args = ReconcilerArgs {
                    policies: Arc::clone(&snapshot.policies),
                    generations: Arc::clone(&snapshot.generations),
                    ..self.args.reconciler.clone()
                };
                let (actor, _) = Actor::spawn_linked(name, Reconciler, args, parent).await?;
                Started::Reconciler(actor)
            }
            Child::Prober => {
                let args = ProberArgs {
                    policies: Arc::clone(&snapshot.policies),
                    ..self.args.prober.clone()
                };
                let (actor, _) = Actor::spawn_linked(name, Prober, args, parent).await?;
                Started::Prober(actor)
            }
            Child::Watcher => {
                let args = self.args.watcher.clone();
                let (actor, _) = Actor::spawn_linked(name, DockerWatcher, args, parent).await?;
                Started::Watcher(actor)
            }
            Child::Notifier => {
                let args = NotifierArgs {
                    policies: Arc::clone(&snapshot.policies),
                    notifiers: Arc::clone(&snapshot.notifiers),
                    ..self.args.notifier.clone()
                };
                let (actor, _) = Actor::spawn_linked(name, NotifierActor, args, parent).await?;
                Started::Notifier(actor)
            }
            Child::PolicyWatcher => {
                let args = self.args.policy_watcher.clone();
                let (actor, _) = Actor::spawn_linked(name, PolicyWatcher, args, parent).await?;
                Started::PolicyWatcher(actor)
            }
        };
        self.args.routes.connect(started);
        self.started.insert(child, Instant::now());
        Ok(())
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        mut args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        // Every reload the PolicyWatcher makes comes here, whichever incarnation made it.
        args.policy_watcher
            .updates
            .subscribe(myself.clone(), |update| {
                Some(SupervisorMsg::Policies(Box::new(update.clone())))
            });
        let initial = args.initial.take();
        let mut state = SupervisorState {
            snapshot: initial
                .as_ref()
                .map(|update| update.snapshot())
                .unwrap_or_default(),
            args,
            started: HashMap::new(),
            restarts: HashMap::new(),
            logged: Vec::new(),
        };
        if let Some(initial) = initial {
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
                tracing::info!("reloading the policy directory (SIGHUP)");
                state
                    .args
                    .routes
                    .mailboxes
                    .policy_watcher
                    .cast(PolicyWatcherMsg::Reload { reason: "SIGHUP" });
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
        let Some(child) = state.args.routes.mailboxes.child_of(&cell) else {
            return Ok(());
        };
        tracing::error!(child = child.name(), %reason, "child actor failed; its supervisor restarts it");
        state.args.routes.mailboxes.clear(child);
        schedule_respawn(&myself, state, child);
        Ok(())
    }
}

/// Takes in a reload: logs what is new, records and persists it, publishes the status,
/// and publishes a changed snapshot on the policy port (and keeps it for the next start).
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
    let notifiers_changed = *update.notifiers != *state.snapshot.notifiers;
    if update.changed || notifiers_changed {
        state.snapshot = update.snapshot();
        state.args.routes.policies.send(&state.snapshot);
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
    let restarts = state.restarts.entry(child).or_default();
    *restarts = if stable { 1 } else { *restarts + 1 };
    let delay = RESTART.delay(*restarts);
    myself.send_after(delay, move || SupervisorMsg::Respawn(child));
}

/// Stops the children in order — the watcher first (no new observations), then the
/// reconciler after it drained its running actions — and returns how many actions were
/// interrupted.
pub async fn shutdown(
    supervisor: &ActorRef<SupervisorMsg>,
    routes: &Routes,
    grace: Duration,
) -> usize {
    let boxes = &routes.mailboxes;
    // Unlink first, so the supervisor does not restart what is being stopped on purpose.
    for child in [
        Child::PolicyWatcher,
        Child::Watcher,
        Child::Prober,
        Child::Reconciler,
        Child::Notifier,
    ] {
        if let Some(cell) = boxes.cell(child) {
            cell.unlink(supervisor.get_cell());
        }
    }
    for child in [Child::PolicyWatcher, Child::Watcher] {
        if let Some(cell) = boxes.cell(child) {
            let _ = cell.stop_and_wait(None, Some(Duration::from_secs(5))).await;
        }
    }
    let mut interrupted = 0;
    if let Some(reconciler) = boxes.reconciler.get() {
        match ractor::call_t!(
            reconciler,
            ReconcilerMsg::Drain,
            (grace + Duration::from_secs(5)).as_millis() as u64,
            grace
        ) {
            Ok(count) => interrupted = count,
            Err(error) => tracing::warn!(%error, "the reconciler did not drain in time"),
        }
        let _ = reconciler
            .get_cell()
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
    }
    supervisor.stop(None);
    interrupted
}
