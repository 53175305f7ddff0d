//! `hale run` against the real Docker daemon: every remediation rule, end to end.

mod common;

use std::time::Duration;

use common::{HEALTH, HEALTHY, NEVER_HEALTHY, TestDocker, Workspace, docker_ok, hale_events};

const WAIT: Duration = Duration::from_secs(30);

/// A policy whose only rung is restart, with short timers.
fn restart_policy(docker: &TestDocker, extra: &str) -> String {
    docker.policy(
        "e2e",
        &format!(
            "  remediation:\n    steps: [{{action: restart, attempts: 3, timeout: 3s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 2s}}\n{extra}"
        ),
    )
}

#[test]
fn an_unhealthy_container_is_restarted_once_and_recorded_as_recovered() {
    let docker = TestDocker::new("unhealthy");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, HEALTHY);
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);
    let name = docker.name("web");
    docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);

    let started = hale.wait_audit("action_started", &name, WAIT);
    assert_eq!(started["action"], "restart");
    hale.wait_audit("action_succeeded", &name, WAIT);
    hale.wait_audit("recovered", &name, WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        hale.audit("action_started", &name).len(),
        1,
        "restarted more than once"
    );
    assert_eq!(docker.field("web", "{{.State.Health.Status}}"), "healthy");

    assert!(hale.stop().success());
    let recorded = hale_events(&workspace.state(), &["--target", &name]);
    let kinds: Vec<&str> = recorded
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["failing", "action_started", "action_succeeded", "recovered"]
    );
}

#[test]
fn a_crash_with_exit_code_1_is_restarted_but_a_clean_exit_is_left_alone() {
    let docker = TestDocker::new("exit");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let hale = workspace.start(&[], &[]);
    docker.run("crash", &["--init"], &["sh", "-c", "sleep 1; exit 1"]);
    docker.run("done", &["--init"], &["sh", "-c", "sleep 1; exit 0"]);
    let crash = docker.name("crash");
    let done = docker.name("done");

    let started = hale.wait_audit("action_started", &crash, WAIT);
    let reason = started["reason"].as_str().unwrap();
    assert!(reason.contains("because exited with code 1"), "{reason}");
    hale.wait_audit("action_succeeded", &crash, WAIT);
    docker.wait_field("done", "{{.State.Status}}", "exited", WAIT);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        hale.audit("failing", &done).is_empty(),
        "a clean exit was treated as a failure"
    );
    assert!(hale.audit("action_started", &done).is_empty());
    assert_eq!(docker.field("done", "{{.State.ExitCode}}"), "0");
}

#[test]
fn a_container_the_operator_stopped_is_not_revived() {
    let docker = TestDocker::new("operator");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, HEALTHY);
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);
    let name = docker.name("web");
    docker_ok(&["stop", "-t", "1", &name]);
    docker_ok(&[
        "kill",
        "--signal",
        "KILL",
        &docker.run("killed", HEALTH, HEALTHY),
    ]);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(docker.field("web", "{{.State.Status}}"), "exited");
    assert_eq!(docker.field("killed", "{{.State.Status}}"), "exited");
    assert!(
        hale.audit("action_started", &name).is_empty(),
        "hale revived a stopped container"
    );
    assert!(
        hale.audit("action_started", &docker.name("killed"))
            .is_empty()
    );
}

