//! hale's own probes against real containers: HTTP, TCP and exec, healing containers that
//! have no HEALTHCHECK at all. Containers publish their ports on 127.0.0.1 and probes go
//! through the published port (`host: 127.0.0.1`), so tests only talk to loopback.

mod common;

use std::time::Duration;

use common::{TestDocker, Workspace, docker_ok};

const WAIT: Duration = Duration::from_secs(30);

/// busybox httpd serving /www on port 8080, with /www/healthz present.
const HTTPD: &[&str] = &[
    "sh",
    "-c",
    "echo ok > /www/healthz; exec httpd -f -p 8080 -h /www",
];

fn policy(docker: &TestDocker, probe: &str) -> String {
    docker.policy(
        "probes",
        &format!(
            "  probes:\n    - {probe}\n  remediation:\n    steps: [{{action: restart, attempts: 3, timeout: 5s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 2s}}\n"
        ),
    )
}

#[test]
fn an_http_probe_heals_a_container_that_has_no_healthcheck() {
    let docker = TestDocker::new("http");
    let workspace = Workspace::new(&policy(
        &docker,
        "{name: http, httpGet: {path: /healthz, port: 8080, host: 127.0.0.1}, period: 1s, timeout: 500ms, failureThreshold: 2, conditions: [\"[STATUS] == 200\", \"[BODY] == pat(ok*)\"]}",
    ));
    let hale = workspace.start(&[], &[]);
    docker.run("web", &["--init", "-p", "127.0.0.1::8080"], HTTPD);
    let name = docker.name("web");
    // Serving: no failure recorded for a while.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        hale.audit("failing", &name).is_empty(),
        "a healthy site was judged failing: {:?}",
        hale.audit("failing", &name)
    );

    docker_ok(&["exec", &name, "rm", "/www/healthz"]);
    let failing = hale.wait_audit("failing", &name, WAIT);
    let reason = failing["reason"].as_str().unwrap();
    assert!(reason.contains("[STATUS] == 200 (404)"), "{reason}");
    let started = hale.wait_audit("action_started", &name, WAIT);
    assert_eq!(started["action"], "restart");
    hale.wait_audit("recovered", &name, WAIT);
    assert!(hale.stop().success());
}

#[test]
fn a_tcp_probe_on_a_closed_port_triggers_remediation() {
    let docker = TestDocker::new("tcp");
    let workspace = Workspace::new(&policy(
        &docker,
        "{name: tcp, tcpSocket: {port: 9090, host: 127.0.0.1}, period: 1s, timeout: 500ms, failureThreshold: 2}",
    ));
    let hale = workspace.start(&[], &[]);
    // 9090 is published but nothing listens on it inside the container.
    docker.run("web", &["--init", "-p", "127.0.0.1::9090"], HTTPD);
    let name = docker.name("web");
    let failing = hale.wait_audit("failing", &name, WAIT);
    let reason = failing["reason"].as_str().unwrap();
    assert!(reason.contains("probe tcp failed"), "{reason}");
    hale.wait_audit("action_succeeded", &name, WAIT);
}

#[test]
fn an_exec_probe_exiting_1_triggers_remediation_and_passes_again_after_it() {
    let docker = TestDocker::new("exec");
    let workspace = Workspace::new(&policy(
        &docker,
        "{name: ready, exec: {command: [sh, -c, \"test -f /tmp/ready || { echo not ready >&2; exit 1; }\"]}, period: 1s, timeout: 900ms, failureThreshold: 2}",
    ));
    let hale = workspace.start(&[], &[]);
    docker.run(
        "db",
        &["--init"],
        &["sh", "-c", "touch /tmp/ready; exec sleep 1000000"],
    );
    let name = docker.name("db");
    std::thread::sleep(Duration::from_secs(3));
    assert!(hale.audit("failing", &name).is_empty());
    docker_ok(&["exec", &name, "rm", "/tmp/ready"]);
    let failing = hale.wait_audit("failing", &name, WAIT);
    assert!(
        failing["reason"]
            .as_str()
            .unwrap()
            .contains(r#"exit code 1, output "not ready""#),
        "the output is captured for the audit record: {failing}"
    );
    hale.wait_audit("action_succeeded", &name, WAIT);
    hale.wait_audit("recovered", &name, WAIT);
}

#[test]
fn a_tcp_probe_on_a_listening_port_passes() {
    let docker = TestDocker::new("tcpopen");
    let workspace = Workspace::new(&policy(
        &docker,
        "{name: tcp, tcpSocket: {port: 8080, host: 127.0.0.1}, period: 1s, timeout: 500ms, failureThreshold: 2}",
    ));
    let hale = workspace.start(&[], &[]);
    docker.run("web", &["--init", "-p", "127.0.0.1::8080"], HTTPD);
    let name = docker.name("web");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        hale.audit("failing", &name).is_empty(),
        "{:?}",
        hale.audit("failing", &name)
    );
}
