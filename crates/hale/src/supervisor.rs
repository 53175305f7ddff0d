//! The root of the supervision tree: starts the PolicyWatcher, the DockerWatcher, the
//! Prober, the Reconciler and the Notifier, restarts any of them with backoff when it
//! fails, and stops them in order. ractor reports a child's failure; it does not restart
//! it — this actor does. It does nothing else: reloads are taken in by
//! [`crate::reloads`], and the routes between children are [`crate::routes`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hale_notifier::{NotifierActor, NotifierArgs};
use hale_prober::{Prober, ProberArgs};
use hale_reconciler::{Reconciler, ReconcilerArgs, ReconcilerMsg};
use hale_watcher::{DockerWatcher, DockerWatcherArgs, PolicyWatcher, PolicyWatcherArgs};
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
}

/// The name the supervisor registers under.
pub const SUPERVISOR_NAME: &str = "hale-supervisor";

/// What the supervisor starts its children with. Their policies come from the current
/// policy snapshot (the routes' policy port), filled in at each start.
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
}

/// The supervisor actor: it starts, restarts and stops the children.
pub struct Supervisor;

/// The supervisor's state: arguments to restart children with, and their restart history.
pub struct SupervisorState {
    args: SupervisorArgs,
    started: HashMap<Child, Instant>,
    /// Restarts of each child since it last ran stably.
    restarts: HashMap<Child, u32>,
}

impl SupervisorState {
    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        child: Child,
    ) -> Result<(), ActorProcessingErr> {
        let name = Some(child.name().to_owned());
        let parent = myself.get_cell();
        // The policies in force now, and their version: a reload between this start and
        // the child's subscription is delivered to it at once.
        let (version, snapshot) = self.args.routes.policies.current();
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
        self.args.routes.connect(started, version);
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
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            args,
            started: HashMap::new(),
            restarts: HashMap::new(),
        };
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
    for child in Child::ALL {
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
