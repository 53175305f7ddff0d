//! The Prober actor: keeps one schedule per (policy, target, probe), where a target is a
//! selected container or one of the policy's sites.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use hale_core::{ContainerSnapshot, ContainerStatus, DockerPort, ProbeOutcome, Target, Timestamp};
use hale_policy::conditions::Condition;
use hale_policy::{HealPolicy, Probe};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::run::{HttpClients, ProbeResult, run_probe};

/// The name the prober registers under.
pub const PROBER_NAME: &str = "hale-prober";

/// What the prober starts with.
#[derive(Clone)]
pub struct ProberArgs {
    /// The policies in force.
    pub policies: Arc<Vec<HealPolicy>>,
    /// The Docker daemon (for exec probes).
    pub docker: Arc<dyn DockerPort>,
    /// Where outcomes go: every subscriber (the reconciler, the metrics) hears each one.
    pub outcomes: hale_core::OutputPort<ProbeOutcome>,
}

/// Messages of the prober: the container set, as the watcher sees it.
pub enum ProberMsg {
    /// One container's current state.
    Observed(Box<ContainerSnapshot>),
    /// A container is gone.
    Removed(String),
    /// Every container (replaces what was known).
    All(Vec<ContainerSnapshot>),
    /// The policies in force changed (a reload): schedules follow at once.
    Policies(Arc<Vec<HealPolicy>>),
}

/// The Prober actor.
pub struct Prober;

/// One running schedule; dropping it stops the task (also when the prober panics, which
/// skips `post_stop`).
struct Schedule {
    task: JoinHandle<()>,
    target: watch::Sender<Target>,
    /// The probe as configured when the schedule started; a changed probe (period,
    /// timeout, conditions) gets a new schedule.
    probe: Probe,
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

    async fn post_start(
        &self,
        _myself: ActorRef<ProberMsg>,
        state: &mut ProberState,
    ) -> Result<(), ActorProcessingErr> {
        // Sites do not wait for Docker: probe them from the start.
        converge(state);
        Ok(())
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
                state.containers.insert(snapshot.id.clone(), *snapshot);
            }
            ProberMsg::Removed(id) => {
                state.containers.remove(&id);
            }
            ProberMsg::All(list) => {
                state.containers = list.into_iter().map(|c| (c.id.clone(), c)).collect();
            }
            ProberMsg::Policies(policies) => {
                state.args.policies = policies;
            }
        }
        converge(state);
        Ok(())
    }
}

/// A schedule's identity: (policy, target ID, probe).
type ScheduleKey = (String, String, String);

/// Starts the schedules that should run, updates the ones that do, stops the rest.
fn converge(state: &mut ProberState) {
    let mut wanted: HashMap<ScheduleKey, (&Probe, Target)> = HashMap::new();
    for policy in state.args.policies.iter() {
        let name = &policy.metadata.name;
        let periodic = || policy.spec.probes.iter().filter(|p| is_periodic(p));
        if let Some(selector) = &policy.spec.selector {
            for container in state
                .containers
                .values()
                .filter(|c| selector.matches(&c.name, &c.labels))
            {
                for probe in periodic().filter(|p| p.site_ref.is_none() && p.disk.is_none()) {
                    let key = (name.clone(), container.id.clone(), probe.name.clone());
                    wanted.insert(key, (probe, Target::Container(container.clone())));
                }
            }
        }
        for probe in periodic().filter(|p| p.disk.is_some()) {
            let target = Target::Host(probe.name.clone());
            wanted.insert(
                (name.clone(), target.id(), probe.name.clone()),
                (probe, target),
            );
        }
        for site in &policy.spec.sites {
            for probe in periodic().filter(|p| p.site_ref.as_deref() == Some(site.name.as_str())) {
                let target = Target::Site(site.clone());
                wanted.insert(
                    (name.clone(), target.id(), probe.name.clone()),
                    (probe, target),
                );
            }
        }
    }
    state.schedules.retain(|key, schedule| {
        let keep = wanted
            .get(key)
            .is_some_and(|(probe, _)| **probe == schedule.probe);
        if !keep {
            schedule.task.abort();
        }
        keep
    });
    for (key, (probe, target)) in wanted {
        if let Some(schedule) = state.schedules.get(&key) {
            schedule.target.send_if_modified(|current| {
                let changed = *current != target;
                if changed {
                    *current = target;
                }
                changed
            });
            continue;
        }
        let offset = spread(&key, probe.period.as_std());
        let (sender, receiver) = watch::channel(target);
        let task = tokio::spawn(schedule_loop(
            key.0.clone(),
            probe.clone(),
            receiver,
            state.clients.clone(),
            Arc::clone(&state.args.docker),
            state.args.outcomes.clone(),
            offset,
        ));
        state.schedules.insert(
            key,
            Schedule {
                task,
                target: sender,
                probe: probe.clone(),
            },
        );
    }
}

fn is_periodic(probe: &Probe) -> bool {
    !probe.is_event_driven()
}

/// A stable offset within the period for this schedule, so that schedules created
/// together do not fire together.
fn spread(key: &ScheduleKey, period: Duration) -> Duration {
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
    target: watch::Receiver<Target>,
    clients: HttpClients,
    docker: Arc<dyn DockerPort>,
    outcomes: hale_core::OutputPort<ProbeOutcome>,
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
        if target.has_changed().is_err() {
            // The prober that owned this schedule is gone.
            return;
        }
        let lag = due.elapsed();
        let current = target.borrow().clone();
        if let Target::Container(container) = &current
            && container.status != ContainerStatus::Running
        {
            continue;
        }
        let time = Timestamp::now();
        let ProbeResult {
            success,
            degraded,
            reason,
            elapsed,
        } = run_probe(&clients, docker.as_ref(), &probe, &conditions, &current).await;
        tracing::debug!(%policy, probe = %probe.name, target = %current.name(), success, degraded, %reason, "probe");
        outcomes.send(&ProbeOutcome {
            policy: policy.clone(),
            probe: probe.name.clone(),
            target_id: current.id(),
            time,
            success,
            degraded,
            latency_ms: elapsed.as_millis() as u64,
            lag_us: lag.as_micros() as u64,
            reason,
        });
    }
}
