//! Load test of the API on loopback: Alertmanager webhook posts per second, and audit
//! queries over 100,000 records (p50/p99).
//!
//! Run with `cargo bench -p hale-server --bench api`. Targets: ≥ 5,000 webhook posts/s;
//! audit query over 100,000 records p99 < 50 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use hale_core::{HealEvent, HealEventKind, StatusBoard, TargetRef, Timestamp};
use hale_server::{AlertNotice, ApiState, Control, ControlError, ControlRequest, Metrics};
use hale_store::{Store, StoreWriter};

const RECORDS: u64 = 100_000;
const CONCURRENCY: usize = 32;
const WEBHOOK_SECONDS: u64 = 5;
const QUERIES: usize = 200;

/// Counts alerts; the load test measures the API, not the reconciler.
struct CountingControl(AtomicUsize);

impl Control for CountingControl {
    fn request(&self, _: ControlRequest) -> BoxFuture<'static, Result<String, ControlError>> {
        Box::pin(async { Ok(String::new()) })
    }
    fn alerts(&self, alerts: Vec<AlertNotice>) {
        self.0.fetch_add(alerts.len(), Ordering::Relaxed);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), RECORDS + 10).unwrap());
    let audit = hale_core::AuditBus::new();
    let (writer, _thread) = StoreWriter::start(Arc::clone(&store), audit.clone());
    let started = Instant::now();
    let now = Timestamp::now();
    for i in 0..RECORDS {
        let target = TargetRef {
            id: format!("{i:064x}"),
            name: format!("web-{}", i % 500),
        };
        let kind = [
            HealEventKind::Failing,
            HealEventKind::ActionStarted,
            HealEventKind::ActionSucceeded,
            HealEventKind::Recovered,
        ][(i % 4) as usize];
        writer.append(HealEvent::new(
            now.minus(Duration::from_millis(RECORDS - i)),
            kind,
            &format!("policy-{}", i % 20),
            Some(&target),
            "probe http failed: HTTP 503",
        ));
    }
    writer.sync().await.unwrap();
    println!(
        "wrote {RECORDS} audit records in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let token = "bench-token-0123456789abcdef".to_owned();
    let control = Arc::new(CountingControl(AtomicUsize::new(0)));
    let state = ApiState {
        status: StatusBoard::new(now, false),
        store: Arc::clone(&store),
        audit,
        metrics: Arc::new(Metrics::new()),
        control: control.clone(),
        token: Some(token.clone()),
        read_token: None,
        metrics_need_token: false,
        // The benchmark measures the receiver, not the rate limit: a bucket it never empties.
        guards: hale_server::Guards::new(&hale_server::ApiLimits {
            control_per_second: std::num::NonZeroU32::MAX,
            control_burst: std::num::NonZeroU32::MAX,
            ..hale_server::ApiLimits::default()
        }),
        ack: None,
        policy_writes: hale_server::PolicyWrites {
            path: std::env::temp_dir(),
            allowed: false,
        },
        fleet: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(hale_server::serve(listener, state, std::future::pending()));
    let base = format!("http://{address}");
    hale_core::http_client::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();

    // Webhook posts: CONCURRENCY clients for WEBHOOK_SECONDS.
    let payload = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "hale",
        "alerts": [{"status": "firing", "labels": {"alertname": "ContainerDown", "container": "db"}, "fingerprint": "c374cf6f641b2abf", "startsAt": "2026-11-22T08:18:43Z"}]
    })
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(WEBHOOK_SECONDS);
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        let url = format!("{base}/api/v1/alertmanager");
        let payload = payload.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(payload.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "alertmanager webhook: {:.0} posts/s over {WEBHOOK_SECONDS} s with {CONCURRENCY} clients, p50 {:.2} ms, p99 {:.2} ms ({} alerts handed over)",
        latencies.len() as f64 / WEBHOOK_SECONDS as f64,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        control.0.load(Ordering::Relaxed)
    );

    // Audit queries over the 100,000 records, with the filters operators use.
    let queries = [
        "/api/v1/events?n=100",
        "/api/v1/events?n=50&policy=policy-7",
        "/api/v1/events?n=50&target=web-42&kind=action_started",
        "/api/v1/events?n=20&contains=HTTP%20503&since=1h",
        "/api/v1/events?n=10&policy=no-such-policy",
    ];
    for query in queries {
        let mut latencies = Vec::new();
        for _ in 0..QUERIES / queries.len() {
            let sent = Instant::now();
            let response = client.get(format!("{base}{query}")).send().await.unwrap();
            assert!(response.status().is_success());
            let _ = response.bytes().await.unwrap();
            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "audit query {query} over {RECORDS} records: p50 {:.1} ms, p99 {:.1} ms",
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0)
        );
    }
}
