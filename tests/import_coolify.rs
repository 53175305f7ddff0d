//! `hale import coolify-autoheal` end to end: AutoHEAL's config is read from a real
//! `redis-server` (with a password, as AutoHEAL's was), each site's URL from the fake
//! Coolify's `fqdn` (or `--site`), and the file it writes passes `hale validate --strict`.
//! Then `hale run` on a copy of it, with shorter timings, heals a site that answers 500
//! through Coolify as AutoHEAL did (restart, then redeploy, then hands off), and leaves a
//! site that answers 404 alone (degraded).

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::redis_server::{PASSWORD, RedisServer};
use common::{Workspace, hale_ok};
use hale_fakes::{APP_UUID, FakeCoolify, GOOD_TOKEN};

/// Generous bounds for what takes a second or two; never a measured time.
const WAIT: Duration = Duration::from_secs(30);

/// The second site, whose URL the import is given with `--site` (Coolify knows no such
/// application, so a lookup of it would fail the import).
const OTHER_UUID: &str = "m0c8sgkw4o8g4c0skowkgwo0";

/// Runs `hale import coolify-autoheal ARGS` with `env` added.
fn import(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hale"));
    command
        .args(["import", "coolify-autoheal"])
        .args(args)
        .env_remove("COOLIFY_API_URL")
        .env_remove("COOLIFY_API_TOKEN");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// A site on loopback: `/broken` answers 500, `/gone` 404 (to GET and HEAD alike).
fn site(runtime: &tokio::runtime::Runtime) -> String {
    use axum::http::StatusCode;
    let app = axum::Router::new()
        .route(
            "/broken",
            axum::routing::get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        )
        .route(
            "/gone",
            axum::routing::get(|| async { (StatusCode::NOT_FOUND, "gone") }),
        );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// `text` with `from` replaced by `to`, which must occur `times` times.
fn replaced(text: &str, from: &str, to: &str, times: usize) -> String {
    assert_eq!(text.matches(from).count(), times, "{from:?} in:\n{text}");
    text.replace(from, to)
}

#[test]
fn autoheals_config_in_redis_imports_validates_and_heals_through_coolify() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let coolify = runtime.block_on(FakeCoolify::start());
    let site_url = site(&runtime);
    // Coolify's domain of the application is the failing site; a Coolify domain may carry
    // a path.
    coolify.set_fqdn(APP_UUID, Some(&format!("{site_url}/broken")));
    let ws = Workspace::new("");
    std::fs::remove_file(ws.policies().join("test.yaml")).unwrap();
    let redis = RedisServer::start();

    let config = format!(
        r#"{{"enabled": true, "failureThreshold": 2, "failureWindowSec": 120, "skipWhenDeploying": true,
 "cooldownSec": 600, "redeployDelaySec": 90, "redeployAfterRestart": true,
 "enabledSites": ["{APP_UUID}", "{OTHER_UUID}"], "updatedAt": "2026-10-01T12:00:00Z"}}"#
    );
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("SET")
        .arg("infra:autoheal:config")
        .arg(&config)
        .query::<()>(&mut connection)
        .unwrap();
    redis::cmd("HSET")
        .arg("infra:autoheal:counters")
        .arg(APP_UUID)
        .arg(1)
        .query::<()>(&mut connection)
        .unwrap();

    let api_url = format!("{}/api/v1", coolify.url());
    let env = [
        ("COOLIFY_API_URL", api_url.as_str()),
        ("COOLIFY_API_TOKEN", GOOD_TOKEN),
    ];
    let url = redis.url();
    let other = format!("{OTHER_UUID}={site_url}/gone");
    let out = ws.policies();
    let out_arg = out.to_str().unwrap();
    let imported = import(&["--redis", &url, "--site", &other, "--out", out_arg], &env);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let written = std::fs::read_to_string(out.join("coolify-autoheal.yaml")).unwrap();
    assert!(
        written.contains(&format!("url: \"{site_url}/broken\"")),
        "the site's URL is the application's fqdn:\n{written}"
    );
    assert!(
        written.contains(&format!("url: \"{}\"", coolify.url())),
        "{written}"
    );
    assert!(written.contains("fromEnv: COOLIFY_API_TOKEN"), "{written}");
    assert!(written.contains("method: HEAD"), "{written}");
    assert!(
        written.contains(&format!(
            "from infra:autoheal:config in Redis at redis://127.0.0.1:{}/0",
            redis.port
        )),
        "{written}"
    );
    assert!(!written.contains(PASSWORD), "the password is not written");
    assert!(!written.contains(GOOD_TOKEN), "the token is not written");
    let lookups: Vec<_> = coolify.requests();
    assert_eq!(
        lookups
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect::<Vec<_>>(),
        [("GET", format!("/api/v1/applications/{APP_UUID}").as_str())],
        "one read of the application without --site, and nothing else"
    );
    assert_eq!(
        lookups[0].authorization.as_deref(),
        Some(format!("Bearer {GOOD_TOKEN}").as_str())
    );
    hale_ok(["validate", "--strict", out_arg]);

    // Again into the same directory: refused without --force, as willfarrell's import.
    let again = import(&["--redis", &url, "--site", &other, "--out", out_arg], &env);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    // What is wrong in Redis is said, with what to do.
    let missing = import(&["--redis", &url, "--key", "nope", "--site", &other], &env);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("has no key nope") && stderr.contains("--key"),
        "{stderr}"
    );
    let hash = import(&["--redis", &url, "--key", "infra:autoheal:counters"], &env);
    let stderr = String::from_utf8_lossy(&hash.stderr);
    assert!(stderr.contains("is a hash, not a string"), "{stderr}");
    let wrong = format!("redis://:wrong@127.0.0.1:{}/0", redis.port);
    let refused = import(&["--redis", &wrong], &env);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("cannot read infra:autoheal:config from Redis"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(":wrong@"),
        "the password is not printed: {stderr}"
    );

    // hale run on a copy with the timings shortened (a 1m period would make this test take
    // minutes): what is under test is the mapping, and the file above is the one imported.
    let mut fast = replaced(&written, "\n      period: 1m\n", "\n      period: 1s\n", 2);
    fast = replaced(
        &fast,
        "\n      timeout: 10s\n",
        "\n      timeout: 900ms\n",
        2,
    );
    fast = replaced(
        &fast,
        "\n      failureWindow: 2m\n",
        "\n      failureWindow: 3s\n",
        2,
    );
    fast = replaced(
        &fast,
        "\n        timeout: 2m\n",
        "\n        timeout: 3s\n",
        2,
    );
    fast = replaced(&fast, "\n    cooldown: 1m\n", "\n    cooldown: 1s\n", 1);
    fast = replaced(
        &fast,
        "\n      initial: 1m\n      max: 1m\n",
        "\n      initial: 1s\n      max: 1s\n",
        1,
    );
    let run_ws = Workspace::new(&fast);
    hale_ok(["validate", "--strict", run_ws.policies().to_str().unwrap()]);
    let hale = run_ws.start(&[], &[("COOLIFY_API_TOKEN", GOOD_TOKEN)]);
    let broken = format!("site:{APP_UUID}");
    let gone = format!("site:{OTHER_UUID}");

    let failing = hale.wait_audit("failing", &broken, WAIT);
    assert!(
        failing["reason"].as_str().unwrap().contains("HTTP 500"),
        "{failing}"
    );
    let restarted = hale.wait_audit("action_succeeded", &broken, WAIT);
    assert_eq!(restarted["action"], "coolifyRestart");
    // The restart is still queued in Coolify: the redeploy waits for it (skipWhenDeploying).
    hale.wait_for("a skipped coolifyRedeploy", WAIT, |l| {
        l["kind"] == "skipped" && l["container"] == broken && l["action"] == "coolifyRedeploy"
    });
    coolify.finish_deployments();
    hale.wait_for("a coolifyRedeploy", WAIT, |l| {
        l["kind"] == "action_succeeded"
            && l["container"] == broken
            && l["action"] == "coolifyRedeploy"
    });
    // Still failing after the redeploy's time: AutoHEAL's cooldown, as a quarantine that
    // ends by itself (releaseAfter).
    let quarantined = hale.wait_audit("quarantined", &broken, WAIT);
    assert!(
        quarantined["reason"]
            .as_str()
            .unwrap()
            .contains("released automatically"),
        "{quarantined}"
    );
    let deployments = coolify.deployments();
    assert_eq!(
        deployments
            .iter()
            .map(|d| d.restart_only)
            .collect::<Vec<_>>(),
        [true, false],
        "one restart, then one redeploy: {deployments:?}"
    );

    // The 404 site is degraded, never acted on.
    let degraded = hale.wait_audit("degraded", &gone, WAIT);
    assert!(
        degraded["reason"].as_str().unwrap().contains("HTTP 404"),
        "{degraded}"
    );
    assert!(
        hale.audit("failing", &gone).is_empty(),
        "4xx is not a failure"
    );
    assert!(hale.audit("action_started", &gone).is_empty());
    assert!(hale.stop().success());
}
