//! What hale shows must be what it knows: the targets table, a paused policy, the audit's
//! reaction time, target names and ID prefixes, the event filters, `--server` and the
//! token, each checked against a real `hale run` and the real daemon.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    HEALTH, HEALTHY, TestDocker, Workspace, docker_ok, free_port, hale_events, http, token_file,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// Milliseconds since the epoch of an audit record's timestamp field.
fn millis(value: &Value) -> u128 {
    match value {
        Value::Number(n) => u128::from(n.as_u64().expect("a millisecond count")),
        Value::String(text) => humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
            .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
        other => panic!("not a timestamp: {other}"),
    }
}

/// The row of `table` that names `target`.
fn row<'a>(table: &'a str, target: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().any(|word| word == target))
        .unwrap_or_else(|| panic!("no row for {target}:\n{table}"))
}

#[test]
fn the_targets_table_shows_the_cooldown_and_a_short_id_prefix_heals() {
    let docker = TestDocker::new("cooldown");
    let dir = tempfile::tempdir().unwrap();
    let (_, token_path) = token_file(dir.path());
    let workspace = Workspace::new(&docker.policy(
        "cooldown",
        "  remediation:\n    steps: [{action: restart, attempts: 5, timeout: 2s}]\n    cooldown: 5m\n",
    ));
    let hale = workspace.start(&["--api-token-file", token_path.to_str().unwrap()], &[]);
    docker.run("web", HEALTH, HEALTHY);
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);
    let name = docker.name("web");
    let id = docker.field("web", "{{.Id}}");
    docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    hale.wait_audit("action_succeeded", &name, WAIT);

    // The next action is 5 minutes away: the table says so, in the column made for it.
    let (code, table, stderr) = hale.cli(&["get", "targets"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .trim_end()
            .ends_with("COOLDOWN")
    );
    let cooldown = row(&table, &name).split_whitespace().last().unwrap();
    assert!(
        cooldown.ends_with('m') || cooldown.ends_with('s'),
        "COOLDOWN (the last column) must show the wait before the next action, not {cooldown:?}:\n{table}\n{}",
        hale.cli(&["get", "targets", "-o", "json"]).1
    );
    let (code, wide, stderr) = hale.cli(&["get", "targets", "-o", "wide"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        wide.lines().next().unwrap().contains("NEXT ACTION AT")
            && row(&wide, &name).contains(&id[..12]),
        "-o wide adds the ID and when the next action is allowed:\n{wide}"
    );

    // `hale heal` takes an ID prefix shorter than Docker's 12 characters, as `docker` does.
    let (code, out, err) = hale.cli(&[
        "heal",
        &id[..6],
        "--token-file",
        token_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "hale heal {}: {out}{err}", &id[..6]);
    let deadline = Instant::now() + WAIT;
    while hale.audit("action_started", &name).len() < 2 {
        assert!(Instant::now() < deadline, "heal by ID prefix did nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A prefix of nothing is an error that names what was asked.
    let (code, _, err) = hale.cli(&[
        "heal",
        "0000000",
        "--token-file",
        token_path.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("0000000"), "{err}");
}

#[test]
fn the_reaction_time_of_a_probe_failure_counts_from_the_probe_not_the_last_docker_event() {
    let docker = TestDocker::new("reaction");
    let workspace = Workspace::new(&docker.policy(
        "reaction",
        "  probes:\n  - name: ok-file\n    exec: {command: [test, -f, /tmp/ok]}\n    period: 500ms\n    timeout: 400ms\n    failureThreshold: 1\n  remediation:\n    steps: [{action: restart, attempts: 1, timeout: 2s}]\n",
    ));
    let hale = workspace.start(&[], &[]);
    docker.run(
        "app",
        &["--init"],
        &["sh", "-c", "touch /tmp/ok; exec sleep 1000000"],
    );
    let name = docker.name("app");
    // The container's last Docker event (its start) is now seconds old.
    std::thread::sleep(Duration::from_secs(3));
    docker_ok(&["exec", &name, "rm", "/tmp/ok"]);
    hale.wait_audit("action_started", &name, WAIT);
    assert!(hale.stop().success());
    let started = hale_events(
        &workspace.state(),
        &["--target", &name, "--kind", "action_started"],
    );
    let started = started.first().expect("an action_started record");
    let reaction = u128::from(started["reaction_ms"].as_u64().expect("reaction_ms"));
    let since_signal = millis(&started["time"]) - millis(&started["signal_at"]);
    assert!(
        reaction <= since_signal + 1,
        "reaction_ms {reaction} is longer than the {since_signal} ms from the failure to the decision: it was measured from an older event\n{started}"
    );
}

#[test]
fn a_paused_policy_shows_paused_everywhere_and_a_lowercase_bearer_is_accepted() {
    let docker = TestDocker::new("paused");
    let dir = tempfile::tempdir().unwrap();
    let (token, token_path) = token_file(dir.path());
    let workspace = Workspace::new(&docker.policy("paused", ""));
    let hale = workspace.start(&["--api-token-file", token_path.to_str().unwrap()], &[]);
    let api = hale.api();

    // RFC 9110: the scheme is case-insensitive. Sent by hand, as curl users write it.
    let address = api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("POST /api/v1/policies/paused/pause HTTP/1.1\r\nHost: {address}\r\nauthorization: bearer {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let (code, table, stderr) = hale.cli(&["get", "policies", "-o", "wide"]);
    assert_eq!(code, 0, "{stderr}");
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    let cells: Vec<&str> = row(&table, "paused").split_whitespace().collect();
    let cell = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("MODE"), "Paused", "{table}");
    assert_eq!(cell("REMEDIATION"), "Paused", "{table}");
    let (_, body) = http("GET", &format!("{api}/api/v1/policies/paused"), None, None);
    let policy: Value = serde_json::from_str(&body).unwrap();
    let condition = |kind: &str| {
        policy["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap()
            .clone()
    };
    let paused = condition("Paused");
    assert_eq!(paused["status"], "True");
    let message = paused["message"].as_str().unwrap();
    assert!(
        message.contains("nothing is decided or done") && !message.contains("decides and records"),
        "the Paused condition must describe a pause, not a dry-run: {message}"
    );
    assert_eq!(condition("RemediationAllowed")["reason"], "Paused");

    let (code, _, stderr) = hale.cli(&[
        "resume",
        "paused",
        "--token-file",
        token_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (_, table, _) = hale.cli(&["get", "policies"]);
    assert!(row(&table, "paused").contains("Enforce"), "{table}");
}

/// Runs the hale binary with `args` (no --server added); returns (code, stdout, stderr).
fn hale_cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(args)
        .env_remove("HALE_SERVER")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts `hale events -f ARGS` and returns the first `count` lines it prints (killing it
/// then), or fails after `timeout`.
fn follow_lines(args: &[&str], count: usize, timeout: Duration) -> Vec<String> {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["events", "-f"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    while lines.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        lines.len(),
        count,
        "hale events -f {args:?} printed {lines:?}"
    );
    lines
}

#[test]
fn event_filters_mean_what_they_say_and_server_takes_the_listen_form() {
    let docker = TestDocker::new("filters");
    let dir = tempfile::tempdir().unwrap();
    let (token, token_path) = token_file(dir.path());
    let workspace = Workspace::new(&docker.policy("filters", ""));
    let hale = workspace.start(&["--api-token-file", token_path.to_str().unwrap()], &[]);
    let api = hale.api();
    let listen = api.trim_start_matches("http://").to_owned();
    for route in ["pause", "resume"] {
        let (status, body) = http(
            "POST",
            &format!("{api}/api/v1/policies/filters/{route}"),
            Some(&token),
            None,
        );
        assert_eq!(status, 200, "{body}");
    }

    // The API: repeated kinds, an unknown kind, n=0 (once both records are stored).
    let kinds = |query: &str| -> Vec<String> {
        let (status, body) = http("GET", &format!("{api}/api/v1/events?{query}"), None, None);
        assert_eq!(status, 200, "{query}: {body}");
        serde_json::from_str::<Vec<Value>>(&body)
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    let deadline = Instant::now() + WAIT;
    while kinds("kind=resumed").is_empty() {
        assert!(Instant::now() < deadline, "the resume was never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(kinds("kind=paused&kind=resumed"), ["resumed", "paused"]);
    assert_eq!(kinds("kind=paused,resumed"), ["resumed", "paused"]);
    assert!(kinds("n=0").is_empty());
    let (status, body) = http(
        "GET",
        &format!("{api}/api/v1/events?kind=pasued"),
        None,
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("unknown kind") && body.contains("paused"),
        "{body}"
    );

    // --server in the --listen form, without a scheme.
    let (code, table, stderr) = hale_cli(&["get", "policies", "--server", &listen]);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("filters"), "{table}");
    let (code, _, stderr) = hale_cli(&["get", "policies", "--server", "ftp://example.com"]);
    assert_eq!(
        code, 2,
        "a --server of another scheme is a usage error: {stderr}"
    );
    assert!(stderr.contains("http://"), "{stderr}");

    // -f with -n prints that backlog first; with --since, what happened since.
    let backlog = follow_lines(&["--server", &listen, "-n", "2"], 2, WAIT);
    assert!(
        backlog[0].contains("paused") && backlog[1].contains("resumed"),
        "{backlog:?}"
    );
    let since = follow_lines(
        &["--server", &listen, "--since", "1h", "--kind", "paused"],
        1,
        WAIT,
    );
    assert!(since[0].contains("paused"), "{since:?}");

    // -f at an address where nothing listens says so and ends, instead of retrying forever.
    let started = Instant::now();
    let nowhere = format!("127.0.0.1:{}", free_port());
    let (code, _, stderr) = hale_cli(&["events", "-f", "--server", &nowhere]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot reach hale"), "{stderr}");
    assert!(started.elapsed() < WAIT);

    assert!(hale.stop().success());
    let state = workspace.state();
    let state = state.to_str().unwrap();
    // The local log: comma-separated kinds, an unknown kind, -n 0.
    let (code, out, stderr) = hale_cli(&[
        "events",
        "--state-dir",
        state,
        "--kind",
        "paused,resumed",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&out).unwrap().len(),
        2,
        "{out}"
    );
    let (code, _, stderr) = hale_cli(&["events", "--state-dir", state, "--kind", "pasued"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown kind \"pasued\""), "{stderr}");
    let (code, out, stderr) = hale_cli(&["events", "--state-dir", state, "-n", "0"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.is_empty(), "-n 0 prints nothing, not everything: {out}");

    // Releasing what is not quarantined fails and says what is.
    let (code, _, stderr) = hale_cli(&["unquarantine", "nosuch", "--state-dir", state]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("nosuch is not quarantined") && stderr.contains("nothing is quarantined"),
        "{stderr}"
    );
}
