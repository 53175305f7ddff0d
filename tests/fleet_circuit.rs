//! A fleet-wide `maxUnhealthy` end to end: one service with a replica on each of three
//! Docker hosts (three private `dockerd`s), three `hale run --fleet` nodes sharing one real
//! `redis-server`, a `scope: Fleet` policy with `maxUnhealthy: 1`.
//!
//! - All three replicas fail at once: no node alone has more than one failing replica,
//!   yet every node opens the circuit (the counts are the fleet's) and no replica is
//!   restarted (Docker's own event log of each daemon shows no `kill`).
//! - Two recover: the circuit closes and the remaining replica is healed.
//! - Later, a lone failing replica (the others healthy) is healed: fleet counting does not
//!   block it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::dockerd::Dockerd;
use common::fleet_hosts::{FleetHosts, replica_policy};
use common::redis_server::RedisServer;
use common::{Hale, TestDocker, Workspace};
use serde_json::Value;

/// Generous bound for what takes seconds; never a measured time.
const WAIT: Duration = Duration::from_secs(120);

/// The policy's name, hence its counts' key in Redis.
const POLICY: &str = "replicas";

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The daemon's `kill` events for `container` since `since` (unix seconds).
fn kills(daemon: &Dockerd, container: &str, since: i64) -> usize {
    daemon
        .docker_ok(&[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &(unix_now() + 1).to_string(),
            "--filter",
            &format!("container={container}"),
            "--filter",
            "event=kill",
            "--format",
            "{{json .}}",
        ])
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
}

fn health(daemon: &Dockerd, container: &str) -> String {
    daemon
        .docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", container])
        .trim()
        .to_owned()
}

