//! The fleet's one status view end to end: `hale run --fleet` nodes on one real
//! `redis-server` (with a password) publish their targets; `hale get targets --fleet` and
//! `GET /api/v1/fleet/targets` list every node's, with the node, which node holds a site's
//! lease and which stand by; a node killed with `kill -9` is marked stale and then drops
//! out when its key expires; a lease holder stopped with SIGTERM hands its lease back, so
//! another node holds it long before the lease's TTL could have run out.

mod common;

use std::time::{Duration, Instant};

use common::redis_server::{self as redis_server, RedisServer};
use common::{Hale, TestDocker, Workspace, http};
use hale_fakes::{APP_UUID, FakeCoolify};
use serde_json::Value;

/// Generous bound for what takes a few seconds; never a measured time.
const WAIT: Duration = Duration::from_secs(60);

/// A site that answers 200: every node probes it, one holds its lease.
fn healthy_site(runtime: &tokio::runtime::Runtime) -> String {
    let app = axum::Router::new().fallback(|| async { "ok" });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A policy with one site, probed every 500 ms.
fn site_policy(site: &str, coolify: &str) -> String {
    format!(
        r"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: shop}}
spec:
  sites:
  - name: shop
    url: {site}
    coolify:
      applicationUuid: {APP_UUID}
      url: {coolify}
      token: {{fromEnv: COOLIFY_TOKEN}}
  probes:
  - name: http
    siteRef: shop
    httpGet: {{}}
    period: 500ms
    timeout: 400ms
"
    )
}

/// `hale ARGS`: (exit code, stdout, stderr).
fn hale(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(args)
        .env_remove("HALE_FLEET")
        .env_remove("HALE_FLEET_PASSWORD")
        .output()
        .expect("hale runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `hale get targets --fleet URL -o json`.
fn fleet_view(url: &str) -> Value {
    let (code, stdout, stderr) = hale(&["get", "targets", "--fleet", url, "-o", "json"]);
    assert_eq!(code, 0, "hale get targets --fleet failed: {stderr}");
    serde_json::from_str(&stdout).expect("-o json prints JSON")
}

fn nodes_of(view: &Value) -> Vec<String> {
    view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap().to_owned())
        .collect()
}

/// The node whose `site:shop` has no standby (it holds the lease), once every node in
/// `expected` publishes the site and exactly one holds it.
fn holder_of(view: &Value, expected: &[&str]) -> Option<String> {
    let sites: Vec<&Value> = view["items"]
        .as_array()?
        .iter()
        .filter(|i| i["name"] == "site:shop")
        .collect();
    let nodes: Vec<&str> = sites.iter().filter_map(|i| i["node"].as_str()).collect();
    if nodes != expected {
        return None;
    }
    let holders: Vec<&str> = sites
        .iter()
        .filter(|i| i["standby"].is_null())
        .filter_map(|i| i["node"].as_str())
        .collect();
    (holders.len() == 1).then(|| holders[0].to_owned())
}

/// Polls the view until `done` says it has what the test waits for.
fn wait_view<T>(url: &str, what: &str, done: impl Fn(&Value) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let view = fleet_view(url);
        if let Some(found) = done(&view) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the fleet view is {view:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_nodes_targets_in_one_view_with_holder_and_standby_and_a_dead_node_drops_out() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let redis = RedisServer::start();
    let coolify = runtime.block_on(FakeCoolify::start());
    let site = healthy_site(&runtime);
    let docker = TestDocker::new("fleetview");
    docker.run("web", &[], &["sleep", "3600"]);
    let workspace = Workspace::new(&site_policy(&site, coolify.url()));
    std::fs::write(
        workspace.policies().join("web.yaml"),
        docker.policy("web", ""),
    )
    .unwrap();
    // The URL without the password, which comes from a file.
    let bare = format!("redis://127.0.0.1:{}/0", redis.port);
    let password_file = workspace.root().join("redis.pass");
    std::fs::write(&password_file, format!("{}\n", redis_server::PASSWORD)).unwrap();
    let password_file = password_file.to_str().unwrap().to_owned();
    let url = redis.url();
    let start = |name: &str| {
        Hale::start(
            &workspace.policies(),
            &workspace.root().join(format!("state-{name}")),
            &["--fleet", &url, "--node", name, "--fleet-lease-ttl", "3s"],
            &[("COOLIFY_TOKEN", "1|t")],
        )
    };
    let a = start("a");
    let b = start("b");
    let c = start("c");

    // Every node publishes the site and its container; one holds the site's lease.
    let holder = wait_view(&url, "three nodes, one holder of site:shop", |view| {
        let containers = view["items"]
            .as_array()?
            .iter()
            .filter(|i| i["policy"] == "web")
            .count();
        holder_of(view, &["a", "b", "c"]).filter(|_| containers == 3)
    });
    assert_eq!(nodes_of(&fleet_view(&url)), ["a", "b", "c"], "nodes sorted");

    // The table: NODE first, a LEASE column, and the nodes in the view.
    let (code, table, stderr) = hale(&[
        "get",
        "targets",
        "--fleet",
        &bare,
        "--fleet-password-file",
        &password_file,
    ]);
    assert_eq!(code, 0, "{stderr}");
    println!("{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NODE") && lines[0].contains("LEASE"),
        "{table}"
    );
    let row = |node: &str, name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{node} ")) && l.contains(name))
            .unwrap_or_else(|| panic!("no row of {name} on {node}: {table}"))
            .to_owned()
    };
    for node in ["a", "b", "c"] {
        let site_row = row(node, "site:shop");
        let expected = if node == holder { "holder" } else { "standby" };
        assert!(site_row.contains(expected), "{node}: {site_row}\n{table}");
        assert!(row(node, &docker.name("web")).contains(" - "), "{table}");
    }
    assert!(
        table.contains("Nodes in the view (3 at 127.0.0.1:"),
        "{table}"
    );
    let (code, wide, _) = hale(&["get", "targets", "--fleet", &url, "-o", "wide"]);
    assert_eq!(code, 0);
    assert!(
        wide.lines().next().unwrap().contains("SELECTED BY"),
        "{wide}"
    );
    assert!(!table.contains(redis_server::PASSWORD) && !wide.contains(redis_server::PASSWORD));

    // The API of any node answers the same view.
    let (status, body) = http(
        "GET",
        &format!("{}/api/v1/fleet/targets", b.api()),
        None,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let api: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api["kind"], "FleetTargetList");
    assert_eq!(nodes_of(&api), ["a", "b", "c"]);
    assert_eq!(
        holder_of(&api, &["a", "b", "c"]).as_deref(),
        Some(holder.as_str())
    );

    // Errors say what and how to fix it, never the password, never a panic.
    let (code, _, stderr) = hale(&["get", "targets", "--fleet", &bare]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("password is wrong or missing"), "{stderr}");
    let wrong = format!("redis://:not-the-password@127.0.0.1:{}/0", redis.port);
    let (code, _, stderr) = hale(&["get", "targets", "--fleet", &wrong]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("password is wrong or missing"), "{stderr}");
    assert!(
        !stderr.contains("not-the-password") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let nowhere = format!("redis://127.0.0.1:{}/0", common::free_port());
    let (code, _, stderr) = hale(&["get", "targets", "--fleet", &nowhere]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is Redis running"), "{stderr}");
    let (code, _, stderr) = hale(&["get", "policies", "--fleet", &url]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--fleet lists targets only"), "{stderr}");

    // kill -9 of a node: it is marked stale, then drops out when its key expires.
    let victim = if holder == "c" { "b" } else { "c" };
    let (victim_hale, survivors) = if victim == "c" {
        (c, [("a", a), ("b", b)])
    } else {
        (b, [("a", a), ("c", c)])
    };
    victim_hale.kill9();
    let killed_at = Instant::now();
    let mut seen_stale = false;
    let deadline = Instant::now() + WAIT;
    loop {
        let view = fleet_view(&url);
        let entry = view["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == victim)
            .cloned();
        match entry {
            Some(entry) => seen_stale |= entry["stale"] == true,
            None => break,
        }
        assert!(
            Instant::now() < deadline,
            "{victim} never left the view: {view:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "{victim} left the view {:?} after kill -9",
        killed_at.elapsed()
    );
    assert!(
        seen_stale,
        "{victim} was marked stale before its key expired"
    );
    let left = nodes_of(&fleet_view(&url));
    let expected: Vec<&str> = survivors.iter().map(|(name, _)| *name).collect();
    assert_eq!(left, expected);

    // Redis gone: the API answers 503 with what failed, not a hang or a 500.
    let api_of = survivors[0].1.api();
    let mut redis = redis;
    redis.stop();
    let (status, body) = http("GET", &format!("{api_of}/api/v1/fleet/targets"), None, None);
    assert_eq!(status, 503, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("Redis at 127.0.0.1:"),
        "{body}"
    );
    assert!(!body.contains(redis_server::PASSWORD));
    drop(survivors);
}

#[test]
fn without_fleet_the_route_is_not_found_and_it_needs_the_read_token() {
    let docker = TestDocker::new("fleetroute");
    let dir = tempfile::tempdir().unwrap();
    let (token, token_path) = common::token_file(dir.path());
    let workspace = Workspace::new(&docker.policy("solo", ""));
    let solo = workspace.start(
        &["--api-read-token-file", token_path.to_str().unwrap()],
        &[],
    );
    let route = format!("{}/api/v1/fleet/targets", solo.api());
    let (status, body) = http("GET", &route, None, None);
    assert_eq!(status, 401, "a read route: {body}");
    let (status, body) = http("GET", &route, Some(&token), None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not in fleet mode"), "{body}");
    assert!(solo.stop().success());
}

#[test]
fn sigterm_of_the_lease_holder_releases_it_and_another_node_holds_it_before_the_ttl() {
    // A long lease: 30 s TTL, renewals every 4 s. Without the release on shutdown, the
    // stopped holder's lease lives at least TTL − one renewal period (26 s) after the
    // signal: its last renewal was sent at most 4 s before it.
    const TTL: Duration = Duration::from_secs(30);
    const RENEWAL: Duration = Duration::from_secs(4);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let redis = RedisServer::start();
    let coolify = runtime.block_on(FakeCoolify::start());
    let site = healthy_site(&runtime);
    let workspace = Workspace::new(&site_policy(&site, coolify.url()));
    let url = redis.url();
    let start = |name: &str| {
        Hale::start(
            &workspace.policies(),
            &workspace.root().join(format!("state-{name}")),
            &["--fleet", &url, "--node", name, "--fleet-lease-ttl", "30s"],
            &[("COOLIFY_TOKEN", "1|t")],
        )
    };
    let mut nodes = vec![("a", Some(start("a"))), ("b", Some(start("b")))];
    let first = wait_view(&url, "one holder of two", |view| {
        holder_of(view, &["a", "b"])
    });
    let lease_key = "hale:lease:shop/site:shop";
    let mut redis_client = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let before: String = redis::cmd("GET")
        .arg(lease_key)
        .query(&mut redis_client)
        .unwrap();
    assert!(before.ends_with(&format!(" {first}")), "{before}");

    let slot = nodes.iter_mut().find(|(name, _)| *name == first).unwrap();
    let stopped = slot.1.take().unwrap();
    let signalled = Instant::now();
    let stopped_state = stopped.state_dir.clone();
    assert!(stopped.stop().success(), "a clean exit on SIGTERM");
    // The hand-over is in its audit trail, about the site.
    let released = common::hale_events(&stopped_state, &["--kind", "fleet_lease_released"]);
    assert!(
        released.len() == 1
            && released[0]["policy"] == "shop"
            && released[0]["target"]["name"] == "site:shop"
            && released[0]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("node {first} is stopping and handed back")),
        "one fleet_lease_released record for the site: {released:?}"
    );
    // The process is gone. Had it not released its lease, Redis would keep it as the
    // stopped node's for at least TTL − RENEWAL after the signal; and had it not withdrawn
    // its status, the view would list it until its key expired.
    let exited = signalled.elapsed();
    assert!(exited < TTL - RENEWAL, "the exit took {exited:?}");
    let right_after: Option<String> = redis::cmd("GET")
        .arg(lease_key)
        .query(&mut redis_client)
        .unwrap();
    assert!(
        right_after
            .as_deref()
            .is_none_or(|value| !value.ends_with(&format!(" {first}"))),
        "the stopped node still holds the lease {exited:?} after SIGTERM: {right_after:?}"
    );
    assert!(
        !nodes_of(&fleet_view(&url)).contains(&first),
        "the stopped node withdrew its status"
    );
    let other = if first == "a" { "b" } else { "a" };
    let took_over = wait_view(&url, "the other node holding the lease", |view| {
        (holder_of(view, &[other]).as_deref() == Some(other)).then(Instant::now)
    });
    let after = took_over.duration_since(signalled);
    println!("{other} holds the lease {after:?} after SIGTERM of {first}");
    assert!(
        after < TTL - RENEWAL,
        "{other} took over {after:?} after the signal: no earlier than the TTL would allow, so the lease was not released"
    );
    let now: String = redis::cmd("GET")
        .arg(lease_key)
        .query(&mut redis_client)
        .unwrap();
    let token = |value: &str| value.split(' ').next().unwrap().parse::<u64>().unwrap();
    assert!(
        now.ends_with(&format!(" {other}")) && token(&now) > token(&before),
        "a new grant with a larger token: {before} -> {now}"
    );
    drop(nodes);
}
