//! The reconciler actor (the shell around the pure decisions) in virtual time, against an
//! in-memory Docker daemon and a real store: the test plays the watcher, telling the actor
//! what Docker says, and reads what hale did from the fake's calls and the audit log.

use std::sync::Arc;
use std::time::Duration;

use hale_core::{
    Clock, ContainerSnapshot, ContainerStatus, HealEvent, HealthStatus, StatusBoard, Timestamp,
};
use hale_fakes::{DockerCall, FakeDocker};
use hale_policy::HealPolicy;
use hale_reconciler::{Reconciler, ReconcilerArgs, ReconcilerMsg};
use hale_store::{AuditQuery, RequestQueue, Store, StoreWriter};
use ractor::{Actor, ActorRef};

const T0: Timestamp = Timestamp(1_800_000_000_000);

/// One reconciler, its fake daemon and its store.
struct Shell {
    actor: ActorRef<ReconcilerMsg>,
    docker: Arc<FakeDocker>,
    store: Arc<Store>,
    writer: StoreWriter,
    clock: Clock,
    args: ReconcilerArgs,
    _dir: tempfile::TempDir,
}

fn policy(body: &str) -> HealPolicy {
    let text = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n{body}"
    );
    let report = hale_policy::load_str("test.yaml", &text);
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report.set.policies[0].resource.clone()
}

impl Shell {
    async fn start(policy: HealPolicy, adopted: bool) -> Self {
        // While an actor waits for the store's writer thread, a paused runtime would jump
        // straight to its next timer; this one, always the nearest, makes virtual time
        // advance 10 ms at a time and gives real time to the thread meanwhile.
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let clock = Clock::following_tokio(T0);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), 10_000).unwrap());
        let (writer, _thread) = StoreWriter::start(Arc::clone(&store), hale_core::AuditBus::new());
        let docker = Arc::new(FakeDocker::new(clock));
        let args = ReconcilerArgs {
            policies: Arc::new(vec![policy]),
            generations: Arc::default(),
            status: StatusBoard::new(T0, false),
            clock,
            docker: Arc::clone(&docker) as Arc<dyn hale_core::DockerPort>,
            store: Arc::clone(&store),
            writer: writer.clone(),
            global_dry_run: false,
            failpoints: Vec::new(),
            requests: RequestQueue::new(dir.path()),
            http: hale_core::http_client::ClientCache::new(),
            live_actions: Arc::default(),
            mailbox: hale_core::Mailbox::new(),
            own_container: None,
            fleet: None,
        };
        let (actor, _) = Actor::spawn(None, Reconciler, args.clone()).await.unwrap();
        if adopted {
            args.mailbox.hand(actor.clone());
        }
        Self {
            actor,
            docker,
            store,
            writer,
            clock,
            args,
            _dir: dir,
        }
    }

    /// Docker says `snapshot`, and the watcher tells the reconciler.
    fn observe(&self, snapshot: ContainerSnapshot) {
        self.docker.set(snapshot.clone());
        self.actor.cast(ReconcilerMsg::Observed(snapshot)).unwrap();
    }

    /// What Docker says about `id` now, told to the reconciler (as the watcher does after
    /// the events of hale's own action).
    fn observe_current(&self, id: &str) -> ContainerSnapshot {
        let snapshot = self.docker.container(id).unwrap();
        self.observe(snapshot.clone());
        snapshot
    }

    async fn audit(&self) -> Vec<HealEvent> {
        self.writer.sync().await.unwrap();
        let mut events = self
            .store
            .events(&AuditQuery {
                limit: 0,
                ..AuditQuery::default()
            })
            .unwrap();
        events.reverse();
        events
    }

    async fn kinds(&self) -> Vec<String> {
        self.audit()
            .await
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect()
    }

    /// Waits (in virtual time, at most `within`) until `done` holds.
    async fn until(&self, what: &str, within: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {within:?}; calls {:?}",
                self.docker.calls()
            );
            step().await;
        }
    }

    /// Lets `duration` of virtual time pass.
    async fn pass(&self, duration: Duration) {
        let end = tokio::time::Instant::now() + duration;
        while tokio::time::Instant::now() < end {
            step().await;
        }
    }

    /// A new reconciler on the same store and arguments, as its supervisor starts one.
    async fn successor(&self) -> ActorRef<ReconcilerMsg> {
        Actor::spawn(None, Reconciler, self.args.clone())
            .await
            .unwrap()
            .0
    }

    /// hale stops cleanly and starts again: the reconciler's writes land, it stops, and a
    /// new one starts from the store.
    async fn restart_hale(&self) -> ActorRef<ReconcilerMsg> {
        self.writer.sync().await.unwrap();
        self.actor.stop(None);
        self.pass(Duration::from_millis(100)).await;
        self.successor().await
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// c1 fails and hale's restart of it begins; each of its stop and start takes
    /// `action_takes`.
    async fn restart_under_way(&self, action_takes: Duration) {
        self.docker.slow_actions(action_takes);
        self.observe(web("c1", T0, HealthStatus::Unhealthy, T0));
        self.until("the stop to begin", Duration::from_secs(5), |s| {
            !s.docker.calls().is_empty()
        })
        .await;
    }
}

