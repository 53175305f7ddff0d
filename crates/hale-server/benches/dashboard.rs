//! The dashboard in a real browser (headless chromium through chromium-driver): first
//! render with 1,000 targets, what the page transfers, and the console at 1,000 audit
//! records a second.
//!
//! Run with `cargo bench -p hale-server --bench dashboard`. Targets: first render
//! ≤ 300 ms on loopback; assets ≤ 150 KB uncompressed; no record dropped at 1,000/s.

#[path = "../../../tests/browser/mod.rs"]
mod browser;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use hale_core::{
    HealEvent, HealEventKind, PolicyStatus, StatusBoard, TargetRef, TargetStatus, Timestamp,
};
use hale_server::{AlertNotice, ApiState, Control, ControlError, ControlRequest, Metrics};
use hale_store::{Store, StoreWriter};

const TARGETS: usize = 1000;
const LOADS: usize = 10;
const RATE: u64 = 1000;
const SECONDS: u64 = 5;

/// The benchmark measures the page and the API, not the reconciler.
struct NoControl;

impl Control for NoControl {
    fn request(&self, _: ControlRequest) -> BoxFuture<'static, Result<String, ControlError>> {
        Box::pin(async { Ok(String::new()) })
    }
    fn alerts(&self, _: Vec<AlertNotice>) {}
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The shipped policy with `TARGETS` targets, a few of them failing.
fn board(now: Timestamp) -> StatusBoard {
    let report = hale_policy::load_str(
        "policies/autoheal.yaml",
        include_str!("../../../policies/autoheal.yaml"),
    );
    let spec = report.set.policies[0].resource.spec.clone();
    let status = StatusBoard::new(now, false);
    status.update(|status| {
        let mut policy = PolicyStatus::new(
            "autoheal",
            "policies/autoheal.yaml".to_owned(),
            1,
            now,
            spec,
        );
        policy.targets = (0..TARGETS)
            .map(|i| TargetStatus {
                name: format!("web-{i:04}"),
                id: format!("{i:064x}"),
                state: if i % 50 == 0 { "failing" } else { "healthy" }.to_owned(),
                signal: (i % 50 == 0).then(|| "docker health: unhealthy".to_owned()),
                step: 1,
                last_action: (i % 10 == 0).then(|| "restart".to_owned()),
                last_action_at: (i % 10 == 0).then_some(now),
                next_action_at: (i % 50 == 0).then(|| now.plus(Duration::from_secs(40))),
                attempts: u32::from(i % 10 == 0),
                last_action_failed: false,
                disabled: false,
                standby: None,
                probes: Vec::new(),
                selected_by: Some("labels autoheal=true".to_owned()),
            })
            .collect();
        status.policies.insert("autoheal".to_owned(), policy);
        status.last_reload = Some(now);
        status.docker_connected = true;
        status.docker_synced = true;
    });
    status
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), 100_000).unwrap());
    let audit = hale_core::AuditBus::new();
    let (writer, _thread) = StoreWriter::start(Arc::clone(&store), audit.clone());
    let now = Timestamp::now();
    let state = ApiState {
        status: board(now),
        store: Arc::clone(&store),
        audit,
        metrics: Arc::new(Metrics::new()),
        control: Arc::new(NoControl),
        token: None,
        read_token: None,
        metrics_need_token: false,
        guards: hale_server::Guards::default(),
        ack: None,
        policy_writes: hale_server::PolicyWrites {
            path: dir.path().to_path_buf(),
            allowed: false,
        },
        fleet: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(hale_server::serve(listener, state, std::future::pending()));

    let assets: usize = hale_server::INDEX_HTML.len()
        + hale_server::ASSETS
            .iter()
            .map(|(_, _, body)| body.len())
            .sum::<usize>();
    println!(
        "assets: {:.1} KB uncompressed in {} files (target ≤ 150 KB)",
        assets as f64 / 1000.0,
        hale_server::ASSETS.len() + 1
    );

    let browser = browser::Browser::start(1280, 900).await;
    // First render: from navigation start to the first view drawn with data, cold loads.
    let mut overview = Vec::new();
    let mut targets = Vec::new();
    let mut transfer = (0.0, 0.0);
    for i in 0..LOADS {
        for (route, times) in [("#/", &mut overview), ("#/targets", &mut targets)] {
            browser.goto("about:blank").await;
            browser.goto(&format!("{base}/ui/?load={i}{route}")).await;
            let rendered = browser
                .wait_js(
                    "the first render",
                    Duration::from_secs(30),
                    &format!("const m = performance.getEntriesByName('hale-first-render')[0]; const rows = document.querySelectorAll('#targets-table tbody tr').length; return m && ('{route}' === '#/' || rows === {TARGETS}) && m.startTime"),
                )
                .await;
            times.push(rendered.as_f64().unwrap_or_default());
            let sizes = browser
                .js("const all = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]; const api = all.filter(e => e.name.includes('/api/') || e.name.endsWith('/')); const page = all.filter(e => !api.includes(e) || e.entryType === 'navigation'); return [page.reduce((n, e) => n + e.decodedBodySize, 0), all.filter(e => e.entryType !== 'navigation' && !page.includes(e)).reduce((n, e) => n + e.decodedBodySize, 0)]", vec![])
                .await;
            transfer = (
                sizes[0].as_f64().unwrap_or_default(),
                sizes[1].as_f64().unwrap_or_default(),
            );
        }
    }
    for (name, times) in [("overview", &mut overview), ("targets table", &mut targets)] {
        times.sort_by(f64::total_cmp);
        println!(
            "first render of the {name} with {TARGETS} targets: p50 {:.0} ms, max {:.0} ms over {LOADS} cold loads (target ≤ 300 ms)",
            percentile(times, 50.0),
            times[times.len() - 1]
        );
    }
    println!(
        "a load transfers {:.1} KB of page and {:.1} KB of API data (1,000 targets and the policies)",
        transfer.0 / 1000.0,
        transfer.1 / 1000.0
    );

    // The console at RATE records a second for SECONDS seconds.
    browser.goto(&format!("{base}/ui/?console#/events")).await;
    browser
        .wait_js(
            "the console to be live",
            Duration::from_secs(30),
            "return document.getElementById('console-status')?.dataset.state === 'live'",
        )
        .await;
    browser
        .js("window.longest = 0; new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longest = Math.max(window.longest, e.duration); }).observe({type: 'longtask', buffered: true});", vec![])
        .await;
    let total = RATE * SECONDS;
    let started = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    let mut written = 0u64;
    while written < total {
        interval.tick().await;
        let due = (started.elapsed().as_secs_f64() * RATE as f64) as u64;
        while written < due.min(total) {
            let target = TargetRef {
                id: format!("{written:064x}"),
                name: format!("web-{:04}", written % TARGETS as u64),
            };
            writer.append(HealEvent::new(
                Timestamp::now(),
                [
                    HealEventKind::Failing,
                    HealEventKind::ActionStarted,
                    HealEventKind::Recovered,
                ][(written % 3) as usize],
                "autoheal",
                Some(&target),
                "benchmark record",
            ));
            written += 1;
        }
    }
    let sent_in = started.elapsed();
    let received = browser
        .wait_js(
            "every record to reach the page",
            Duration::from_secs(60),
            &format!("const n = Number(document.getElementById('console-status').dataset.received); return n >= {total} && n"),
        )
        .await;
    let caught_up = started.elapsed();
    let page = browser
        .js("return [document.querySelectorAll('#console-list li').length, window.longest, Number(document.getElementById('console-list').dataset.lastSeq)]", vec![])
        .await;
    println!(
        "console: {total} records written at {:.0}/s; {} received, {} dropped; all on the page {:.2} s after the first was written (writing took {:.2} s); {} rows kept; longest main-thread task {:.0} ms",
        total as f64 / sent_in.as_secs_f64(),
        received,
        total.saturating_sub(received.as_u64().unwrap_or_default()),
        caught_up.as_secs_f64(),
        sent_in.as_secs_f64(),
        page[0],
        page[1].as_f64().unwrap_or_default(),
    );
    browser.close().await;
}
