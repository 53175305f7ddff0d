//! The DockerWatcher against a scripted Docker port: events update snapshots without an
//! inspect, a slow inspect never undoes a newer event, and a late answer never brings back
//! a destroyed container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use hale_core::{
    ContainerEvent, ContainerEventKind, ContainerSnapshot, ContainerStatus, DockerError,
    DockerPort, EventStream, ExecOutput, HealthStatus, Timestamp,
};
use hale_watcher::{DockerWatcher, DockerWatcherArgs, Observation};
use ractor::Actor;
use tokio::sync::mpsc;

/// A Docker daemon whose containers, events and inspect delays the test controls.
struct ScriptedDocker {
    containers: Mutex<HashMap<String, ContainerSnapshot>>,
    /// Delays of the next inspects, in order; later ones answer at once.
    inspect_delays: Mutex<Vec<Duration>>,
    inspects: Mutex<u32>,
    events: Mutex<Option<mpsc::UnboundedReceiver<ContainerEvent>>>,
}

impl ScriptedDocker {
    /// What Docker will say about the container from now on.
    fn now_is(&self, snapshot: ContainerSnapshot) {
        self.containers
            .lock()
            .unwrap()
            .insert(snapshot.id.clone(), snapshot);
    }
}

impl DockerPort for ScriptedDocker {
    fn endpoint(&self) -> String {
        "scripted".into()
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), DockerError>> {
        async { Ok(()) }.boxed()
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        let list = self.containers.lock().unwrap().values().cloned().collect();
        async move { Ok(list) }.boxed()
    }
    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<ContainerSnapshot, DockerError>> {
        *self.inspects.lock().unwrap() += 1;
        // The answer reflects the state when the inspect was made, then takes its time.
        let found = self.containers.lock().unwrap().get(id).cloned();
        let delay = {
            let mut delays = self.inspect_delays.lock().unwrap();
            if delays.is_empty() {
                Duration::ZERO
            } else {
                delays.remove(0)
            }
        };
        let id = id.to_owned();
        async move {
            tokio::time::sleep(delay).await;
            found.ok_or(DockerError::NotFound(id))
        }
        .boxed()
    }
    fn events(&self, _since: Option<i64>) -> EventStream {
        let receiver = self
            .events
            .lock()
            .unwrap()
            .take()
            .expect("one event stream");
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|event| (Ok(event), receiver))
        })
        .boxed()
    }
    fn restart(&self, _: &str, _: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        unreachable!("the watcher never acts")
    }
    fn stop(&self, _: &str, _: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        unreachable!("the watcher never acts")
    }
    fn start(&self, _: &str) -> BoxFuture<'_, Result<(), DockerError>> {
        unreachable!("the watcher never acts")
    }
    fn exec(
        &self,
        _: &str,
        _: &[String],
        _: Duration,
    ) -> BoxFuture<'_, Result<ExecOutput, DockerError>> {
        unreachable!("the watcher never acts")
    }
    fn recreate(&self, _: &str, _: u32) -> BoxFuture<'_, Result<String, DockerError>> {
        unreachable!("the watcher never acts")
    }
}

fn container(status: ContainerStatus, health: Option<HealthStatus>) -> ContainerSnapshot {
    ContainerSnapshot {
        health,
        started_at: Some(Timestamp(1)),
        ..ContainerSnapshot::new("c1", "web", status)
    }
}

fn event(kind: ContainerEventKind, ms: u64) -> ContainerEvent {
    ContainerEvent {
        id: "c1".into(),
        kind,
        time: Timestamp(ms),
        time_nano: ms as i64 * 1_000_000,
        received_at: Timestamp(ms),
    }
}

struct Harness {
    docker: Arc<ScriptedDocker>,
    events: mpsc::UnboundedSender<ContainerEvent>,
    seen: Arc<Mutex<Vec<Observation>>>,
}

impl Harness {
    async fn start(initial: ContainerSnapshot) -> Self {
        Self::start_with_resync(initial, Duration::from_secs(3600)).await
    }

    async fn start_with_resync(initial: ContainerSnapshot, resync: Duration) -> Self {
        let (events, receiver) = mpsc::unbounded_channel();
        let docker = Arc::new(ScriptedDocker {
            containers: Mutex::new(HashMap::from([(initial.id.clone(), initial)])),
            inspect_delays: Mutex::new(Vec::new()),
            inspects: Mutex::new(0),
            events: Mutex::new(Some(receiver)),
        });
        let seen: Arc<Mutex<Vec<Observation>>> = Arc::default();
        let sink_seen = Arc::clone(&seen);
        let observations = hale_core::OutputPort::new();
        observations.listen(move |observation: &Observation| {
            sink_seen.lock().unwrap().push(observation.clone());
        });
        let args = DockerWatcherArgs {
            docker: docker.clone(),
            resync,
            observations,
            resume_from: None,
            remember: Arc::new(|_| {}),
        };
        Actor::spawn(None, DockerWatcher, args).await.unwrap();
        let harness = Self {
            docker,
            events,
            seen,
        };
        harness.settle().await;
        harness
    }

    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    fn send(&self, event: ContainerEvent) {
        self.events.send(event).unwrap();
    }

