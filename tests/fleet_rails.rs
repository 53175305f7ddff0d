//! `scope: Fleet` end to end: one service with a replica on each of several Docker hosts
//! (private `dockerd`s), a `hale run --fleet` node on each sharing one real
//! `redis-server`.
//!
//! - Every replica failing at once, with `maxConcurrent: 1`: the heals roll. Docker's own
//!   event log of each daemon shows that no replica's remediation (from the stop hale asks
//!   for to the health check passing again) overlaps another's, and that each replica was
//!   restarted once.
//! - The ladder position is shared: a replica that a restart did not fix was recreated, so
//!   the next replica to fail is recreated at once, never restarted (its daemon's log shows
//!   a second `create` and no start of a stopped container in place).

mod common;

use std::time::{Duration, Instant};

use common::dockerd::Dockerd;
use common::fleet_hosts::{FleetHosts, replica_policy};
use common::redis_server::RedisServer;
use common::{TestDocker, Workspace};
use serde_json::Value;

/// Generous bound for what takes seconds; never a measured time.
const WAIT: Duration = Duration::from_secs(120);

/// A replica that is unhealthy in its first run and healthy in every run after a restart:
/// `/started` lives in the container's writable layer (kept across a restart), `/tmp` is
/// a tmpfs (emptied by one). It ignores SIGTERM, so each restart takes the stop timeout
/// (2 s): long enough that three replicas failing together would be restarted together
/// without the budget.
const REPLICA: &str = "trap '' TERM; if [ -e /started ]; then touch /tmp/healthy; else touch /started; fi; sleep 1000000 & wait";

/// When one replica's remediation began and ended, in Docker's clock (ns).
#[derive(Debug, Clone, Copy)]
struct Remediation {
    began: i64,
    healthy: i64,
}

/// The daemon's events for `container` since `since` (unix seconds), as JSON.
fn events(daemon: &Dockerd, container: &str, since: i64) -> Vec<Value> {
    filtered_events(daemon, &format!("container={container}"), since)
}

/// The daemon's events matching `filter` (as `docker events --filter` takes it) since
/// `since` (unix seconds), as JSON.
fn filtered_events(daemon: &Dockerd, filter: &str, since: i64) -> Vec<Value> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    daemon
        .docker_ok(&[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            filter,
            "--format",
            "{{json .}}",
        ])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The replica's remediations: from each stop hale asked for (Docker's `kill`) to the next
/// `health_status: healthy`.
fn remediations(events: &[Value]) -> Vec<Remediation> {
    let mut found = Vec::new();
    let mut began = None;
    for event in events {
        let action = event["Action"].as_str().unwrap_or_default();
        let at = event["timeNano"].as_i64().unwrap();
        if action == "kill" && began.is_none() {
            began = Some(at);
        }
        if action == "health_status: healthy"
            && let Some(start) = began.take()
        {
            found.push(Remediation {
                began: start,
                healthy: at,
            });
        }
    }
    found
}

