//! hale's reaction latency and idle footprint with the shipped default policy, measured
//! from outside the process, against the real Docker daemon.
//!
//! hale runs on a byte-for-byte copy of `policies/` (the `autoheal` policy), with its own
//! defaults. Prints:
//! - **end to end, from Docker's own event timestamps**: `health_status: unhealthy` to the
//!   `kill` of hale's restart (its SIGTERM), p50/p99/max, for a lone labelled container and
//!   for one failing among four healthy labelled bystanders. Each trial uses a fresh
//!   container, as the shipped policy (rightly) cools down and quarantines a target that
//!   keeps failing. Beside it, the peer's figure on the same daemon (willfarrell/autoheal
//!   at its default 5 s poll: median 1,838 ms, measured for issue 12);
//! - **hale's own decision time**: from reading Docker's event to deciding the restart
//!   (the audit records' `reaction_ms`), p50/p99;
//! - **idle**: CPU and RSS while watching 200 healthy labelled containers with 30 s health
//!   checks.
//!
//! Run with `cargo bench -p hale --bench reaction` (`HALE_BENCH_SKIP_IDLE=1` skips the
//! idle part and its 200 containers). Targets: end to end p50 ≤ 50 ms and
//! p99 ≤ 150 ms, decision p99 ≤ 5 ms; idle RSS ≤ 12 MiB and CPU ≤ 0.1 % of a core.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Hale, TestDocker, Workspace, docker_ok, hale_events};

const TRIALS: usize = 30;
const BYSTANDERS: usize = 4;
const IDLE_CONTAINERS: usize = 200;
const IDLE_SECONDS: u64 = 65;
const PEER_MEDIAN_MS: f64 = 1_838.0;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `docker events` for one test's containers: (time in ns, container name, action) lines.
struct DockerEvents {
    child: Child,
    seen: Arc<Mutex<Vec<(i64, String, String)>>>,
}

impl DockerEvents {
    fn follow(docker: &TestDocker) -> Self {
        let mut child = Command::new("docker")
            .args([
                "events",
                "--filter",
                &format!("label=hale.test={}", docker.id),
                "--filter",
                "event=health_status",
                "--filter",
                "event=kill",
                "--format",
                "{{.TimeNano}} {{.Actor.Attributes.name}} {{.Action}}",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker events runs");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut parts = line.splitn(3, ' ');
                if let (Some(time), Some(name), Some(action)) =
                    (parts.next(), parts.next(), parts.next())
                    && let Ok(time) = time.parse()
                {
                    sink.lock()
                        .unwrap()
                        .push((time, name.to_owned(), action.to_owned()));
                }
            }
        });
        Self { child, seen }
    }

    /// Milliseconds from `name`'s first `health_status: unhealthy` to the `kill` after it.
    fn unhealthy_to_kill(&self, name: &str) -> Option<f64> {
        let seen = self.seen.lock().unwrap();
        let unhealthy = seen
            .iter()
            .find(|(_, n, a)| n == name && a == "health_status: unhealthy")?
            .0;
        let kill = seen
            .iter()
            .find(|(t, n, a)| n == name && a == "kill" && *t >= unhealthy)?
            .0;
        Some((kill - unhealthy) as f64 / 1e6)
    }
}

impl Drop for DockerEvents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A labelled container with a 1 s health check that passes until `/tmp/ok` is removed.
fn labelled(docker: &TestDocker, suffix: &str, interval: &str) -> String {
    docker.run(
        suffix,
        &[
            "--init",
            "--label",
            "autoheal=true",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            interval,
            "--health-retries",
            "1",
        ],
        &["sh", "-c", "touch /tmp/ok; exec sleep 1000000"],
    )
}

