//! The dashboard of a fleet node in a real browser (Debian's chromium through
//! chromium-driver): a failing site whose lease another node holds is explained as on
//! standby, not as a remediation this node is about to run. (The fleet targets view is in
//! `dashboard.rs`.)

mod browser;
mod common;

use std::time::{Duration, Instant};

use browser::Browser;
use common::fleet_site::site_policy;
use common::redis_server::RedisServer;
use common::{Hale, Workspace, free_port, http};
use hale_fakes::FakeCoolify;

/// How long a test waits for what a person would see within a poll or two.
const SEE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_nodes_target_page_says_another_node_heals_the_site() {
    let redis = RedisServer::start();
    let coolify = FakeCoolify::start().await;
    // Nothing listens there: the site fails, so the holder keeps remediating it.
    let site = format!("http://127.0.0.1:{}/health", free_port());
    let workspace = Workspace::new(&site_policy(&site, coolify.url()));
    let url = redis.url();
    let node = |name: &str, listen: &str| {
        Hale::start(
            &workspace.policies(),
            &workspace.root().join(format!("state-{name}")),
            &["--fleet", &url, "--node", name, "--listen", listen],
            &[("COOLIFY_TOKEN", "1|t")],
        )
    };
    let a = node("a", "127.0.0.1:0");
    let a_api = a.api();
    // a holds the lease before b starts, so b is the standby.
    let deadline = Instant::now() + SEE;
    loop {
        let (code, body) = http(
            "GET",
            &format!("{a_api}/api/v1/targets/site:shop"),
            None,
            None,
        );
        if code == 200 && body.contains("\"state\"") && !body.contains("\"standby\"") {
            break;
        }
        assert!(Instant::now() < deadline, "a never held the lease: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let port = free_port();
    let b = node("b", &format!("127.0.0.1:{port}"));
    b.api();

    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("http://127.0.0.1:{port}/ui/#/targets/site:shop"))
        .await;
    let decision = browser
        .wait_js(
            "the decision of the standby's target page",
            SEE,
            "const d = document.querySelector('p.decision[data-decision=\"shop\"]'); return d && d.textContent.includes('Fleet standby') ? d.textContent : false",
        )
        .await;
    let decision = decision.as_str().unwrap_or_default();
    assert!(
        decision.contains("another node holds this target's lease")
            && decision.contains("node b does not hold the lease of shop/site:shop")
            && !decision.contains("coolifyRestart 1 of"),
        "the standby explains who heals the site, not an action of its own: {decision}"
    );
    browser.screenshot("target-fleet-standby").await;
    browser.close().await;
    assert!(a.stop().success());
    assert!(b.stop().success());
}