#[test]
fn max_concurrent_one_heals_the_replicas_of_a_service_one_after_another() {
    let docker = TestDocker::new("fleet-rails");
    let redis = RedisServer::start();
    let label = format!("hale.test={}", docker.id);
    let project = format!("rails-{}", docker.id);
    let workspace = Workspace::new(&replica_policy(&docker.id, "replicas", "maxConcurrent: 1"));
    let FleetHosts { daemons, nodes } = FleetHosts::start(&workspace, &redis.url(), &[]);

    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 1;
    // The same service on the three hosts, by its Compose labels (the default identity);
    // each container's name differs, as on real hosts.
    let names: Vec<String> = (0..3).map(|i| format!("{project}-web-{i}")).collect();
    for (daemon, name) in daemons.iter().zip(&names) {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &label,
            "--tmpfs",
            "/tmp",
            "--stop-timeout",
            "2",
        ];
        let project_label = format!("com.docker.compose.project={project}");
        args.extend(["--label", &project_label]);
        args.extend(["--label", "com.docker.compose.service=web"]);
        args.extend_from_slice(common::HEALTH);
        args.extend([common::IMAGE, "sh", "-c", REPLICA]);
        daemon.docker_ok(&args);
    }

    // Every replica ends healthy, healed by its own node.
    let deadline = Instant::now() + WAIT;
    let all_healed = |daemons: &[Dockerd]| {
        daemons.iter().zip(&names).all(|(daemon, name)| {
            remediations(&events(daemon, name, since)).len() == 1
                && daemon
                    .docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", name])
                    .contains("healthy")
        })
    };
    while !all_healed(&daemons) {
        assert!(
            Instant::now() < deadline,
            "the three replicas were not all healed within {WAIT:?}: {:?}",
            daemons
                .iter()
                .zip(&names)
                .map(|(d, n)| remediations(&events(d, n, since)))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A moment more, so that a second remediation of any replica would show.
    std::thread::sleep(Duration::from_secs(3));

    let mut healed: Vec<(usize, Remediation)> = Vec::new();
    for (i, (daemon, name)) in daemons.iter().zip(&names).enumerate() {
        let found = remediations(&events(daemon, name, since));
        assert_eq!(
            found.len(),
            1,
            "replica {name} was remediated {} times, not once: {found:?}",
            found.len()
        );
        healed.push((i, found[0]));
    }
    healed.sort_by_key(|(_, r)| r.began);
    for pair in healed.windows(2) {
        let ((first, a), (second, b)) = (pair[0], pair[1]);
        assert!(
            b.began > a.healthy,
            "replica {second}'s restart began {} ms before replica {first} was healthy again: the budget let two replicas down at once ({healed:?})",
            (a.healthy - b.began) / 1_000_000
        );
    }

    // The nodes that waited said why, once each, naming the budget.
    let states: Vec<std::path::PathBuf> = nodes.iter().map(|n| n.state_dir.clone()).collect();
    for node in nodes {
        assert!(node.stop().success());
    }
    let held: Vec<Value> = states
        .iter()
        .flat_map(|state| common::hale_events(state, &["--kind", "skipped"]))
        .filter(|event| event["result"] == "held")
        .collect();
    assert!(
        held.len() >= 2,
        "the two replicas that waited have a held record each: {held:?}"
    );
    assert!(
        held.iter().all(|e| {
            let reason = e["reason"].as_str().unwrap_or_default();
            reason.contains("held:") && reason.contains("not an attempt")
        }),
        "{held:?}"
    );
    assert!(
        held.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("maxConcurrent 1")),
        "at least one hold names the budget: {held:?}"
    );
}

/// A replica that fails until it has started `heal_at_run` times: its runs are counted in a
/// file of the host's directory mounted at `/runs`, which a restart and a recreate both
/// keep, so "how many remedies it took" is the replica's own and not its container's.
fn counting_replica(heal_at_run: u32) -> String {
    format!(
        "n=$(( $(cat /runs/count 2>/dev/null || echo 0) + 1 )); echo $n > /runs/count; \
         if [ $n -ge {heal_at_run} ]; then touch /tmp/healthy; fi; exec sleep 1000000"
    )
}