/// 10 ms of virtual time (the ticker of [`Shell::start`] keeps real time flowing too).
async fn step() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A running container labelled app=web, started at `started`, whose Docker health check
/// said `health` at `checked`.
fn web(
    id: &str,
    started: Timestamp,
    health: HealthStatus,
    checked: Timestamp,
) -> ContainerSnapshot {
    let mut snapshot = ContainerSnapshot::new(id, format!("{id}-name"), ContainerStatus::Running);
    snapshot.labels.insert("app".into(), "web".into());
    snapshot.started_at = Some(started);
    snapshot.health = Some(health);
    snapshot.health_since = Some(checked);
    snapshot.health_checked_at = Some(checked);
    snapshot.health_interval_ms = Some(1_000);
    snapshot.health_failing_streak = u32::from(health == HealthStatus::Unhealthy);
    snapshot.received_at = Some(checked);
    snapshot
}

/// The container as it is after hale's restart, reporting `health` now.
fn after_restart(shell: &Shell, id: &str, health: HealthStatus) -> ContainerSnapshot {
    let current = shell.docker.container(id).unwrap();
    let now = shell.now();
    web(id, current.started_at.unwrap(), health, now)
}

fn restarts(shell: &Shell, id: &str) -> usize {
    shell
        .docker
        .calls()
        .iter()
        .filter(|c| **c == DockerCall::Start(id.to_owned()))
        .count()
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_container_is_restarted_and_recovers_only_on_health_after_the_restart() {
    let shell = Shell::start(
        policy("  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 30s}]\n    cooldown: 10s\n"),
        false,
    )
    .await;
    shell.observe(web("c1", T0, HealthStatus::Healthy, T0));
    shell.pass(Duration::from_secs(1)).await;
    shell.observe(web("c1", T0, HealthStatus::Unhealthy, shell.now()));
    shell
        .until("the restart", Duration::from_secs(5), |s| {
            restarts(s, "c1") == 1
        })
        .await;
    assert_eq!(
        shell.docker.calls(),
        [
            DockerCall::Stop("c1".into()),
            DockerCall::Start("c1".into())
        ],
        "a restart is a stop then a start"
    );
    // Docker restarted it; the health check has not run yet: no recovery.
    shell.observe_current("c1");
    shell.pass(Duration::from_secs(2)).await;
    assert!(!shell.kinds().await.contains(&"recovered".to_owned()));
    // Healthy, checked after the restart: recovered, and nothing more is done.
    shell.observe(after_restart(&shell, "c1", HealthStatus::Healthy));
    shell.pass(Duration::from_secs(1)).await;
    assert_eq!(
        shell.kinds().await,
        ["failing", "action_started", "action_succeeded", "recovered"]
    );
    shell.pass(Duration::from_secs(60)).await;
    assert_eq!(restarts(&shell, "c1"), 1);
}

#[tokio::test(start_paused = true)]
async fn retries_wait_for_the_cooldown_and_a_fresh_failure_then_escalate_then_quarantine() {
    let shell = Shell::start(
        policy(
            "  remediation:\n    steps:\n    - {action: restart, attempts: 1, timeout: 5s}\n    - {action: stopStart, attempts: 1, timeout: 5s}\n    cooldown: 10s\n    backoff: {initial: 10s, max: 10s}\n",
        ),
        false,
    )
    .await;
    shell.observe(web("c1", T0, HealthStatus::Unhealthy, T0));
    shell
        .until("the first restart", Duration::from_secs(5), |s| {
            restarts(s, "c1") == 1
        })
        .await;
    // No fresh failure yet: nothing more, however long.
    shell.observe_current("c1");
    shell.pass(Duration::from_secs(30)).await;
    assert_eq!(
        restarts(&shell, "c1"),
        1,
        "no retry without a failure after the action"
    );
    // A failure seen after the restart: the next rung (its step timeout and the cooldown
    // are over).
    shell.observe(after_restart(&shell, "c1", HealthStatus::Unhealthy));
    shell
        .until("the escalation", Duration::from_secs(15), |s| {
            restarts(s, "c1") == 2
        })
        .await;
    shell.observe_current("c1");
    shell.pass(Duration::from_secs(1)).await;
    // And failing again after the last rung: quarantined, left alone.
    shell.pass(Duration::from_secs(10)).await;
    shell.observe(after_restart(&shell, "c1", HealthStatus::Unhealthy));
    shell.pass(Duration::from_secs(30)).await;
    let audit = shell.audit().await;
    let kinds: Vec<&str> = audit.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"escalated") && kinds.contains(&"quarantined"),
        "{kinds:?}"
    );
    let started: Vec<&HealEvent> = audit
        .iter()
        .filter(|e| e.kind.as_str() == "action_started")
        .collect();
    assert_eq!(
        started
            .iter()
            .map(|e| e.action.map(hale_core::action_name).unwrap_or_default())
            .collect::<Vec<_>>(),
        ["restart", "stopStart"]
    );
    assert!(
        started[1].time.since(started[0].time) >= Duration::from_secs(10),
        "the retry came before the cooldown: {:?} after",
        started[1].time.since(started[0].time)
    );
    shell.pass(Duration::from_secs(120)).await;
    assert_eq!(
        restarts(&shell, "c1"),
        2,
        "nothing is done to a quarantined target"
    );
}

