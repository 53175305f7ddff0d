//! Notifications end to end: a real container failing under `hale run` yields exactly one
//! "Remediating" and one "Recovered" message at a webhook sink; `hale notify test` checks a
//! sink before an outage, and says it is a test; a remediation's error text cannot ping a
//! Slack channel.

mod common;

use std::time::Duration;

use common::{HEALTH, HEALTHY, TestDocker, Workspace, docker_ok};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// A local webhook sink answering `status`; returns its URL and the JSON bodies it got.
fn sink(runtime: &tokio::runtime::Runtime, status: u16) -> (String, impl Fn() -> Vec<Value>) {
    let (base, received) = common::recorder(runtime, status);
    let bodies = move || {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone())))
            .collect()
    };
    (format!("{base}/hook"), bodies)
}

fn notifier(name: &str, url: &str) -> String {
    format!(
        "---\napiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: {name}}}\nspec:\n  webhook: {{url: \"{url}\"}}\n"
    )
}

#[test]
fn a_failing_container_yields_exactly_one_remediating_and_one_recovered_message() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, received) = sink(&runtime, 200);
    let docker = TestDocker::new("notify");
    let policy = docker.policy(
        "notify",
        "  remediation:\n    steps: [{action: restart, attempts: 3, timeout: 3s}]\n    cooldown: 1s\n  notify:\n  - {notifier: team, on: [Remediating, Recovered]}\n",
    );
    let workspace = Workspace::new(&format!("{policy}{}", notifier("team", &url)));
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, HEALTHY);
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);
    let name = docker.name("web");
    docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    hale.wait_audit("recovered", &name, WAIT);
    // Give a stray message time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    let kinds: Vec<String> = received()
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["Remediating", "Recovered"], "{:?}", received());
    let first = received()[0].clone();
    assert_eq!(first["event"]["target"]["name"], name.as_str());
    assert!(
        first["links"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/api/v1/events?target=")
    );
    assert!(hale.stop().success());
}

#[test]
fn notify_test_reports_delivery_and_failure_without_secrets() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (good, received) = sink(&runtime, 200);
    let (refusing, _) = sink(&runtime, 403);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notifiers.yaml"),
        format!(
            "{}{}",
            notifier("good", &good),
            notifier("refusing", &refusing)
        ),
    )
    .unwrap();
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hale"))
            .args(["notify", "test", name, "--policies"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let delivered = run("good");
    assert!(
        delivered.status.success(),
        "{}",
        String::from_utf8_lossy(&delivered.stderr)
    );
    assert!(String::from_utf8_lossy(&delivered.stdout).contains("delivered to webhook"));
    assert_eq!(received().len(), 1);
    // Whoever reads it in the channel must see a test, not an outage.
    let text = received()[0].to_string();
    assert!(
        text.contains("Test message through notifier good: nothing is wrong")
            && !text.contains("Remediating"),
        "{text}"
    );
    let refused = run("refusing");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("HTTP 403"));
    let unknown = run("nobody");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("notifiers: good, refusing"));
}

#[test]
fn a_remediation_webhooks_error_body_cannot_ping_the_slack_channel() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The webhook hale calls to redeploy answers 500 with text meant for the chat.
    let hostile = "<!channel> @everyone <https://evil.example|click here>";
    let app = axum::Router::new().route(
        "/redeploy",
        axum::routing::post(move || async move {
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, hostile)
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let redeploy = format!("http://{}/redeploy", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (slack, received) = common::recorder(&runtime, 200);
    let slack_url = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(slack_url.path(), format!("{slack}/services/T0/B0/X")).unwrap();

    let docker = TestDocker::new("hostile");
    let policy = docker.policy(
        "hostile",
        &format!(
            "  remediation:\n    steps: [{{action: webhook, webhook: {{url: \"{redeploy}\"}}, attempts: 1, timeout: 2s}}]\n  notify:\n  - {{notifier: chat, on: [Failed]}}\n---\napiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: chat}}\nspec:\n  slack: {{webhookUrl: {{fromFile: {}}}}}\n",
            slack_url.path().display()
        ),
    );
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&[], &[]);
    docker.run("web", HEALTH, HEALTHY);
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", WAIT);
    let name = docker.name("web");
    docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    let failed = hale.wait_audit("action_failed", &name, WAIT);
    assert!(
        failed["result"]
            .as_str()
            .unwrap_or_default()
            .contains("<!channel>")
            || failed["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("<!channel>"),
        "the audit keeps what the webhook said, as it said it: {failed}"
    );
    let deadline = std::time::Instant::now() + WAIT;
    let body = loop {
        if let Some(message) = received.lock().unwrap().first() {
            break message.body.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no Slack message");
        std::thread::sleep(Duration::from_millis(50));
    };
    let slack: Value = serde_json::from_str(&body).unwrap();
    let block = slack["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        !body.contains("<!channel>") && !body.contains("<https://evil"),
        "Slack would ping the channel or show a disguised link: {body}"
    );
    assert!(
        block.contains("&lt;!channel&gt; @everyone &lt;https://evil.example|click here&gt;"),
        "the webhook's words are shown as they were: {block}"
    );
    assert!(hale.stop().success());
}
