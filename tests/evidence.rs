//! Evidence before claims, end to end: each way hale once acted or spoke on evidence older
//! than its own last action, reproduced against the real daemon (and a loopback site whose
//! answer the test switches), and shown not to happen.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{TestDocker, Workspace, docker_ok, hale_events};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// Milliseconds since the epoch of an audit record's `time`.
fn time_ms(event: &Value) -> u128 {
    match &event["time"] {
        Value::Number(n) => u128::from(n.as_u64().unwrap()),
        Value::String(text) => humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
            .unwrap()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
        other => panic!("not a time: {other}"),
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// A site on loopback answering `GET /` with whatever status the test sets, recording when
/// each request arrived (ms since the epoch), and a webhook endpoint (`POST /hook/...`)
/// answering 200.
struct Site {
    _runtime: tokio::runtime::Runtime,
    url: String,
    status: Arc<AtomicU16>,
    probed_at: Arc<Mutex<Vec<u128>>>,
}

impl Site {
    fn start(status: u16) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let answer = Arc::new(AtomicU16::new(status));
        let probed_at: Arc<Mutex<Vec<u128>>> = Arc::default();
        let (a, p) = (Arc::clone(&answer), Arc::clone(&probed_at));
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || {
                    let (a, p) = (Arc::clone(&a), Arc::clone(&p));
                    async move {
                        p.lock().unwrap().push(now_ms());
                        axum::http::StatusCode::from_u16(a.load(Ordering::SeqCst)).unwrap()
                    }
                }),
            )
            .route("/hook/{*step}", axum::routing::post(|| async { "ok" }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            _runtime: runtime,
            url,
            status: answer,
            probed_at,
        }
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// A policy watching this site (named `s`) with `remediation`.
    fn policy(&self, name: &str, period: &str, remediation: &str) -> String {
        format!(
            "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: {name}}}\nspec:\n  sites:\n  - {{name: s, url: \"{url}/\"}}\n  probes:\n  - {{name: http, siteRef: s, httpGet: {{}}, period: {period}, timeout: 500ms, failureThreshold: 1}}\n  remediation:\n{remediation}",
            url = self.url
        )
    }
}

#[test]
fn a_container_that_never_becomes_healthy_is_never_called_recovered_or_shown_healthy() {
    let docker = TestDocker::new("never");
    let workspace = Workspace::new(&docker.policy(
        "never",
        "  probes:\n  - {name: ok-file, exec: {command: [test, -f, /tmp/ok]}, period: 500ms, timeout: 400ms, failureThreshold: 1}\n  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 3, within: 10m}\n",
    ));
    let hale = workspace.start(&[], &[]);
    // `test -f /tmp/ok` is never true: no restart can make this container healthy.
    docker.run("app", &["--init"], &["sleep", "1000000"]);
    let name = docker.name("app");
    let mut states = Vec::new();
    let deadline = Instant::now() + WAIT;
    while hale.audit("quarantined", &name).is_empty() {
        assert!(Instant::now() < deadline, "never quarantined");
        let (_, json, _) = hale.cli(&["get", "targets", "-o", "json"]);
        if let Ok(list) = serde_json::from_str::<Value>(&json)
            && let Some(state) = list["items"]
                .as_array()
                .and_then(|items| items.iter().find(|t| t["name"] == name.as_str()))
                .and_then(|t| t["state"].as_str())
        {
            states.push(state.to_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(hale.audit("action_started", &name).len(), 3);
    assert!(
        hale.audit("recovered", &name).is_empty(),
        "hale called a container recovered that never passed its probe: {:?}",
        hale.audit("recovered", &name)
    );
    assert!(
        states.iter().all(|s| s != "healthy") && states.iter().any(|s| s == "verifying"),
        "between its restarts the target must show verifying, never healthy: {states:?}"
    );
}

#[test]
fn escalation_and_quarantine_wait_for_a_failure_seen_after_the_action() {
    let site = Site::start(500);
    let hook = format!("{}/hook", site.url);
    let workspace = Workspace::new(&site.policy(
        "escalate",
        "3s",
        &format!(
            "    steps:\n    - {{action: webhook, webhook: {{url: \"{hook}/one\"}}, attempts: 1, timeout: 1s}}\n    - {{action: webhook, webhook: {{url: \"{hook}/two\"}}, attempts: 1, timeout: 1s}}\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 1s}}\n"
        ),
    ));
    let hale = workspace.start(&[], &[]);
    let target = "site:s";
    hale.wait_audit("quarantined", target, WAIT);
    assert!(hale.stop().success());
    let records = hale_events(&workspace.state(), &["--target", target]);
    let first = |kind: &str| {
        records
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {records:#?}"))
    };
    let step_one_done = time_ms(first("action_succeeded"));
    let escalated = time_ms(first("escalated"));
    let step_two_done = time_ms(
        records
            .iter()
            .filter(|e| e["kind"] == "action_succeeded")
            .nth(1)
            .expect("the second step ran"),
    );
    let quarantined = time_ms(first("quarantined"));
    let probes = site.probed_at.lock().unwrap().clone();
    let probed_between = |from: u128, to: u128| probes.iter().any(|t| *t > from && *t <= to);
    assert!(
        probed_between(step_one_done, escalated),
        "escalated at {escalated} with no probe of the site since step 1 ended at {step_one_done}: {probes:?}"
    );
    assert!(
        probed_between(step_two_done, quarantined),
        "quarantined at {quarantined} with no probe since step 2 ended at {step_two_done}: {probes:?}"
    );
}

#[test]
fn a_release_acts_only_on_failures_seen_after_it() {
    let site = Site::start(500);
    let hook = format!("{}/hook", site.url);
    let workspace = Workspace::new(&site.policy(
        "release",
        "1s",
        &format!(
            "    steps: [{{action: webhook, webhook: {{url: \"{hook}/one\"}}, attempts: 1, timeout: 1s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 1s}}\n"
        ),
    ));
    let hale = workspace.start(&[], &[]);
    let target = "site:s";
    hale.wait_audit("quarantined", target, WAIT);
    let actions = hale.audit("action_started", target).len();
    // The site is fixed, and the operator releases it at once: the 500 seen before the
    // release is old news.
    site.set(200);
    common::hale_ok([
        "unquarantine".as_ref(),
        target.as_ref(),
        "--state-dir".as_ref(),
        workspace.state().as_os_str(),
    ]);
    hale.wait_audit("released", target, WAIT);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        hale.audit("action_started", target).len(),
        actions,
        "an action after the release, on a failure seen before it: {:?}",
        hale.audit("action_started", target)
    );
    assert!(hale.audit("quarantined", target).len() == 1);
}

#[test]
fn targets_hale_is_restarting_still_count_against_max_unhealthy() {
    let docker = TestDocker::new("circuit");
    let workspace = Workspace::new(&docker.policy(
        "circuit",
        "  remediation:\n    steps: [{action: restart, attempts: 5, timeout: 2s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    maxUnhealthy: 50%\n",
    ));
    let hale = workspace.start(&[], &[]);
    let shared = docker.volume("shared");
    let health = [
        "--init",
        "--health-cmd",
        "test ! -f /data/broken",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "--health-timeout",
        "1s",
    ];
    let mount = format!("{shared}:/data");
    for name in ["a", "b"] {
        let mut args = health.to_vec();
        args.extend(["-v", mount.as_str()]);
        docker.run(name, &args, &["sleep", "1000000"]);
    }
    docker.run("c", &health, &["sleep", "1000000"]);
    for name in ["a", "b", "c"] {
        docker.wait_field(name, "{{.State.Health.Status}}", "healthy", WAIT);
    }
    // One shared cause makes two of three unhealthy: a restart fixes neither.
    docker_ok(&["exec", &docker.name("a"), "touch", "/data/broken"]);
    hale.wait_for("the circuit to open", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "circuit_open"
    });
    std::thread::sleep(Duration::from_secs(6));
    let restarts = |name: &str| hale.audit("action_started", &docker.name(name)).len();
    assert!(
        restarts("a") + restarts("b") <= 1,
        "the circuit leaked: a restarted {} times, b {} times",
        restarts("a"),
        restarts("b")
    );
    assert!(
        hale.policy_audit("circuit_closed").is_empty(),
        "the circuit closed while the shared cause was still there: {:?}",
        hale.policy_audit("circuit_closed")
    );
    // The cause goes away: the circuit closes on fresh passes and says so; nothing that is
    // fine again is restarted.
    let before = restarts("a") + restarts("b");
    docker_ok(&["exec", &docker.name("a"), "rm", "/data/broken"]);
    let closed = hale.wait_for("the circuit to close", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "circuit_closed"
    });
    assert!(
        closed["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("proven healthy"),
        "{closed}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(restarts("a") + restarts("b"), before);
    assert_eq!(restarts("c"), 0);
}

#[test]
fn an_operators_stop_during_hales_restart_wins() {
    an_operators_stop_during_the_action_wins("restart");
}

#[test]
fn an_operators_stop_during_hales_recreate_wins() {
    an_operators_stop_during_the_action_wins("recreate");
}

/// A container that hale `action`s is stopped by an operator while hale waits for it to
/// stop: hale leaves it stopped (not started again, not replaced) and ends the episode.
fn an_operators_stop_during_the_action_wins(action: &str) {
    let docker = TestDocker::new(&format!("opstop-{action}"));
    let workspace = Workspace::new(&docker.policy(
        "opstop",
        &format!(
            "  remediation:\n    steps: [{{action: {action}, attempts: 3, timeout: 2s}}]\n    cooldown: 1s\n"
        ),
    ));
    let hale = workspace.start(&[], &[]);
    // No --init: `sleep` as PID 1 ignores SIGTERM, so hale's stop takes its whole 4 s.
    docker.run(
        "slow",
        &[
            "--label",
            "hale.dev/stop-timeout=4",
            "--health-cmd",
            "test -f /tmp/healthy",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &["sh", "-c", "touch /tmp/healthy; exec sleep 1000000"],
    );
    docker.wait_field("slow", "{{.State.Health.Status}}", "healthy", WAIT);
    let name = docker.name("slow");
    let id = docker.field("slow", "{{.Id}}");
    docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    hale.wait_audit("action_started", &name, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    // The operator stops it while hale's restart is still waiting for it to stop.
    docker_ok(&["stop", "-t", "1", &name]);
    let skipped = hale.wait_audit("skipped", &name, WAIT);
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("the operator's stop wins"),
        "{skipped}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(docker.field("slow", "{{.State.Status}}"), "exited");
    assert_eq!(
        docker.field("slow", "{{.Id}}"),
        id,
        "the stopped container was not replaced"
    );
    assert!(
        hale.audit("recovered", &name).is_empty(),
        "{:?}",
        hale.audit("recovered", &name)
    );
}