#[tokio::test(start_paused = true)]
async fn the_circuit_holds_back_while_more_targets_fail_than_max_unhealthy_allows() {
    let shell = Shell::start(
        policy("  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 5s}]\n    cooldown: 1s\n    maxUnhealthy: 1\n"),
        false,
    )
    .await;
    // A relist finds two of three unhealthy at once (a shared cause).
    let listed: Vec<ContainerSnapshot> = [
        web("c1", T0, HealthStatus::Unhealthy, T0),
        web("c2", T0, HealthStatus::Unhealthy, T0),
        web("c3", T0, HealthStatus::Healthy, T0),
    ]
    .into_iter()
    .inspect(|c| shell.docker.set(c.clone()))
    .collect();
    shell.actor.cast(ReconcilerMsg::Relisted(listed)).unwrap();
    shell.pass(Duration::from_secs(60)).await;
    assert!(
        shell.docker.calls().is_empty(),
        "{:?}",
        shell.docker.calls()
    );
    assert!(shell.kinds().await.contains(&"circuit_open".to_owned()));
    // One recovers on its own: one failing is within the allowance, so the other is
    // healed, on a failure seen after the circuit closed.
    shell.observe(web("c2", T0, HealthStatus::Healthy, shell.now()));
    shell.pass(Duration::from_secs(1)).await;
    shell.observe(web("c1", T0, HealthStatus::Unhealthy, shell.now()));
    shell
        .until("c1's restart", Duration::from_secs(10), |s| {
            restarts(s, "c1") == 1
        })
        .await;
    assert_eq!(restarts(&shell, "c2"), 0);
}

