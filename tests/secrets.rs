//! A planted secret goes nowhere: one recognisable value is the API token, the path of a
//! webhook action's `urlFrom` (a webhook answering 500, so errors carry its URL), the path
//! of a notifier's `urlFrom` and one of its header secrets, an email notifier's SMTP
//! password (a real aiosmtpd that requires that login, over STARTTLS with a private CA), a
//! Coolify token (the fake), the query string of a site's URL, the password in
//! `--alertmanager-url` (a server that records the request and hangs up, so the error
//! carries the URL) and the key acknowledgement links are signed with (`state/ack.key`).
//! hale fails and acts on all of them; then stderr (JSON logs), the audit log (`hale
//! events`), `/metrics`, every API read route and the ack answers, the traces at a real
//! OTLP collector (`rotel`), the notification bodies and the emails are searched for it,
//! and it is found nowhere, while the services prove it was used. The Alertmanager
//! password from `--alertmanager-password-file` is checked the same way, and against the
//! command line.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::otlp::{gunzip, start_rotel};
use common::{HEALTH, NEVER_HEALTHY, TestDocker, Workspace, free_port, hale_events, http};
use hale_fakes::smtp::{SinkConfig, SinkTls, SmtpSink};
use hale_fakes::tls::Pki;
use hale_fakes::{APP_UUID, FakeCoolify};

const WAIT: Duration = Duration::from_secs(40);

/// An OTLP/HTTP receiver keeping every export's raw protobuf (strings are UTF-8 in it, so
/// a byte search finds any attribute value).
fn receiver(runtime: &tokio::runtime::Runtime) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let exports: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let store = Arc::clone(&exports);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let store = Arc::clone(&store);
                async move {
                    let body = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
                        gunzip(&body)
                    } else {
                        body.to_vec()
                    };
                    store.lock().unwrap().push(body);
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            },
        ),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, exports)
}

/// Fails the test, naming the channel, when `text` holds `secret`.
fn assert_clean(channel: &str, text: &str, secret: &str) {
    if let Some(at) = text.find(secret) {
        let mut from = at.saturating_sub(200);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let mut to = (at + secret.len() + 100).min(text.len());
        while !text.is_char_boundary(to) {
            to += 1;
        }
        panic!(
            "the planted secret leaked through {channel}: ...{}...",
            &text[from..to]
        );
    }
}

/// Whether one of the request heads `recorded` carried `Authorization: Basic` with `user`
/// and `password`.
fn sent_basic_auth(recorded: &Mutex<Vec<String>>, user: &str, password: &str) -> bool {
    let basic = format!(
        "authorization: basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{user}:{password}")
        )
    )
    .to_lowercase();
    recorded
        .lock()
        .unwrap()
        .iter()
        .any(|head| head.to_lowercase().lines().any(|line| line == basic))
}

#[test]
fn the_alertmanager_password_from_a_file_is_used_and_is_neither_on_the_command_line_nor_in_output()
{
    let secret = format!("am-file-{}", std::process::id());
    let (port, requests) = common::hang_up();
    let workspace = Workspace::new(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: am-file}\nspec:\n  selector: {matchLabels: {hale.test: am-file-selects-nothing}}\n",
    );
    let dir = workspace.root().to_owned();
    let token_file = dir.join("api-token");
    std::fs::write(&token_file, "a-token-of-this-test").unwrap();
    let password_file = dir.join("alertmanager-password");
    std::fs::write(&password_file, format!("{secret}\n")).unwrap();
    let hale = workspace.start(
        &[
            "--api-token-file",
            token_file.to_str().unwrap(),
            "--alertmanager-url",
            &format!("http://hale-am@127.0.0.1:{port}"),
            "--alertmanager-password-file",
            password_file.to_str().unwrap(),
        ],
        &[],
    );
    let api = hale.api();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", hale.pid())).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(&secret),
        "the password is on hale's command line"
    );
    let ack = serde_json::json!({"labels": {"alertname": "FileTest"}, "duration": "1h"});
    let (status, answer) = http(
        "POST",
        &format!("{api}/api/v1/ack"),
        Some("a-token-of-this-test"),
        Some(&ack),
    );
    assert_eq!(status, 502, "Alertmanager hung up: {answer}");
    assert!(
        sent_basic_auth(&requests, "hale-am", &secret),
        "Alertmanager never saw the file's password (its line break dropped): {:?}",
        requests.lock().unwrap()
    );
    assert_clean("the ack answer", &answer, &secret);
    let logs = hale
        .lines()
        .iter()
        .map(ToString::to_string)
        .collect::<String>();
    assert_clean("stderr", &logs, &secret);
}

