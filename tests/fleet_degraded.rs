//! Fleet mode degraded, never stopped (issue 19, part 4), with real parts: a real
//! `redis-server` with a password, nodes as `hale run --fleet`, the host's Docker daemon
//! for a local container (labelled per test), and the fake Coolify, whose request log
//! (each request stamped on the test's clock, each node with its own token) says who
//! restarted the site and when.
//!
//! - Redis stopped: the local unhealthy container is still restarted (Docker's own events
//!   say so), the failing site's action is held (no Coolify restart until Redis is back),
//!   the status says "held: fleet store unreachable", and the audit has
//!   `fleet_store_unreachable`; Redis restarted (empty: it persists nothing): the held
//!   action resumes with exactly one restart, `fleet_store_back` is recorded, and the new
//!   stream has every local record of the node exactly once.
//! - A partition: the lease holder, alive in a network namespace of its own, is cut off
//!   from Redis by `iptables … -j DROP`; it sends no restart after the cut, and the other
//!   node's first restart comes after the cut node's renew deadline.
//! - Every hale names its node on `/metrics`, with `--fleet` or without.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::fleet_site::{failing_site, restarts, site_policy, token_of};
use common::netns::Netns;
use common::redis_server::{self as redis_server, RedisServer};
use common::{HEALTH, Hale, NEVER_HEALTHY, TestDocker, Workspace};
use hale_fakes::FakeCoolify;
use serde_json::Value;

/// Generous bound for what takes a few seconds; never a measured time.
const WAIT: Duration = Duration::from_secs(60);

/// A TCP relay on `address` to the fake Coolify (which listens on loopback only), so a
/// node in a network namespace reaches it; returns the relay's URL.
fn relay_to(runtime: &tokio::runtime::Runtime, address: &str, target: &str) -> String {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(format!("{address}:0")))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = target
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    runtime.spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    url
}

/// Waits for a restart received after `after`; returns it.
fn wait_restart_after(coolify: &FakeCoolify, after: Instant, what: &str) -> (String, Instant) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = restarts(coolify).into_iter().find(|(_, at)| *at > after) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no Coolify restart: {:?}",
            restarts(coolify)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `hale events -o json` of a state directory, all of them.
