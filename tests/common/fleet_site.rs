//! The failing site of the fleet tests and benchmark: a URL that answers 503, healed
//! through the fake Coolify, where each node sends a token of its own so the fake's
//! request log says which node restarted it and when.

#![allow(dead_code)] // each test binary uses its own part of it

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use hale_fakes::{APP_UUID, FakeCoolify};

/// A site on `address` (`127.0.0.1`, or the host end of a namespace's veth so a node
/// inside reaches it too) that answers every request 503; returns its URL and how many
/// requests it has had.
pub fn failing_site(runtime: &tokio::runtime::Runtime, address: &str) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }
    });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(format!("{address}:0")))
        .unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// The Coolify token of node `name` (give it to the node as `COOLIFY_TOKEN`).
pub fn token_of(name: &str) -> String {
    format!("1|token-of-node-{name}")
}

/// The POST /restart requests the fake received: (node, when, on the test's clock).
pub fn restarts(coolify: &FakeCoolify) -> Vec<(String, Instant)> {
    coolify
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/restart"))
        .map(|r| {
            let auth = r.authorization.unwrap_or_default();
            (auth.rsplit('-').next().unwrap_or_default().to_owned(), r.at)
        })
        .collect()
}

/// The policy `shop`: the site at `site`, probed every 500 ms, restarted through the
/// fake Coolify at `coolify_url` at every failure (every 500 ms), never quarantined.
pub fn site_policy(site: &str, coolify_url: &str) -> String {
    format!(
        r"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: shop}}
spec:
  sites:
  - name: shop
    url: {site}
    coolify:
      applicationUuid: {APP_UUID}
      url: {coolify_url}
      token: {{fromEnv: COOLIFY_TOKEN}}
  probes:
  - name: http
    siteRef: shop
    httpGet: {{}}
    period: 500ms
    timeout: 400ms
    failureThreshold: 1
  remediation:
    steps:
    - {{action: coolifyRestart, attempts: 100000, timeout: 500ms}}
    cooldown: 500ms
    backoff: {{initial: 500ms, max: 500ms}}
    quarantine: {{after: 100000, within: 1h}}
"
    )
}