#[tokio::test(start_paused = true)]
async fn drain_waits_its_grace_for_a_running_action_then_records_it_as_interrupted() {
    let shell = Shell::start(
        policy("  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 5s}]\n"),
        false,
    )
    .await;
    shell.restart_under_way(Duration::from_secs(60)).await;
    let interrupted =
        ractor::call!(shell.actor, ReconcilerMsg::Drain, Duration::from_secs(2)).unwrap();
    assert_eq!(interrupted, 1);
    assert!(shell.kinds().await.contains(&"interrupted".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_restarted_reconciler_adopts_the_action_its_predecessor_left_running() {
    // The one test with a supervisor's mailbox: the action's task reports to whichever
    // reconciler it holds when the action ends.
    let shell = Shell::start(
        policy("  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 30s}]\n    cooldown: 10s\n"),
        true,
    )
    .await;
    shell.restart_under_way(Duration::from_secs(3)).await;
    // The reconciler crashes mid-action; its supervisor starts a new one.
    shell.actor.kill();
    shell.pass(Duration::from_millis(100)).await;
    let successor = shell.successor().await;
    // As the supervisor does at every start.
    shell.args.mailbox.hand(successor.clone());
    shell
        .until("the start to begin", Duration::from_secs(30), |s| {
            restarts(s, "c1") == 1
        })
        .await;
    // (The fake's start takes 3 s.)
    shell.pass(Duration::from_secs(4)).await;
    let kinds = shell.kinds().await;
    assert!(
        kinds.contains(&"action_succeeded".to_owned())
            && !kinds.contains(&"interrupted".to_owned()),
        "the successor must take the running action's result, not call it interrupted: {kinds:?}"
    );
    // And it does not act again on the failure its predecessor already acted on.
    shell.pass(Duration::from_secs(60)).await;
    assert_eq!(restarts(&shell, "c1"), 1);
    successor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn an_action_that_ends_while_no_reconciler_is_there_is_taken_by_the_next_one() {
    // No mailbox: the action's task has nobody to tell when it ends.
    let shell = Shell::start(
        policy("  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 30s}]\n    cooldown: 10s\n"),
        false,
    )
    .await;
    shell.restart_under_way(Duration::from_secs(1)).await;
    shell.actor.kill();
    // The restart ends (stop and start, a second each) while no reconciler runs.
    shell.pass(Duration::from_secs(5)).await;
    assert_eq!(restarts(&shell, "c1"), 1);
    let successor = shell.successor().await;
    shell.pass(Duration::from_secs(1)).await;
    let kinds = shell.kinds().await;
    assert_eq!(
        kinds,
        ["failing", "action_started", "action_succeeded"],
        "the result of the restart is taken, not called interrupted"
    );
    successor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn a_target_with_healing_disabled_is_shown_but_not_remediated_even_after_a_restart() {
    let shell = Shell::start(
        policy("  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 30s}]\n    cooldown: 10s\n"),
        false,
    )
    .await;
    shell.observe(web("c1", T0, HealthStatus::Healthy, T0));
    shell.pass(Duration::from_secs(1)).await;
    let answer = ractor::call!(shell.actor, |reply| ReconcilerMsg::Disable {
        target: "c1-name".into(),
        disabled: true,
        reply,
    })
    .unwrap();
    assert_eq!(answer, Ok("c1-name: healing is off".to_owned()));
    shell.observe(web("c1", T0, HealthStatus::Unhealthy, shell.now()));
    shell.pass(Duration::from_secs(30)).await;
    assert_eq!(
        restarts(&shell, "c1"),
        0,
        "a disabled target was remediated"
    );
    let status = shell.args.status.snapshot();
    let target = &status.policies.get("web").map(|p| p.targets.clone());
    assert!(status.disabled.contains("c1-name"));
    // Heal refuses it, saying what to do.
    let heal = ractor::call!(shell.actor, |reply| ReconcilerMsg::Heal {
        target: "c1-name".into(),
        policy: None,
        reply,
    })
    .unwrap();
    assert!(
        matches!(&heal, Err(hale_reconciler::ControlFailure::Conflict(m)) if m.contains("hale enable")),
        "{heal:?} {target:?}"
    );

    // A new reconciler (hale restarted) reads the switch from the store.
    let successor = shell.restart_hale().await;
    successor
        .cast(ReconcilerMsg::Observed(web(
            "c1",
            T0,
            HealthStatus::Unhealthy,
            shell.now(),
        )))
        .unwrap();
    shell.pass(Duration::from_secs(30)).await;
    assert_eq!(
        restarts(&shell, "c1"),
        0,
        "healing came back on after a restart"
    );

    // Turned back on: the failure is remediated.
    let answer = ractor::call!(successor, |reply| ReconcilerMsg::Disable {
        target: "c1-name".into(),
        disabled: false,
        reply,
    })
    .unwrap();
    assert_eq!(answer, Ok("c1-name: healing is on".to_owned()));
    shell
        .until("the restart once enabled", Duration::from_secs(10), |s| {
            restarts(s, "c1") == 1
        })
        .await;
    let kinds = shell.kinds().await;
    assert!(kinds.starts_with(&["disabled".to_owned()]), "{kinds:?}");
    assert!(kinds.contains(&"enabled".to_owned()), "{kinds:?}");
    successor.stop(None);
}

/// A periodic probe's outcome on c1, as the prober reports it.
fn probed(shell: &Shell, success: bool) -> ReconcilerMsg {
    ReconcilerMsg::Probed(hale_core::ProbeOutcome {
        policy: "web".into(),
        probe: "check".into(),
        target_id: "c1".into(),
        time: shell.now(),
        success,
        latency_ms: 1,
        lag_us: 0,
        degraded: false,
        reason: if success {
            String::new()
        } else {
            "exit code 1".into()
        },
    })
}

#[tokio::test(start_paused = true)]
async fn a_failure_window_counts_across_a_restart_of_hale() {
    let shell = Shell::start(
        policy("  probes:\n  - {name: check, exec: {command: [check]}, period: 10s, failureThreshold: 2, failureWindow: 2m}\n  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 30s}]\n    cooldown: 10s\n"),
        false,
    )
    .await;
    let mut running = web("c1", T0, HealthStatus::Healthy, T0);
    running.health = None;
    shell.observe(running.clone());
    shell.pass(Duration::from_secs(1)).await;
    // One failure, then a pass: not failing yet (and not two in a row).
    shell.actor.cast(probed(&shell, false)).unwrap();
    shell.pass(Duration::from_secs(10)).await;
    shell.actor.cast(probed(&shell, true)).unwrap();
    shell.pass(Duration::from_secs(10)).await;
    assert_eq!(restarts(&shell, "c1"), 0);

    // hale restarts: the window's first failure is read back from the store.
    let successor = shell.restart_hale().await;
    // As the watcher does at every start: the full list first.
    successor
        .cast(ReconcilerMsg::Relisted(vec![running]))
        .unwrap();
    shell.pass(Duration::from_secs(1)).await;
    successor.cast(probed(&shell, false)).unwrap();
    shell
        .until(
            "the restart at the second failure in the window",
            Duration::from_secs(5),
            |s| restarts(s, "c1") == 1,
        )
        .await;
    successor.stop(None);
}

/// An Alertmanager alert named `alertname` with no label naming a container.
fn alert(alertname: &str, firing: bool) -> ReconcilerMsg {
    ReconcilerMsg::Alerts(vec![hale_reconciler::Alert {
        firing,
        labels: [("alertname".to_owned(), alertname.to_owned())].into(),
        fingerprint: format!("fp-{alertname}"),
    }])
}

#[tokio::test(start_paused = true)]
async fn a_target_selected_alert_marks_every_selected_container_failing_until_resolved() {
    let shell = Shell::start(
        policy("  alerts:\n  - matchLabels: {alertname: HighLatency}\n    targetSelected: true\n  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 30s}]\n    cooldown: 10s\n"),
        false,
    )
    .await;
    shell.observe(web("c1", T0, HealthStatus::Healthy, T0));
    shell.observe(web("c2", T0, HealthStatus::Healthy, T0));
    let mut other = web("c3", T0, HealthStatus::Healthy, T0);
    other.labels.insert("app".into(), "db".into());
    shell.observe(other);
    shell.pass(Duration::from_secs(1)).await;

    // Another alert matches no rule: nothing.
    shell.actor.cast(alert("DiskFull", true)).unwrap();
    shell.pass(Duration::from_secs(2)).await;
    assert!(
        shell.docker.calls().is_empty(),
        "{:?}",
        shell.docker.calls()
    );

    // The rule's alert, naming no container: both selected containers are restarted.
    shell.actor.cast(alert("HighLatency", true)).unwrap();
    shell
        .until("both restarts", Duration::from_secs(10), |s| {
            restarts(s, "c1") == 1 && restarts(s, "c2") == 1
        })
        .await;
    assert_eq!(restarts(&shell, "c3"), 0, "c3 is not selected");
    let failing: Vec<String> = shell
        .audit()
        .await
        .iter()
        .filter(|e| e.kind.as_str() == "failing")
        .map(|e| e.reason.clone())
        .collect();
    assert_eq!(failing.len(), 2, "{failing:?}");
    assert!(
        failing.iter().all(|r| r.contains("HighLatency")),
        "{failing:?}"
    );

    // Restarted and healthy again, while the alert still fires: not recovered.
    shell.observe(after_restart(&shell, "c1", HealthStatus::Healthy));
    shell.observe(after_restart(&shell, "c2", HealthStatus::Healthy));
    shell.pass(Duration::from_secs(15)).await;
    let recovered = |audit: &[HealEvent]| -> Vec<String> {
        let mut names: Vec<String> = audit
            .iter()
            .filter(|e| e.kind.as_str() == "recovered")
            .filter_map(|e| e.target.as_ref().map(|t| t.name.clone()))
            .collect();
        names.sort();
        names
    };
    assert!(
        recovered(&shell.audit().await).is_empty(),
        "{:?}",
        shell.kinds().await
    );

    // Resolved: it clears both, and they recover with no further action.
    shell.actor.cast(alert("HighLatency", false)).unwrap();
    shell.pass(Duration::from_secs(15)).await;
    assert_eq!(recovered(&shell.audit().await), ["c1-name", "c2-name"]);
    shell.pass(Duration::from_secs(60)).await;
    assert_eq!((restarts(&shell, "c1"), restarts(&shell, "c2")), (1, 1));
}