fn local_events(state: &std::path::Path) -> Vec<Value> {
    let output = common::hale_ok([
        "events",
        "-o",
        "json",
        "-n",
        "100000",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    serde_json::from_str(&output).unwrap()
}

/// The value of `series` (name and labels, as served) in an exposition.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The `seq` of every entry `node` has in the fleet's stream, in stream order.
fn stream_seqs(redis: &RedisServer, node: &str) -> Vec<u64> {
    let client = redis::Client::open(redis.url()).unwrap();
    let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
        return Vec::new();
    };
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("hale:audit")
        .arg("-")
        .arg("+")
        .query(&mut connection)
        .unwrap_or_default();
    entries
        .into_iter()
        .filter(|(_, fields)| fields.iter().any(|(k, v)| k == "node" && v == node))
        .filter_map(|(_, fields)| {
            fields
                .iter()
                .find(|(k, _)| k == "seq")
                .and_then(|(_, v)| v.parse().ok())
        })
        .collect()
}

/// `GET /metrics` of a hale, in the classic text format.
fn scrape(api: &str) -> String {
    let (code, text) = common::http("GET", &format!("{api}/metrics"), None, None);
    assert_eq!(code, 200, "{text}");
    text
}

/// Waits until `/metrics` has `line`.
fn wait_metric(api: &str, line: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(api);
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "{line} never served:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `docker events` of kind `event` of container `name` between two Unix times (as
/// [`unix_now`] gives them). A restart through the API is `kill`, `die`, `stop`, `start`.
fn docker_events(name: &str, event: &str, since: &str, until: &str) -> usize {
    common::docker_ok(&[
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        &format!("container={name}"),
        "--filter",
        &format!("event={event}"),
        "--format",
        "{{.Time}}",
    ])
    .lines()
    .filter(|l| !l.trim().is_empty())
    .count()
}

/// Now as `docker events --since` takes it: Unix seconds with nanoseconds.
fn unix_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// The site's row of `hale get targets -o json`'s answer.
fn site_status(targets: &Value) -> Value {
    targets["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "site:shop")
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn redis_down_keeps_local_heals_holds_the_site_and_delivers_every_record_once_when_back() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut redis = RedisServer::start();
    let coolify = runtime.block_on(FakeCoolify::start());
    coolify.add_token(&token_of("a"), &["root"], true);
    let (site, _) = failing_site(&runtime, "127.0.0.1");
    let docker = TestDocker::new("fleet-degraded");
    let local = docker.policy(
        "local",
        "  remediation:\n    steps: [{action: restart, attempts: 1000, timeout: 5s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 1000, within: 1h}\n",
    );
    let policy = format!("{}---\n{local}", site_policy(&site, coolify.url()));
    let workspace = Workspace::new(&policy);
    let url = redis.url();
    let token = token_of("a");
    let begun = Instant::now();
    let hale = workspace.start(
        &["--fleet", &url, "--node", "a", "--fleet-lease-ttl", "3s"],
        &[("COOLIFY_TOKEN", token.as_str())],
    );
    let api = hale.api();
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let web = docker.name("web");

    // Redis up: the node holds the site's lease and heals it; the container is healed too.
    wait_restart_after(&coolify, begun, "the first restart");
    hale.wait_audit("action_succeeded", &web, WAIT);
    wait_metric(&api, "hale_fleet_store_up{node=\"a\"} 1");

    // Redis down. The site's deployment finishes, so its next restart is due at once:
    // only the missing Redis may hold it.
    let healed_before = hale.audit("action_succeeded", &web).len();
    redis.stop();
    let stopped = Instant::now();
    let stopped_unix = unix_now();
    coolify.finish_deployments();
    hale.wait_for("fleet_store_unreachable", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "fleet_store_unreachable"
    });
    // The local container is healed on, twice, with local rails.
    let deadline = Instant::now() + WAIT;
    while hale.audit("action_succeeded", &web).len() < healed_before + 2 {
        assert!(
            Instant::now() < deadline,
            "the local container was not restarted while Redis was down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The status view says the site is held for the store, not left to another node.
    let (code, table, stderr) = hale.cli(&["get", "targets"]);
    assert_eq!(code, 0, "{stderr}");
    let row = table
        .lines()
        .find(|l| l.contains("site:shop"))
        .unwrap_or_default();
    assert!(
        row.contains("held: fleet store unreachable"),
        "hale get targets:\n{table}"
    );
    let (code, json, _) = hale.cli(&["get", "targets", "-o", "json"]);
    assert_eq!(code, 0);
    let status = site_status(&serde_json::from_str(&json).unwrap());
    assert!(
        status["standby"]
            .as_str()
            .is_some_and(|s| s.starts_with("held: fleet store unreachable")),
        "{status}"
    );
    wait_metric(&api, "hale_fleet_store_up{node=\"a\"} 0");
    let held_until = Instant::now();
    let held_until_unix = unix_now();
    redis.restart();

    // Docker itself saw the container restarted while Redis was down.
    assert!(
        docker_events(&web, "start", &stopped_unix, &held_until_unix) >= 1,
        "Docker started {web} again (a restart: stop, then start) while Redis was down"
    );
    // Not one Coolify restart while Redis was down; after it, the held action resumes.
    let during: Vec<_> = restarts(&coolify)
        .into_iter()
        .filter(|(_, at)| *at > stopped && *at < held_until)
        .collect();
    assert!(
        during.is_empty(),
        "Coolify was called while Redis was down: {during:?}"
    );
    let resumed = wait_restart_after(&coolify, held_until, "the held restart");
    assert_eq!(resumed.0, "a");
    hale.wait_for("fleet_store_back", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "fleet_store_back"
    });
    // Exactly one: the deployment it queued is still running, and nothing else calls.
    std::thread::sleep(Duration::from_secs(3));
    let after: Vec<_> = restarts(&coolify)
        .into_iter()
        .filter(|(_, at)| *at > held_until)
        .collect();
    assert_eq!(
        after.len(),
        1,
        "one Coolify restart after Redis came back: {after:?}"
    );

    // The records, readable, the error redacted.
    let down = local_events(&hale.state_dir)
        .into_iter()
        .find(|e| e["kind"] == "fleet_store_unreachable")
        .expect("the transition is in the local audit log");
    assert!(
        down["reason"].as_str().unwrap().contains("node a"),
        "{down}"
    );
    assert!(!down.to_string().contains(redis_server::PASSWORD), "{down}");
    let human = common::hale_ok([
        "events",
        "--state-dir",
        hale.state_dir.to_str().unwrap(),
        "--kind",
        "fleet_store_unreachable,fleet_store_back,fleet_lease_won",
    ]);
    for kind in [
        "fleet_store_unreachable",
        "fleet_store_back",
        "fleet_lease_won",
    ] {
        assert!(
            human
                .lines()
                .any(|l| l.contains(kind) && l.contains("node a")),
            "hale events shows {kind}:\n{human}"
        );
    }

    // Redis came back empty: the shipper ships every local record again, each once.
    let deadline = Instant::now() + WAIT;
    let (local, shipped) = loop {
        let local: Vec<u64> = local_events(&hale.state_dir)
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .collect();
        let shipped = stream_seqs(&redis, "a");
        if local.iter().all(|seq| shipped.contains(seq)) {
            break (local, shipped);
        }
        assert!(
            Instant::now() < deadline,
            "the stream lacks local records: local {local:?}, stream {shipped:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut unique = shipped.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        shipped.len(),
        "a record is in the stream twice: {shipped:?}"
    );
    assert!(
        shipped.windows(2).all(|w| w[0] < w[1]),
        "in order: {shipped:?}"
    );
    let newer: Vec<u64> = local_events(&hale.state_dir)
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert!(
        shipped.iter().all(|seq| newer.contains(seq)),
        "the stream has a record the node never made: {shipped:?} vs {newer:?}"
    );
    assert!(local.len() > 5, "{local:?}");

    // The metrics, linted by Prometheus' own tool.
    wait_metric(&api, "hale_fleet_store_up{node=\"a\"} 1");
    wait_metric(&api, "hale_fleet_leases_held{node=\"a\"} 1");
    let text = scrape(&api);
    assert_eq!(
        metric(&text, "hale_node_info{node=\"a\"}"),
        Some(1.0),
        "{text}"
    );
    for kind in [
        "fleet_store_unreachable",
        "fleet_store_back",
        "fleet_lease_won",
    ] {
        let series = format!("hale_fleet_transitions_total{{kind=\"{kind}\"}}");
        assert!(
            metric(&text, &series).is_some_and(|n| n >= 1.0),
            "{series} counted:\n{text}"
        );
    }
    common::promtool_check_metrics(&text);
    drop(hale);
}

#[test]
fn a_node_cut_off_from_redis_stops_before_its_lease_can_pass_to_another() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let netns = Netns::new();
    let redis = RedisServer::start_on(&[&netns.host_ip]);
    let coolify = runtime.block_on(FakeCoolify::start());
    for node in ["a", "b"] {
        coolify.add_token(&token_of(node), &["root"], true);
    }
    let (site, _) = failing_site(&runtime, &netns.host_ip);
    let coolify_url = relay_to(&runtime, &netns.host_ip, coolify.url());
    let workspace = Workspace::new(&site_policy(&site, &coolify_url));
    // Both nodes reach Redis at the host end's address: a over the veth, b locally.
    let url = redis.url_on(&netns.host_ip);
    // A 6 s lease: renewals every 800 ms, the holder stops acting 4 s after its last one.
    let lease = "6s";
    let renew_deadline = Duration::from_secs(4);
    let start = |name: &str, inside: bool| {
        let state = workspace.root().join(format!("state-{name}"));
        let token = token_of(name);
        let args = ["--fleet", &url, "--node", name, "--fleet-lease-ttl", lease];
        let env = [("COOLIFY_TOKEN", token.as_str())];
        if inside {
            Hale::start_in(&netns, &workspace.policies(), &state, &args, &env)
        } else {
            Hale::start(&workspace.policies(), &state, &args, &env)
        }
    };

    // a, alone and in the namespace, takes the lease and heals; then b joins as standby.
    let begun = Instant::now();
    let a = start("a", true);
    let first = wait_restart_after(&coolify, begun, "a's first restart");
    assert_eq!(first.0, "a");
    let b = start("b", false);
    let b_api = b.api();
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, body) = common::http(
            "GET",
            &format!("{b_api}/api/v1/targets/site:shop"),
            None,
            None,
        );
        if code == 200 && body.contains("fleet standby") {
            break;
        }
        assert!(Instant::now() < deadline, "b never stood by: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The cut: a's packets to Redis are dropped, a lives on. Its last renewal that can
    // succeed was sent before this instant, so its renew deadline is before
    // `cut + renew_deadline`.
    netns.drop_tcp_to(redis.port);
    let cut = Instant::now();
    // The deployment finishes: the site's next restart is due at once.
    coolify.finish_deployments();
    let taken = wait_restart_after(&coolify, cut, "b's takeover");
    assert_eq!(taken.0, "b", "{:?}", restarts(&coolify));
    assert!(
        taken.1 > cut + renew_deadline,
        "b restarted {:?} after the cut, before a's renew deadline ({renew_deadline:?} after its last renewal)",
        taken.1 - cut
    );
    println!("b's first restart {:?} after the cut", taken.1 - cut);
    // b goes on healing; a, cut off, never calls.
    coolify.finish_deployments();
    let again = wait_restart_after(&coolify, taken.1, "b's next restart");
    assert_eq!(again.0, "b");
    coolify.finish_deployments();
    std::thread::sleep(Duration::from_secs(3));
    let by_a: Vec<_> = restarts(&coolify)
        .into_iter()
        .filter(|(node, at)| node == "a" && *at > cut)
        .collect();
    assert!(by_a.is_empty(), "the cut node acted: {by_a:?}");

    // a says what happened to it, in its audit and its status.
    a.wait_for("a's fleet_store_unreachable", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "fleet_store_unreachable"
    });
    a.wait_for("a's fleet_lease_lost", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "fleet_lease_lost"
    });
    let a_api = a.api();
    let output = netns
        .command(env!("CARGO_BIN_EXE_hale"))
        .args(["get", "targets", "--server", &a_api])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("held: fleet store unreachable"),
        "a's hale get targets:\n{table}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    drop((a, b));
}

#[test]
fn every_hale_names_its_node_on_metrics_with_the_hostname_without_fleet() {
    let workspace = Workspace::new("");
    let hale = workspace.start(&[], &[]);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let text = scrape(&hale.api());
    assert!(
        text.lines()
            .any(|l| l == format!("hale_node_info{{node=\"{hostname}\"}} 1")),
        "{text}"
    );
    assert!(!text.contains("hale_fleet_store_up{"), "{text}");
    common::promtool_check_metrics(&text);
}
