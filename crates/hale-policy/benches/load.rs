//! Loads and validates 1,000 policy files and prints files/second and peak memory.
//!
//! Run with `cargo bench -p hale-policy --bench load`. Target: at least 5,000 files/s on
//! one core (the loader is single-threaded).

use std::time::Instant;

const FILES: usize = 1_000;
const ROUNDS: usize = 5;

fn policy(i: usize) -> String {
    format!(
        r#"# yaml-language-server: $schema=../docs/schema/healpolicy.v1alpha1.json
apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata:
  name: app-{i}
  labels: {{team: team-{team}}}
spec:
  selector:
    matchLabels: {{app: app-{i}}}
    matchExpressions:
      - {{key: env, operator: In, values: [prod, staging]}}
  probes:
    - name: docker
      dockerHealth: {{}}
    - name: exit
      exit: {{nonZero: true, oomKilled: true}}
    - name: http
      httpGet: {{path: /healthz, port: 8080}}
      period: 10s
      timeout: 2s
      failureThreshold: 3
      conditions: ["[STATUS] == 200", "[RESPONSE_TIME] < 800"]
  remediation:
    steps:
      - {{action: restart, attempts: 2, timeout: 2m}}
      - {{action: recreate, timeout: 5m}}
      - {{action: notify}}
    cooldown: 10m
    backoff: {{initial: 10s, max: 5m, resetAfter: 10m}}
    maxUnhealthy: 40%
    quarantine: {{after: 5, within: 1h}}
  notify:
    - {{notifier: ops, on: [Remediating, Recovered, Failed]}}
"#,
        team = i % 7
    )
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for i in 0..FILES {
        std::fs::write(dir.path().join(format!("app-{i:04}.yaml")), policy(i)).unwrap();
    }
    std::fs::write(
        dir.path().join("notifier.yaml"),
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {name: ops}\nspec:\n  slack: {webhookUrl: {fromEnv: SLACK_WEBHOOK_URL}}\n",
    )
    .unwrap();

    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let report = hale_policy::load_paths(&[dir.path()]);
        let elapsed = started.elapsed().as_secs_f64();
        assert!(!report.has_errors(), "{:?}", report.diagnostics.first());
        assert_eq!(report.set.policies.len(), FILES);
        best = best.min(elapsed);
    }
    let files = (FILES + 1) as f64;
    println!(
        "load+validate {} files: best of {ROUNDS} rounds {:.1} ms, {:.0} files/s (target >= 5000)",
        FILES + 1,
        best * 1000.0,
        files / best
    );
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("peak RSS: unavailable (no /proc/self/status)"),
    }
}