#[test]
fn a_container_failing_forever_backs_off_then_is_quarantined() {
    let docker = TestDocker::new("forever");
    let policy = docker.policy(
        "e2e",
        "  remediation:\n    steps: [{action: restart, attempts: 10, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 4s}\n    quarantine: {after: 4, within: 1h}\n",
    );
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("quarantined", &name, Duration::from_secs(60));
    // The audit records carry the decision instants (log lines are stamped a moment later).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut starts: Vec<u64> = Vec::new();
    while starts.len() < 4 && std::time::Instant::now() < deadline {
        starts = hale_events(
            &workspace.state(),
            &["--target", &name, "--kind", "action_started"],
        )
        .iter()
        .map(|e| e["time"].as_u64().unwrap())
        .collect();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(starts.len(), 4, "quarantine after 4 remediations");
    let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // Backoff 1s, 2s, 4s (plus the time the container needs to turn unhealthy again).
    assert!(
        gaps[0] >= 1_000 && gaps[1] >= 2_000 && gaps[2] >= 4_000,
        "gaps {gaps:?}"
    );
    assert!(gaps[2] > gaps[0], "backoff did not grow: {gaps:?}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        hale.audit("action_started", &name).len(),
        4,
        "acted after quarantine"
    );
}

#[test]
fn too_many_unhealthy_targets_open_the_circuit_and_nothing_is_restarted() {
    let docker = TestDocker::new("circuit");
    let policy = docker.policy(
        "e2e",
        "  remediation:\n    steps: [{action: restart, timeout: 2s}]\n    cooldown: 1s\n    maxUnhealthy: 50%\n",
    );
    let workspace = Workspace::new(&policy);
    for n in 0..3 {
        docker.run(&format!("sick{n}"), HEALTH, NEVER_HEALTHY);
    }
    docker.run("fine", HEALTH, HEALTHY);
    for n in 0..3 {
        docker.wait_field(
            &format!("sick{n}"),
            "{{.State.Health.Status}}",
            "unhealthy",
            WAIT,
        );
    }
    let started: Vec<String> = (0..3)
        .map(|n| docker.field(&format!("sick{n}"), "{{.State.StartedAt}}"))
        .collect();
    let hale = workspace.start(&[], &[]);
    let open = hale.wait_for("circuit_open", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "circuit_open"
    });
    assert!(
        open["reason"]
            .as_str()
            .unwrap()
            .starts_with("3 of 4 targets are unhealthy, more than maxUnhealthy 50% allows (2)"),
        "{open}"
    );
    let (code, described, stderr) = hale.cli(&["describe", "policy", "e2e"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        described
            .contains("Circuit:      2 of 4 may fail at once (maxUnhealthy 50%); OPEN: 3 of 4"),
        "{described}"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        hale.policy_audit("action_started").is_empty(),
        "restarted while the circuit was open"
    );
    for (n, started) in started.iter().enumerate() {
        assert_eq!(
            &docker.field(&format!("sick{n}"), "{{.State.StartedAt}}"),
            started
        );
    }
}

#[test]
fn a_restart_that_fails_because_the_container_vanished_is_recorded_and_hale_carries_on() {
    let docker = TestDocker::new("vanish");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let hale = workspace.start(&[], &[]);
    // No --init: PID 1 ignores SIGTERM, so the restart waits the 5 s stop timeout, during
    // which the container is removed.
    let mut args: Vec<&str> = HEALTH.iter().copied().filter(|a| *a != "--init").collect();
    args.extend(["--label", "hale.dev/stop-timeout=5"]);
    docker.run("web", &args, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("action_started", &name, WAIT);
    docker_ok(&["rm", "-f", &name]);
    // The removal (its SIGKILL, or the container gone when hale starts it again) ends the
    // restart: recorded as failed, or as an operator's override.
    let ended = hale.wait_for("the restart's end", WAIT, |l| {
        l["target"] == "hale::audit"
            && l["container"] == name.as_str()
            && (l["kind"] == "action_failed"
                || (l["kind"] == "skipped" && l["result"] == "operator"))
    });
    assert_ne!(ended["result"], "ok");
    // Still alive and still healing others.
    docker.run("other", HEALTH, HEALTHY);
    docker.wait_field("other", "{{.State.Health.Status}}", "healthy", WAIT);
    docker_ok(&["exec", &docker.name("other"), "rm", "/tmp/healthy"]);
    hale.wait_audit("action_succeeded", &docker.name("other"), WAIT);
    assert!(hale.stop().success());
}

#[test]
fn sigkill_during_a_cooldown_does_not_cause_an_extra_restart() {
    let docker = TestDocker::new("sigkill");
    let policy = docker.policy(
        "e2e",
        "  remediation:\n    steps: [{action: restart, attempts: 5, timeout: 1m}]\n    cooldown: 1m\n",
    );
    let workspace = Workspace::new(&policy);
    let first = workspace.start(&[], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    first.wait_audit("action_succeeded", &name, WAIT);
    let started_at = docker.field("web", "{{.State.StartedAt}}");
    first.kill9();

    let second = workspace.start(&[], &[]);
    docker.wait_field("web", "{{.State.Health.Status}}", "unhealthy", WAIT);
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        second.audit("action_started", &name).is_empty(),
        "restarted again during the cooldown"
    );
    assert_eq!(docker.field("web", "{{.State.StartedAt}}"), started_at);
    assert!(second.stop().success());
    let starts = hale_events(
        &workspace.state(),
        &["--target", &name, "--kind", "action_started"],
    );
    assert_eq!(starts.len(), 1);
}

#[test]
fn dry_run_records_the_decision_and_touches_nothing() {
    let docker = TestDocker::new("dryrun");
    let policy = restart_policy(&docker, "  mode: DryRun\n");
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    docker.wait_field("web", "{{.State.Health.Status}}", "unhealthy", WAIT);
    let started_at = docker.field("web", "{{.State.StartedAt}}");
    let dry = hale.wait_audit("dry_run", &name, WAIT);
    assert_eq!(dry["action"], "restart");
    assert_eq!(dry["dry_run"], true);
    std::thread::sleep(Duration::from_secs(2));
    assert!(hale.audit("action_started", &name).is_empty());
    assert_eq!(docker.field("web", "{{.State.StartedAt}}"), started_at);
    assert_eq!(docker.field("web", "{{.RestartCount}}"), "0");
}

#[test]
fn a_dry_run_rollout_switched_to_enforce_heals_the_still_failing_container_at_once() {
    let docker = TestDocker::new("rollout");
    // The step waits a minute for recovery: a simulated action must not make the real
    // ladder wait it out.
    let spec = "  remediation:\n    steps: [{action: restart, attempts: 1, timeout: 1m}]\n    cooldown: 1m\n";
    let workspace = Workspace::new(&docker.policy("rollout", &format!("{spec}  mode: DryRun\n")));
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    let dry = hale.wait_audit("dry_run", &name, WAIT);
    assert!(
        dry["reason"]
            .as_str()
            .unwrap()
            .contains("next action no sooner than 1m"),
        "{dry}"
    );
    let started_at = docker.field("web", "{{.State.StartedAt}}");

    // The operator has watched the dry run and flips the policy.
    std::fs::write(
        workspace.policies().join("test.yaml"),
        docker.policy("rollout", &format!("{spec}  mode: Enforce\n")),
    )
    .unwrap();
    hale.wait_for("generation 2", WAIT, |l| {
        l["kind"] == "policy_applied" && l["reason"].as_str().unwrap_or("").contains("generation 2")
    });
    // Within WAIT (30 s), well before the simulated minute is over.
    let started = hale.wait_audit("action_started", &name, WAIT);
    assert_eq!(started["dry_run"], false);
    assert!(
        started["reason"]
            .as_str()
            .unwrap()
            .contains("the dry-run simulation's ladder was set aside"),
        "{started}"
    );
    hale.wait_audit("action_succeeded", &name, WAIT);
    assert_ne!(docker.field("web", "{{.State.StartedAt}}"), started_at);
}

#[test]
fn a_crash_loop_goes_on_being_healed_after_hale_restarts() {
    let docker = TestDocker::new("crashloop");
    let policy = docker.policy(
        "e2e",
        "  probes: [{name: exit, exit: {}}]\n  remediation:\n    steps: [{action: restart, attempts: 10, timeout: 2s}]\n    cooldown: 1s\n    backoff: {initial: 2s, max: 2s}\n    quarantine: {after: 10}\n",
    );
    let workspace = Workspace::new(&policy);
    let first = workspace.start(&[], &[]);
    docker.run("web", &["--init"], &["sh", "-c", "sleep 2; exit 1"]);
    let name = docker.name("web");
    let deadline = std::time::Instant::now() + WAIT;
    while first.audit("action_started", &name).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "not restarted twice");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(first.stop().success());
    // While hale is down the container crashes again (it lives 2 s).
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(docker.field("web", "{{.State.Status}}"), "exited");
    let second = workspace.start(&[], &[]);
    let started = second.wait_audit("action_started", &name, WAIT);
    assert!(
        started["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 1"),
        "{started}"
    );
    assert!(second.stop().success());
    let records = hale_events(
        &workspace.state(),
        &["--target", &name, "--kind", "action_started"],
    );
    let attempts: Vec<&str> = records
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .map(|reason| reason.split(')').next().unwrap_or(reason))
        .collect();
    // The ladder went on where it was, not from attempt 1.
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert!(attempts[2].ends_with("attempt 3/10"), "{attempts:?}");
}

#[test]
fn the_global_dry_run_switch_overrides_enforcing_policies() {
    let docker = TestDocker::new("globaldry");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let hale = workspace.start(&["--dry-run"], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("dry_run", &name, WAIT);
    assert!(hale.audit("action_started", &name).is_empty());
}

/// The parts of `docker inspect` a recreate must preserve, with Docker-assigned IDs and
/// addresses left out.
fn preserved(inspect: &serde_json::Value, network: &str) -> serde_json::Value {
    let id = inspect["Id"].as_str().unwrap();
    let aliases: Vec<&str> = inspect["NetworkSettings"]["Networks"][network]["Aliases"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .filter(|a| !id.starts_with(a))
                .collect()
        })
        .unwrap_or_default();
    let mounts: Vec<(String, String)> = inspect["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Name"].as_str().unwrap_or("").to_owned(),
                m["Destination"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    serde_json::json!({
        "name": inspect["Name"],
        "image": inspect["Config"]["Image"],
        "cmd": inspect["Config"]["Cmd"],
        "env": inspect["Config"]["Env"],
        "labels": inspect["Config"]["Labels"],
        "hostname": inspect["Config"]["Hostname"],
        "workdir": inspect["Config"]["WorkingDir"],
        "healthcheck": inspect["Config"]["Healthcheck"],
        "exposed": inspect["Config"]["ExposedPorts"],
        "ports": inspect["HostConfig"]["PortBindings"],
        "restart": inspect["HostConfig"]["RestartPolicy"],
        "init": inspect["HostConfig"]["Init"],
        "network_mode": inspect["HostConfig"]["NetworkMode"],
        "networks": inspect["NetworkSettings"]["Networks"].as_object().unwrap().keys().collect::<Vec<_>>(),
        "aliases": aliases,
        "mounts": mounts,
    })
}

#[test]
fn recreate_preserves_the_containers_configuration() {
    let docker = TestDocker::new("recreate");
    let policy = docker.policy(
        "e2e",
        "  remediation:\n    steps: [{action: recreate, timeout: 1m}]\n    quarantine: {after: 1}\n",
    );
    let workspace = Workspace::new(&policy);
    let network = docker.network("net");
    let volume = docker.volume("data");
    let mut args: Vec<String> = HEALTH.iter().map(|s| (*s).to_owned()).collect();
    args.extend(
        [
            "--env",
            "FOO=bar",
            "--label",
            "app=shop",
            "--hostname",
            "shop-host",
            "-w",
            "/data",
            "--network",
            &network,
            "--network-alias",
            "shop-alias",
            "-p",
            "127.0.0.1::80",
            "--restart",
            "on-failure:2",
            "-v",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    args.push(format!("{volume}:/data"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker.run("web", &args, NEVER_HEALTHY);
    let name = docker.name("web");
    let before = docker.inspect("web");
    let hale = workspace.start(&[], &[]);
    let done = hale.wait_audit("action_succeeded", &name, WAIT);
    assert_eq!(done["action"], "recreate");
    let after = docker.inspect("web");
    assert_ne!(before["Id"], after["Id"], "the container was not recreated");
    assert_eq!(preserved(&before, &network), preserved(&after, &network));
    assert_eq!(after["State"]["Running"], true);
}

#[test]
fn a_failing_child_actor_is_restarted_by_its_supervisor_and_healing_goes_on() {
    let docker = TestDocker::new("supervise");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let hale = workspace.start(&[], &[("HALE_FAILPOINTS", "reconciler-panic-once")]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_for("the reconciler to fail", WAIT, |l| {
        l["message"] == "child actor failed; its supervisor restarts it"
            && l["child"] == "hale-reconciler"
    });
    hale.wait_for("the reconciler to be restarted", WAIT, |l| {
        l["message"] == "child restarted by its supervisor" && l["child"] == "hale-reconciler"
    });
    hale.wait_audit("action_succeeded", &name, WAIT);
    assert!(hale.stop().success());
}

#[test]
fn events_can_be_filtered_by_policy_kind_and_time() {
    let docker = TestDocker::new("events");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("action_succeeded", &name, WAIT);
    // Read while hale is still running: the store allows a concurrent reader. Records are
    // committed in batches just after they are logged, so give the batch a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut all = hale_events(&workspace.state(), &["--policy", "e2e"]);
    while all.len() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        all = hale_events(&workspace.state(), &["--policy", "e2e"]);
    }
    let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "policy_applied",
            "failing",
            "action_started",
            "action_succeeded"
        ]
    );
    let restarts = hale_events(&workspace.state(), &["--kind", "restart", "--since", "1h"]);
    assert!(restarts.iter().all(|e| e["action"] == "restart"));
    assert!(hale_events(&workspace.state(), &["--policy", "other"]).is_empty());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["events", "--since", "yesterday-ish", "--state-dir"])
        .arg(workspace.state())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(hale.stop().success());
}

#[test]
fn hale_survives_the_daemon_going_away_and_relists_when_it_returns() {
    let docker = TestDocker::new("reconnect");
    let workspace = Workspace::new(&restart_policy(&docker, ""));
    let socket = tempfile::tempdir().unwrap();
    let socket_path = socket.path().join("docker.sock");
    let mut proxy = common::SocketProxy::start(&socket_path);
    let host = format!("unix://{}", socket_path.display());
    let hale = workspace.start(&["--docker-host", &host], &[]);
    docker.run("web", HEALTH, HEALTHY);
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);

    proxy.stop();
    hale.wait_for("hale to notice the daemon is gone", WAIT, |l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("lost the Docker daemon"))
    });
    // The container fails while hale cannot see it.
    let name = docker.name("web");
    docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    docker.wait_field("web", "{{.State.Health.Status}}", "unhealthy", WAIT);
    std::thread::sleep(Duration::from_secs(3));

    let _proxy = common::SocketProxy::start(&socket_path);
    hale.wait_audit("action_succeeded", &name, Duration::from_secs(60));
    let lost = hale
        .lines()
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("lost the Docker daemon"))
        })
        .count();
    assert_eq!(
        lost, 1,
        "the outage should be logged once, not once per retry"
    );
    let connected = hale
        .lines()
        .iter()
        .filter(|l| l["message"] == "connected to Docker; containers relisted")
        .count();
    assert_eq!(connected, 2);
    assert!(hale.stop().success());
}