    /// The last thing the watcher said about c1.
    fn last(&self) -> Option<Observation> {
        self.seen.lock().unwrap().last().cloned()
    }
}

#[tokio::test]
async fn a_health_event_updates_the_snapshot_without_an_inspect() {
    let harness = Harness::start(container(
        ContainerStatus::Running,
        Some(HealthStatus::Healthy),
    ))
    .await;
    let inspects_before = *harness.docker.inspects.lock().unwrap();
    harness.send(event(
        ContainerEventKind::HealthStatus(HealthStatus::Unhealthy),
        5_000,
    ));
    harness.settle().await;
    let Some(Observation::Container(snapshot)) = harness.last() else {
        panic!("no observation");
    };
    assert_eq!(snapshot.health, Some(HealthStatus::Unhealthy));
    assert_eq!(snapshot.health_since, Some(Timestamp(5_000)));
    assert_eq!(*harness.docker.inspects.lock().unwrap(), inspects_before);
}

#[tokio::test]
async fn a_slow_inspect_answer_does_not_undo_a_newer_event() {
    let harness = Harness::start(container(ContainerStatus::Running, None)).await;
    // The container dies; the watcher inspects it (for the restart count) and Docker is
    // slow to answer. Meanwhile Docker restarts it by policy: the start event arrives
    // before the inspect's answer, which still says "exited".
    harness
        .docker
        .now_is(container(ContainerStatus::Exited, None));
    // The first inspect (for the death) is slow; the second (for the start) is not, so
    // the stale "exited" answer arrives last.
    *harness.docker.inspect_delays.lock().unwrap() = vec![Duration::from_millis(300)];
    harness.send(event(ContainerEventKind::Die { exit_code: 1 }, 10));
    tokio::time::sleep(Duration::from_millis(50)).await;
    harness
        .docker
        .now_is(container(ContainerStatus::Running, None));
    harness.send(event(ContainerEventKind::Start, 20));
    // Right after the start, before the slow answer: already running.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let Some(Observation::Container(snapshot)) = harness.last() else {
        panic!("no observation");
    };
    assert_eq!(snapshot.status, ContainerStatus::Running);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let Some(Observation::Container(snapshot)) = harness.last() else {
        panic!("no observation");
    };
    assert_eq!(snapshot.status, ContainerStatus::Running, "{snapshot:?}");
}

#[tokio::test]
async fn a_late_inspect_answer_does_not_resurrect_a_destroyed_container() {
    let harness = Harness::start(container(ContainerStatus::Running, None)).await;
    *harness.docker.inspect_delays.lock().unwrap() = vec![Duration::from_millis(300)];
    harness.send(event(ContainerEventKind::Die { exit_code: 0 }, 10));
    harness.send(event(ContainerEventKind::Destroy, 20));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        matches!(harness.last(), Some(Observation::Removed(id)) if id == "c1"),
        "{:?}",
        harness.last()
    );
}

#[tokio::test]
async fn docker_stop_events_mark_the_exit_as_the_operators() {
    let harness = Harness::start(container(ContainerStatus::Running, None)).await;
    harness
        .docker
        .now_is(container(ContainerStatus::Exited, None));
    for (kind, ms) in [
        (ContainerEventKind::Kill, 10),
        (ContainerEventKind::Die { exit_code: 143 }, 11),
        (ContainerEventKind::Stop, 12),
    ] {
        harness.send(event(kind, ms));
    }
    harness.settle().await;
    let Some(Observation::Container(snapshot)) = harness.last() else {
        panic!("no observation");
    };
    assert_eq!(snapshot.status, ContainerStatus::Exited);
    assert!(snapshot.stopped_by_operator && snapshot.exit_seen);
}

#[tokio::test]
async fn the_periodic_check_inspects_only_what_changed_without_an_event() {
    let harness = Harness::start_with_resync(
        container(ContainerStatus::Running, Some(HealthStatus::Healthy)),
        Duration::from_millis(100),
    )
    .await;
    let after_start = *harness.docker.inspects.lock().unwrap();
    // Several periodic checks of an unchanged host: no inspect at all.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(*harness.docker.inspects.lock().unwrap(), after_start);
    // The container died and the event was lost: the next check sees it and inspects.
    harness
        .docker
        .now_is(container(ContainerStatus::Exited, None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(*harness.docker.inspects.lock().unwrap() > after_start);
    let Some(Observation::Container(snapshot)) = harness.last() else {
        panic!("no observation: {:?}", harness.last());
    };
    assert_eq!(snapshot.status, ContainerStatus::Exited);
}
