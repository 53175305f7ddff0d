//! Sites: HTTP targets that are not local containers, judged by the classic rule (2xx/3xx
//! healthy, 4xx degraded, 5xx failing) and healed through a fake Coolify that follows the
//! v4 API. The "site" is a busybox httpd whose CGI script answers 200, 404 or 503 on
//! demand, published on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{TestDocker, Workspace, docker_ok};
use hale_fakes::{APP_UUID, FakeCoolify, GOOD_TOKEN};

const WAIT: Duration = Duration::from_secs(30);

/// httpd on port 8080 whose `/cgi-bin/health` answers 503 while /tmp/broken exists, 404
/// while /tmp/gone exists, and 200 otherwise.
const SITE: &str = r#"mkdir -p /www/cgi-bin
cat > /www/cgi-bin/health <<'CGI'
#!/bin/sh
if [ -f /tmp/broken ]; then printf "HTTP/1.0 503 Service Unavailable\r\n\r\ndown\n"; exit 0; fi
if [ -f /tmp/gone ]; then printf "HTTP/1.0 404 Not Found\r\n\r\ngone\n"; exit 0; fi
printf "Content-Type: text/plain\r\n\r\nok\n"
CGI
chmod +x /www/cgi-bin/health
exec httpd -f -p 8080 -h /www"#;

#[test]
fn a_site_is_degraded_on_4xx_and_healed_through_coolify_restart_then_redeploy_on_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let coolify = runtime.block_on(FakeCoolify::start());
    let docker = TestDocker::new("site");
    docker.run(
        "shop",
        &["--init", "-p", "127.0.0.1::8080"],
        &["sh", "-c", SITE],
    );
    let container = docker.name("shop");
    let port = docker.field(
        "shop",
        r#"{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}"#,
    );
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), GOOD_TOKEN).unwrap();
    let policy = format!(
        r"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: shop-site}}
spec:
  sites:
  - name: shop
    url: http://127.0.0.1:{port}/cgi-bin/health
    coolify:
      applicationUuid: {APP_UUID}
      url: {url}
      token: {{fromFile: {token}}}
  probes:
  - name: http
    siteRef: shop
    httpGet: {{}}
    period: 1s
    timeout: 900ms
    failureThreshold: 2
  remediation:
    steps:
    - {{action: coolifyRestart, attempts: 1, timeout: 3s}}
    - {{action: coolifyRedeploy, attempts: 1, timeout: 3s}}
    cooldown: 1s
    backoff: {{initial: 1s, max: 1s}}
",
        url = coolify.url(),
        token = token.path().display(),
    );
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&[], &[]);
    let site = "site:shop";

    // 200 for a while: nothing recorded.
    std::thread::sleep(Duration::from_secs(3));
    assert!(hale.audit("failing", site).is_empty() && hale.audit("degraded", site).is_empty());

    // 404: degraded, recorded once, and not acted on.
    docker_ok(&["exec", &container, "touch", "/tmp/gone"]);
    let degraded = hale.wait_audit("degraded", site, WAIT);
    assert!(
        degraded["reason"].as_str().unwrap().contains("HTTP 404"),
        "{degraded}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hale.audit("degraded", site).len(), 1);
    assert!(
        hale.audit("failing", site).is_empty(),
        "4xx is not a failure"
    );
    assert!(coolify.deployments().is_empty());
    // What `hale get targets` shows is what the audit says: degraded, with what was seen.
    let (code, table, stderr) = hale.cli(&["get", "targets", "-o", "wide"]);
    assert_eq!(code, 0, "{stderr}");
    let row = table
        .lines()
        .find(|l| l.contains(site))
        .unwrap_or_else(|| panic!("no row for {site}:\n{table}"));
    assert!(
        row.contains("degraded") && row.contains("HTTP 404"),
        "a site answering 404 must show as degraded, with the status seen:\n{table}"
    );

    // 503: failing, so Coolify restarts the application.
    docker_ok(&["exec", &container, "touch", "/tmp/broken"]);
    let failing = hale.wait_audit("failing", site, WAIT);
    assert!(
        failing["reason"].as_str().unwrap().contains("HTTP 503"),
        "{failing}"
    );
    let restarted = hale.wait_audit("action_succeeded", site, WAIT);
    assert_eq!(restarted["action"], "coolifyRestart");
    assert!(coolify.deployments()[0].restart_only);

    // Still failing after the step's wait: hale escalates to a redeploy, but the restart
    // it queued has not run yet, so it waits instead of piling on (and the skip costs no
    // attempt).
    hale.wait_audit("escalated", site, WAIT);
    let skipped = hale.wait_for("a skipped coolifyRedeploy", WAIT, |l| {
        l["kind"] == "skipped" && l["container"] == site && l["action"] == "coolifyRedeploy"
    });
    assert!(
        skipped["reason"].as_str().unwrap().contains("is queued"),
        "{skipped}"
    );
    assert_eq!(coolify.deployments().len(), 1);

    // Coolify finishes the restart, the site still fails: now the redeploy is queued.
    coolify.finish_deployments();
    let redeployed = hale.wait_for("a coolifyRedeploy", WAIT, |l| {
        l["kind"] == "action_succeeded"
            && l["container"] == site
            && l["action"] == "coolifyRedeploy"
    });
    assert!(
        redeployed["reason"]
            .as_str()
            .unwrap()
            .contains("deployment queued"),
        "{redeployed}"
    );
    let deployments = coolify.deployments();
    assert_eq!(
        deployments
            .iter()
            .map(|d| d.restart_only)
            .collect::<Vec<_>>(),
        [true, false],
        "{deployments:?}"
    );
    assert!(
        coolify
            .requests()
            .iter()
            .filter(|r| r.path != format!("/api/v1/deployments/applications/{APP_UUID}"))
            .all(|r| r.method == "POST"),
        "actions always POST"
    );

    // The new deployment fixed it.
    docker_ok(&["exec", &container, "rm", "/tmp/broken", "/tmp/gone"]);
    hale.wait_audit("recovered", site, WAIT);
    assert!(hale.stop().success());
}
