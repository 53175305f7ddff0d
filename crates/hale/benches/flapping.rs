//! What a flapping container gets from the shipped default policy, measured from outside
//! the process: the gaps between hale's restarts (Docker's own `start` event timestamps),
//! when it is quarantined, and how many messages a notifier with its default settings
//! (`--notify-default`, every kind) receives about it, in five minutes and a half.
//!
//! The container is labelled `autoheal=true` and becomes unhealthy 2 s after every start,
//! as a broken deploy does. willfarrell/autoheal restarts such a container every 5 s,
//! forever (60 restarts in 5 minutes); Kubernetes' CrashLoopBackOff waits 10, 20, 40,
//! 80, 160 s.
//!
//! Run with `cargo bench -p hale --bench flapping` (`HALE_BENCH_SECONDS` shortens it).

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Hale, TestDocker, Workspace, recorder};

fn main() {
    let seconds: u64 = std::env::var("HALE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(330);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (sink, received) = recorder(&runtime, 200);
    let workspace = Workspace::shipped();
    std::fs::write(
        workspace.policies().join("team.yaml"),
        format!(
            "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{sink}/hook\"}}\n"
        ),
    )
    .unwrap();
    let hale = Hale::start_with_defaults(
        &workspace.policies(),
        &workspace.state(),
        &["--notify-default", "team"],
        &[],
    );
    let docker = TestDocker::new("flapping");
    let mut events = Command::new("docker")
        .args([
            "events",
            "--filter",
            &format!("label=hale.test={}", docker.id),
            "--filter",
            "event=start",
            "--format",
            "{{.TimeNano}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker events runs");
    let starts: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sink_starts = Arc::clone(&starts);
    let stdout = events.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(nanos) = line.trim().parse() {
                sink_starts.lock().unwrap().push(nanos);
            }
        }
    });
    docker.run(
        "app",
        &[
            "--init",
            "--label",
            "autoheal=true",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &[
            "sh",
            "-c",
            "touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 1000000",
        ],
    );
    let name = docker.name("app");
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
    }
    let quarantined = hale.audit("quarantined", &name);
    let restarts = hale.audit("action_started", &name).len();
    let _ = events.kill();
    let _ = events.wait();

    let starts = starts.lock().unwrap().clone();
    let gaps: Vec<String> = starts
        .windows(2)
        .map(|pair| format!("{:.1}", (pair[1] - pair[0]) as f64 / 1e9))
        .collect();
    let kinds: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "?".to_owned())
        })
        .collect();
    println!("flapping container under the shipped policy, {seconds} s:");
    println!("  restarts by hale: {restarts}");
    println!(
        "  gaps between starts (Docker's timestamps, s; includes the 2 s until it fails again): {}",
        gaps.join(", ")
    );
    match quarantined.first() {
        Some(record) => println!(
            "  quarantined: yes ({})",
            record["reason"].as_str().unwrap_or_default()
        ),
        None => println!("  quarantined: not within {seconds} s"),
    }
    println!(
        "  messages to a default notifier: {} ({})",
        kinds.len(),
        kinds.join(", ")
    );
    println!("  willfarrell/autoheal at its default 5 s: a restart every ~5 s, never quarantined");
    assert!(hale.stop().success());
}