#[test]
fn sigterm_waits_for_running_actions_then_records_them_as_interrupted() {
    let docker = TestDocker::new("shutdown");
    let policy = docker.policy(
        "e2e",
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 1m}]\n",
    );
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&["--shutdown-grace", "1s"], &[]);
    // No --init: PID 1 ignores SIGTERM, so the restart takes the whole 20 s stop timeout.
    let mut args: Vec<&str> = HEALTH.iter().copied().filter(|a| *a != "--init").collect();
    args.extend(["--label", "hale.dev/stop-timeout=20"]);
    docker.run("web", &args, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("action_started", &name, WAIT);
    let stopping = std::time::Instant::now();
    assert!(hale.stop().success());
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    let interrupted = hale_events(
        &workspace.state(),
        &["--target", &name, "--kind", "interrupted"],
    );
    assert_eq!(interrupted.len(), 1, "{interrupted:?}");
    assert_eq!(interrupted[0]["action"], "restart");
    // The next start neither repeats the record nor the restart (its cooldown holds).
    let again = workspace.start(&[], &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(again.audit("action_started", &name).is_empty());
    assert!(again.stop().success());
    let interrupted = hale_events(
        &workspace.state(),
        &["--target", &name, "--kind", "interrupted"],
    );
    assert_eq!(interrupted.len(), 1);
}

#[test]
fn an_operator_releases_a_quarantined_container_with_hale_unquarantine() {
    let docker = TestDocker::new("release");
    let policy = docker.policy(
        "e2e",
        "  remediation:\n    steps: [{action: restart, attempts: 10, timeout: 1s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n    quarantine: {after: 1, within: 1h}\n",
    );
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("quarantined", &name, WAIT);
    assert_eq!(hale.audit("action_started", &name).len(), 1);

    let state = workspace.state();
    common::hale_ok([
        "unquarantine".as_ref(),
        name.as_ref(),
        "--state-dir".as_ref(),
        state.as_os_str(),
    ]);
    hale.wait_audit("released", &name, WAIT);
    let deadline = std::time::Instant::now() + WAIT;
    while hale.audit("action_started", &name).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no restart after the release"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A loopback HTTP server that records every request body it receives.
fn recording_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = std::sync::Arc::clone(&bodies);
    let (url_sender, url) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/redeploy",
                axum::routing::post(move |body: String| {
                    recorded.lock().unwrap().push(body);
                    async { "queued" }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            url_sender
                .send(format!(
                    "http://{}/redeploy",
                    listener.local_addr().unwrap()
                ))
                .unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (url.recv().unwrap(), bodies)
}

#[test]
fn a_webhook_step_posts_the_target_and_reason_and_records_the_status() {
    let docker = TestDocker::new("webhook");
    let (url, bodies) = recording_server();
    let policy = docker.policy(
        "e2e",
        &format!(
            "  remediation:\n    steps:\n      - action: webhook\n        timeout: 1m\n        webhook: {{url: \"{url}\"}}\n"
        ),
    );
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    let done = hale.wait_audit("action_succeeded", &name, WAIT);
    assert_eq!(done["action"], "webhook");
    assert_eq!(done["result"], "ok");
    assert_eq!(done["reason"], "HTTP 200");
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(body["target"], name.as_str());
    assert_eq!(body["policy"], "e2e");
    assert_eq!(
        body["reason"],
        "probe docker-health failed: docker health: unhealthy"
    );
}
