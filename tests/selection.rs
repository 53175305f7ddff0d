//! Selection beyond labels, against the real daemon: container names (globs) with an
//! exclude list, a Compose project and service, and `all: true` (in dry-run: it selects
//! every container on this daemon, and a test must not touch what is not its own).

mod common;

use std::time::{Duration, Instant};

use common::{HEALTH, HEALTHY, TestDocker, Workspace, http};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn policies(docker: &TestDocker, project: &str) -> String {
    let prefix = docker.name("");
    format!(
        r#"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: by-name}}
spec:
  selector:
    names: ["{prefix}web-*"]
    exclude: {{names: ["*-skip"]}}
---
apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: by-compose}}
spec:
  selector:
    compose: {{project: {project}, service: api}}
---
apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: everything}}
spec:
  mode: DryRun
  selector:
    all: true
    exclude: {{names: ["*-skip"]}}
  remediation:
    maxUnhealthy: 100%
"#
    )
}

/// (policy, target) → selectedBy, from the API.
fn selected(api: &str) -> Vec<(String, String, String)> {
    let (_, body) = http("GET", &format!("{api}/api/v1/targets"), None, None);
    let list: Value = serde_json::from_str(&body).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["policy"].as_str().unwrap_or_default().to_owned(),
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["selectedBy"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn names_compose_and_all_select_real_containers_and_exclude_keeps_one_out() {
    let docker = TestDocker::new("select");
    let project = format!("proj{}", docker.id.replace('-', ""));
    let ws = Workspace::new(&policies(&docker, &project));
    let hale = ws.start(&[], &[]);
    let api = hale.api();
    docker.run("web-1", HEALTH, HEALTHY);
    docker.run("web-skip", HEALTH, HEALTHY);
    let compose_project = format!("com.docker.compose.project={project}");
    let mut args = vec![
        "--label",
        compose_project.as_str(),
        "--label",
        "com.docker.compose.service=api",
    ];
    args.extend_from_slice(HEALTH);
    docker.run("api", &args, HEALTHY);
    for suffix in ["web-1", "web-skip", "api"] {
        docker.wait_field(suffix, "{{.State.Health.Status}}", "healthy", WAIT);
    }
    let (web, skip, api_name) = (
        docker.name("web-1"),
        docker.name("web-skip"),
        docker.name("api"),
    );
    let prefix = docker.name("");
    let deadline = Instant::now() + WAIT;
    let expected = [
        (
            "by-name".to_owned(),
            web.clone(),
            format!("name {prefix}web-*"),
        ),
        (
            "by-compose".to_owned(),
            api_name.clone(),
            format!("compose {project}/api"),
        ),
        ("everything".to_owned(), web.clone(), "all".to_owned()),
        ("everything".to_owned(), api_name.clone(), "all".to_owned()),
    ];
    loop {
        let now = selected(&api);
        if expected.iter().all(|e| now.contains(e)) {
            assert!(
                !now.iter().any(|(_, name, _)| *name == skip),
                "an excluded container was selected: {now:?}"
            );
            assert!(
                !now.iter()
                    .any(|(p, name, _)| p == "by-name" && *name == api_name),
                "{now:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "selection not as expected: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, wide, _) = hale.cli(&["get", "targets", "-o", "wide"]);
    assert_eq!(code, 0);
    assert!(
        wide.contains("SELECTED BY") && wide.contains(&format!("compose {project}/api")),
        "{wide}"
    );

    // The name- and compose-selected containers are healed for real; `all` only records.
    for (suffix, name) in [("web-1", &web), ("api", &api_name)] {
        let before = docker.field(suffix, "{{.State.StartedAt}}");
        common::docker_ok(&["exec", name, "rm", "/tmp/healthy"]);
        let deadline = Instant::now() + WAIT;
        while docker.field(suffix, "{{.State.StartedAt}}") == before {
            assert!(Instant::now() < deadline, "{name} was not restarted");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    hale.wait_audit("dry_run", &web, WAIT);
    let before = docker.field("web-skip", "{{.State.StartedAt}}");
    common::docker_ok(&["exec", &skip, "rm", "/tmp/healthy"]);
    docker.wait_field("web-skip", "{{.State.Health.Status}}", "unhealthy", WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        docker.field("web-skip", "{{.State.StartedAt}}"),
        before,
        "an excluded container was restarted"
    );
    hale.stop();
}