/// The container actions (`create`, `start`, `destroy` ...) the daemon logged for the
/// containers labelled `label`, in order, with the name each had.
fn container_actions(daemon: &Dockerd, label: &str, since: i64) -> Vec<(String, String)> {
    filtered_events(daemon, &format!("label={label}"), since)
        .iter()
        .filter(|event| event["Type"] == "container")
        .map(|event| {
            (
                event["Action"].as_str().unwrap_or_default().to_owned(),
                event["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// How many times `actions` show a container started again in place (hale's restart: a
/// `stop`, then a `start` with no `create` between): every start beyond the creates.
fn restarts(actions: &[(String, String)]) -> usize {
    let count = |wanted: &str| {
        actions
            .iter()
            .filter(|(action, _)| action == wanted)
            .count()
    };
    count("start").saturating_sub(count("create"))
}

/// How many containers `actions` show created (the first run, and each recreate).
fn creates(actions: &[(String, String)]) -> usize {
    actions
        .iter()
        .filter(|(action, _)| action == "create")
        .count()
}

fn healthy(daemon: &Dockerd, name: &str) -> bool {
    daemon
        .docker(&["inspect", "-f", "{{.State.Health.Status}}", name])
        .stdout
        .starts_with(b"healthy")
}

#[test]
fn a_replica_starts_at_the_rung_where_another_replica_of_its_service_was_healed() {
    let docker = TestDocker::new("fleet-ladder");
    let redis = RedisServer::start();
    let label = format!("hale.test={}", docker.id);
    let project = format!("ladder-{}", docker.id);
    // The shipped ladder's shape, with short timers: a restart, then a recreate.
    let workspace = Workspace::new(&format!(
        r"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: ladder}}
spec:
  selector: {{matchLabels: {{hale.test: '{}'}}}}
  scope: Fleet
  remediation:
    steps:
    - {{action: restart, attempts: 1, timeout: 2s}}
    - {{action: recreate, attempts: 2, timeout: 30s}}
    cooldown: 1s
    backoff: {{initial: 1s, max: 1s}}
",
        docker.id
    ));
    let FleetHosts { daemons, nodes } = FleetHosts::start_some(&workspace, &redis.url(), &[], 2);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 1;
    let names: Vec<String> = (0..2).map(|i| format!("{project}-web-{i}")).collect();
    let start_replica = |i: usize, heal_at_run: u32| {
        let runs = workspace.root().join(format!("runs-{i}"));
        std::fs::create_dir_all(&runs).unwrap();
        let mount = format!("{}:/runs", runs.display());
        let project_label = format!("com.docker.compose.project={project}");
        let command = counting_replica(heal_at_run);
        let mut args = vec!["run", "-d", "--name", &names[i], "--label", &label];
        args.extend(["--tmpfs", "/tmp", "-v", &mount, "--label", &project_label]);
        args.extend(["--label", "com.docker.compose.service=web"]);
        args.extend_from_slice(common::HEALTH);
        args.extend([common::IMAGE, "sh", "-c", &command]);
        daemons[i].docker_ok(&args);
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + WAIT;
        while !done() {
            assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(300));
        }
    };

    // Replica 0 needs two remedies: its restart does not fix it, its recreate does.
    start_replica(0, 3);
    wait_for("replica 0 is recreated and healthy", &|| {
        creates(&container_actions(&daemons[0], &label, since)) == 2
            && healthy(&daemons[0], &names[0])
    });
    let first = container_actions(&daemons[0], &label, since);
    assert_eq!(
        restarts(&first),
        1,
        "replica 0 climbed its ladder from the first rung: {first:?}"
    );

    // Replica 1 fails on the other host; one remedy fixes it, and the fleet's ladder says
    // which: the recreate that fixed replica 0, not the restart that did not.
    start_replica(1, 2);
    wait_for("replica 1 is remediated and healthy", &|| {
        let actions = container_actions(&daemons[1], &label, since);
        restarts(&actions) > 0 || creates(&actions) == 2 && healthy(&daemons[1], &names[1])
    });
    let second = container_actions(&daemons[1], &label, since);
    assert_eq!(
        restarts(&second),
        0,
        "replica 1 was restarted, though a restart had not fixed replica 0: {second:?}"
    );

    // Node b says why in its audit trail, as an escalation, and its first action is the
    // recreate at step 2; node a climbed by itself.
    let states: Vec<std::path::PathBuf> = nodes.iter().map(|n| n.state_dir.clone()).collect();
    for node in nodes {
        assert!(node.stop().success());
    }
    let trail_b = common::hale_events(&states[1], &[]);
    let escalated: Vec<&Value> = trail_b
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .collect();
    assert!(
        escalated.len() == 1
            && escalated[0]["result"] == "held"
            && escalated[0]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("is at step 2 (recreate) since a/"),
        "node b's replica was sent to the fleet's rung once, with the reason: {escalated:?}"
    );
    let done: Vec<(&str, &Value)> = trail_b
        .iter()
        .filter(|e| e["kind"] == "action_succeeded")
        .map(|e| (e["action"].as_str().unwrap_or_default(), &e["step"]))
        .collect();
    assert_eq!(
        done.first().map(|(action, _)| *action),
        Some("recreate"),
        "node b's first action: {done:?}"
    );
    let trail_a = common::hale_events(&states[0], &["--kind", "escalated"]);
    assert!(
        trail_a.iter().all(|e| e["result"] != "held"),
        "node a escalated on its own replica's failures: {trail_a:?}"
    );
}
