//! The root of the supervision tree: starts the DockerWatcher and the Reconciler, and
//! restarts either with backoff when it fails. ractor reports a child's failure; it does
//! not restart it — this actor does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hale_prober::{PROBER_NAME, Prober, ProberArgs};
use hale_reconciler::{RECONCILER_NAME, Reconciler, ReconcilerArgs, ReconcilerMsg};
use hale_watcher::{DockerWatcher, DockerWatcherArgs, WATCHER_NAME, WatcherMsg};
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
}

impl Child {
    fn name(self) -> &'static str {
        match self {
            Self::Reconciler => RECONCILER_NAME,
            Self::Watcher => WATCHER_NAME,
            Self::Prober => PROBER_NAME,
        }
    }

    fn from_cell(cell: &ActorCell) -> Option<Self> {
        match cell.get_name().as_deref() {
            Some(RECONCILER_NAME) => Some(Self::Reconciler),
            Some(WATCHER_NAME) => Some(Self::Watcher),
            Some(PROBER_NAME) => Some(Self::Prober),
            _ => None,
        }
    }
}

/// Messages of the supervisor.
pub enum SupervisorMsg {
    /// Start a child again (sent to itself after the backoff).
    Respawn(Child),
}

/// What the supervisor starts its children with.
pub struct SupervisorArgs {
    /// The reconciler's arguments.
    pub reconciler: ReconcilerArgs,
    /// The watcher's arguments.
    pub watcher: DockerWatcherArgs,
    /// The prober's arguments.
    pub prober: ProberArgs,
}

/// The supervisor actor.
pub struct Supervisor;

/// The supervisor's state: arguments to restart children with, and their restart history.
pub struct SupervisorState {
    args: SupervisorArgs,
    started: HashMap<Child, Instant>,
    delays: HashMap<Child, Duration>,
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
        };
        state.spawn(&myself, Child::Reconciler).await?;
        state.spawn(&myself, Child::Prober).await?;
        state.spawn(&myself, Child::Watcher).await?;
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
        let Some(child) = Child::from_cell(&cell) else {
            return Ok(());
        };
        tracing::error!(child = child.name(), %reason, "child actor failed; its supervisor restarts it");
        schedule_respawn(&myself, state, child);
        Ok(())
    }
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
    for child in [Child::Watcher, Child::Prober, Child::Reconciler] {
        if let Some(cell) = ractor::registry::where_is(child.name()) {
            cell.unlink(supervisor.get_cell());
        }
    }
    if let Some(watcher) = ractor::registry::where_is(WATCHER_NAME) {
        let _ = watcher
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
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
