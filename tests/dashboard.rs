//! The dashboard in a real browser (Debian's chromium through chromium-driver) against a
//! real `hale run` and real containers: a target failing and then recovered without a page
//! reload, the controls (heal restarts a real container; healing disabled stays disabled
//! across a restart of hale; no control without the token), the banner while hale is
//! unreachable, the live console (resuming without gaps or duplicates, filters as a URL),
//! policy import with an error at its position and nothing written, the API reference, and
//! a hale with a read token (the page asks for it, then reads and streams with it).
//!
//! The policy is the shipped `policies/autoheal.yaml` as written, with only its selector
//! pointed at this test's own label so parallel tests do not see each other's containers.
//! Screenshots of each page land in `target/dashboard-screenshots/` (docs/dashboard.md).

mod browser;
mod common;

use std::time::{Duration, Instant};

use browser::Browser;
use common::{HEALTH, HEALTHY, Hale, TestDocker, Workspace, free_port, http, token_file};
use serde_json::{Value, json};

/// How long a test waits for what a person would see within a poll or two.
const SEE: Duration = Duration::from_secs(20);

/// The shipped default policy, selecting this test's containers.
fn shipped_policy(docker: &TestDocker) -> String {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/autoheal.yaml"),
    )
    .unwrap();
    assert!(
        shipped.contains("autoheal: \"true\""),
        "the shipped selector changed"
    );
    shipped.replace(
        "autoheal: \"true\"",
        &format!("hale.test: \"{}\"", docker.id),
    )
}

/// When Docker last started the container.
fn started_at(docker: &TestDocker, suffix: &str) -> String {
    docker.field(suffix, "{{.State.StartedAt}}")
}

