//! The DockerWatcher actor and its stream task.
//!
//! The stream task does the I/O of following the daemon (list, events, reconnect). The
//! actor keeps a snapshot per container, applies each event to it at once (events carry
//! state changes: no inspect needed for a health change) and forwards it; it inspects only
//! when an event leaves something unknown, in spawned tasks, so one container whose
//! inspect blocks (Docker holds its lock during a slow stop) never delays another's
//! events. An inspect or relist result is taken as the new base and the events that
//! arrived after it was requested are replayed on top, so a slow answer never undoes a
//! newer event.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hale_core::{
    ContainerEvent, ContainerEventKind, ContainerSnapshot, DockerError, DockerPort, Timestamp,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::annotations::Annotations;

/// The name the watcher registers under.
pub const WATCHER_NAME: &str = "hale-docker-watcher";

/// How reconnection attempts are spaced.
const RECONNECT: hale_core::RetryPolicy = hale_core::RetryPolicy::DOCKER;

/// Inspects running at once.
const INSPECT_CONCURRENCY: usize = 16;

/// Events remembered per container for replay over a late inspect result.
const REPLAY_DEPTH: usize = 64;

/// Docker's health-check interval when the image sets none.
const DOCKER_HEALTH_INTERVAL_MS: u64 = 30_000;

/// An unhealthy container is re-inspected at most this often, whatever its interval.
const MIN_REINSPECT_MS: u64 = 500;

/// What the watcher starts with.
#[derive(Clone)]
pub struct DockerWatcherArgs {
    /// The daemon.
    pub docker: Arc<dyn DockerPort>,
    /// Relist everything this often even when events flow (level-triggered safety net).
    pub resync: Duration,
    /// Where observations go: every subscriber (the prober, the reconciler, the status
    /// board) receives each one, in order.
    pub observations: hale_core::OutputPort<Observation>,
    /// The time (Unix ns) of the newest event a previous run of hale saw: the stream
    /// starts there, so what happened while hale was down (a crash, an operator's stop) is
    /// learned from Docker's recent events. `None`: from now.
    pub resume_from: Option<i64>,
    /// Told the time of every event, to be kept for the next run's `resume_from`.
    pub remember: Arc<dyn Fn(i64) + Send + Sync>,
}

/// What the watcher tells the reconciler.
#[derive(Debug, Clone)]
pub enum Observation {
    /// One container's current state.
    Container(Box<ContainerSnapshot>),
    /// A container is gone.
    Removed(String),
    /// Every container (replaces what was known).
    All(Vec<ContainerSnapshot>),
    /// The connection to the daemon came up (`true`) or was lost (`false`).
    Connected(bool),
}

/// Messages of the watcher actor.
pub enum WatcherMsg {
    /// The stream task is about to list every container.
    RelistStarting,
    /// The stream task listed every container.
    Relisted(Vec<ContainerSnapshot>),
    /// The stream task's periodic check: every container as the list call describes it
    /// (see `resynced`).
    Resynced(Vec<ContainerSnapshot>),
    /// The stream task received an event.
    Event(ContainerEvent),
    /// An inspect requested when the event counter was at `requested_at` finished
    /// (`Ok(None)`: the container is gone).
    Inspected {
        /// The container.
        id: String,
        /// The event counter when the inspect was requested.
        requested_at: u64,
        /// What Docker said (boxed: a snapshot is far larger than the other messages).
        result: Result<Option<Box<ContainerSnapshot>>, DockerError>,
    },
    /// The connection to the daemon changed: `None` connected, `Some(reason)` lost.
    Connection(Option<String>),
    /// Relist now (sent by the supervisor after the reconciler restarted).
    Resync,
    /// Inspect this container again if it is still unhealthy (see `follow_health`).
    Reinspect(String),
}

/// The DockerWatcher actor.
pub struct DockerWatcher;

/// A container as the watcher tracks it.
#[derive(Default)]
struct Tracked {
    /// Current state: the last inspect with later events applied.
    snapshot: Option<ContainerSnapshot>,
    /// Recent events with their counter values, for replay.
    recent: VecDeque<(u64, ContainerEvent)>,
}

/// The watcher's state.
pub struct DockerWatcherState {
    args: DockerWatcherArgs,
    annotations: Annotations,
    tracked: HashMap<String, Tracked>,
    /// Counts events received; inspects and relists remember it to know what to replay.
    counter: u64,
    relist_started_at: u64,
    inspects: Arc<Semaphore>,
    resync_now: Arc<Notify>,
    task: JoinHandle<()>,
    connected: Option<bool>,
    /// Unhealthy containers with a re-inspect scheduled.
    following: std::collections::HashSet<String>,
    /// When this watcher started (Unix ns), if it resumes a previous run's stream: events
    /// older than this are history (see [`DockerWatcherArgs::resume_from`]).
    replay_before: Option<i64>,
}

