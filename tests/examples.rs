//! The examples in `examples/` run as written. (`tests/cli.rs` validates every one of
//! them; here `examples/web-app.yaml` heals a storefront container end to end.)

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{TestDocker, Workspace};

/// Long enough for a 1 s health check to fail, a restart and a health check to pass again.
const WAIT: Duration = Duration::from_secs(30);

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_web_app_example_restarts_an_unhealthy_storefront_and_tells_slack_it_recovered() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (slack, received) = common::recorder(&runtime, 200);
    let docker = TestDocker::new("example-web-app");
    // The example as written: its selector, probes, ladder and Slack notifier.
    let workspace = Workspace::new(&example("web-app.yaml"));
    let hale = workspace.start(
        &[],
        &[("SLACK_WEBHOOK_URL", &format!("{slack}/services/T0/B0/x"))],
    );
    docker.run(
        "storefront",
        &[
            "--init",
            "--label",
            "app=shop-web",
            "--label",
            "env=prod",
            "--health-cmd",
            "test -f /tmp/healthy",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &[
            "sh",
            "-c",
            "mkdir -p /www && echo ok > /www/healthz && touch /tmp/healthy && exec httpd -f -p 8080 -h /www",
        ],
    );
    let name = docker.name("storefront");
    docker.wait_field(
        "storefront",
        "{{.State.Health.Status}}",
        "healthy",
        Duration::from_secs(20),
    );
    let started = docker.field("storefront", "{{.State.StartedAt}}");
    common::docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);

    let action = hale.wait_audit("action_started", &name, WAIT);
    assert_eq!(action["action"], "restart");
    hale.wait_audit("recovered", &name, WAIT);
    assert_ne!(docker.field("storefront", "{{.State.StartedAt}}"), started);

    // The policy routes Recovered (not the routine restart itself) to the team's Slack.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let bodies: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect();
        if bodies.iter().any(|body| body.contains("Recovered")) {
            assert!(
                bodies.iter().all(|body| !body.contains("Remediating")),
                "the example does not route Remediating: {bodies:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Slack never heard of the recovery: {bodies:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(hale.stop().success());
}
