//! Policy reload latency, end to end with the real binary.
//!
//! Prints:
//! - the latency from a policy file being written to the new generation being applied by
//!   the reconciler (read from the API's `observedGeneration`), p50/p99 over 50 edits;
//! - with 1,000 policy files: the time one full reload takes (hale's own `took_ms`), and
//!   the time from rewriting all 1,000 files at once to all of them being applied.
//!
//! Run with `cargo bench -p hale --bench reload`. Targets: p99 < 500 ms including the
//! debounce; reload of 1,000 policies < 1 s.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Hale, TestDocker, Workspace};

const EDITS: usize = 50;
const MANY: usize = 1000;

fn policy(docker: &TestDocker, name: &str, threshold: u32) -> String {
    docker.policy(
        name,
        &format!(
            "  probes:\n  - name: ok\n    exec: {{command: [test, -f, /tmp/ok]}}\n    period: 10s\n    failureThreshold: {threshold}\n"
        ),
    )
}

/// `GET /api/v1/policies`, with a plain socket (no client runtime in the measured loop).
fn policies(api: &str) -> serde_json::Value {
    let address = api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /api/v1/policies HTTP/1.0\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap()
}

/// Polls until every policy has `observedGeneration >= generation` (and there are `count`).
fn wait_applied(api: &str, count: usize, generation: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = policies(api);
        let items = list["items"].as_array().unwrap();
        if items.len() == count
            && items
                .iter()
                .all(|p| p["observedGeneration"].as_u64().unwrap_or(0) >= generation)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for generation {generation}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn edit_latency() {
    let docker = TestDocker::new("bench-reload");
    let workspace = Workspace::new(&policy(&docker, "bench", 1));
    let hale = workspace.start(&[], &[]);
    let api = hale.api();
    wait_applied(&api, 1, 1);
    let file = workspace.policies().join("test.yaml");
    let mut latencies = Vec::with_capacity(EDITS);
    for edit in 0..EDITS {
        let generation = edit as u64 + 2;
        std::fs::write(&file, policy(&docker, "bench", generation as u32)).unwrap();
        let written = Instant::now();
        wait_applied(&api, 1, generation);
        latencies.push(written.elapsed().as_secs_f64() * 1000.0);
        // Apart enough that edits are separate reloads, not one debounced burst.
        std::thread::sleep(Duration::from_millis(300));
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "policy edit -> new generation applied ({EDITS} edits): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default()
    );
    assert!(hale.stop().success());
}

fn many_policies() {
    let docker = TestDocker::new("bench-reload-many");
    let workspace = Workspace::new("");
    let dir = workspace.policies();
    std::fs::remove_file(dir.join("test.yaml")).unwrap();
    for i in 0..MANY {
        std::fs::write(
            dir.join(format!("p{i:04}.yaml")),
            policy(&docker, &format!("p{i:04}"), 3),
        )
        .unwrap();
    }
    let hale: Hale = workspace.start(&[], &[]);
    let api = hale.api();
    wait_applied(&api, MANY, 1);
    std::thread::sleep(Duration::from_secs(1));
    let before = hale.lines().len();
    let started = Instant::now();
    for i in 0..MANY {
        std::fs::write(
            dir.join(format!("p{i:04}.yaml")),
            policy(&docker, &format!("p{i:04}"), 4),
        )
        .unwrap();
    }
    let written = started.elapsed();
    wait_applied(&api, MANY, 2);
    let applied = started.elapsed();
    let reloads: Vec<u64> = hale.lines()[before..]
        .iter()
        .filter(|l| l["message"] == "policies reloaded")
        .filter_map(|l| l["took_ms"].as_u64())
        .collect();
    println!(
        "{MANY} policies: one full reload took {} ms ({} reload(s) for the burst); writing all files took {} ms, all applied {} ms after the first write",
        reloads.iter().max().copied().unwrap_or_default(),
        reloads.len(),
        written.as_millis(),
        applied.as_millis()
    );
    assert!(hale.stop().success());
}

fn main() {
    edit_latency();
    many_policies();
}