impl Actor for DockerWatcher {
    type Msg = WatcherMsg;
    type State = DockerWatcherState;
    type Arguments = DockerWatcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WatcherMsg>,
        args: DockerWatcherArgs,
    ) -> Result<DockerWatcherState, ActorProcessingErr> {
        let resync_now = Arc::new(Notify::new());
        let replay_before = args.resume_from.map(|_| hale_core::unix_nanos());
        let task = tokio::spawn(stream_task(
            Arc::clone(&args.docker),
            args.resync,
            args.resume_from,
            Arc::clone(&resync_now),
            myself,
        ));
        Ok(DockerWatcherState {
            args,
            annotations: Annotations::default(),
            tracked: HashMap::new(),
            counter: 0,
            relist_started_at: 0,
            inspects: Arc::new(Semaphore::new(INSPECT_CONCURRENCY)),
            resync_now,
            task,
            connected: None,
            following: std::collections::HashSet::new(),
            replay_before,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WatcherMsg>,
        state: &mut DockerWatcherState,
    ) -> Result<(), ActorProcessingErr> {
        state.task.abort();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WatcherMsg>,
        message: WatcherMsg,
        state: &mut DockerWatcherState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WatcherMsg::RelistStarting => state.relist_started_at = state.counter,
            WatcherMsg::Relisted(list) => relisted(&myself, state, list),
            WatcherMsg::Resynced(list) => resynced(&myself, state, list),
            WatcherMsg::Event(event) => on_event(&myself, state, event),
            WatcherMsg::Inspected {
                id,
                requested_at,
                result,
            } => match result {
                // Destroyed (or relisted away) since the inspect was asked for: a late answer
                // must not bring it back.
                _ if !state.tracked.contains_key(&id) => {}
                Ok(Some(snapshot)) => {
                    let snapshot = rebase(state, *snapshot, requested_at);
                    follow_health(&myself, state, &snapshot);
                    state
                        .args
                        .observations
                        .send(&Observation::Container(Box::new(snapshot)));
                }
                Ok(None) => {
                    state.tracked.remove(&id);
                    state.args.observations.send(&Observation::Removed(id));
                }
                Err(error) => {
                    // The next relist repairs it; the connection state is the stream's job.
                    tracing::debug!(container = %id, %error, "inspect failed");
                }
            },
            WatcherMsg::Connection(lost) => {
                // Log once per change of state, not once per retry.
                let connected = lost.is_none();
                if state.connected != Some(connected) {
                    match lost {
                        None => tracing::info!(
                            endpoint = %state.args.docker.endpoint(),
                            "connected to Docker; containers relisted"
                        ),
                        Some(reason) => tracing::warn!(
                            endpoint = %state.args.docker.endpoint(),
                            %reason,
                            "lost the Docker daemon; retrying with backoff (no failure is missed: hale relists on reconnect)"
                        ),
                    }
                    state.connected = Some(connected);
                    state
                        .args
                        .observations
                        .send(&Observation::Connected(connected));
                }
            }
            WatcherMsg::Resync => state.resync_now.notify_one(),
            WatcherMsg::Reinspect(id) => {
                state.following.remove(&id);
                let still_unhealthy = state
                    .tracked
                    .get(&id)
                    .and_then(|t| t.snapshot.as_ref())
                    .is_some_and(is_running_unhealthy);
                if still_unhealthy {
                    request_inspect(&myself, state, id);
                }
            }
        }
        Ok(())
    }
}

/// Takes `base` (an inspect or list result requested at counter `requested_at`), replays
/// the events that arrived since, stores and returns the enriched snapshot.
fn rebase(
    state: &mut DockerWatcherState,
    mut base: ContainerSnapshot,
    requested_at: u64,
) -> ContainerSnapshot {
    let tracked = state.tracked.entry(base.id.clone()).or_default();
    for (seen, event) in &tracked.recent {
        if *seen > requested_at {
            base.apply(event);
        }
    }
    let now = Timestamp::now();
    state.annotations.enrich(&mut base, now);
    base.received_at = Some(now);
    tracked.snapshot = Some(base.clone());
    base
}

