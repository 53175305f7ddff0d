//! The prober at scale: 1,000 and 10,000 HTTP targets probed every 10 s against a local
//! server. Prints sustained probes/second, scheduling lag (p50/p99), CPU and RSS.
//!
//! Targets are container snapshots that publish port 8080 on 127.0.0.1, pointing at one
//! local HTTP server: the prober's code path is the same as for real containers, without
//! starting ten thousand of them. Run with `cargo bench -p hale-prober --bench probes`.
//! Targets: 10,000 targets at a 10 s period with < 25% of one core and < 100 MB RSS;
//! scheduling lag p99 < 50 ms.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hale_core::{ContainerSnapshot, ContainerStatus, DockerPort, ProbeOutcome};
use hale_docker::BollardDocker;
use hale_prober::{Prober, ProberArgs, ProberMsg};
use ractor::Actor;

const PERIOD_SECONDS: u64 = 10;
const MEASURE: Duration = Duration::from_secs(25);

fn policy_yaml() -> String {
    format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: bench}}\nspec:\n  selector: {{matchLabels: {{bench: \"true\"}}}}\n  probes:\n    - {{name: http, httpGet: {{path: /healthz, port: 8080, host: 127.0.0.1}}, period: {PERIOD_SECONDS}s, timeout: 2s, conditions: [\"[STATUS] == 200\"]}}\n"
    )
}

fn snapshot(n: usize, port: u16) -> ContainerSnapshot {
    ContainerSnapshot {
        labels: BTreeMap::from([("bench".to_owned(), "true".to_owned())]),
        published: BTreeMap::from([("8080/tcp".to_owned(), ("127.0.0.1".to_owned(), port))]),
        ..ContainerSnapshot::new(
            format!("{n:064}"),
            format!("bench-{n}"),
            ContainerStatus::Running,
        )
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 2)..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn run(targets: usize, port: u16, docker: Arc<dyn DockerPort>) {
    let report = hale_policy::load_str("bench.yaml", &policy_yaml());
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    let policies = Arc::new(vec![report.set.policies[0].resource.clone()]);
    let outcomes: Arc<Mutex<Vec<ProbeOutcome>>> = Arc::new(Mutex::new(Vec::new()));
    let collected = Arc::clone(&outcomes);
    let outcomes_port = hale_core::OutputPort::new();
    outcomes_port
        .listen(move |outcome: &ProbeOutcome| collected.lock().unwrap().push(outcome.clone()));
    let args = ProberArgs {
        policies,
        docker,
        outcomes: outcomes_port,
    };
    let (prober, handle) = Actor::spawn(None, Prober, args).await.unwrap();
    let list: Vec<ContainerSnapshot> = (0..targets).map(|n| snapshot(n, port)).collect();
    prober.cast(ProberMsg::All(list)).unwrap();
    // One full period to spread out, then measure.
    tokio::time::sleep(Duration::from_secs(PERIOD_SECONDS)).await;
    outcomes.lock().unwrap().clear();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu_before) / elapsed;
    let rss = rss_mib();
    let measured = std::mem::take(&mut *outcomes.lock().unwrap());
    prober.stop(None);
    let _ = handle.await;
    let failed = measured.iter().filter(|o| !o.success).count();
    let mut lags: Vec<u64> = measured.iter().map(|o| o.lag_us).collect();
    lags.sort_unstable();
    println!(
        "{targets} HTTP targets every {PERIOD_SECONDS}s: {:.0} probes/s sustained ({} failed), scheduling lag p50 {:.2} ms p99 {:.2} ms, CPU {:.1}% of one core (prober and the local server together), RSS {:.1} MiB",
        measured.len() as f64 / elapsed,
        failed,
        percentile(&lags, 50.0),
        percentile(&lags, 99.0),
        cpu * 100.0,
        rss
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        // Exec probes are not measured; the Docker port is only needed by the signature.
        let docker: Arc<dyn DockerPort> = match BollardDocker::connect(None).await {
            Ok(docker) => Arc::new(docker),
            Err(error) => panic!("the benchmark needs the Docker client configured: {error}"),
        };
        for targets in [1_000, 10_000] {
            run(targets, port, Arc::clone(&docker)).await;
        }
    });
}
