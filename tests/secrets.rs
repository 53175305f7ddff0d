//! A planted secret goes nowhere: one recognisable value is the API token, the path of a
//! webhook action's `urlFrom` (a webhook answering 500, so errors carry its URL), the path
//! of a notifier's `urlFrom` and one of its header secrets, a Coolify token (the fake), and
//! the query string of a site's URL. hale fails and acts on all of them; then stderr (JSON
//! logs), the audit log (`hale events`), `/metrics`, every API read route, the traces at a
//! real OTLP collector (`rotel`) and the notification bodies are searched for it, and it is
//! found nowhere, while the services prove it was used.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::otlp::{gunzip, start_rotel};
use common::{HEALTH, NEVER_HEALTHY, TestDocker, Workspace, free_port, hale_events, http};
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

    let docker = TestDocker::new("secrets");
    let closed = free_port();
    let container_policy = docker.policy(
        "secrets",
        &format!(
            "  remediation:\n    steps: [{{action: webhook, attempts: 1, timeout: 2s, webhook: {{urlFrom: {{fromFile: {hook_file}}}, retries: 1}}}}]\n    cooldown: 1s\n  notify:\n  - {{notifier: team, on: [Remediating, Failed, Quarantined]}}\n"
        ),
    );
    let site_policy = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: secret-site}}\nspec:\n  sites:\n  - name: shop\n    url: \"http://127.0.0.1:{closed}/health?token={secret}\"\n    coolify: {{applicationUuid: {APP_UUID}, url: \"{}\", token: {{fromFile: {coolify_file}}}}}\n  probes:\n  - {{name: http, siteRef: shop, httpGet: {{}}, period: 1s, timeout: 900ms, failureThreshold: 2}}\n  remediation:\n    steps: [{{action: coolifyRestart, attempts: 1, timeout: 3s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 1s}}\n  notify:\n  - {{notifier: team, on: [Remediating, Failed]}}\n",
        coolify.url()
    );
    let notifier = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook:\n    urlFrom: {{fromFile: {notify_file}}}\n    headers: [{{name: X-Token, valueFrom: {{fromFile: {header_file}}}}}]\n"
    );
    let policy = format!("{container_policy}---\n{site_policy}---\n{notifier}");
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(
        &["--api-token-file", &token_file],
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

    // The secret was used, everywhere it was planted.
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

    // ... and it is found nowhere.
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
