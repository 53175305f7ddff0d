//! hale's own reaction latency and idle footprint, against the real Docker daemon.
//!
//! Prints:
//! - the latency from Docker's `health_status: unhealthy` event to hale's restart call
//!   (p50/p99 over at least 50 trials, from the audit records' `signal_at` and `time`),
//!   with every event also notified to a dead sink (a port that never answers);
//! - hale's idle CPU and RSS while watching 200 containers.
//!
//! Run with `cargo bench -p hale --bench reaction`. Targets: p99 < 50 ms; RSS < 40 MB.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{HEALTH, HEALTHY, TestDocker, Workspace, docker_ok, hale_events};

const TRIALS: usize = 60;
const PARALLEL: usize = 10;
const IDLE_CONTAINERS: usize = 200;
const IDLE_SECONDS: u64 = 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn reaction_latency() {
    let docker = TestDocker::new("bench-reaction");
    // Every event is also notified to a dead sink: a port that accepts connections (the
    // kernel's backlog) but never answers. The figure shows it delays nothing.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    let policy = docker.policy(
        "bench",
        &format!(
            "  remediation:\n    steps: [{{action: restart, attempts: 1000, timeout: 1s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 1s, resetAfter: 1s}}\n    quarantine: {{after: 1000}}\n  notify: [{{notifier: dead-sink}}]\n---\napiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: dead-sink}}\nspec:\n  webhook: {{url: \"{dead_url}\"}}\n"
        ),
    );
    let workspace = Workspace::new(&policy);
    let hale = workspace.start(&[], &[]);
    for n in 0..PARALLEL {
        docker.run(&format!("c{n}"), HEALTH, HEALTHY);
    }
    let per_container = TRIALS.div_ceil(PARALLEL);
    let threads: Vec<_> = (0..PARALLEL)
        .map(|n| {
            let name = docker.name(&format!("c{n}"));
            std::thread::spawn(move || {
                for _ in 0..per_container {
                    wait_health(&name, "healthy");
                    docker_ok(&["exec", &name, "rm", "-f", "/tmp/healthy"]);
                    // The restart re-creates the file; wait until it has happened.
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let before = docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", &name]);
                    while docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", &name])
                        == before
                    {
                        assert!(Instant::now() < deadline, "{name} was not restarted");
                        std::thread::sleep(Duration::from_millis(300));
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(hale.stop().success());
    let starts = hale_events(&workspace.state(), &["--kind", "action_started"]);
    let mut end_to_end: Vec<f64> = starts
        .iter()
        .filter_map(|e| Some(e["time"].as_u64()? as f64 - e["signal_at"].as_u64()? as f64))
        .collect();
    let mut own: Vec<f64> = starts
        .iter()
        .filter_map(|e| e["reaction_ms"].as_u64().map(|ms| ms as f64))
        .collect();
    end_to_end.sort_by(f64::total_cmp);
    own.sort_by(f64::total_cmp);
    println!(
        "reaction, hale's own time (event received -> restart decided and issued), {} trials: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 50 ms)",
        own.len(),
        percentile(&own, 50.0),
        percentile(&own, 99.0),
        own.last().copied().unwrap_or_default()
    );
    println!(
        "reaction, end to end (Docker's health_status event time -> restart issued, includes Docker's event delivery), {} trials: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        end_to_end.len(),
        percentile(&end_to_end, 50.0),
        percentile(&end_to_end, 99.0),
        end_to_end.last().copied().unwrap_or_default()
    );
}

fn wait_health(name: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while docker_ok(&["inspect", "--format", "{{.State.Health.Status}}", name]) != expected {
        assert!(Instant::now() < deadline, "{name} never became {expected}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of /proc/PID/stat (1-based), i.e. 11 and 12
    // after the state field.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn idle_footprint() {
    let docker = TestDocker::new("bench-idle");
    let workspace = Workspace::new(&docker.policy("idle", ""));
    let label = format!("hale.test={}", docker.id);
    let names: Vec<String> = (0..IDLE_CONTAINERS)
        .map(|n| docker.name(&format!("i{n}")))
        .collect();
    for chunk in names.chunks(20) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|name| {
                let (name, label) = (name.clone(), label.clone());
                std::thread::spawn(move || {
                    docker_ok(&[
                        "run",
                        "-d",
                        "--init",
                        "--name",
                        &name,
                        "--label",
                        &label,
                        common::IMAGE,
                        "sleep",
                        "1000000",
                    ])
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    }
    let hale = workspace.start(&[], &[]);
    let pid = hale.pid();
    std::thread::sleep(Duration::from_secs(3));
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(IDLE_SECONDS));
    let cpu = (cpu_ticks(pid) - before) as f64 / ticks_per_second / started.elapsed().as_secs_f64();
    let rss = proc_field(pid, "status", "VmRSS:").unwrap_or_default();
    let peak = proc_field(pid, "status", "VmHWM:").unwrap_or_default();
    println!(
        "idle with {IDLE_CONTAINERS} watched containers over {IDLE_SECONDS}s (resync every 5s): CPU {:.2}% of one core, RSS {:.1} MiB (peak {:.1} MiB) (target RSS < 40 MB)",
        cpu * 100.0,
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(hale.stop().success());
}

fn main() {
    reaction_latency();
    idle_footprint();
}
