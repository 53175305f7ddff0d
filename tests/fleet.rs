//! Fleet mode end to end: three `hale run` nodes share one real `redis-server` (with a
//! password) and one policy directory, and watch one failing site healed through the fake
//! Coolify. Each node sends Coolify a token of its own, so the fake's request log says
//! which node acted: exactly one restart across the three; after `kill -9` of the holder
//! another node heals; a holder stopped (`SIGSTOP`) past its lease and continued does not
//! act again.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::fleet_site::{self, failing_site, token_of};
use common::redis_server::{self as redis_server, RedisServer};
use common::{Hale, Workspace};
use hale_fakes::FakeCoolify;

/// Generous bound for what takes a few seconds; never a measured time.
const WAIT: Duration = Duration::from_secs(45);

/// The lease the test gives the nodes (renewal every 400 ms, the holder stops acting 2 s
/// after its last renewal): short, so the takeovers take seconds.
const LEASE: &str = "3s";

/// The nodes that sent the POST /restart requests the fake received, in order.
fn restarts(coolify: &FakeCoolify) -> Vec<String> {
    fleet_site::restarts(coolify)
        .into_iter()
        .map(|(node, _)| node)
        .collect()
}

/// Waits until the fake has received more than `count` restarts; returns them all.
fn wait_restarts(coolify: &FakeCoolify, count: usize, what: &str) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = restarts(coolify);
        if seen.len() > count {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no restart after {count}: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_site_is_healed_by_one_node_and_another_takes_over_when_the_holder_dies_or_freezes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let redis = RedisServer::start();
    let coolify = runtime.block_on(FakeCoolify::start());
    for node in ["a", "b", "c"] {
        coolify.add_token(&token_of(node), &["root"], true);
    }
    let (site, hits) = failing_site(&runtime, "127.0.0.1");
    let policy = fleet_site::site_policy(&site, coolify.url());
    let workspace = Workspace::new(&policy);
    let url = redis.url();
    let start = |name: &str| {
        let state = workspace.root().join(format!("state-{name}"));
        let token = token_of(name);
        Hale::start(
            &workspace.policies(),
            &state,
            &["--fleet", &url, "--node", name, "--fleet-lease-ttl", LEASE],
            &[("COOLIFY_TOKEN", token.as_str())],
        )
    };
    let mut nodes: Vec<(String, Option<Hale>)> = ["a", "b", "c"]
        .iter()
        .map(|name| ((*name).to_owned(), Some(start(name))))
        .collect();

    // One restart across the three nodes, while Coolify still has it queued: the holder
    // waits for it, and the two standbys never call at all.
    let first = wait_restarts(&coolify, 0, "the first restart");
    std::thread::sleep(Duration::from_secs(4));
    let seen = restarts(&coolify);
    assert_eq!(
        seen.len(),
        1,
        "exactly one Coolify restart across the fleet: {seen:?}"
    );
    let holder = first[0].clone();
    assert!(hits.load(Ordering::Relaxed) > 3, "every node keeps probing");
    let standby = nodes
        .iter()
        .find(|(name, _)| *name != holder)
        .and_then(|(_, hale)| hale.as_ref())
        .unwrap();
    let (code, body) = common::http(
        "GET",
        &format!("{}/api/v1/targets/site:shop", standby.api()),
        None,
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("fleet standby") && body.contains("does not hold the lease"),
        "a standby says why it does not heal: {body}"
    );
    let described = common::hale_ok([
        "describe",
        "target",
        "site:shop",
        "--server",
        standby.api().as_str(),
    ]);
    assert!(
        described.contains("(fleet standby)")
            && described.contains("Fleet:")
            && described.contains("does not hold the lease of shop/site:shop"),
        "hale describe target says it is on standby, and why: {described}"
    );

    // kill -9 of the holder: another node takes the lease and heals.
    let killed_at = Instant::now();
    let slot = nodes.iter_mut().find(|(name, _)| *name == holder).unwrap();
    slot.1.take().unwrap().kill9();
    coolify.finish_deployments();
    let after_kill = wait_restarts(&coolify, 1, "a takeover after kill -9");
    let second = after_kill[1].clone();
    assert_ne!(second, holder, "the killed node cannot act: {after_kill:?}");
    println!("takeover after kill -9: {:?}", killed_at.elapsed());

    // SIGSTOP of the new holder past its lease: the last node takes over; then SIGCONT,
    // and the frozen node, whose lease is gone, never calls Coolify again.
    let frozen = nodes
        .iter()
        .find(|(name, _)| *name == second)
        .and_then(|(_, hale)| hale.as_ref())
        .unwrap();
    let before_freeze = restarts(&coolify).len();
    frozen.signal("-STOP");
    coolify.finish_deployments();
    let after_stop = wait_restarts(&coolify, before_freeze, "a takeover after SIGSTOP");
    let third = after_stop.last().unwrap().clone();
    assert!(
        third != second && third != holder,
        "the third node takes over: {after_stop:?}"
    );
    let resumed_from = restarts(&coolify).len();
    frozen.signal("-CONT");
    // The queue emptied again: the frozen node, were it to believe its old lease, would
    // call at once. It must not, for several leases' time.
    coolify.finish_deployments();
    std::thread::sleep(Duration::from_secs(8));
    let later: Vec<String> = restarts(&coolify).split_off(resumed_from);
    assert!(
        !later.contains(&second),
        "the node that was frozen acted on a lease it lost: {later:?}"
    );
    assert!(!later.is_empty(), "the holder goes on healing: {later:?}");

    // One fleet view: every node's audit records in Redis, each with its node, none twice.
    let deadline = Instant::now() + WAIT;
    let trail = loop {
        let output = common::hale_ok(["events", "--fleet", &url, "-o", "json", "-n", "100000"]);
        let trail: Vec<serde_json::Value> = serde_json::from_str(&output).unwrap();
        let acted = |node: &str| {
            trail.iter().any(|r| {
                r["node"] == node
                    && r["kind"] == "action_succeeded"
                    && r["action"] == "coolifyRestart"
            })
        };
        if acted(&holder) && acted(&second) && acted(&third) {
            break trail;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet trail lacks a node's restart: {output}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut seen = std::collections::BTreeSet::new();
    for record in &trail {
        let id = (record["node"].to_string(), record["seq"].as_u64().unwrap());
        assert!(
            seen.insert(id.clone()),
            "record {id:?} is in the fleet trail twice"
        );
    }
    let human = common::hale_ok(["events", "--fleet", &url, "--kind", "action_succeeded"]);
    assert!(
        human.lines().any(|l| l.starts_with(&format!("{holder}  "))),
        "human lines start with the node: {human}"
    );
    assert!(!human.contains(redis_server::PASSWORD));
    drop(nodes);
}
