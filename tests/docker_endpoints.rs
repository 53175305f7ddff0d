//! `hale run` against Docker daemons other than the local socket: a private dockerd behind
//! verified TLS (certificates made here), reached as the docker CLI would through
//! DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH; refused with a clear error when
//! the trust is wrong; and two endpoints watched by one hale.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dockerd::{Dockerd, TlsMaterial, host_daemon};
use common::{HEALTH, HEALTHY, Hale, TestDocker, Workspace, docker_ok};

const WAIT: Duration = Duration::from_secs(60);

/// A policy whose only rung is restart, with short timers.
fn restart_policy(docker: &TestDocker) -> String {
    docker.policy(
        "endpoints",
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 3s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 2s}\n",
    )
}

/// Runs a healthy container named `docker.name(suffix)` with the test's label on `daemon`.
fn run_on(daemon: &Dockerd, docker: &TestDocker, suffix: &str) -> String {
    let name = docker.name(suffix);
    let label = format!("hale.test={}", docker.id);
    let mut args = vec!["run", "-d", "--name", &name, "--label", &label];
    args.extend_from_slice(HEALTH);
    args.push(common::IMAGE);
    args.extend_from_slice(HEALTHY);
    daemon.docker_ok(&args);
    wait_healthy(|| {
        daemon
            .docker(&["inspect", "--format", "{{.State.Health.Status}}", &name])
            .stdout
    });
    name
}

