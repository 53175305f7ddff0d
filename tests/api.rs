//! The API against real neighbours: a real Alertmanager 0.25 (Debian's
//! `prometheus-alertmanager`) whose webhook drives remediation and whose silences `hale ack`
//! creates, a real Prometheus scraping `/metrics` (gzipped, as Prometheus asks), the event
//! stream with `Last-Event-ID` resume (never compressed, though the client accepts gzip),
//! gzip for a client that asks, and the bearer-token and signed-link rules.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Hale, Service, TestDocker, Workspace, alertmanager, free_port, http, token_file, wait_http_ok,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(40);

/// Pushes one alert to Alertmanager; `resolved` sets its end to now.
fn push_alert(alertmanager: &str, labels: &Value, resolved: bool) {
    let mut alert = json!({ "labels": labels });
    if resolved {
        alert["endsAt"] = json!(hale_now());
    }
    let (status, body) = http(
        "POST",
        &format!("{alertmanager}/api/v2/alerts"),
        None,
        Some(&json!([alert])),
    );
    assert_eq!(status, 200, "Alertmanager refused the alert: {body}");
}

fn hale_now() -> String {
    let output = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%3NZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn an_alertmanager_alert_heals_a_container_resolving_clears_it_and_hale_ack_silences_it() {
    let docker = TestDocker::new("alert");
    let dir = tempfile::tempdir().unwrap();
    let (_, token_path) = token_file(dir.path());
    let label = docker.name("x");
    let policy = docker.policy(
        "alerts",
        &format!(
            "  alerts:\n  - matchLabels: {{alertname: HaleTestDown, hale_test: \"{label}\"}}\n    targetLabel: container\n  remediation:\n    steps: [{{action: restart, attempts: 3, timeout: 2s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 1s}}\n"
        ),
    );
    let workspace = Workspace::new(&policy);
    // Alertmanager's port must be known to hale (for ack) and hale's to Alertmanager: pick
    // Alertmanager's first, start hale, then Alertmanager.
    let am_port_probe = free_port();
    let hale = workspace.start(
        &[
            "--api-token-file",
            token_path.to_str().unwrap(),
            "--alertmanager-url",
            &format!("http://127.0.0.1:{am_port_probe}"),
        ],
        &[],
    );
    let api = hale.api();
    let (_am, am_url) = alertmanager(dir.path(), am_port_probe, &api, &token_path);

    docker.run("db", &["--init"], &["sleep", "1000000"]);
    let name = docker.name("db");
    let labels = json!({"alertname": "HaleTestDown", "hale_test": label, "container": name});
    push_alert(&am_url, &labels, false);
    let started = hale.wait_audit("action_started", &name, WAIT);
    assert_eq!(started["action"], "restart");
    assert!(
        started["reason"]
            .as_str()
            .unwrap()
            .contains("alert HaleTestDown firing"),
        "{started}"
    );
    hale.wait_audit("action_succeeded", &name, WAIT);

    // Resolved in Alertmanager: hale sees the target healthy again.
    push_alert(&am_url, &labels, true);
    hale.wait_audit("recovered", &name, WAIT);
    assert_eq!(
        hale.audit("action_started", &name).len(),
        1,
        "one alert episode, one restart"
    );

    // `hale ack` creates an exact-match silence that Alertmanager lists and applies.
    let hale_test = format!("hale_test={label}");
    let printed = common::hale_ok([
        "ack",
        "-l",
        "alertname=HaleTestDown",
        "-l",
        &hale_test,
        "--for",
        "30m",
        "--server",
        &api,
        "--token-file",
        token_path.to_str().unwrap(),
    ]);
    assert!(printed.contains("silenced until"), "{printed}");
    let (_, silences) = http("GET", &format!("{am_url}/api/v2/silences"), None, None);
    let silences: Value = serde_json::from_str(&silences).unwrap();
    let ours = silences
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["status"]["state"] == "active"
                && s["matchers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["value"] == label)
        })
        .unwrap_or_else(|| panic!("no active silence for {label}: {silences:#}"));
    assert!(
        ours["matchers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["isRegex"] == false && m["isEqual"] == true)
    );
    push_alert(&am_url, &labels, false);
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, alerts) = http("GET", &format!("{am_url}/api/v2/alerts"), None, None);
        let alerts: Value = serde_json::from_str(&alerts).unwrap_or_default();
        let state = alerts
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["labels"]["hale_test"] == label)
            .map(|a| a["status"]["state"].clone());
        if state == Some(json!("suppressed")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the alert was not suppressed: {alerts:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(hale.stop().success());
}

#[test]
fn prometheus_scrapes_the_metrics_after_a_remediation_and_promtool_accepts_them() {
    let docker = TestDocker::new("prom");
    let workspace = Workspace::new(&docker.policy(
        "prom",
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 2s}]\n    cooldown: 1s\n",
    ));
    let hale = workspace.start(&[], &[]);
    let api = hale.api();
    docker.run("web", common::HEALTH, common::NEVER_HEALTHY);
    let name = docker.name("web");
    hale.wait_audit("action_succeeded", &name, WAIT);

    let (status, metrics) = http("GET", &format!("{api}/metrics"), None, None);
    assert_eq!(status, 200);
    assert!(metrics.contains("hale_actions_total{"), "{metrics}");
    common::promtool_check_metrics(&metrics);

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let address = api.trim_start_matches("http://");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: hale\n  static_configs:\n  - targets: ['{address}']\n"),
    )
    .unwrap();
    let _prometheus = Service(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tests need Prometheus: `apt-get install prometheus` (.ci/run does)"),
    );
    let prometheus = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{prometheus}/-/ready"), WAIT);
    let query = format!(
        "{prometheus}/api/v1/query?query=hale_actions_total%7Bpolicy%3D%22prom%22%2Caction%3D%22restart%22%2Cresult%3D%22executed%22%7D"
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = http("GET", &query, None, None);
        let answer: Value = serde_json::from_str(&body).unwrap_or_default();
        let value = answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok());
        if value.is_some_and(|v| v >= 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw the restart: {body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(hale.stop().success());
}

/// Reads Server-Sent Events from `url` (with `Last-Event-ID` when given) until `count`
/// records arrived; returns their ids and kinds.
fn read_stream(url: &str, last_id: Option<u64>, count: usize) -> Vec<(u64, String)> {
    use std::io::{BufRead, BufReader, Write};
    let rest = url.trim_start_matches("http://");
    let (address, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    // As a browser asks: gzip accepted. The stream must still come event by event, as it
    // is (compressing it would hold events back in the compressor).
    let mut request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\nAccept-Encoding: gzip\r\n"
    );
    if let Some(id) = last_id {
        request.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut seen = Vec::new();
    let mut id = None;
    let mut line = String::new();
    while seen.len() < count {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let text = line.trim_end();
        if let Some(value) = text.strip_prefix("id:") {
            id = value.trim().parse::<u64>().ok();
        } else if let Some(value) = text.strip_prefix("data:")
            && let (Some(seq), Ok(event)) = (id.take(), serde_json::from_str::<Value>(value.trim()))
        {
            seen.push((seq, event["kind"].as_str().unwrap_or_default().to_owned()));
        }
    }
    seen
}

/// GET `url` as a client that accepts gzip: the answer's head, and its body as sent
/// (de-chunked, still compressed if it was).
fn get_accepting_gzip(url: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (address, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {address}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (head, body.to_vec());
    }
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
    (head, out)
}

#[test]
fn the_event_stream_delivers_in_order_and_resumes_with_last_event_id_missing_none() {
    let docker = TestDocker::new("sse");
    let dir = tempfile::tempdir().unwrap();
    let (token, token_path) = token_file(dir.path());
    let workspace = Workspace::new(&docker.policy("sse", ""));
    let hale = workspace.start(&["--api-token-file", token_path.to_str().unwrap()], &[]);
    let api = hale.api();
    let stream_url = format!("{api}/api/v1/events/stream?policy=sse&kind=paused,resumed");
    let toggle = |n: usize| {
        for i in 0..n {
            let verb = if i % 2 == 0 { "pause" } else { "resume" };
            let (status, body) = http(
                "POST",
                &format!("{api}/api/v1/policies/sse/{verb}"),
                Some(&token),
                None,
            );
            assert_eq!(status, 200, "{body}");
        }
    };
    // A reader connected before the records are written sees them live, in order.
    let reader = std::thread::spawn({
        let url = stream_url.clone();
        move || read_stream(&url, None, 4)
    });
    std::thread::sleep(Duration::from_millis(500));
    toggle(4);
    let first = reader.join().unwrap();
    assert_eq!(
        first.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>(),
        ["paused", "resumed", "paused", "resumed"]
    );
    assert!(
        first.windows(2).all(|w| w[0].0 < w[1].0),
        "in order: {first:?}"
    );

    // Disconnected meanwhile: six more records; resuming from the last id gets exactly them.
    toggle(6);
    let resumed = read_stream(&stream_url, Some(first.last().unwrap().0), 6);
    assert_eq!(resumed.len(), 6, "{resumed:?}");
    let (_, all) = http(
        "GET",
        &format!("{api}/api/v1/events?policy=sse&kind=paused,resumed&n=100"),
        None,
        None,
    );
    let mut all: Vec<u64> = serde_json::from_str::<Vec<Value>>(&all)
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    all.sort_unstable();
    let delivered: Vec<u64> = first.iter().chain(&resumed).map(|(seq, _)| *seq).collect();
    assert_eq!(delivered, all, "every record exactly once, in order");

    // The same query from a client that accepts gzip comes compressed, and is the same.
    let query = format!("{api}/api/v1/events?policy=sse&kind=paused,resumed&n=100");
    let (head, compressed) = get_accepting_gzip(&query);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let (_, plain) = http("GET", &query, None, None);
    assert_eq!(
        String::from_utf8(common::otlp::gunzip(&compressed)).unwrap(),
        plain,
        "the gzipped answer is the plain one"
    );
    assert!(hale.stop().success());
}

#[test]
fn mutating_routes_need_the_token_and_ack_links_cannot_be_forged_or_replayed_late() {
    let docker = TestDocker::new("auth");
    let dir = tempfile::tempdir().unwrap();
    let (token, token_path) = token_file(dir.path());
    let workspace = Workspace::new(&docker.policy("auth", ""));
    let hale = workspace.start(
        &[
            "--api-token-file",
            token_path.to_str().unwrap(),
            "--alertmanager-url",
            &format!("http://127.0.0.1:{}", free_port()),
        ],
        &[],
    );
    let api = hale.api();
    let routes = [
        "/api/v1/policies/auth/pause",
        "/api/v1/policies/auth/resume",
        "/api/v1/targets/anything/unquarantine",
        "/api/v1/targets/anything/heal",
        "/api/v1/alertmanager",
        "/api/v1/ack",
        "/api/v1/ack/link",
    ];
    for route in routes {
        for presented in [None, Some("wrong-token-wrong-token")] {
            let (status, body) = http(
                "POST",
                &format!("{api}{route}"),
                presented,
                Some(&json!({})),
            );
            assert_eq!(status, 401, "{route} with {presented:?}: {body}");
        }
    }
    let policy = |api: &str| {
        let (_, body) = http("GET", &format!("{api}/api/v1/policies/auth"), None, None);
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let paused = policy(&api)["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Paused")
        .unwrap()["status"]
        .clone();
    assert_eq!(paused, "False", "nothing changed");

    // Malformed Alertmanager payloads are refused with the reason.
    let (status, body) = http(
        "POST",
        &format!("{api}/api/v1/alertmanager"),
        Some(&token),
        Some(&json!({"version": "3", "alerts": []})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("version"), "{body}");

    // A genuine link, then the same link tampered with, then one that has expired.
    let (status, body) = http(
        "POST",
        &format!("{api}/api/v1/ack/link"),
        Some(&token),
        Some(&json!({"labels": {"alertname": "X"}, "duration": "30m", "valid_for": "1s"})),
    );
    assert_eq!(status, 200, "{body}");
    let link = serde_json::from_str::<Value>(&body).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Opening a genuine link only asks for confirmation (link scanners open every URL).
    let (status, page) = http("GET", &link, None, None);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<form method=post action=\"/api/v1/ack/confirm?"),
        "{page}"
    );
    let confirm = link.replace("/api/v1/ack/link?", "/api/v1/ack/confirm?");
    let forged = link.replace("d=30m", "d=24h");
    let (status, body) = http(
        "POST",
        &forged.replace("/api/v1/ack/link?", "/api/v1/ack/confirm?"),
        None,
        None,
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = http("GET", &forged, None, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not genuine"), "{body}");
    std::thread::sleep(Duration::from_millis(2100));
    let (status, body) = http("GET", &link, None, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("expired"), "{body}");
    let (status, body) = http("POST", &confirm, None, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("expired"), "{body}");
    assert!(hale.stop().success());

    // Without a token file the control routes are off, with a clear reason.
    let hale = Hale::start(&workspace.policies(), &workspace.state(), &[], &[]);
    let (status, body) = http(
        "POST",
        &format!("{}/api/v1/policies/auth/pause", hale.api()),
        Some(&token),
        None,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--api-token-file"), "{body}");
    assert!(hale.stop().success());
}

#[test]
fn pause_survives_a_restart_heal_acts_at_once_and_status_and_readiness_report_it() {
    let docker = TestDocker::new("pause");
    let dir = tempfile::tempdir().unwrap();
    let (_, token_path) = token_file(dir.path());
    let workspace = Workspace::new(&docker.policy(
        "pause",
        "  remediation:\n    steps: [{action: restart, attempts: 5, timeout: 2s}]\n    cooldown: 1s\n",
    ));
    let args = ["--api-token-file", token_path.to_str().unwrap()];
    let hale = workspace.start(&args, &[]);
    let api = hale.api();
    wait_http_ok(&format!("{api}/readyz"), WAIT);
    let cli = |hale: &Hale, args: &[&str]| {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--token-file", token_path.to_str().unwrap()]);
        let (code, stdout, stderr) = hale.cli(&full);
        assert_eq!(code, 0, "hale {args:?}: {stderr}");
        stdout
    };
    assert!(cli(&hale, &["pause", "pause"]).contains("pause paused"));
    assert!(hale.stop().success());

    // Restarted: still paused, so an unhealthy container is reported but left alone.
    let hale = workspace.start(&args, &[]);
    let api = hale.api();
    docker.run("web", common::HEALTH, common::NEVER_HEALTHY);
    let name = docker.name("web");
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = http("GET", &format!("{api}/api/v1/targets/{name}"), None, None);
        let state =
            serde_json::from_str::<Value>(&body).unwrap_or_default()["policies"][0]["state"]
                .clone();
        if state == "failing" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the target was never reported failing: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, overview) = http("GET", &format!("{api}/"), None, None);
    let overview: Value = serde_json::from_str(&overview).unwrap();
    assert_eq!(overview["paused"], json!(["pause"]), "{overview}");
    assert_eq!(overview["enabled"], false, "{overview}");
    let policy = hale.policies()["items"][0].clone();
    let paused = policy["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Paused")
        .unwrap()
        .clone();
    assert_eq!(paused["status"], "True", "{policy:#}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        hale.audit("action_started", &name).is_empty(),
        "a paused policy must not act"
    );

    // Resumed: it acts. Then `hale heal` forces the next restart without waiting.
    cli(&hale, &["resume", "pause"]);
    hale.wait_audit("action_succeeded", &name, WAIT);
    let before = hale.audit("action_started", &name).len();
    assert!(cli(&hale, &["heal", &name]).contains("healing"));
    let deadline = Instant::now() + WAIT;
    while hale.audit("action_started", &name).len() <= before {
        assert!(Instant::now() < deadline, "heal did not act");
        std::thread::sleep(Duration::from_millis(100));
    }
    let healed = hale.audit("action_started", &name).last().cloned().unwrap();
    assert!(
        healed["reason"]
            .as_str()
            .unwrap()
            .contains("heal requested by an operator"),
        "{healed}"
    );
    let (code, table, _) = hale.cli(&["get", "targets"]);
    assert_eq!(code, 0);
    assert!(table.contains(&name), "{table}");
    assert!(hale.stop().success());
}
