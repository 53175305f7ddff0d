//! The DockerWatcher actor and its stream task.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hale_core::{ContainerEvent, ContainerEventKind, ContainerSnapshot, DockerPort, Timestamp};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::annotations::Annotations;

/// The name the watcher registers under.
pub const WATCHER_NAME: &str = "hale-docker-watcher";

/// First and largest delay between reconnection attempts.
const RECONNECT_INITIAL: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// What the watcher starts with.
#[derive(Clone)]
pub struct DockerWatcherArgs {
    /// The daemon.
    pub docker: Arc<dyn DockerPort>,
    /// Relist everything this often even when events flow (level-triggered safety net).
    pub resync: Duration,
    /// Where observations go: a function that delivers them to the current reconciler.
    pub sink: Arc<dyn Fn(Observation) + Send + Sync>,
}

/// What the watcher tells the reconciler.
#[derive(Debug, Clone)]
pub enum Observation {
    /// One container's current state.
    Container(ContainerSnapshot),
    /// A container is gone.
    Removed(String),
    /// Every container (replaces what was known).
    All(Vec<ContainerSnapshot>),
}

/// Messages of the watcher actor.
pub enum WatcherMsg {
    /// The stream task listed every container.
    Relisted(Vec<ContainerSnapshot>),
    /// The stream task saw an event and inspected the container (`None`: it is gone).
    Event(ContainerEvent, Option<ContainerSnapshot>),
    /// The connection to the daemon changed: `None` connected, `Some(reason)` lost.
    Connection(Option<String>),
    /// Relist now (sent by the supervisor after the reconciler restarted).
    Resync,
}

/// The DockerWatcher actor. Its I/O runs in a spawned stream task; the actor only keeps
/// the event-derived annotations and forwards enriched snapshots.
pub struct DockerWatcher;

/// The watcher's state.
pub struct DockerWatcherState {
    args: DockerWatcherArgs,
    annotations: Annotations,
    resync_now: Arc<Notify>,
    task: JoinHandle<()>,
    connected: Option<bool>,
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
        let task = tokio::spawn(stream_task(
            Arc::clone(&args.docker),
            args.resync,
            Arc::clone(&resync_now),
            myself,
        ));
        Ok(DockerWatcherState {
            args,
            annotations: Annotations::default(),
            resync_now,
            task,
            connected: None,
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
        _myself: ActorRef<WatcherMsg>,
        message: WatcherMsg,
        state: &mut DockerWatcherState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WatcherMsg::Relisted(mut list) => {
                let now = Timestamp::now();
                state
                    .annotations
                    .retain_only(list.iter().map(|c| c.id.as_str()));
                for snapshot in &mut list {
                    state.annotations.enrich(snapshot, now);
                }
                (state.args.sink)(Observation::All(list));
            }
            WatcherMsg::Event(event, snapshot) => {
                state.annotations.observe(&event);
                match snapshot {
                    Some(mut snapshot) => {
                        state.annotations.enrich(&mut snapshot, Timestamp::now());
                        (state.args.sink)(Observation::Container(snapshot));
                    }
                    None => (state.args.sink)(Observation::Removed(event.id)),
                }
            }
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
                }
            }
            WatcherMsg::Resync => state.resync_now.notify_one(),
        }
        Ok(())
    }
}

fn nanos_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Lists, then follows events (replaying from the last one seen), relisting on a timer or
/// on request, and reconnecting with capped exponential backoff when the daemon goes away.
async fn stream_task(
    docker: Arc<dyn DockerPort>,
    resync: Duration,
    resync_now: Arc<Notify>,
    watcher: ActorRef<WatcherMsg>,
) {
    let mut delay = RECONNECT_INITIAL;
    let mut last_seen: Option<i64> = None;
    loop {
        // Subscribe from before the list, so nothing that happens in between is missed.
        let since = last_seen.unwrap_or_else(nanos_now);
        let list = match docker.list().await {
            Ok(list) => list,
            Err(error) => {
                let _ = watcher.cast(WatcherMsg::Connection(Some(error.to_string())));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RECONNECT_MAX);
                continue;
            }
        };
        if watcher.cast(WatcherMsg::Relisted(list)).is_err() {
            return;
        }
        let _ = watcher.cast(WatcherMsg::Connection(None));
        delay = RECONNECT_INITIAL;
        let mut events = docker.events(Some(since));
        let mut ticker = tokio::time::interval(resync);
        ticker.tick().await;
        let reason = loop {
            tokio::select! {
                item = events.next() => match item {
                    Some(Ok(event)) => {
                        last_seen = Some(event.time_nano);
                        let snapshot = if event.kind == ContainerEventKind::Destroy {
                            None
                        } else {
                            match docker.inspect(&event.id).await {
                                Ok(snapshot) => Some(snapshot),
                                Err(hale_core::DockerError::NotFound(_)) => None,
                                Err(error) => break error.to_string(),
                            }
                        };
                        if watcher.cast(WatcherMsg::Event(event, snapshot)).is_err() {
                            return;
                        }
                    }
                    Some(Err(error)) => break error.to_string(),
                    None => break "the event stream ended".to_owned(),
                },
                _ = ticker.tick() => {
                    match docker.list().await {
                        Ok(list) => if watcher.cast(WatcherMsg::Relisted(list)).is_err() { return },
                        Err(error) => break error.to_string(),
                    }
                }
                () = resync_now.notified() => {
                    match docker.list().await {
                        Ok(list) => if watcher.cast(WatcherMsg::Relisted(list)).is_err() { return },
                        Err(error) => break error.to_string(),
                    }
                }
            }
        };
        let _ = watcher.cast(WatcherMsg::Connection(Some(reason)));
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}