fn wait_healthy(read: impl Fn() -> Vec<u8>) {
    let deadline = Instant::now() + WAIT;
    while String::from_utf8_lossy(&read()).trim() != "healthy" {
        assert!(
            Instant::now() < deadline,
            "the container did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tls_env(tls_dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DOCKER_HOST", "tcp://127.0.0.1:2376".to_owned()),
        ("DOCKER_TLS_VERIFY", "1".to_owned()),
        ("DOCKER_CERT_PATH", tls_dir.to_str().unwrap().to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn hale_heals_a_container_on_a_tls_daemon_found_through_docker_host() {
    let docker = TestDocker::new("tls-heal");
    let certs = tempfile::tempdir().unwrap();
    let tls = TlsMaterial::generate(certs.path());
    let daemon = Dockerd::start(Some(&tls));
    let name = run_on(&daemon, &docker, "web");
    let workspace = Workspace::new(&restart_policy(&docker));
    let env = tls_env(&tls.client_dir());
    let hale = Hale::start_in_netns(
        &daemon,
        &workspace.policies(),
        &workspace.state(),
        &[],
        &as_refs(&env),
    );
    let connected = hale.wait_for("the TLS connection", WAIT, |l| {
        l["message"] == "connected to Docker"
    });
    assert_eq!(connected["tls"], true, "{connected}");
    assert_eq!(connected["endpoint"], "tcp://127.0.0.1:2376");
    assert_eq!(connected["from"], "DOCKER_HOST");

    let started_at = daemon.docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", &name]);
    daemon.docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    let started = hale.wait_audit("action_started", &name, WAIT);
    assert_eq!(started["action"], "restart");
    hale.wait_audit("action_succeeded", &name, WAIT);
    hale.wait_audit("recovered", &name, WAIT);
    let restarted_at = daemon.docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", &name]);
    assert_ne!(
        started_at, restarted_at,
        "the TLS daemon's container was not restarted"
    );
    assert!(hale.stop().success());
}

/// A `DOCKER_CERT_PATH` directory at `dir` that trusts `ca_from`'s CA and shows
/// `cert_from`'s client certificate and key: trust and identity from different sources.
fn mixed_cert_dir(
    dir: &Path,
    ca_from: &TlsMaterial,
    cert_from: &TlsMaterial,
) -> std::path::PathBuf {
    std::fs::create_dir(dir).unwrap();
    std::fs::copy(ca_from.client_dir().join("ca.pem"), dir.join("ca.pem")).unwrap();
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(cert_from.client_dir().join(file), dir.join(file)).unwrap();
    }
    dir.to_path_buf()
}

/// Runs `hale run` in `daemon`'s namespace with `env` until it exits; returns (exit code,
/// stderr). Fails the test if it is still running after a minute.
fn run_until_exit(daemon: &Dockerd, env: &[(&str, &str)]) -> (i32, String) {
    let workspace = Workspace::new("");
    let mut command = daemon.in_netns(env!("CARGO_BIN_EXE_hale"));
    command
        .args(["run", "--policies"])
        .arg(workspace.policies())
        .arg("--state-dir")
        .arg(workspace.state())
        .env("HALE_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("hale starts");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "hale kept running instead of refusing the endpoint; its log:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_tls_daemon_is_refused_with_a_clear_error_when_the_trust_is_wrong() {
    let _docker = TestDocker::new("tls-refused");
    let certs = tempfile::tempdir().unwrap();
    let tls = TlsMaterial::generate(certs.path());
    let daemon = Dockerd::start(Some(&tls));

    // A CA that did not sign the daemon's certificate (hale's own certificate is good).
    let other = TlsMaterial::generate(&certs.path().join("other"));
    let wrong_ca = mixed_cert_dir(&certs.path().join("wrong-ca"), &other, &tls);
    let env = tls_env(&wrong_ca);
    let (code, log) = run_until_exit(&daemon, &as_refs(&env));
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("tcp://127.0.0.1:2376"),
        "no endpoint in:\n{log}"
    );
    assert!(log.contains("does not vouch for"), "no reason in:\n{log}");
    assert!(
        log.contains(wrong_ca.join("ca.pem").to_str().unwrap()),
        "no CA path in:\n{log}"
    );

    // hale's certificate from a CA the daemon does not trust (the daemon's CA is right).
    let stranger = mixed_cert_dir(&certs.path().join("stranger"), &tls, &other);
    let env = tls_env(&stranger);
    let (code, log) = run_until_exit(&daemon, &as_refs(&env));
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("TLS handshake"), "{log}");
    assert!(
        log.contains(stranger.join("cert.pem").to_str().unwrap()),
        "no client certificate path in:\n{log}"
    );

    // Plaintext to the TLS port: told to turn TLS on.
    let (code, log) = run_until_exit(&daemon, &[("DOCKER_HOST", "tcp://127.0.0.1:2376")]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("expects TLS"), "{log}");
    assert!(log.contains("DOCKER_TLS_VERIFY=1"), "{log}");

    // A certificate directory without the files: which file, where, and what to do.
    let empty = certs.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let env = tls_env(&empty);
    let (code, log) = run_until_exit(&daemon, &as_refs(&env));
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains(empty.join("ca.pem").to_str().unwrap()) && log.contains("does not exist"),
        "{log}"
    );
    assert!(log.contains("DOCKER_CERT_PATH"), "{log}");
}

#[test]
fn one_hale_watches_two_endpoints_and_acts_on_the_daemon_of_each_target() {
    let docker = TestDocker::new("two-endpoints");
    let certs = tempfile::tempdir().unwrap();
    let tls = TlsMaterial::generate(certs.path());
    let daemon = Dockerd::start(Some(&tls));
    // The same container name on both daemons: only the endpoint tells them apart.
    let name = run_on(&daemon, &docker, "web");
    docker.run("web", HEALTH, HEALTHY);
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);

    let workspace = Workspace::new(&restart_policy(&docker));
    let cert_path = tls.client_dir();
    let host = format!("host={}", host_daemon());
    let hale = Hale::start_in_netns(
        &daemon,
        &workspace.policies(),
        &workspace.state(),
        &["--docker", &host, "--docker", "edge=tcp://127.0.0.1:2376"],
        &[
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", cert_path.to_str().unwrap()),
        ],
    );
    let on_edge = format!("edge/{name}");
    let on_host = format!("host/{name}");

    daemon.docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    hale.wait_audit("action_succeeded", &on_edge, WAIT);
    hale.wait_audit("recovered", &on_edge, WAIT);
    assert!(
        hale.audit("action_started", &on_host).is_empty(),
        "the healthy host container was acted on"
    );

    let host_started = docker.field("web", "{{.State.StartedAt}}");
    docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    hale.wait_audit("action_succeeded", &on_host, WAIT);
    hale.wait_audit("recovered", &on_host, WAIT);
    assert_ne!(docker.field("web", "{{.State.StartedAt}}"), host_started);
    assert_eq!(
        hale.audit("action_started", &on_edge).len(),
        1,
        "the edge container was restarted again for the host's failure"
    );
    assert!(hale.stop().success());
}

