//! The Prober actor: keeps one schedule per (policy, container, probe).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use hale_core::{ContainerSnapshot, ContainerStatus, DockerPort, ProbeOutcome, Timestamp};
use hale_policy::conditions::Condition;
use hale_policy::{HealPolicy, Probe};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::run::{HttpClients, run_probe};

/// The name the prober registers under.
pub const PROBER_NAME: &str = "hale-prober";

/// What the prober starts with.
#[derive(Clone)]
pub struct ProberArgs {
    /// The policies in force.
    pub policies: Arc<Vec<HealPolicy>>,
    /// The Docker daemon (for exec probes).
    pub docker: Arc<dyn DockerPort>,
    /// Where outcomes go: a function that delivers them to the current reconciler.
    pub sink: Arc<dyn Fn(ProbeOutcome) + Send + Sync>,
}

/// Messages of the prober: the container set, as the watcher sees it.
pub enum ProberMsg {
    /// One container's current state.
    Observed(ContainerSnapshot),
    /// A container is gone.
    Removed(String),
    /// Every container (replaces what was known).
    All(Vec<ContainerSnapshot>),
}

/// The Prober actor.
pub struct Prober;

/// One running schedule; dropping it stops the task (also when the prober panics, which
/// skips `post_stop`).
struct Schedule {
    task: JoinHandle<()>,
    container: watch::Sender<ContainerSnapshot>,
}

impl Drop for Schedule {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The prober's state.
pub struct ProberState {
    args: ProberArgs,
    clients: HttpClients,
    schedules: HashMap<(String, String, String), Schedule>,
    containers: HashMap<String, ContainerSnapshot>,
}

impl Actor for Prober {
    type Msg = ProberMsg;
    type State = ProberState;
    type Arguments = ProberArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ProberMsg>,
        args: ProberArgs,
    ) -> Result<ProberState, ActorProcessingErr> {
        Ok(ProberState {
            args,
            clients: HttpClients::new(),
            schedules: HashMap::new(),
            containers: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ProberMsg>,
        state: &mut ProberState,
    ) -> Result<(), ActorProcessingErr> {
        for (_, schedule) in state.schedules.drain() {
            schedule.task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<ProberMsg>,
        message: ProberMsg,
        state: &mut ProberState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProberMsg::Observed(snapshot) => {
                state.containers.insert(snapshot.id.clone(), snapshot);
            }
            ProberMsg::Removed(id) => {
                state.containers.remove(&id);
            }
            ProberMsg::All(list) => {
                state.containers = list.into_iter().map(|c| (c.id.clone(), c)).collect();
            }
        }
        converge(state);
        Ok(())
    }
}

/// Starts the schedules that should run, updates the ones that do, stops the rest.
fn converge(state: &mut ProberState) {
    let mut wanted: HashMap<(String, String, String), (&Probe, &ContainerSnapshot)> =
        HashMap::new();
    for policy in state.args.policies.iter() {
        let Some(selector) = &policy.spec.selector else {
            continue;
        };
        for container in state
            .containers
            .values()
            .filter(|c| selector.matches(&c.labels))
        {
            for probe in policy.spec.probes.iter().filter(|p| is_periodic(p)) {
                let key = (
                    policy.metadata.name.clone(),
                    container.id.clone(),
                    probe.name.clone(),
                );
                wanted.insert(key, (probe, container));
            }
        }
    }
    state.schedules.retain(|key, schedule| {
        let keep = wanted.contains_key(key);
        if !keep {
            schedule.task.abort();
        }
        keep
    });
    for (key, (probe, container)) in wanted {
        if let Some(schedule) = state.schedules.get(&key) {
            schedule.container.send_if_modified(|current| {
                let changed = current != container;
                if changed {
                    *current = container.clone();
                }
                changed
            });
            continue;
        }
        let (sender, receiver) = watch::channel(container.clone());
        let task = tokio::spawn(schedule_loop(
            key.0.clone(),
            probe.clone(),
            receiver,
            state.clients.clone(),
            Arc::clone(&state.args.docker),
            Arc::clone(&state.args.sink),
            spread(&key, probe.period.as_std()),
        ));
        state.schedules.insert(
            key,
            Schedule {
                task,
                container: sender,
            },
        );
    }
}

fn is_periodic(probe: &Probe) -> bool {
    probe.site_ref.is_none()
        && (probe.http_get.is_some() || probe.tcp_socket.is_some() || probe.exec.is_some())
}

/// A stable offset within the period for this schedule, so that schedules created
/// together do not fire together.
fn spread(key: &(String, String, String), period: Duration) -> Duration {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    let millis = period.as_millis().max(1) as u64;
    Duration::from_millis(hasher.finish() % millis)
}

/// Runs one probe every period. A probe that overruns delays the next run instead of
/// overlapping it.
async fn schedule_loop(
    policy: String,
    probe: Probe,
    container: watch::Receiver<ContainerSnapshot>,
    clients: HttpClients,
    docker: Arc<dyn DockerPort>,
    sink: Arc<dyn Fn(ProbeOutcome) + Send + Sync>,
    offset: Duration,
) {
    let conditions: Vec<Condition> = probe
        .conditions
        .iter()
        .filter_map(|text| Condition::parse(text).ok())
        .collect();
    tokio::time::sleep(offset).await;
    let mut ticker = tokio::time::interval(probe.period.as_std());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = ticker.tick().await;
        if container.has_changed().is_err() {
            // The prober that owned this schedule is gone.
            return;
        }
        let lag = due.elapsed();
        let snapshot = container.borrow().clone();
        if snapshot.status != ContainerStatus::Running {
            continue;
        }
        let time = Timestamp::now();
        let (success, reason, elapsed) =
            run_probe(&clients, docker.as_ref(), &probe, &conditions, &snapshot).await;
        tracing::debug!(%policy, probe = %probe.name, container = %snapshot.name, success, %reason, "probe");
        sink(ProbeOutcome {
            policy: policy.clone(),
            probe: probe.name.clone(),
            container_id: snapshot.id.clone(),
            time,
            success,
            latency_ms: elapsed.as_millis() as u64,
            lag_us: lag.as_micros() as u64,
            reason,
        });
    }
}
