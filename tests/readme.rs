//! The README's "Try it", run as written: `hale run` on a byte-for-byte copy of the shipped
//! `policies/` with its defaults, the README's own commands, and the audit records the
//! README shows. Only two substitutions are made: the image (`busybox` cannot be pulled
//! here; the test image is busybox too) and the container name (`demo` gets a unique
//! suffix, so a developer's own `demo` is never touched).
//!
//! The shipped policy selects every container labelled `autoheal=true` on the daemon, so
//! the tests here take turns, and no other test uses that label.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{IMAGE, TestDocker, Workspace, docker, docker_ok};

const README: &str = include_str!("../README.md");

/// What the README tells a new user to run, and what it says hale records. If the README
/// changes, this test must change with it.
const RUN: &str = "hale run";
const BREAK: &str = "docker run -d --init --name demo --label autoheal=true --health-cmd 'test -f /tmp/ok' \\\n  --health-interval 2s --health-retries 1 busybox sh -c 'touch /tmp/ok; exec sleep 1d'\ndocker exec demo rm /tmp/ok     # unhealthy within 2 s; hale restarts it at once\nhale events --target demo";

/// One at a time: each test's hale would act on the other's containers.
static SHIPPED_POLICY: Mutex<()> = Mutex::new(());

/// The fenced block that follows `<!-- readme-test: NAME -->` in the README.
fn block(name: &str) -> &'static str {
    let marker = format!("<!-- readme-test: {name} -->");
    let after = &README[README
        .find(&marker)
        .unwrap_or_else(|| panic!("the README has no {marker}"))
        + marker.len()..];
    let fence = after
        .find("```")
        .expect("a fenced block follows the marker");
    let body = &after[fence..];
    let start = body.find('\n').unwrap() + 1;
    let end = body[start..].find("```").unwrap();
    body[start..start + end].trim_end()
}

/// `hale run` as the README runs it, in `dir`; its log lines are collected.
struct HaleRun {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl HaleRun {
    fn start(dir: &Path, command: &str) -> Self {
        let mut words = command.split_whitespace();
        assert_eq!(words.next(), Some("hale"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_hale"))
            .args(words)
            .current_dir(dir)
            // The README's hale listens on 127.0.0.1:9009; tests may run beside another.
            .env("HALE_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hale starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let hale = Self { child, log };
        hale.wait_log("connected to Docker");
        hale
    }

    fn wait_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log.lock().unwrap().iter().any(|l| l.contains(text)) {
            assert!(
                Instant::now() < deadline,
                "hale never logged {text:?}:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(self) {
        drop(self);
    }
}

impl Drop for HaleRun {
    /// Stops hale however the test ends: a failed assertion must not leave a controller
    /// running the shipped policy against every `autoheal=true` container.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Runs one shell command line of the README in `dir`, with the binary under test first on
/// PATH as `hale`; returns its stdout.
fn sh(dir: &Path, line: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_hale")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`{line}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The README's command lines (continuations joined), with the image and name substituted.
fn commands(block: &str, name: &str) -> Vec<String> {
    block
        .replace("\\\n", " ")
        .lines()
        .map(|line| {
            line.replace(" busybox ", &format!(" {IMAGE} "))
                .replace(" demo", &format!(" {name}"))
        })
        .collect()
}

/// An event line with what differs between runs masked: the time, the container ID and
/// how long the action took.
fn masked(line: &str, name: &str) -> String {
    let line = line.replace(name, "demo");
    let mut words: Vec<String> = line.split("  ").map(str::to_owned).collect();
    if let Some(time) = words.first_mut() {
        *time = "TIME".to_owned();
    }
    for word in &mut words {
        if let Some(open) = word.find(" (")
            && word.ends_with(')')
            && word[open + 2..word.len() - 1]
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        {
            word.replace_range(open + 2..word.len() - 1, "ID");
        }
        if word.starts_with("took=") {
            *word = "took=MS".to_owned();
        }
    }
    words.join("  ")
}

/// Removes the README's container when the test ends, however it ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn the_readmes_try_it_restarts_the_broken_container_and_records_what_the_readme_shows() {
    let _turn = SHIPPED_POLICY.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(block("try-it-run"), RUN, "the README's command changed");
    assert_eq!(
        block("try-it-break"),
        BREAK,
        "the README's commands changed"
    );
    let docker = TestDocker::new("readme");
    let name = docker.name("demo");
    let _cleanup = Container(name.clone());
    let checkout = Workspace::shipped();
    let dir = checkout.root();
    let hale = HaleRun::start(dir, block("try-it-run"));

    let commands = commands(block("try-it-break"), &name);
    let [run, break_it, events] = commands.as_slice() else {
        panic!("the README's Try it has three commands: {commands:?}");
    };
    sh(dir, run);
    docker.wait_field(
        "demo",
        "{{.State.Health.Status}}",
        "healthy",
        Duration::from_secs(20),
    );
    let restarts_before = docker.field("demo", "{{.State.StartedAt}}");
    sh(dir, break_it);

    // "A few seconds later": a 2 s health interval, a restart, a health check that passes.
    let expected: Vec<String> = block("try-it-events")
        .lines()
        .map(|line| masked(line, "demo"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let shown: Vec<String> = sh(dir, events)
            .lines()
            .map(|line| masked(line, &name))
            .collect();
        if shown.len() >= expected.len() || Instant::now() > deadline {
            break shown;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(shown, expected, "hale events differs from the README");
    assert_ne!(
        docker.field("demo", "{{.State.StartedAt}}"),
        restarts_before,
        "the container was restarted"
    );
    hale.stop();
}

#[test]
fn the_shipped_policy_leaves_a_container_the_operator_stopped_stopped() {
    let _turn = SHIPPED_POLICY.lock().unwrap_or_else(|e| e.into_inner());
    let docker = TestDocker::new("readme-stop");
    let checkout = Workspace::shipped();
    let dir = checkout.root();
    let hale = HaleRun::start(dir, RUN);
    let id = docker.run(
        "stopped",
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
        &["sh", "-c", "touch /tmp/ok; exec sleep 1000000"],
    );
    docker.wait_field(
        "stopped",
        "{{.State.Health.Status}}",
        "healthy",
        Duration::from_secs(20),
    );
    docker_ok(&["stop", &id]);
    // willfarrell/autoheal would have restarted it within its 5 s poll.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(docker.field("stopped", "{{.State.Status}}"), "exited");
    let name = docker.name("stopped");
    let records = sh(dir, &format!("hale events --target {name} -o json"));
    let records: serde_json::Value = serde_json::from_str(&records).unwrap();
    let acted = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "action_started")
        .count();
    assert_eq!(acted, 0, "hale acted on an operator's stop: {records}");
    hale.stop();
}