#[test]
fn a_private_daemon_leaves_no_process_or_mount_behind() {
    let _docker = TestDocker::new("dockerd-cleanup");
    let daemon = Dockerd::start(None);
    let socket = daemon.socket();
    let root = socket
        .trim_start_matches("unix://")
        .trim_end_matches("/docker.sock")
        .to_owned();
    daemon.docker_ok(&[
        "run",
        "-d",
        "--name",
        "leftover",
        common::IMAGE,
        "sleep",
        "100000",
    ]);
    drop(daemon);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&root),
        "mounts left under {root}:\n{mounts}"
    );
    let ps = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    let left: Vec<&str> = ps.lines().filter(|line| line.contains(&root)).collect();
    assert!(left.is_empty(), "processes left: {left:?}");
    assert!(!Path::new(&root).exists(), "{root} was not removed");
}

#[test]
fn disk_usage_of_a_tls_daemon_is_read_over_tls() {
    let docker = TestDocker::new("tls-disk");
    let certs = tempfile::tempdir().unwrap();
    let tls = TlsMaterial::generate(certs.path());
    let daemon = Dockerd::start(Some(&tls));
    let label = format!("hale.test={}", docker.id);
    daemon.docker_ok(&["create", "--label", &label, common::IMAGE, "true"]);
    // Always "full" (less than 99.99% free), in dry-run: the estimate needs /system/df,
    // which hale sends itself rather than through bollard.
    let policy = format!(
        r#"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: disk}}
spec:
  probes:
    - {{name: data, disk: {{path: "{}", freeBelow: "99.99%"}}, period: 2s, timeout: 1s, failureThreshold: 1}}
  remediation:
    steps: [{{action: prune, timeout: 5s, prune: {{containers: true, images: none, buildCache: false, networks: false, labels: ["{label}"]}}}}]
    cooldown: 1s
    backoff: {{initial: 1s, max: 1s}}
  mode: DryRun
"#,
        certs.path().display()
    );
    let workspace = Workspace::new(&policy);
    let env = tls_env(&tls.client_dir());
    let hale = Hale::start_in_netns(
        &daemon,
        &workspace.policies(),
        &workspace.state(),
        &[],
        &as_refs(&env),
    );
    let estimate = hale.wait_for("the dry-run estimate", WAIT, |l| {
        l["target"] == "hale::audit" && l["kind"] == "dry_run" && l["bytes_freed"].is_u64()
    });
    let reason = estimate["reason"].as_str().unwrap();
    assert!(reason.contains("1 containers"), "{estimate}");
    assert!(hale.stop().success());
}

#[test]
fn a_context_made_by_docker_context_create_is_followed_with_its_tls_material() {
    let _docker = TestDocker::new("tls-context");
    let certs = tempfile::tempdir().unwrap();
    let tls = TlsMaterial::generate(certs.path());
    let daemon = Dockerd::start(Some(&tls));
    // The docker CLI itself writes the context (meta.json under the SHA-256 of the name,
    // the TLS files beside it), in a configuration directory of the test's own.
    let config = certs.path().join("docker-config");
    let client = tls.client_dir();
    let file = |name: &str| client.join(name).to_str().unwrap().to_owned();
    let endpoint = format!(
        "host=tcp://127.0.0.1:2376,ca={},cert={},key={}",
        file("ca.pem"),
        file("cert.pem"),
        file("key.pem")
    );
    docker_ok(&[
        "--config",
        config.to_str().unwrap(),
        "context",
        "create",
        "edge",
        "--docker",
        &endpoint,
    ]);
    docker_ok(&[
        "--config",
        config.to_str().unwrap(),
        "context",
        "use",
        "edge",
    ]);

    let workspace = Workspace::new("");
    let hale = Hale::start_in_netns(
        &daemon,
        &workspace.policies(),
        &workspace.state(),
        &[],
        &[("DOCKER_CONFIG", config.to_str().unwrap())],
    );
    let connected = hale.wait_for("the context's connection", WAIT, |l| {
        l["message"] == "connected to Docker"
    });
    assert_eq!(connected["endpoint"], "tcp://127.0.0.1:2376", "{connected}");
    assert_eq!(connected["tls"], true, "{connected}");
    assert_eq!(connected["from"], "Docker context \"edge\"", "{connected}");
    assert!(hale.stop().success());
}