fn wait_health(name: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while docker_ok(&["inspect", "--format", "{{.State.Health.Status}}", name]) != expected {
        assert!(Instant::now() < deadline, "{name} never became {expected}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_shipped(workspace: &Workspace) -> Hale {
    Hale::start_with_defaults(&workspace.policies(), &workspace.state(), &[], &[])
}

/// Breaks one fresh container per trial and returns the end-to-end figures.
fn trials(docker: &TestDocker, events: &DockerEvents, scenario: &str) -> Vec<f64> {
    let mut figures = Vec::new();
    for trial in 0..TRIALS {
        let suffix = format!("{scenario}-{trial}");
        let id = labelled(docker, &suffix, "1s");
        let name = docker.name(&suffix);
        wait_health(&name, "healthy");
        docker_ok(&["exec", &name, "rm", "/tmp/ok"]);
        let deadline = Instant::now() + Duration::from_secs(15);
        let figure = loop {
            if let Some(ms) = events.unhealthy_to_kill(&name) {
                break Some(ms);
            }
            if Instant::now() > deadline {
                eprintln!("{name} was not restarted within 15 s");
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        figures.extend(figure);
        docker_ok(&["rm", "-f", &id]);
    }
    figures.sort_by(f64::total_cmp);
    figures
}

fn report(what: &str, figures: &[f64]) {
    println!(
        "reaction, end to end from Docker's timestamps (health_status: unhealthy -> kill), {what}, {} trials: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p50 <= 50 ms, p99 <= 150 ms; willfarrell/autoheal p50 {PEER_MEDIAN_MS:.0} ms, {:.0}x slower)",
        figures.len(),
        percentile(figures, 50.0),
        percentile(figures, 99.0),
        figures.last().copied().unwrap_or(f64::NAN),
        PEER_MEDIAN_MS / percentile(figures, 50.0),
    );
}

fn reaction_latency() {
    let docker = TestDocker::new("bench-reaction");
    let events = DockerEvents::follow(&docker);
    let workspace = Workspace::shipped();
    let hale = start_shipped(&workspace);

    let lone = trials(&docker, &events, "lone");
    for n in 0..BYSTANDERS {
        labelled(&docker, &format!("bystander-{n}"), "1s");
    }
    for n in 0..BYSTANDERS {
        wait_health(&docker.name(&format!("bystander-{n}")), "healthy");
    }
    let among = trials(&docker, &events, "among");
    assert!(hale.stop().success());

    report("a lone labelled container", &lone);
    report(
        &format!("one failing among {} labelled containers", BYSTANDERS + 1),
        &among,
    );
    let mut own: Vec<f64> = hale_events(&workspace.state(), &["--kind", "action_started"])
        .iter()
        .filter_map(|e| e["reaction_ms"].as_u64().map(|ms| ms as f64))
        .collect();
    own.sort_by(f64::total_cmp);
    println!(
        "reaction, hale's own decision time (Docker event read -> restart decided), {} decisions: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 <= 5 ms)",
        own.len(),
        percentile(&own, 50.0),
        percentile(&own, 99.0),
        own.last().copied().unwrap_or(f64::NAN)
    );
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
    let suffixes: Vec<String> = (0..IDLE_CONTAINERS).map(|n| format!("i{n}")).collect();
    let docker = Arc::new(docker);
    for chunk in suffixes.chunks(20) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|suffix| {
                let (docker, suffix) = (Arc::clone(&docker), suffix.clone());
                std::thread::spawn(move || labelled(&docker, &suffix, "30s"))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    }
    // The setting is a host of healthy containers: wait for their first health checks (30 s
    // after start), so the figure is hale watching, not hale learning 200 health changes.
    let label = format!("label=hale.test={}", docker.id);
    let deadline = Instant::now() + Duration::from_secs(120);
    while docker_ok(&["ps", "-q", "--filter", &label, "--filter", "health=healthy"])
        .lines()
        .count()
        < IDLE_CONTAINERS
    {
        assert!(
            Instant::now() < deadline,
            "the containers never became healthy"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let workspace = Workspace::shipped();
    let hale = start_shipped(&workspace);
    let pid = hale.pid();
    std::thread::sleep(Duration::from_secs(5));
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid);
    let started = Instant::now();
    let mut rss_max = 0;
    while started.elapsed() < Duration::from_secs(IDLE_SECONDS) {
        std::thread::sleep(Duration::from_secs(1));
        rss_max = rss_max.max(proc_field(pid, "status", "VmRSS:").unwrap_or_default());
    }
    let cpu = (cpu_ticks(pid) - before) as f64 / ticks_per_second / started.elapsed().as_secs_f64();
    let rss = proc_field(pid, "status", "VmRSS:").unwrap_or_default();
    let peak = proc_field(pid, "status", "VmHWM:").unwrap_or_default();
    let statuses: HashMap<String, usize> = docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=hale.test={}", docker.id),
        "--format",
        "{{.Status}}",
    ])
    .lines()
    .fold(HashMap::new(), |mut counts, status| {
        let healthy = status.contains("(healthy)");
        *counts
            .entry(if healthy { "healthy" } else { "other" }.to_owned())
            .or_default() += 1;
        counts
    });
    println!(
        "idle, shipped policy watching {IDLE_CONTAINERS} labelled containers with 30 s health checks ({statuses:?}), over {IDLE_SECONDS} s: CPU {:.3}% of one core, RSS {:.1} MiB (max {:.1} MiB while idle, peak {:.1} MiB since start) (target RSS <= 12 MiB, CPU <= 0.1%)",
        cpu * 100.0,
        rss as f64 / 1024.0,
        rss_max as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(hale.stop().success());
}

fn main() {
    reaction_latency();
    // The idle part starts 200 containers; HALE_BENCH_SKIP_IDLE=1 measures reaction only.
    if std::env::var_os("HALE_BENCH_SKIP_IDLE").is_none() {
        idle_footprint();
    }
}
