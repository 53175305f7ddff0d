//! The API under hostile clients, against a real `hale run` healing a real container:
//! missing and wrong tokens, odd scheme spellings, the read token, 1,000 concurrent event
//! streams, bodies over the limit, garbage JSON and a burst of controls, each answered with
//! its status; meanwhile the container is still healed (Docker's own events show the
//! restart). And the API over TLS (certificates made by rcgen), used by the CLI.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Hale, TestDocker, Workspace, token_file, wait_http_ok};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// Concurrent event streams the flood opens.
const STREAMS: usize = 1_000;

/// One HTTP exchange's answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    /// A header's value (names are case-insensitive).
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The `error` field of a JSON body.
    fn error(&self) -> String {
        serde_json::from_str::<Value>(&self.body).unwrap_or_default()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends `method path` to `address` with `headers` and `body` on one connection
/// (`Connection: close`) and reads the whole answer. A server that answers before reading
/// a body it refuses may reset the connection while the body is still being written: the
/// write error is ignored and the answer read anyway.
fn exchange(address: &str, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(address).expect("the API accepts connections");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("content-length"))
    {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// `host:port` of this hale's API.
fn address(hale: &Hale) -> String {
    hale.api().trim_start_matches("http://").to_owned()
}

/// Writes `token` to `dir/name`.
fn write_token(dir: &Path, name: &str, token: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, token).unwrap();
    path
}

/// Opens `count` event streams at once and reads each one's status line; the
/// connections stay open (returned) so that all of them are streams at the same time.
fn open_streams(address: &str, token: &str, count: usize) -> (Vec<TcpStream>, Vec<Answer>) {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(address).expect("the API accepts connections");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let request = format!(
            "GET /api/v1/events/stream HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        connections.push(stream);
    }
    let mut answers = Vec::with_capacity(count);
    for stream in &connections {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // A refusal is short and has a length; a stream has no end.
        let body = if status == 503 {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            String::from_utf8_lossy(&body).into_owned()
        } else {
            String::new()
        };
        answers.push(Answer { status, head, body });
    }
    (connections, answers)
}

/// Docker's own record of restarts of `container` since `since` (Unix seconds): a
/// restart through the API is recorded as `restart` by some daemons and as stop, then
/// `start`, by others; the container was started before `since`, so either is a restart.
fn docker_restarts(container: &str, since: u64) -> usize {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let output = common::docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        &format!("container={container}"),
        "--filter",
        "event=restart",
        "--filter",
        "event=start",
        "--format",
        "{{.Action}}",
    ]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| matches!(l.trim(), "restart" | "start"))
        .count()
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn hostile_clients_get_the_right_refusals_and_the_container_is_still_healed() {
    let docker = TestDocker::new("hostile");
    let dir = tempfile::tempdir().unwrap();
    let (control, control_path) = token_file(dir.path());
    let read = format!("read-token-{}-{}", std::process::id(), common::free_port());
    let read_path = write_token(dir.path(), "read-token", &read);
    let workspace = Workspace::new(&docker.policy(
        "hostile",
        "  remediation:\n    steps: [{action: restart, attempts: 10, timeout: 3s}]\n    cooldown: 1s\n    backoff: {initial: 1s, max: 1s}\n",
    ));
    docker.run("web", common::HEALTH, common::HEALTHY);
    let name = docker.name("web");
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);
    let hale = workspace.start(
        &[
            "--api-token-file",
            control_path.to_str().unwrap(),
            "--api-read-token-file",
            read_path.to_str().unwrap(),
            // Small, so that the burst below outruns the refill whatever the machine's load;
            // the controls before it take a few of the 20.
            "--api-control-rate",
            "1",
            "--api-control-burst",
            "20",
        ],
        &[],
    );
    let api = address(&hale);
    wait_http_ok(&format!("http://{api}/readyz"), WAIT);
    let bearer = |token: &str| format!("Authorization: Bearer {token}");
    let started = now_seconds();

    // 1,000 event streams at once: the first 64 (--api-max-streams' default) are streams,
    // every other is a 503 that says the limit, the flag, and when to retry.
    let (streams, answers) = open_streams(&api, &read, STREAMS);
    let opened = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!(opened, 64, "streams opened");
    assert_eq!(refused.len(), STREAMS - 64, "streams refused");
    assert_eq!(refused[0].header("retry-after").as_deref(), Some("5"));
    let message = refused[0].error();
    assert!(
        message.contains("64 event streams") && message.contains("--api-max-streams"),
        "{message}"
    );

    // While they are open, the container fails: hale heals it through the flood below.
    common::docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);

    // Tokens: none, wrong, the read token on a control, odd spellings of the scheme.
    let heal = "/api/v1/targets/no-such-target/heal";
    let missing = exchange(&api, "POST", heal, &[], b"");
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(
        missing.header("www-authenticate").as_deref(),
        Some("Bearer")
    );
    let wrong = exchange(&api, "POST", heal, &[&bearer("not-the-token")], b"");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let basic = format!("Authorization: Basic {control}");
    assert_eq!(exchange(&api, "POST", heal, &[&basic], b"").status, 401);
    let empty = exchange(&api, "POST", heal, &["Authorization: Bearer "], b"");
    assert_eq!(empty.status, 401, "{empty:?}");
    let read_on_control = exchange(&api, "POST", heal, &[&bearer(&read)], b"");
    assert_eq!(read_on_control.status, 403, "{read_on_control:?}");
    assert!(
        read_on_control.error().contains("read token"),
        "{read_on_control:?}"
    );
    for spelling in [
        format!("Authorization: bearer {control}"),
        format!("Authorization: BEARER    {control}"),
    ] {
        let answer = exchange(&api, "POST", heal, &[&spelling], b"");
        // Authenticated: the target does not exist.
        assert_eq!(answer.status, 404, "{spelling}: {answer:?}");
    }

    // Reads: the read token or the control token; probes, metrics and the page stay open.
    let targets = "/api/v1/targets";
    assert_eq!(exchange(&api, "GET", targets, &[], b"").status, 401);
    assert_eq!(
        exchange(&api, "GET", targets, &[&bearer("wrong")], b"").status,
        401
    );
    assert_eq!(
        exchange(&api, "GET", targets, &[&bearer(&read)], b"").status,
        200
    );
    assert_eq!(
        exchange(&api, "GET", targets, &[&bearer(&control)], b"").status,
        200
    );
    assert_eq!(
        exchange(&api, "GET", "/api/v1/events", &[], b"").status,
        401
    );
    assert_eq!(
        exchange(&api, "GET", "/", &["Accept: application/json"], b"").status,
        401
    );
    assert_eq!(
        exchange(&api, "GET", "/", &["Accept: text/html"], b"").status,
        200
    );
    for open in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/ui/",
        "/api/v1/openapi.json",
    ] {
        assert_eq!(exchange(&api, "GET", open, &[], b"").status, 200, "{open}");
    }

    // Bodies over 1 MiB: declared, and sent.
    let alertmanager = "/api/v1/alertmanager";
    let declared = exchange(
        &api,
        "POST",
        alertmanager,
        &[&bearer(&control), "Content-Length: 100000000"],
        b"",
    );
    assert_eq!(declared.status, 413, "{declared:?}");
    assert!(declared.error().contains("over the limit"), "{declared:?}");
    let huge = vec![b'x'; 2 * 1024 * 1024];
    for (path, token) in [
        (alertmanager, &control),
        ("/api/v1/ack", &control),
        ("/api/v1/policies/validate", &read),
    ] {
        let answer = exchange(&api, "POST", path, &[&bearer(token)], &huge);
        assert_eq!(answer.status, 413, "{path}: {answer:?}");
    }

    // Garbage JSON: 400 with what was wrong and where.
    let garbage = exchange(
        &api,
        "POST",
        alertmanager,
        &[&bearer(&control)],
        b"{not json",
    );
    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert!(
        garbage
            .error()
            .contains("not an Alertmanager webhook payload")
            && garbage.error().contains("line 1"),
        "{garbage:?}"
    );
    let mistyped = exchange(
        &api,
        "POST",
        alertmanager,
        &[&bearer(&control)],
        br#"{"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}}]}"#,
    );
    assert_eq!(mistyped.status, 400, "{mistyped:?}");
    assert!(
        mistyped.error().contains("alerts[0].labels.a"),
        "{mistyped:?}"
    );
    let ack = exchange(&api, "POST", "/api/v1/ack", &[&bearer(&control)], b"[1, 2");
    assert_eq!(ack.status, 400, "{ack:?}");

    // A burst of controls from one address: what is left of its bucket, then 429 with
    // Retry-After.
    let burst: Vec<Answer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| exchange(&api, "POST", heal, &[&bearer(&control)], b"")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let taken = burst.iter().filter(|a| a.status == 404).count();
    let limited: Vec<&Answer> = burst.iter().filter(|a| a.status == 429).collect();
    assert_eq!(taken + limited.len(), burst.len(), "{burst:?}");
    assert!(taken >= 1, "no control of the burst was taken: {burst:?}");
    assert!(!limited.is_empty(), "no control was limited: {burst:?}");
    let retry: u64 = limited[0]
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(retry >= 1, "{:?}", limited[0]);
    assert!(
        limited[0].error().contains("--api-control-rate"),
        "{:?}",
        limited[0]
    );
    // Requests without the token do not spend the bucket: they are refused first.
    assert_eq!(exchange(&api, "POST", heal, &[], b"").status, 401);

    // Through all of it, the container was healed: Docker recorded the restart.
    let deadline = Instant::now() + WAIT;
    while docker_restarts(&name, started) == 0 {
        assert!(
            Instant::now() < deadline,
            "Docker recorded no restart of {name} during the flood; hale's actions: {:?}; Docker's events: {}",
            hale.audit("action_started", &name),
            String::from_utf8_lossy(
                &common::docker(&[
                    "events",
                    "--since",
                    &started.to_string(),
                    "--until",
                    &now_seconds().to_string(),
                    "--filter",
                    &format!("container={name}"),
                ])
                .stdout
            )
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    hale.wait_audit("action_succeeded", &name, WAIT);

    // The streams go; their slots come back (once hale notices each connection closed).
    drop(streams);
    let deadline = Instant::now() + WAIT;
    loop {
        let (again, answers) = open_streams(&api, &read, 1);
        if answers[0].status == 200 {
            drop(again);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no stream slot came back: {:?}",
            answers[0]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(hale.stop().success());
}

/// A CA and a certificate for 127.0.0.1 and localhost it signed, as PEM files in `dir`;
/// returns (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hale test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, certificate.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

/// Runs the `hale` CLI; returns (exit code, stdout, stderr).
fn hale_cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(args)
        .env_remove("HALE_API_TOKEN")
        .env_remove("HALE_API_TOKEN_FILE")
        .env_remove("HALE_CA_FILE")
        .env_remove("HALE_SERVER")
        .output()
        .expect("hale runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_cli_talks_to_a_tls_api_with_its_ca_and_refuses_an_unknown_one() {
    let docker = TestDocker::new("tls-api");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let (control, control_path) = token_file(dir.path());
    let read_path = write_token(dir.path(), "read-token", &format!("{control}-read"));
    let workspace = Workspace::new(&docker.policy(
        "tls",
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 3s}]\n",
    ));
    let hale = workspace.start(
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--api-token-file",
            control_path.to_str().unwrap(),
            "--api-read-token-file",
            read_path.to_str().unwrap(),
            "--metrics-require-token",
        ],
        &[],
    );
    let listening = hale.wait_for("the API to listen", WAIT, |l| {
        l["message"] == "API listening (hale get, hale describe)"
    });
    assert_eq!(listening["scheme"], "https", "{listening}");
    let server = format!("https://{}", listening["address"].as_str().unwrap());
    let ca = ca.to_str().unwrap();
    let read = read_path.to_str().unwrap();

    // With the CA: readiness, a read with the read token, a control with the token.
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, stdout, stderr) = hale_cli(&["ready", "--server", &server, "--ca-file", ca]);
        if code == 0 {
            assert!(stdout.contains("ready"), "{stdout}");
            break;
        }
        assert!(Instant::now() < deadline, "never ready over TLS: {stderr}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, stdout, stderr) = hale_cli(&[
        "get",
        "policies",
        "--server",
        &server,
        "--ca-file",
        ca,
        "--read-token-file",
        read,
    ]);
    assert_eq!(code, 0, "hale get over TLS: {stderr}");
    assert!(stdout.contains("tls"), "{stdout}");
    let (code, stdout, stderr) = hale_cli(&[
        "pause",
        "tls",
        "--server",
        &server,
        "--ca-file",
        ca,
        "--token-file",
        control_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "hale pause over TLS: {stderr}");
    assert!(stdout.contains("tls paused"), "{stdout}");

    // /metrics with --metrics-require-token, as Prometheus would scrape it over TLS.
    let read_token = std::fs::read_to_string(read).unwrap();
    let metrics = format!("{server}/metrics");
    let (anonymous, scraped) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let trust = hale_policy::TlsTrust {
                ca_file: Some(std::path::PathBuf::from(ca)),
                ..hale_policy::TlsTrust::default()
            };
            let settings = hale_core::http_client::ClientSettings::trusting(&trust);
            let client = hale_core::http_client::build_client(&settings).unwrap();
            let anonymous = client.get(&metrics).send().await.unwrap().status();
            let scraped = client
                .get(&metrics)
                .bearer_auth(read_token.trim())
                .send()
                .await
                .unwrap();
            (anonymous, (scraped.status(), scraped.text().await.unwrap()))
        });
    assert_eq!(anonymous.as_u16(), 401);
    assert_eq!(scraped.0.as_u16(), 200);
    assert!(scraped.1.contains("hale_"), "{}", scraped.1);

    // Without the read token, the read is refused, and says how to pass one.
    let (code, _, stderr) = hale_cli(&["get", "policies", "--server", &server, "--ca-file", ca]);
    assert_ne!(code, 0);
    assert!(stderr.contains("HTTP 401"), "{stderr}");

    // Without the CA, the certificate is not trusted: nothing is sent.
    let (code, _, stderr) = hale_cli(&["ready", "--server", &server]);
    assert_ne!(code, 0);
    assert!(
        stderr.to_ascii_lowercase().contains("certificate"),
        "an untrusted certificate must be the reason: {stderr}"
    );
    // Plain HTTP to the TLS port gets no API answer.
    let plain = server.replace("https://", "http://");
    let (code, _, _) = hale_cli(&["ready", "--server", &plain]);
    assert_ne!(code, 0);
    // A --ca-file that is not PEM is named in the error.
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let (code, _, stderr) = hale_cli(&[
        "ready",
        "--server",
        &server,
        "--ca-file",
        bogus.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--ca-file"), "{stderr}");
    assert!(hale.stop().success());
}

#[test]
fn a_metrics_token_without_any_token_to_require_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["run", "--metrics-require-token", "--policies"])
        .arg(dir.path().join("policies"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("HALE_LISTEN", "127.0.0.1:0")
        .env_remove("HALE_API_TOKEN_FILE")
        .env_remove("HALE_API_READ_TOKEN_FILE")
        .output()
        .expect("hale runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--metrics-require-token needs a token")
            && stderr.contains("--api-read-token-file"),
        "{stderr}"
    );
}
