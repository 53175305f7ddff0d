//! `hale import alert-actions` end to end: a table of alertname → docker command becomes
//! policies that `hale validate --strict` accepts, and `hale run` on them restarts the
//! containers a command named when an Alertmanager webhook reports its alert firing, with
//! no label naming a container, and leaves every other container alone.

mod common;

use std::time::Duration;

use common::{TestDocker, Workspace, docker_ok, hale_ok, http, token_file};
use serde_json::{Value, json};

/// What a user waits for hale's reaction to a webhook and Docker's restart.
const WAIT: Duration = Duration::from_secs(30);

/// Alertmanager's webhook body (payload version 4) for one alert named `alertname`,
/// labelled as a latency or availability alert is: with no container label.
fn webhook(alertname: &str, firing: bool) -> Value {
    let status = if firing { "firing" } else { "resolved" };
    let labels = json!({"alertname": alertname, "severity": "warning"});
    json!({
        "receiver": "hale",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {"summary": format!("{alertname} {status}")},
            "startsAt": "2026-11-22T08:18:43Z",
            "endsAt": if firing { "0001-01-01T00:00:00Z" } else { "2026-11-22T08:28:43Z" },
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": format!("fp-{alertname}"),
        }],
        "groupLabels": {"alertname": alertname},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"),
        "truncatedAlerts": 0,
    })
}

fn started_at(id: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", id])
}

#[test]
fn an_imported_table_validates_and_restarts_what_each_alert_named_and_nothing_else() {
    let docker = TestDocker::new("alertimport");
    let ws = Workspace::new("");
    std::fs::remove_file(ws.policies().join("test.yaml")).unwrap();
    // A Compose project of this test's own, set by the labels Compose itself sets.
    let project = format!("hale-{}", docker.id);
    let project_label = format!("com.docker.compose.project={project}");
    let sleep = ["sleep", "1000000"];
    let web = docker.run("web", &["--init"], &sleep);
    let worker = docker.run(
        "worker",
        &[
            "--init",
            "--label",
            &project_label,
            "--label",
            "com.docker.compose.service=worker",
        ],
        &sleep,
    );
    let other = docker.run("other", &["--init"], &sleep);
    let (web_name, worker_name) = (docker.name("web"), docker.name("worker"));

    let table = ws.root().join("alert-actions.yaml");
    std::fs::write(
        &table,
        format!(
            "HaleTestLatency: docker restart -t 2 {web_name}\n\
HaleTestShopDown: {{command: \"docker compose -p {project} restart worker\", cooldownSec: 5}}\n\
HaleTestDiskFull: /usr/local/bin/cleanup.sh\n"
        ),
    )
    .unwrap();
    let policies = ws.policies();
    hale_ok([
        "import".as_ref(),
        "alert-actions".as_ref(),
        table.as_os_str(),
        "--out".as_ref(),
        policies.as_os_str(),
    ]);
    let written = std::fs::read_to_string(policies.join("alert-actions.yaml")).unwrap();
    assert!(
        written.contains("#   HaleTestDiskFull -> not imported:"),
        "{written}"
    );
    hale_ok([
        "validate".as_ref(),
        "--strict".as_ref(),
        policies.as_os_str(),
    ]);

    let dir = tempfile::tempdir().unwrap();
    let (token, token_path) = token_file(dir.path());
    let hale = ws.start(&["--api-token-file", token_path.to_str().unwrap()], &[]);
    let api = hale.api();
    let post = |body: &Value| {
        let (status, answer) = http(
            "POST",
            &format!("{api}/api/v1/alertmanager"),
            Some(&token),
            Some(body),
        );
        assert_eq!(status, 200, "hale refused the webhook: {answer}");
    };
    let (web_started, worker_started, other_started) =
        (started_at(&web), started_at(&worker), started_at(&other));

    // The latency alert names no container: the one its command named is restarted.
    post(&webhook("HaleTestLatency", true));
    let action = hale.wait_audit("action_started", &web_name, WAIT);
    assert_eq!(action["action"], "restart");
    assert!(
        action["reason"]
            .as_str()
            .unwrap()
            .contains("HaleTestLatency"),
        "{action}"
    );
    hale.wait_audit("action_succeeded", &web_name, WAIT);
    assert_ne!(
        started_at(&web),
        web_started,
        "the named container restarted"
    );
    assert_eq!(
        started_at(&worker),
        worker_started,
        "another alert's container"
    );
    assert_eq!(
        started_at(&other),
        other_started,
        "a container no entry named"
    );

    // Resolved: hale sees it healthy again.
    post(&webhook("HaleTestLatency", false));
    hale.wait_audit("recovered", &web_name, WAIT);

    // The Compose entry's alert restarts its service's container, found by Compose's labels.
    post(&webhook("HaleTestShopDown", true));
    hale.wait_audit("action_succeeded", &worker_name, WAIT);
    assert_ne!(started_at(&worker), worker_started, "the service restarted");
    assert_eq!(
        started_at(&other),
        other_started,
        "a container no entry named"
    );
    assert!(
        hale.audit("action_started", &docker.name("other"))
            .is_empty(),
        "nothing was done to the unrelated container"
    );
    assert_eq!(
        hale.audit("action_started", &web_name).len(),
        1,
        "one alert, one restart"
    );
    assert!(hale.stop().success());
}