#[test]
fn a_planted_secret_is_used_but_appears_in_no_output() {
    let secret = format!(
        "PLANTED-s3cr3t-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (failing_base, hook_calls) = common::recorder(&runtime, 500);
    let (notify_base, notifications) = common::recorder(&runtime, 200);
    let (receiver_port, exports) = receiver(&runtime);
    let rotel = start_rotel(receiver_port);
    let otlp = format!("http://127.0.0.1:{}", rotel.http_port);
    let coolify = runtime.block_on(FakeCoolify::start());
    coolify.add_token(&secret, &["root"], true);

    let secrets = tempfile::tempdir().unwrap();
    let file = |name: &str, value: &str| {
        let path = secrets.path().join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        path.display().to_string()
    };
    let token_file = file("api-token", &secret);
    let hook_file = file("hook-url", &format!("{failing_base}/hook/{secret}"));
    let notify_file = file("notify-url", &format!("{notify_base}/notify/{secret}"));
    let header_file = file("notify-header", &secret);
    let coolify_file = file("coolify-token", &secret);
    let smtp_file = file("smtp-password", &secret);

    // A submission server that takes mail only after AUTH as hale-mail with the planted
    // password, and AUTH only after STARTTLS, with a certificate of a private CA.
    let pki = Pki::new();
    let smtp = SmtpSink::start(&SinkConfig {
        tls: SinkTls::StartTls,
        certificate: Some((pki.file("server.pem"), pki.file("server-key.pem"))),
        client_ca: None,
        login: Some(("hale-mail".into(), smtp_file.clone().into())),
    });
    // Alertmanager behind basic auth, the password in the URL; it hangs up, so hale's
    // answer about the failed silence is about that URL.
    let (alertmanager_port, alertmanager_requests) = common::hang_up();
    let alertmanager_url = format!("http://hale-am:{secret}@127.0.0.1:{alertmanager_port}");

    let docker = TestDocker::new("secrets");
    let closed = free_port();
    let container_policy = docker.policy(
        "secrets",
        &format!(
            "  remediation:\n    steps: [{{action: webhook, attempts: 1, timeout: 2s, webhook: {{urlFrom: {{fromFile: {hook_file}}}, retries: 1}}}}]\n    cooldown: 1s\n  notify:\n  - {{notifier: team, on: [Remediating, Failed, Quarantined]}}\n  - {{notifier: mail, on: [Remediating, Failed, Quarantined]}}\n"
        ),
    );
    let site_policy = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: secret-site}}\nspec:\n  sites:\n  - name: shop\n    url: \"http://127.0.0.1:{closed}/health?token={secret}\"\n    coolify: {{applicationUuid: {APP_UUID}, url: \"{}\", token: {{fromFile: {coolify_file}}}}}\n  probes:\n  - {{name: http, siteRef: shop, httpGet: {{}}, period: 1s, timeout: 900ms, failureThreshold: 2}}\n  remediation:\n    steps: [{{action: coolifyRestart, attempts: 1, timeout: 3s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 1s}}\n  notify:\n  - {{notifier: team, on: [Remediating, Failed]}}\n",
        coolify.url()
    );
    let notifier = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook:\n    urlFrom: {{fromFile: {notify_file}}}\n    headers: [{{name: X-Token, valueFrom: {{fromFile: {header_file}}}}}]\n"
    );
    let mail_notifier = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: mail}}\nspec:\n  email: {{host: localhost, port: {}, tls: StartTls, trust: {{caFile: {}}}, username: hale-mail, password: {{fromFile: {smtp_file}}}, from: \"hale <hale@example.com>\", to: [oncall@example.com]}}\n",
        smtp.port(),
        pki.file("ca.pem").display()
    );
    let policy = format!("{container_policy}---\n{site_policy}---\n{notifier}---\n{mail_notifier}");
    let workspace = Workspace::new(&policy);
    // The link-signing key hale would otherwise generate at its first start.
    std::fs::create_dir_all(workspace.state()).unwrap();
    std::fs::write(workspace.state().join("ack.key"), &secret).unwrap();
    let hale = workspace.start(
        &[
            "--api-token-file",
            &token_file,
            "--alertmanager-url",
            &alertmanager_url,
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    docker.run("web", HEALTH, NEVER_HEALTHY);
    let name = docker.name("web");
    // The webhook answers 500 twice (a retry), the ladder is exhausted: quarantined.
    hale.wait_audit("quarantined", &name, WAIT);
    // The site fails (nothing listens) and Coolify is asked to restart it.
    let deadline = Instant::now() + WAIT;
    while coolify
        .requests()
        .iter()
        .all(|r| !r.path.ends_with("/restart"))
    {
        assert!(
            Instant::now() < deadline,
            "Coolify was never asked to restart the site"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Notifications about both arrive.
    let deadline = Instant::now() + WAIT;
    while notifications.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "fewer than two notifications arrived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let deadline = Instant::now() + WAIT;
    while smtp.mails().is_empty() {
        assert!(Instant::now() < deadline, "no email arrived");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The secret was used, everywhere it was planted.
    let logins = smtp.logins();
    assert!(
        !logins.is_empty()
            && logins
                .iter()
                .all(|l| l["user"] == "hale-mail" && l["accepted"] == true && l["tls"] == true),
        "the SMTP server did not see the planted password, over TLS: {logins:?}"
    );
    assert!(
        hook_calls
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.path == format!("/hook/{secret}")),
        "the webhook was not called at its secret URL"
    );
    let received = notifications.lock().unwrap().clone();
    assert!(
        received
            .iter()
            .all(|r| r.path == format!("/notify/{secret}")
                && r.headers
                    .get("x-token")
                    .is_some_and(|v| v == secret.as_str())),
        "the notifier did not use its secret URL and header"
    );
    assert!(
        coolify
            .requests()
            .iter()
            .any(|r| r.authorization.as_deref() == Some(&format!("Bearer {secret}"))),
        "the fake Coolify never saw the planted token"
    );
    let api = hale.api();
    let (status, _) = http(
        "POST",
        &format!("{api}/api/v1/policies/secrets/pause"),
        Some(&secret),
        None,
    );
    assert!(
        (200..300).contains(&status),
        "the API token was not accepted: {status}"
    );
    let (status, _) = http(
        "POST",
        &format!("{api}/api/v1/policies/secrets/resume"),
        Some("not-the-token-at-all"),
        None,
    );
    assert_eq!(status, 401, "a wrong token must be refused");
    let ack = serde_json::json!({"labels": {"alertname": "SecretTest"}, "duration": "1h"});
    let (status, ack_answer) = http(
        "POST",
        &format!("{api}/api/v1/ack"),
        Some(&secret),
        Some(&ack),
    );
    assert_eq!(status, 502, "Alertmanager hung up: {ack_answer}");
    assert!(
        sent_basic_auth(&alertmanager_requests, "hale-am", &secret),
        "Alertmanager never saw the planted password"
    );
    let (status, link_answer) = http(
        "POST",
        &format!("{api}/api/v1/ack/link"),
        Some(&secret),
        Some(&ack),
    );
    assert_eq!(status, 200, "{link_answer}");
    let link: serde_json::Value = serde_json::from_str(&link_answer).unwrap();
    let planted_key = hale_server::AckConfig {
        alertmanager: String::new(),
        key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
        public_url: String::new(),
        http: hale_core::http_client::ClientCache::new().system(),
    };
    hale_server::open_link(&planted_key, link["url"].as_str().unwrap())
        .expect("the link is signed with the planted ack.key");

    // ... and it is found nowhere.
    assert_clean("POST /api/v1/ack", &ack_answer, &secret);
    assert_clean("POST /api/v1/ack/link", &link_answer, &secret);
    for route in [
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/events?limit=1000",
        "/api/v1/openapi.json",
        "/api/v1/policies",
        "/api/v1/policies/export",
        "/api/v1/policies/secrets",
        "/api/v1/policies/secrets/source",
        "/api/v1/policies/secret-site",
        "/api/v1/policies/secret-site/source",
        "/api/v1/targets",
        "/api/v1/targets/site:shop",
        &format!("/api/v1/targets/{name}"),
    ] {
        let (status, body) = http("GET", &format!("{api}{route}"), None, None);
        assert!(status < 500, "GET {route} answered {status}: {body}");
        assert_clean(&format!("GET {route}"), &body, &secret);
    }
    for notification in &received {
        assert_clean("a notification body", &notification.body, &secret);
    }
    for mail in smtp.mails() {
        assert_clean("an email", &mail, &secret);
    }
    let events = hale_events(&workspace.state(), &[]);
    assert!(
        events.iter().any(|e| e["kind"] == "action_failed"),
        "the failed webhook is in the audit log: {events:#?}"
    );
    assert_clean(
        "hale events",
        &serde_json::to_string(&events).unwrap(),
        &secret,
    );
    let deadline = Instant::now() + WAIT;
    while exports.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no traces arrived at the collector"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = hale.lines();
    assert!(
        logs.iter().any(|l| l["target"] == "hale::audit"),
        "no JSON audit log lines were read"
    );
    assert_clean(
        "stderr (JSON logs)",
        &serde_json::to_string(&logs).unwrap(),
        &secret,
    );
    let exit = hale.stop();
    assert!(exit.success(), "hale exited with {exit}");
    for export in exports.lock().unwrap().iter() {
        assert_clean("the traces", &String::from_utf8_lossy(export), &secret);
    }
}