/// Docker announces a health change once; the failed checks that follow show only in an
/// inspect's `FailingStreak`. While a container is unhealthy, hale inspects it again once
/// per health interval, so that a `dockerHealth` probe whose `failureThreshold` asks for
/// more failed checks than the image's own retries sees them. Healthy containers cost
/// nothing.
fn follow_health(
    myself: &ActorRef<WatcherMsg>,
    state: &mut DockerWatcherState,
    snapshot: &ContainerSnapshot,
) {
    if !is_running_unhealthy(snapshot) || !state.following.insert(snapshot.id.clone()) {
        return;
    }
    let interval = Duration::from_millis(
        snapshot
            .health_interval_ms
            .map_or(DOCKER_HEALTH_INTERVAL_MS, u64::from)
            .max(MIN_REINSPECT_MS),
    );
    let id = snapshot.id.clone();
    myself.send_after(interval, move || WatcherMsg::Reinspect(id));
}

fn is_running_unhealthy(snapshot: &ContainerSnapshot) -> bool {
    snapshot.status == hale_core::ContainerStatus::Running
        && snapshot.health == Some(hale_core::HealthStatus::Unhealthy)
}

fn relisted(
    myself: &ActorRef<WatcherMsg>,
    state: &mut DockerWatcherState,
    list: Vec<ContainerSnapshot>,
) {
    let requested_at = state.relist_started_at;
    let listed: std::collections::HashSet<String> = list.iter().map(|c| c.id.clone()).collect();
    // Containers missing from the list are gone, unless an event about them arrived after
    // the list was requested (a container created meanwhile).
    state.tracked.retain(|id, tracked| {
        listed.contains(id)
            || tracked
                .recent
                .back()
                .is_some_and(|(seen, _)| *seen > requested_at)
    });
    state.annotations.retain_only(
        state
            .tracked
            .keys()
            .map(String::as_str)
            .chain(listed.iter().map(String::as_str)),
    );
    let snapshots: Vec<ContainerSnapshot> = list
        .into_iter()
        .map(|snapshot| rebase(state, snapshot, requested_at))
        .collect();
    for snapshot in &snapshots {
        follow_health(myself, state, snapshot);
    }
    state.args.observations.send(&Observation::All(snapshots));
}

/// An event from before this watcher started (replayed from the previous run's last
/// event): the relist already shows the state it led to, so it is not applied to the
/// snapshot; what only events know — that a stop was an operator's, that an exit was seen,
/// so a crash while hale was down is a crash — is learned, and the container told again.
fn replay_history(state: &mut DockerWatcherState, event: &ContainerEvent) {
    state.annotations.observe(event);
    let Some(mut snapshot) = state
        .tracked
        .get(&event.id)
        .and_then(|tracked| tracked.snapshot.clone())
    else {
        return;
    };
    state.annotations.enrich(&mut snapshot, Timestamp::now());
    if let Some(tracked) = state.tracked.get_mut(&event.id) {
        tracked.snapshot = Some(snapshot.clone());
    }
    state
        .args
        .observations
        .send(&Observation::Container(Box::new(snapshot)));
}