/// Each node's entry in the fleet's counts of the policy, as Redis holds it.
fn published(redis: &RedisServer) -> Vec<String> {
    let url = redis.url();
    let port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(port, _)| port.to_owned())
        .expect("redis://:PASSWORD@127.0.0.1:PORT/0");
    let output = Command::new("redis-cli")
        .args([
            "-p",
            &port,
            "-a",
            common::redis_server::PASSWORD,
            "--no-auth-warning",
            "HGETALL",
            &format!("hale:unhealthy:{POLICY}"),
        ])
        .output()
        .expect("redis-cli runs (it comes with redis-server)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until every node's published counts read `counts` (`"<failing> <total>"`).
fn wait_all_published(redis: &RedisServer, counts: &str, what: &str) {
    wait_until(
        what,
        || {
            let entries = published(redis);
            ["a", "b", "c"].iter().all(|node| {
                entries
                    .windows(2)
                    .any(|pair| pair[0] == *node && pair[1] == counts)
            })
        },
        || format!("{:?}", published(redis)),
    );
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool, detail: impl Fn() -> String) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {WAIT:?}: {}",
            detail()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn circuit_records(node: &Hale, kind: &str) -> Vec<Value> {
    node.policy_audit(kind)
        .into_iter()
        .filter(|l| l["policy"] == POLICY)
        .collect()
}

#[test]
fn max_unhealthy_counts_the_replicas_of_every_node() {
    let docker = TestDocker::new("fleet-circuit");
    let redis = RedisServer::start();
    let label = format!("hale.test={}", docker.id);
    let project = format!("circuit-{}", docker.id);
    let workspace = Workspace::new(&replica_policy(&docker.id, POLICY, "maxUnhealthy: 1"));
    // A 30 s lease: a 4 s retry period, the window in which failures on several nodes
    // are counted together.
    let FleetHosts { daemons, nodes } =
        FleetHosts::start(&workspace, &redis.url(), &["--fleet-lease-ttl", "30s"]);

    let names: Vec<String> = (0..3).map(|i| format!("{project}-web-{i}")).collect();
    let project_label = format!("com.docker.compose.project={project}");
    for (daemon, name) in daemons.iter().zip(&names) {
        let mut args = vec!["run", "-d", "--name", name, "--label", &label];
        args.extend(["--label", &project_label]);
        args.extend(["--label", "com.docker.compose.service=web"]);
        args.extend_from_slice(common::HEALTH);
        args.push(common::IMAGE);
        args.extend_from_slice(common::HEALTHY);
        daemon.docker_ok(&args);
    }
    let states = || {
        daemons
            .iter()
            .zip(&names)
            .map(|(d, n)| health(d, n))
            .collect::<Vec<_>>()
    };
    wait_until(
        "the three replicas becoming healthy",
        || states().iter().all(|s| s == "healthy"),
        || format!("{:?}", states()),
    );
    // Every node counts its healthy replica in the fleet's counts.
    wait_all_published(&redis, "0 1", "every node publishing 0 of 1 failing");

    // All three fail at once.
    let since = unix_now() - 1;
    for (daemon, name) in daemons.iter().zip(&names) {
        daemon.docker_ok(&["exec", name, "rm", "/tmp/healthy"]);
    }
    for node in &nodes {
        let open = node.wait_for("circuit_open", WAIT, |l| {
            l["target"] == "hale::audit" && l["kind"] == "circuit_open" && l["policy"] == POLICY
        });
        let reason = open["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(" of 3 targets") && reason.contains("counted across the fleet"),
            "the circuit opened on the fleet's counts: {open}"
        );
    }
    // A while longer with the circuit open: still no restart anywhere.
    std::thread::sleep(Duration::from_secs(6));
    for (daemon, name) in daemons.iter().zip(&names) {
        assert_eq!(
            kills(daemon, name, since),
            0,
            "{name} was restarted while the fleet's circuit was open"
        );
        assert_eq!(health(daemon, name), "unhealthy");
    }
    for node in &nodes {
        assert!(circuit_records(node, "circuit_closed").is_empty());
    }

    // Two recover by themselves: the circuit closes and the third is healed.
    for (daemon, name) in daemons.iter().zip(&names).take(2) {
        daemon.docker_ok(&["exec", name, "touch", "/tmp/healthy"]);
    }
    for node in &nodes {
        node.wait_for("circuit_closed", WAIT, |l| {
            l["target"] == "hale::audit" && l["kind"] == "circuit_closed" && l["policy"] == POLICY
        });
    }
    let (last_daemon, last) = (&daemons[2], &names[2]);
    wait_until(
        "the remaining replica being restarted and healthy again",
        || kills(last_daemon, last, since) >= 1 && health(last_daemon, last) == "healthy",
        || format!("{:?}, kills {}", states(), kills(last_daemon, last, since)),
    );
    for (daemon, name) in daemons.iter().zip(&names).take(2) {
        assert_eq!(kills(daemon, name, since), 0, "{name} recovered by itself");
    }

    // A lone failing replica, the others healthy: healed, the circuit stays closed.
    wait_all_published(&redis, "0 1", "every node publishing 0 of 1 failing again");
    let lone_since = unix_now() - 1;
    let (first_daemon, first) = (&daemons[0], &names[0]);
    let api = nodes[0].api();
    first_daemon.docker_ok(&["exec", first, "rm", "/tmp/healthy"]);
    // While its failure waits for the fleet's counts (at least one 4 s retry period), its
    // node says so; asked often enough to see it.
    let mut waiting_seen = false;
    wait_until(
        "the lone failing replica being healed",
        || {
            let (code, body) =
                common::http("GET", &format!("{api}/api/v1/targets/{first}"), None, None);
            waiting_seen |= code == 200 && body.contains("\"standby\":\"waiting: ");
            kills(first_daemon, first, lone_since) >= 1 && health(first_daemon, first) == "healthy"
        },
        || format!("{:?}", states()),
    );
    assert!(
        waiting_seen,
        "the node showed the failure waiting for the fleet's counts before it healed it"
    );
    for node in &nodes {
        assert_eq!(
            circuit_records(node, "circuit_open").len(),
            1,
            "a lone failure did not open the circuit again: {:?}",
            [
                circuit_records(node, "circuit_open"),
                circuit_records(node, "circuit_closed")
            ]
        );
    }
    for node in nodes {
        assert!(node.stop().success());
    }
}
