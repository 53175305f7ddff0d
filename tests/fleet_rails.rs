//! `scope: Fleet` end to end: one service with a replica on each of three Docker hosts
//! (three private `dockerd`s), three `hale run --fleet` nodes sharing one real
//! `redis-server`, and every replica failing at once. With `maxConcurrent: 1` the heals
//! roll: Docker's own event log of each daemon shows that no replica's remediation (from
//! the stop hale asks for to the health check passing again) overlaps another's, and that
//! each replica was restarted once.

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
            &format!("container={container}"),
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