/// The periodic safety net, made cheap: one list call, compared with what the events have
/// kept current. Only a container whose state or health differs from what the watcher
/// knows (an event was missed), or that it does not know, is inspected; one that is gone is
/// removed. An idle host with many containers costs one call per resync, not one inspect
/// per container.
fn resynced(
    myself: &ActorRef<WatcherMsg>,
    state: &mut DockerWatcherState,
    summaries: Vec<ContainerSnapshot>,
) {
    let requested_at = state.relist_started_at;
    let listed: std::collections::HashSet<&str> = summaries.iter().map(|c| c.id.as_str()).collect();
    let gone: Vec<String> = state
        .tracked
        .iter()
        .filter(|(id, tracked)| {
            // Gone from the list, and no event since the list call was asked for says
            // otherwise.
            !listed.contains(id.as_str())
                && tracked
                    .recent
                    .back()
                    .is_none_or(|(seen, _)| *seen <= requested_at)
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in gone {
        state.tracked.remove(&id);
        state.args.observations.send(&Observation::Removed(id));
    }
    for summary in summaries {
        let differs = state
            .tracked
            .get(&summary.id)
            .and_then(|tracked| tracked.snapshot.as_ref())
            .is_none_or(|known| known.status != summary.status || known.health != summary.health);
        if differs {
            tracing::debug!(container = %summary.name, "the periodic check found a change no event reported; inspecting");
            request_inspect(myself, state, summary.id);
        }
    }
}

fn on_event(myself: &ActorRef<WatcherMsg>, state: &mut DockerWatcherState, event: ContainerEvent) {
    (state.args.remember)(event.time_nano);
    if state
        .replay_before
        .is_some_and(|started| event.time_nano < started)
    {
        replay_history(state, &event);
        return;
    }
    state.counter += 1;
    tracing::trace!(
        container = %event.id,
        kind = ?event.kind,
        lag_ms = Timestamp::now().0.saturating_sub(event.time.0),
        "docker event"
    );
    state.annotations.observe(&event);
    if event.kind == ContainerEventKind::Destroy {
        state.tracked.remove(&event.id);
        state
            .args
            .observations
            .send(&Observation::Removed(event.id));
        return;
    }
    let tracked = state.tracked.entry(event.id.clone()).or_default();
    tracked.recent.push_back((state.counter, event.clone()));
    if tracked.recent.len() > REPLAY_DEPTH {
        tracked.recent.pop_front();
    }
    let updated = tracked.snapshot.as_mut().map(|snapshot| {
        snapshot.apply(&event);
        snapshot.received_at = Some(event.received_at);
        snapshot.clone()
    });
    let known = updated.is_some();
    if let Some(mut snapshot) = updated {
        state.annotations.enrich(&mut snapshot, Timestamp::now());
        follow_health(myself, state, &snapshot);
        state
            .args
            .observations
            .send(&Observation::Container(Box::new(snapshot)));
    }
    if !known || event.kind.needs_inspect() {
        request_inspect(myself, state, event.id);
    }
}

fn request_inspect(myself: &ActorRef<WatcherMsg>, state: &DockerWatcherState, id: String) {
    let docker = Arc::clone(&state.args.docker);
    let permits = Arc::clone(&state.inspects);
    let requested_at = state.counter;
    let reply = myself.clone();
    tokio::spawn(async move {
        let Ok(_permit) = permits.acquire_owned().await else {
            return;
        };
        let result = match docker.inspect(&id).await {
            Ok(snapshot) => Ok(Some(Box::new(snapshot))),
            Err(DockerError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        };
        let _ = reply.cast(WatcherMsg::Inspected {
            id,
            requested_at,
            result,
        });
    });
}

/// What the stream task checks besides following events.
enum Check {
    /// The periodic safety net: compare the list with what is known ([`resynced`]).
    Periodic,
    /// Everything again, fully inspected (asked for after the reconciler restarted).
    Full,
}

/// Lists, then follows events (replaying from the last one seen), checking on a timer or
/// relisting on request, and reconnecting with capped exponential backoff when the daemon
/// goes away (and relisting fully then).
async fn stream_task(
    docker: Arc<dyn DockerPort>,
    resync: Duration,
    resume_from: Option<i64>,
    resync_now: Arc<Notify>,
    watcher: ActorRef<WatcherMsg>,
) {
    let mut delays = RECONNECT.delays();
    let mut last_seen: Option<i64> = resume_from;
    loop {
        // Subscribe from before the list, so nothing that happens in between is missed.
        let since = last_seen.unwrap_or_else(hale_core::unix_nanos);
        if watcher.cast(WatcherMsg::RelistStarting).is_err() {
            return;
        }
        let list = match docker.list().await {
            Ok(list) => list,
            Err(error) => {
                let _ = watcher.cast(WatcherMsg::Connection(Some(error.to_string())));
                tokio::time::sleep(delays.next().unwrap_or(RECONNECT.max)).await;
                continue;
            }
        };
        if watcher.cast(WatcherMsg::Relisted(list)).is_err() {
            return;
        }
        let _ = watcher.cast(WatcherMsg::Connection(None));
        delays = RECONNECT.delays();
        let mut events = docker.events(Some(since));
        let mut ticker = tokio::time::interval(resync);
        ticker.tick().await;
        let reason = loop {
            let check = tokio::select! {
                item = events.next() => match item {
                    Some(Ok(event)) => {
                        last_seen = Some(event.time_nano);
                        if watcher.cast(WatcherMsg::Event(event)).is_err() {
                            return;
                        }
                        None
                    }
                    Some(Err(error)) => break error.to_string(),
                    None => break "the event stream ended".to_owned(),
                },
                _ = ticker.tick() => Some(Check::Periodic),
                () = resync_now.notified() => Some(Check::Full),
            };
            if let Some(check) = check {
                if watcher.cast(WatcherMsg::RelistStarting).is_err() {
                    return;
                }
                let message = match check {
                    Check::Periodic => docker.summaries().await.map(WatcherMsg::Resynced),
                    Check::Full => docker.list().await.map(WatcherMsg::Relisted),
                };
                match message {
                    Ok(message) => {
                        if watcher.cast(message).is_err() {
                            return;
                        }
                    }
                    Err(error) => break error.to_string(),
                }
            }
        };
        let _ = watcher.cast(WatcherMsg::Connection(Some(reason)));
        tokio::time::sleep(delays.next().unwrap_or(RECONNECT.max)).await;
    }
}
