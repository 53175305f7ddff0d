//! An in-memory Docker daemon for tests of the actors that talk to one: containers whose
//! state a test sets, the calls hale made, in order, and actions that change the state the
//! way Docker does (a restart gives a new `started_at` and health `starting`, a stop an
//! exit). Time comes from a [`Clock`], so under `tokio::time::pause` it advances with the
//! actors' timers.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hale_core::{
    Clock, ContainerSnapshot, ContainerStatus, DockerError, DockerPort, EventStream, ExecOutput,
    HealthStatus,
};

/// A call hale made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerCall {
    /// `docker restart -t timeout`.
    Restart(String),
    /// `docker stop -t timeout`.
    Stop(String),
    /// `docker start`.
    Start(String),
    /// Remove and create again.
    Recreate(String),
    /// `docker exec`.
    Exec(String),
}

#[derive(Default)]
struct World {
    containers: BTreeMap<String, ContainerSnapshot>,
    calls: Vec<DockerCall>,
    failing_starts: u32,
    action_delay: Duration,
}

/// The fake daemon.
pub struct FakeDocker {
    world: Mutex<World>,
    clock: Clock,
}

impl FakeDocker {
    /// An empty daemon whose time is `clock`'s.
    pub fn new(clock: Clock) -> Self {
        Self {
            world: Mutex::new(World::default()),
            clock,
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what Docker says about a container (added if new).
    pub fn set(&self, snapshot: ContainerSnapshot) {
        self.world()
            .containers
            .insert(snapshot.id.clone(), snapshot);
    }

    /// What Docker says about container `id` now.
    pub fn container(&self, id: &str) -> Option<ContainerSnapshot> {
        self.world().containers.get(id).cloned()
    }

    /// Every call hale made, oldest first.
    pub fn calls(&self) -> Vec<DockerCall> {
        self.world().calls.clone()
    }

    /// The next `count` starts fail (Docker answers 500).
    pub fn fail_starts(&self, count: u32) {
        self.world().failing_starts = count;
    }

    /// Every stop, start and restart takes this long (tokio time).
    pub fn slow_actions(&self, delay: Duration) {
        self.world().action_delay = delay;
    }

    fn found(&self, id: &str) -> Result<(), DockerError> {
        if self.world().containers.contains_key(id) {
            Ok(())
        } else {
            Err(DockerError::NotFound(id.to_owned()))
        }
    }

    /// Docker's own effect of starting `id` now.
    fn started(&self, id: &str) {
        let now = self.clock.now();
        if let Some(container) = self.world().containers.get_mut(id) {
            container.status = ContainerStatus::Running;
            container.started_at = Some(now);
            container.restart_count += 1;
            if container.health.is_some() {
                container.health = Some(HealthStatus::Starting);
                container.health_since = Some(now);
                container.health_failing_streak = 0;
            }
        }
    }

    /// Docker's own effect of stopping `id` now.
    fn stopped(&self, id: &str) {
        let now = self.clock.now();
        if let Some(container) = self.world().containers.get_mut(id) {
            container.status = ContainerStatus::Exited;
            container.exit_code = 137;
            container.finished_at = Some(now);
        }
    }

    async fn act(&self, call: DockerCall) {
        let delay = {
            let mut world = self.world();
            world.calls.push(call);
            world.action_delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

impl DockerPort for FakeDocker {
    fn endpoint(&self) -> String {
        "fake://docker".to_owned()
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), DockerError>> {
        Box::pin(async { Ok(()) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        Box::pin(async { Ok(self.world().containers.values().cloned().collect()) })
    }

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<ContainerSnapshot, DockerError>> {
        let id = id.to_owned();
        Box::pin(async move { self.container(&id).ok_or(DockerError::NotFound(id)) })
    }

    fn events(&self, _since_nanos: Option<i64>) -> EventStream {
        // Tests play the watcher and tell the actor what changed.
        Box::pin(futures_util::stream::pending())
    }

    fn restart(&self, id: &str, _timeout: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.found(&id)?;
            self.act(DockerCall::Restart(id.clone())).await;
            self.stopped(&id);
            self.started(&id);
            Ok(())
        })
    }

    fn stop(&self, id: &str, _timeout: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.found(&id)?;
            self.act(DockerCall::Stop(id.clone())).await;
            self.stopped(&id);
            Ok(())
        })
    }

    fn start(&self, id: &str) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.found(&id)?;
            self.act(DockerCall::Start(id.clone())).await;
            let fail = {
                let mut world = self.world();
                let fail = world.failing_starts > 0;
                world.failing_starts = world.failing_starts.saturating_sub(1);
                fail
            };
            if fail {
                return Err(DockerError::Api {
                    operation: "start",
                    message: format!("cannot start container {id}"),
                });
            }
            self.started(&id);
            Ok(())
        })
    }

    fn exec(
        &self,
        id: &str,
        _command: &[String],
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<ExecOutput, DockerError>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.found(&id)?;
            self.act(DockerCall::Exec(id)).await;
            Ok(ExecOutput {
                exit_code: 0,
                output: String::new(),
            })
        })
    }

    fn recreate(&self, id: &str, _timeout: u32) -> BoxFuture<'_, Result<String, DockerError>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.found(&id)?;
            self.act(DockerCall::Recreate(id.clone())).await;
            let fresh = format!("{id}-recreated");
            let mut world = self.world();
            if let Some(mut container) = world.containers.remove(&id) {
                container.id.clone_from(&fresh);
                container.status = ContainerStatus::Running;
                container.started_at = Some(self.clock.now());
                world.containers.insert(fresh.clone(), container);
            }
            Ok(fresh)
        })
    }
}