/// Waits until Docker reports a start other than `before`.
fn wait_restarted(docker: &TestDocker, suffix: &str, before: &str) -> String {
    let deadline = Instant::now() + SEE;
    loop {
        let now = started_at(docker, suffix);
        if now != before {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{suffix} was not restarted within {SEE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_hale(ws: &Workspace, port: u16, extra: &[&str]) -> Hale {
    let listen = format!("127.0.0.1:{port}");
    let token = ws.root().join("token");
    let mut args = vec![
        "--api-token-file",
        token.to_str().unwrap(),
        "--listen",
        &listen,
    ];
    args.extend_from_slice(extra);
    let hale = ws.start(&args, &[]);
    hale.api();
    hale
}

/// The state badge of `name` on its target page, once it shows `state`.
async fn wait_target_state(browser: &Browser, state: &str) {
    browser
        .wait_js(
            &format!("the target page to show {state}"),
            SEE,
            &format!("return [...document.querySelectorAll('#target-policies .badge')].some(b => b.textContent === '{state}')"),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_container_fails_recovers_and_is_controlled_from_the_page() {
    let docker = TestDocker::new("ui-controls");
    let ws = Workspace::new(&shipped_policy(&docker));
    let (token, token_path) = token_file(ws.root());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (_alertmanager, alertmanager) =
        common::alertmanager(ws.root(), free_port(), &base, &token_path);
    let with_alertmanager = ["--alertmanager-url", alertmanager.as_str()];
    let hale = start_hale(&ws, port, &with_alertmanager);
    docker.run("web", HEALTH, HEALTHY);
    let name = docker.name("web");
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", SEE);

    let browser = Browser::start(1280, 900).await;
    // A browser opening `/` gets the dashboard; the JSON overview stays for JSON clients.
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_js("the overview to count one healthy target", SEE, "return document.querySelector('[data-count=healthy] .card-value')?.textContent === '1'")
        .await;
    browser.screenshot("overview").await;
    let (status, body) = http("GET", &format!("{base}/"), None, None);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["name"],
        "hale"
    );

    browser.goto(&format!("{base}/ui/#/targets/{name}")).await;
    wait_target_state(&browser, "healthy").await;
    let decision = browser.text(".decision").await;
    assert!(
        decision.starts_with("Healthy. If it fails: restart"),
        "{decision}"
    );

    // Disable healing: confirmation, then the token (asked for, never in the URL).
    browser.click("#disable").await;
    browser.confirm().await;
    browser.give_token(&token).await;
    browser
        .wait_js("the audit record of the switch", SEE, "return document.querySelector('#control-result .audit-record')?.innerText.includes('disabled')")
        .await;
    assert!(
        browser
            .text("#control-result")
            .await
            .contains("healing is off")
    );
    let url = browser.client.current_url().await.unwrap();
    assert!(
        !url.as_str().contains(&token),
        "the token must never be in a URL: {url}"
    );

    // Unhealthy while disabled: shown failing, not remediated.
    let before = started_at(&docker, "web");
    common::docker_ok(&["exec", &name, "rm", "/tmp/healthy"]);
    wait_target_state(&browser, "failing").await;
    assert!(
        browser
            .text("#target-policies")
            .await
            .contains("healing off")
    );
    browser.screenshot("target-failing-healing-off").await;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        started_at(&docker, "web"),
        before,
        "a disabled target was remediated"
    );

    // hale goes away: the page says so instead of showing stale data.
    hale.stop();
    browser
        .wait_js("the unreachable banner", SEE, "const b = document.getElementById('banner'); return !b.hidden && b.textContent.includes('unreachable') && document.getElementById('main').classList.contains('stale')")
        .await;
    browser.screenshot("unreachable").await;

    // hale comes back: still disabled (persisted), still not remediated.
    let hale = start_hale(&ws, port, &with_alertmanager);
    browser
        .wait_js(
            "the banner to go",
            SEE,
            "return document.getElementById('banner').hidden",
        )
        .await;
    wait_target_state(&browser, "failing").await;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        started_at(&docker, "web"),
        before,
        "healing came back on after a restart of hale"
    );
    let (_, targets) = http("GET", &format!("{base}/api/v1/targets"), None, None);
    let targets: Value = serde_json::from_str(&targets).unwrap();
    assert_eq!(targets["items"][0]["disabled"], true);

    // Enabled again: the shipped policy restarts it at once, and the page shows it
    // recovered without a reload.
    browser.click("#enable").await;
    browser.confirm().await;
    let restarted = wait_restarted(&docker, "web", &before);
    wait_target_state(&browser, "healthy").await;
    browser
        .wait_js(
            "the recovery in the target's records",
            SEE,
            "return document.getElementById('target-events').innerText.includes('recovered')",
        )
        .await;

    // Heal now restarts the real container, and shows the audit record it produced.
    browser.click("#heal").await;
    browser.confirm().await;
    wait_restarted(&docker, "web", &restarted);
    browser
        .wait_js("the heal's audit record", SEE, "return document.querySelector('#control-result .audit-record')?.innerText.includes('restart')")
        .await;
    browser.screenshot("target-healed").await;

    // Acknowledge for 2 h: a real silence in Alertmanager, exactly on this container.
    browser.click("button.ack[data-duration='2h']").await;
    browser.confirm().await;
    browser
        .wait_js("the silence", SEE, "return document.querySelector('#control-result .result-ok')?.innerText.includes('silenced in Alertmanager')")
        .await;
    let (_, silences) = http(
        "GET",
        &format!("{alertmanager}/api/v2/silences"),
        None,
        None,
    );
    let silences: Vec<Value> = serde_json::from_str(&silences).unwrap();
    let ours = silences
        .iter()
        .find(|s| s["matchers"][0]["value"] == name.as_str())
        .unwrap_or_else(|| panic!("no silence on {name}: {silences:?}"));
    assert_eq!(ours["matchers"][0]["name"], "container");
    assert_eq!(ours["matchers"][0]["isEqual"], true);
    assert_eq!(ours["status"]["state"], "active");

    // Keyboard only: Tab reaches the heal button, Enter asks, Escape cancels.
    browser.tab_to("heal").await;
    // A redraw (the page polls, and redraws what changed) keeps the keyboard's place.
    browser
        .js(
            "document.getElementById('target-policies').dataset.signature = ''; document.dispatchEvent(new CustomEvent('hale-refresh'));",
            vec![],
        )
        .await;
    browser
        .wait_js(
            "a redraw that leaves the focus on the heal button",
            SEE,
            "return document.getElementById('target-policies').dataset.signature !== '' && document.activeElement.id === 'heal'",
        )
        .await;
    browser.press('\u{E007}').await;
    browser
        .wait_js(
            "the confirmation by keyboard",
            SEE,
            "return document.getElementById('confirm').open",
        )
        .await;
    browser.press('\u{E00C}').await;
    browser
        .wait_js(
            "Escape to cancel",
            SEE,
            "return !document.getElementById('confirm').open",
        )
        .await;

    // Without the right token, nothing: the page reports the refusal, the container runs on.
    let current = started_at(&docker, "web");
    browser
        .js(
            "sessionStorage.clear(); document.dispatchEvent(new CustomEvent('hale-token'));",
            vec![],
        )
        .await;
    browser.click("#heal").await;
    browser.confirm().await;
    browser.give_token("not-the-token-at-all").await;
    browser
        .wait_js("the refusal", SEE, "return document.querySelector('#control-result .result-error')?.innerText.includes('wrong bearer token')")
        .await;
    let refused = browser
        .js("return fetch('/api/v1/targets/' + arguments[0] + '/heal', {method: 'POST'}).then(r => r.status)", vec![json!(name)])
        .await;
    assert_eq!(refused, 401);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        started_at(&docker, "web"),
        current,
        "a control without the token acted"
    );

    // On a phone, and in the dark theme.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.screenshot("target-phone").await;
    browser.client.set_window_size(1280, 900).await.unwrap();
    browser.click("#theme").await;
    browser.goto(&format!("{base}/ui/#/targets")).await;
    browser
        .wait_js(
            "the targets table",
            SEE,
            &format!("return document.querySelector('tr[data-target=\"{name}\"]') !== null"),
        )
        .await;
    browser.screenshot("targets-dark").await;
    browser.close().await;
    hale.stop();
}

/// Sequence numbers of the records in the console, in page order.
async fn console_seqs(browser: &Browser) -> Vec<u64> {
    browser
        .js("return [...document.querySelectorAll('#console-list li')].map(li => Number(li.dataset.seq))", vec![])
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_streams_live_resumes_without_gaps_and_keeps_filters_in_the_url() {
    let docker = TestDocker::new("ui-console");
    let ws = Workspace::new(&shipped_policy(&docker));
    let (token, _) = token_file(ws.root());
    let port = free_port();
    let hale = start_hale(&ws, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    docker.run("web", HEALTH, HEALTHY);
    let name = docker.name("web");
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", SEE);
    let heal = |expect: u16| {
        let (status, body) = http(
            "POST",
            &format!("{base}/api/v1/targets/{name}/heal"),
            Some(&token),
            None,
        );
        assert_eq!(status, expect, "{body}");
    };

    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("{base}/ui/#/events?target={name}"))
        .await;
    browser
        .wait_js(
            "the stream to be live",
            SEE,
            "return document.getElementById('console-status')?.dataset.state === 'live'",
        )
        .await;
    // When each row appeared, by the page's clock (the same machine's as the server's).
    browser
        .js("window.seenAt = {}; new MutationObserver(() => { for (const li of document.querySelectorAll('#console-list li')) { window.seenAt[li.dataset.seq] ??= Date.now(); } }).observe(document.getElementById('console-list'), {childList: true});", vec![])
        .await;
    heal(200);
    browser
        .wait_js(
            "the heal's record in the console",
            SEE,
            "return document.querySelector('#console-list li.kind-action_started')",
        )
        .await;
    let (_, records) = http(
        "GET",
        &format!("{base}/api/v1/events?target={name}&kind=action_started"),
        None,
        None,
    );
    let record = serde_json::from_str::<Value>(&records).unwrap()[0].clone();
    let seen = browser
        .js(
            "return window.seenAt[arguments[0]]",
            vec![record["seq"].clone()],
        )
        .await;
    println!(
        "console latency: record written at {} ms, on the page at {} ms: {} ms",
        record["time"],
        seen,
        seen.as_i64().unwrap_or_default() - record["time"].as_i64().unwrap_or_default()
    );

    // The connection drops (hale restarts); records written before the page reconnects
    // arrive after it does, once each.
    hale.stop();
    browser
        .wait_js(
            "the console to notice",
            SEE,
            "return document.getElementById('console-status').dataset.state === 'reconnecting'",
        )
        .await;
    let hale = start_hale(&ws, port, &[]);
    // The first restart's verification may still hold the target: heal once it is free.
    let deadline = Instant::now() + SEE;
    loop {
        let (status, _) = http(
            "POST",
            &format!("{base}/api/v1/targets/{name}/heal"),
            Some(&token),
            None,
        );
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the heal after the restart was refused ({status})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    browser
        .wait_js(
            "two heals in the console",
            SEE,
            "return document.querySelectorAll('#console-list li.kind-action_started').length >= 2",
        )
        .await;
    browser
        .wait_js(
            "the second recovery",
            SEE,
            "return document.querySelectorAll('#console-list li.kind-recovered').length >= 2",
        )
        .await;
    let (_, all) = http(
        "GET",
        &format!("{base}/api/v1/events?target={name}&n=1000"),
        None,
        None,
    );
    let mut expected: Vec<u64> = serde_json::from_str::<Vec<Value>>(&all)
        .unwrap()
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    expected.reverse();
    let shown = console_seqs(&browser).await;
    assert_eq!(
        shown, expected,
        "the console must hold every record of the target once, in order"
    );

    // Pause holds what arrives; resume shows it.
    browser.click("#console-pause").await;
    let before = console_seqs(&browser).await.len();
    heal(200);
    browser
        .wait_js("the paused console to hold the record", SEE, "return document.getElementById('console-status').textContent.match(/([1-9]\\d*) held/)")
        .await;
    assert_eq!(
        console_seqs(&browser).await.len(),
        before,
        "a paused console rendered"
    );
    browser.click("#console-pause").await;
    browser
        .wait_js(
            "the held records to show",
            SEE,
            &format!("return document.querySelectorAll('#console-list li').length > {before}"),
        )
        .await;

    // Filters are the URL: opened fresh, it shows only what it says.
    let shared = format!("{base}/ui/?fresh#/events?kind=action_started&target={name}");
    browser.goto(&shared).await;
    browser
        .wait_js(
            "the filtered console",
            SEE,
            "return document.querySelectorAll('#console-list li').length >= 3",
        )
        .await;
    let kinds = browser
        .js("return [...document.querySelectorAll('#console-list li')].every(li => li.classList.contains('kind-action_started'))", vec![])
        .await;
    assert_eq!(kinds, true);
    assert_eq!(
        browser
            .js(
                "return document.getElementById('console-kind').value",
                vec![]
            )
            .await,
        "action_started"
    );
    browser.screenshot("console").await;
    // A kind that does not exist is refused with the server's words, not an empty list.
    browser
        .goto(&format!("{base}/ui/?again#/events?kind=restrat"))
        .await;
    browser
        .wait_js(
            "the refusal of an unknown kind",
            SEE,
            "return document.getElementById('console-status').innerText.includes('restrat')",
        )
        .await;
    browser.close().await;
    hale.stop();
}

/// Puts `yaml` in the import editor and waits until the page says it is valid (and so
/// until the diagnostics line, which moves the buttons below it, has appeared).
async fn edit_and_validate(browser: &Browser, yaml: &str) {
    browser
        .js(
            "const a = document.getElementById('editor'); a.value = arguments[0]; a.dispatchEvent(new Event('input'));",
            vec![json!(yaml)],
        )
        .await;
    browser
        .wait_js(
            "the YAML to validate",
            SEE,
            "return document.getElementById('diagnostics').innerText.includes('Valid')",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_import_validates_in_place_writes_only_when_allowed_and_the_api_is_documented() {
    let docker = TestDocker::new("ui-policies");
    let ws = Workspace::new(&shipped_policy(&docker));
    let _ = token_file(ws.root());
    let port = free_port();
    let hale = start_hale(&ws, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let listing = || {
        let mut files: Vec<String> = std::fs::read_dir(ws.policies())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        files
    };
    let files_before = listing();

    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{base}/ui/#/policies")).await;
    browser
        .wait_js("the policy row", SEE, "return document.querySelector('tr[data-policy=autoheal]')?.innerText.includes('test.yaml:')")
        .await;
    browser.screenshot("policies").await;
    browser
        .goto(&format!("{base}/ui/#/policies/autoheal"))
        .await;
    browser
        .wait_js("the policy's YAML", SEE, "return document.getElementById('policy-yaml')?.textContent.includes('kind: HealPolicy')")
        .await;
    // The export is one YAML file that validates as it is.
    let export = browser
        .js("return fetch('/api/v1/policies/export').then(r => r.text()).then(t => fetch('/api/v1/policies/validate', {method: 'POST', body: t}).then(r => r.json()))", vec![])
        .await;
    assert_eq!(export["valid"], true, "{export}");
    assert_eq!(export["policies"], json!(["autoheal"]));

    // An error shows where it is; nothing is written.
    browser.goto(&format!("{base}/ui/#/import")).await;
    let broken = "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  name: extra\nspec:\n  selector:\n    matchLabels:\n      hale.test: nothing\n  probes:\n    - name: web\n      period: 10x\n      httpGet:\n        path: /healthz\n        port: 8080\n  remediation:\n    steps:\n      - action: restart\n";
    browser
        .js("const a = document.getElementById('editor'); a.value = arguments[0]; a.dispatchEvent(new Event('input'));", vec![json!(broken)])
        .await;
    let diagnostics = browser
        .wait_js("the error's position", SEE, "const d = document.getElementById('diagnostics').innerText; return d.includes('11:15') && d")
        .await;
    assert!(
        diagnostics.as_str().unwrap().contains("period"),
        "{diagnostics}"
    );
    browser.screenshot("import-error").await;
    browser.click("#apply").await;
    browser
        .wait_js(
            "the refusal",
            SEE,
            "return document.querySelector('#import-result .result-error')",
        )
        .await;
    assert_eq!(listing(), files_before, "an invalid import wrote something");

    // Valid, but this hale does not write: the YAML is offered to commit instead.
    let valid = broken.replace("10x", "10s");
    edit_and_validate(&browser, &valid).await;
    browser.click("#apply").await;
    browser
        .wait_js("the GitOps answer", SEE, "return document.getElementById('import-result').innerText.includes('--ui-writes') && document.getElementById('download')")
        .await;
    assert_eq!(
        listing(),
        files_before,
        "a hale without --ui-writes wrote a policy"
    );
    // The server refuses the write too, whoever asks.
    let token = std::fs::read_to_string(ws.root().join("token")).unwrap();
    let refused = browser
        .js("return fetch('/api/v1/policies', {method: 'POST', headers: {Authorization: 'Bearer ' + arguments[0]}, body: arguments[1]}).then(r => r.status)", vec![json!(token), json!(valid)])
        .await;
    assert_eq!(refused, 403);
    assert_eq!(
        listing(),
        files_before,
        "a hale without --ui-writes wrote a policy"
    );

    // With --ui-writes it is written, and the hot reload puts it in force.
    hale.stop();
    let hale = start_hale(&ws, port, &["--ui-writes"]);
    browser.goto(&format!("{base}/ui/?writes#/import")).await;
    browser
        .wait_js(
            "the writing editor",
            SEE,
            "return document.getElementById('apply')?.textContent.includes('Write')",
        )
        .await;
    edit_and_validate(&browser, &valid).await;
    browser.click("#apply").await;
    browser.give_token(&token).await;
    browser
        .wait_js("the write", SEE, "return document.querySelector('#import-result .result-ok')?.innerText.includes('extra.yaml')")
        .await;
    assert!(ws.policies().join("extra.yaml").exists());
    browser.goto(&format!("{base}/ui/#/policies")).await;
    browser
        .wait_js(
            "the new policy in force",
            SEE,
            "return document.querySelector('tr[data-policy=extra]')",
        )
        .await;

    // The API reference lists every route of the OpenAPI document, and tries reads.
    browser.goto(&format!("{base}/docs")).await;
    browser
        .wait_js("the API reference", SEE, "return document.querySelector('details.operation[data-path=\"/api/v1/targets/{name}/heal\"]')")
        .await;
    let (_, document) = http("GET", &format!("{base}/api/v1/openapi.json"), None, None);
    let document: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    let shown = browser
        .js(
            "return document.querySelectorAll('details.operation').length",
            vec![],
        )
        .await;
    assert_eq!(shown.as_u64(), Some(operations as u64));
    browser
        .click("details.operation[data-path=\"/api/v1/targets\"] summary")
        .await;
    browser
        .click("details.operation[data-path=\"/api/v1/targets\"] button")
        .await;
    browser
        .wait_js("the tried read", SEE, "return document.querySelector('details.operation[data-path=\"/api/v1/targets\"] .try-output')?.textContent.startsWith('200')")
        .await;
    browser.screenshot("api-reference").await;
    browser.close().await;
    hale.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_read_token_the_page_asks_for_it_then_reads_and_streams_with_it() {
    let docker = TestDocker::new("ui-read-token");
    let ws = Workspace::new(&shipped_policy(&docker));
    let (token, _) = token_file(ws.root());
    let read = format!("{token}-read");
    let read_path = ws.root().join("read-token");
    std::fs::write(&read_path, &read).unwrap();
    let port = free_port();
    let hale = start_hale(
        &ws,
        port,
        &["--api-read-token-file", read_path.to_str().unwrap()],
    );
    let base = format!("http://127.0.0.1:{port}");
    docker.run("web", HEALTH, HEALTHY);
    let name = docker.name("web");
    docker.wait_field("web", "{{.State.Health.Status}}", "healthy", SEE);
    let (status, _) = http("GET", &format!("{base}/api/v1/targets"), None, None);
    assert_eq!(status, 401, "reads need the token");

    // The page loads without a token, is refused its first read, and asks for one.
    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("{base}/ui/#/events?target={name}"))
        .await;
    browser.give_token(&read).await;
    // With it, the console streams (over fetch: EventSource cannot send the header).
    browser
        .wait_js(
            "the stream to be live",
            SEE,
            "return document.getElementById('console-status')?.dataset.state === 'live'",
        )
        .await;
    let (status, body) = http(
        "POST",
        &format!("{base}/api/v1/targets/{name}/heal"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    browser
        .wait_js(
            "the heal's record in the console",
            SEE,
            "return document.querySelector('#console-list li.kind-action_started')",
        )
        .await;
    // And the overview reads with it: the target is counted.
    browser.goto(&format!("{base}/ui/#/")).await;
    browser
        .wait_js(
            "the overview to show data",
            SEE,
            "return !document.getElementById('banner').hidden ? false : document.querySelectorAll('#main *').length > 5",
        )
        .await;
    browser.close().await;
    assert!(hale.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_fleet_mode_the_targets_page_shows_every_nodes_targets_with_their_node() {
    let docker = TestDocker::new("ui-fleet");
    let ws = Workspace::new(&shipped_policy(&docker));
    let redis = common::redis_server::RedisServer::start();
    let url = redis.url();
    let port = free_port();
    let node = |name: &str, listen: &str| {
        Hale::start(
            &ws.policies(),
            &ws.root().join(format!("state-{name}")),
            &["--fleet", &url, "--node", name, "--listen", listen],
            &[],
        )
    };
    let a = node("a", &format!("127.0.0.1:{port}"));
    let b = node("b", "127.0.0.1:0");
    a.api();
    docker.run("web", HEALTH, HEALTHY);
    let name = docker.name("web");
    let base = format!("http://127.0.0.1:{port}");

    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{base}/ui/#/targets?fleet=1")).await;
    // Both nodes see the container (one Docker daemon here): a row for each, node first.
    browser
        .wait_js(
            "a row of the container on each node",
            SEE,
            &format!("const rows = [...document.querySelectorAll('#targets-table tbody tr[data-node]')].filter(r => r.dataset.target === '{name}'); return rows.map(r => r.dataset.node).join(',') === 'a,b'"),
        )
        .await;
    let head = browser.text("#targets-table thead").await;
    assert!(head.starts_with("Node"), "{head}");
    let nodes = browser.text("#fleet-nodes").await;
    assert!(
        nodes.contains("a (published") && nodes.contains("b (published"),
        "{nodes}"
    );
    browser.screenshot("targets-fleet").await;
    // This node's own row links to its target page; the other node's has no page here.
    let links = browser
        .js(
            &format!("return [...document.querySelectorAll('#targets-table tbody tr[data-node]')].filter(r => r.dataset.target === '{name}').map(r => r.dataset.node + ':' + Boolean(r.querySelector('a')))"),
            vec![],
        )
        .await;
    assert_eq!(links, json!(["a:true", "b:false"]));
    // The toggle off: this node's own targets, without the node column.
    browser.click("#fleet-toggle").await;
    browser
        .wait_js(
            "the page to show this node's targets only",
            SEE,
            "return document.querySelector('#targets-table thead th')?.textContent === 'Target' && !document.querySelector('#targets-table tbody tr[data-node]')",
        )
        .await;
    browser.close().await;
    assert!(a.stop().success());
    assert!(b.stop().success());
}
