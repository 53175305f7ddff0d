//! The end-to-end harness: a real Docker daemon, a test image built FROM scratch with
//! Debian's static busybox, and the real `hale` binary.
//!
//! Every test gets its own label value (`hale.test=<id>`) and container-name prefix, so
//! tests run in parallel without seeing each other's containers, and everything a test
//! creates is removed when its [`TestDocker`] is dropped.

#![allow(dead_code)]

mod alertmanager;
pub mod otlp;
mod recorder;
pub mod redis_server;
mod socket_proxy;

// Each test binary uses its own part of the harness.
#[allow(unused_imports)]
pub use alertmanager::alertmanager;
#[allow(unused_imports)]
pub use recorder::{Recorded, hang_up, recorder};
#[allow(unused_imports)]
pub use socket_proxy::SocketProxy;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod dockerd;
pub mod fleet_hosts;
pub mod fleet_site;
pub mod netns;

/// A health check that passes while /tmp/healthy exists, checked every second.
pub const HEALTH: &[&str] = &[
    "--init",
    "--health-cmd",
    "test -f /tmp/healthy",
    "--health-interval",
    "1s",
    "--health-retries",
    "1",
    "--health-timeout",
    "1s",
];

/// A command that starts healthy and keeps running.
pub const HEALTHY: &[&str] = &["sh", "-c", "touch /tmp/healthy; exec sleep 1000000"];

/// A command that never becomes healthy.
pub const NEVER_HEALTHY: &[&str] = &["sleep", "1000000"];

/// The image every test container runs.
pub const IMAGE: &str = "hale-test-busybox:latest";

/// Whether the daemon answered and the image was built, once per test binary; every test
/// that needs it fails with the same message when it was not.
static IMAGE_BUILT: OnceLock<Result<(), String>> = OnceLock::new();

/// How long one docker CLI call may take. A daemon that stopped answering must fail the
/// suite with a message, not hang it until CI's own limit kills it.
const DOCKER_CALL_LIMIT: Duration = Duration::from_secs(120);
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// Runs `docker` with `args`, failing the test if the daemon does not answer within
/// [`DOCKER_CALL_LIMIT`].
pub fn docker(args: &[&str]) -> Output {
    docker_within(args, DOCKER_CALL_LIMIT)
}

/// Runs `docker` with `args`, failing the test if it has not finished within `limit`.
fn docker_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the docker CLI ({e}); the end-to-end tests need Docker installed and its daemon running"));
    // Drain both pipes on their own threads so a chatty command cannot block on a full pipe
    // while this thread waits for it.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the docker CLI") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`docker {}` did not finish within {} s: the Docker daemon is not answering (try `docker info`; a wedged daemon needs a restart)",
                args.join(" "),
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Runs `docker` and returns its trimmed stdout, panicking with stderr on failure.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Fails the test with a clear message when no Docker daemon is reachable, and builds the
/// test image once per test binary.
fn ensure_docker_and_image() {
    let outcome = IMAGE_BUILT.get_or_init(|| {
        std::panic::catch_unwind(build_test_image).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "building the test image failed".to_owned())
        })
    });
    if let Err(message) = outcome {
        panic!("{message}");
    }
}

/// Checks that the daemon answers and builds [`IMAGE`] (panicking with what to do if not).
fn build_test_image() {
    // A healthy daemon answers `info` in milliseconds; waiting longer only delays the
    // message.
    let info = docker_within(
        &["info", "--format", "{{.ServerVersion}}"],
        Duration::from_secs(30),
    );
    assert!(
        info.status.success(),
        "the end-to-end tests need a reachable Docker daemon (DOCKER_HOST or /var/run/docker.sock), and none answered: {}",
        String::from_utf8_lossy(&info.stderr)
    );
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "the test image is built from Debian's static busybox: install it with `apt-get install busybox-static` (.ci/run does)"
    );
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(busybox, context.path().join("busybox")).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN [\"/bin/busybox\", \"mkdir\", \"-p\", \"/tmp\", \"/data\", \"/www\"]\n",
    )
    .unwrap();
    docker_ok(&["build", "-q", "-t", IMAGE, context.path().to_str().unwrap()]);
}

/// One test's slice of the Docker daemon: its label, its containers, networks and volumes.
pub struct TestDocker {
    /// The value of the `hale.test` label on this test's containers.
    pub id: String,
    networks: Mutex<Vec<String>>,
    volumes: Mutex<Vec<String>>,
}

impl TestDocker {
    /// Claims a unique label for the test named `name`.
    pub fn new(name: &str) -> Self {
        ensure_docker_and_image();
        let id = format!(
            "{name}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::SeqCst)
        );
        Self {
            id,
            networks: Mutex::new(Vec::new()),
            volumes: Mutex::new(Vec::new()),
        }
    }

    /// The name this test uses for its container `suffix`.
    pub fn name(&self, suffix: &str) -> String {
        format!("hale-{}-{suffix}", self.id)
    }

    /// `docker run -d` with this test's label and name; `args` go before the image, `cmd`
    /// after it. Returns the container ID.
    pub fn run(&self, suffix: &str, args: &[&str], cmd: &[&str]) -> String {
        let name = self.name(suffix);
        let label = format!("hale.test={}", self.id);
        let mut all = vec!["run", "-d", "--name", &name, "--label", &label];
        all.extend_from_slice(args);
        all.push(IMAGE);
        all.extend_from_slice(cmd);
        docker_ok(&all)
    }

    /// A user-defined network removed with the test.
    pub fn network(&self, suffix: &str) -> String {
        let name = self.name(suffix);
        docker_ok(&[
            "network",
            "create",
            "--label",
            &format!("hale.test={}", self.id),
            &name,
        ]);
        self.networks.lock().unwrap().push(name.clone());
        name
    }

    /// A named volume removed with the test.
    pub fn volume(&self, suffix: &str) -> String {
        let name = self.name(suffix);
        docker_ok(&["volume", "create", &name]);
        self.volumes.lock().unwrap().push(name.clone());
        name
    }

    /// `docker inspect` of one container.
    pub fn inspect(&self, suffix: &str) -> Value {
        let text = docker_ok(&["inspect", &self.name(suffix)]);
        let mut list: Vec<Value> = serde_json::from_str(&text).unwrap();
        list.remove(0)
    }

    /// A Go-template field of a container, e.g. `{{.State.Health.Status}}`.
    pub fn field(&self, suffix: &str, template: &str) -> String {
        docker_ok(&["inspect", "--format", template, &self.name(suffix)])
    }

    /// Waits until `template` of the container renders `expected`.
    pub fn wait_field(&self, suffix: &str, template: &str, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let value = docker(&["inspect", "--format", template, &self.name(suffix)]);
            let value = String::from_utf8_lossy(&value.stdout).trim().to_owned();
            if value == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} is {value:?}, expected {expected:?} within {timeout:?}",
                template,
                self.name(suffix)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A policy selecting this test's containers; `body` is the rest of the spec.
    pub fn policy(&self, name: &str, body: &str) -> String {
        format!(
            "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: {name}}}\nspec:\n  selector:\n    matchLabels: {{hale.test: \"{}\"}}\n{body}",
            self.id
        )
    }
}

impl Drop for TestDocker {
    fn drop(&mut self) {
        let filter = format!("label=hale.test={}", self.id);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        let ids = String::from_utf8_lossy(&ids.stdout);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = docker(&args);
        }
        for network in self.networks.lock().unwrap().iter() {
            let _ = docker(&["network", "rm", network]);
        }
        for volume in self.volumes.lock().unwrap().iter() {
            let _ = docker(&["volume", "rm", "-f", volume]);
        }
    }
}

/// The Unix socket of the daemon the tests use.
fn daemon_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// A running `hale run`, with its JSON log lines collected.
pub struct Hale {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<Value>>>,
    /// The state directory.
    pub state_dir: PathBuf,
}

/// A directory holding a policy file and a state directory.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    /// A workspace with `policy` as its only policy file.
    pub fn new(policy: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(dir.path().join("policies/test.yaml"), policy).unwrap();
        Self { dir }
    }

    /// A workspace laid out like a fresh checkout: a byte-for-byte copy of the shipped
    /// `policies/` directory (file names included), and no state yet.
    pub fn shipped() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        for entry in std::fs::read_dir(&shipped).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), policies.join(entry.file_name())).unwrap();
        }
        Self { dir }
    }

    /// The workspace's root: `policies/` and `state/` are in it, as in a checkout.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The policy directory.
    pub fn policies(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Starts `hale run` on this workspace.
    pub fn start(&self, extra: &[&str], env: &[(&str, &str)]) -> Hale {
        Hale::start(&self.policies(), &self.state(), extra, env)
    }
}

impl Hale {
    /// Starts `hale run --log-format json` on `policies` with `state_dir`, relisting every
    /// 5 s (so that tests of the level-triggered safety net do not wait a minute).
    pub fn start(policies: &Path, state_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_through(
            Command::new(env!("CARGO_BIN_EXE_hale")),
            policies,
            state_dir,
            extra,
            env,
        )
    }

    /// As [`Hale::start`], through `command`: the hale binary, or a wrapper that runs it
    /// (`nsenter` into a network namespace).
    pub fn start_through(
        command: Command,
        policies: &Path,
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut args = vec!["--resync", "5s"];
        args.extend_from_slice(extra);
        Self::from_command(command, policies, state_dir, &args, env)
    }

    /// Starts `hale run --log-format json` on `policies` with `state_dir` and hale's own
    /// defaults for everything else but `extra` (and a free API port).
    pub fn start_with_defaults(
        policies: &Path,
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::from_command(
            Command::new(env!("CARGO_BIN_EXE_hale")),
            policies,
            state_dir,
            extra,
            env,
        )
    }

    /// Starts `command` (the hale binary, or a wrapper that runs it, such as `nsenter`)
    /// with the arguments of [`Hale::start_with_defaults`].
    fn from_command(
        mut command: Command,
        policies: &Path,
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        command
            .args(["run", "--log-format", "json", "--policies"])
            .arg(policies)
            .arg("--state-dir")
            .arg(state_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            // Tests run in parallel: each hale serves its API on a port of its own.
            .env("HALE_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("hale starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "message": line }));
                sink.lock().unwrap().push(value);
            }
        });
        let hale = Self {
            child: Some(child),
            lines,
            state_dir: state_dir.to_path_buf(),
        };
        hale.wait_for("hale to connect", Duration::from_secs(20), |line| {
            line["message"] == "connected to Docker; containers relisted"
        });
        hale
    }

    /// The URL of this hale's API (its --listen address).
    pub fn api(&self) -> String {
        let line = self.wait_for("the API to listen", Duration::from_secs(20), |l| {
            l["message"] == "API listening (hale get, hale describe)"
        });
        format!("http://{}", line["address"].as_str().unwrap())
    }

    /// Runs `hale ARGS --server <this hale's API>`; returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_hale"))
            .args(args)
            .arg("--server")
            .arg(self.api())
            .output()
            .expect("hale runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `hale get policies -o json` against this hale: the API's policy list.
    pub fn policies(&self) -> Value {
        let (code, stdout, stderr) = self.cli(&["get", "policies", "-o", "json"]);
        assert_eq!(code, 0, "hale get policies failed: {stderr}");
        serde_json::from_str(&stdout).expect("hale get -o json prints JSON")
    }

    /// Sends a signal (`-HUP`, `-TERM` ...) to hale.
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            signal(child, name);
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Every log line so far.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Audit log lines of `kind` about the container named `container`.
    pub fn audit(&self, kind: &str, container: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| {
                l["target"] == "hale::audit" && l["kind"] == kind && l["container"] == container
            })
            .collect()
    }

    /// Audit log lines of `kind` for the whole policy (no container).
    pub fn policy_audit(&self, kind: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["target"] == "hale::audit" && l["kind"] == kind)
            .collect()
    }

    /// Waits for a log line matching `predicate`; on timeout fails with the recent log.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| predicate(l)) {
                return line;
            }
            if Instant::now() >= deadline {
                let tail: Vec<String> = self
                    .lines()
                    .iter()
                    .rev()
                    .take(40)
                    .rev()
                    .map(ToString::to_string)
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; hale's log:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for an audit record of `kind` about `container`.
    pub fn wait_audit(&self, kind: &str, container: &str, timeout: Duration) -> Value {
        self.wait_for(&format!("{kind} of {container}"), timeout, |l| {
            l["target"] == "hale::audit" && l["kind"] == kind && l["container"] == container
        })
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(&child, "-TERM");
        wait_with_timeout(&mut child, Duration::from_secs(30))
    }

    /// Kills hale with SIGKILL, as a crash or the OOM killer would.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        signal(&child, "-KILL");
        let _ = child.wait();
    }
}

fn signal(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status();
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("hale did not exit within {timeout:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Hale {
    fn drop(&mut self) {
        // A failing test shows what hale said last: the test's own message rarely says why.
        if std::thread::panicking() {
            let lines = self.lines();
            let from = lines.len().saturating_sub(30);
            eprintln!(
                "--- the last {} log lines of hale {} ---",
                lines.len() - from,
                self.pid()
            );
            for line in &lines[from..] {
                eprintln!("{line}");
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the `hale` binary with `args`, asserts it succeeded, and returns its stdout.
pub fn hale_ok<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> String {
    let args: Vec<S> = args.into_iter().collect();
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hale {:?} failed: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `hale events -o json` on a state directory.
pub fn hale_events(state_dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args: Vec<std::ffi::OsString> = ["events", "-o", "json", "-n", "1000", "--state-dir"]
        .iter()
        .map(Into::into)
        .collect();
    args.push(state_dir.into());
    args.extend(extra.iter().map(Into::into));
    serde_json::from_str(&hale_ok(args)).unwrap()
}

/// `promtool check metrics` on an exposition: the series hale serves pass Prometheus' lint.
pub fn promtool_check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tests need promtool: `apt-get install prometheus` (.ci/run does)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A plain HTTP/1.1 request (one connection, `Connection: close`); returns the status and
/// body. `token` adds `Authorization: Bearer`; `body` is sent as JSON.
pub fn http(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (address, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream = match std::net::TcpStream::connect(address) {
        Ok(stream) => stream,
        Err(error) => return (0, format!("cannot connect to {address}: {error}")),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let payload = body.map(ToString::to_string).unwrap_or_default();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if body.is_some() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!(
        "Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// Decodes a chunked HTTP body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A long random-enough API token written to `dir/token`; returns (token, path).
pub fn token_file(dir: &Path) -> (String, PathBuf) {
    let token = format!("test-token-{}-{}", std::process::id(), free_port());
    let path = dir.join("token");
    std::fs::write(&path, &token).unwrap();
    (token, path)
}

/// A child process killed when dropped (Alertmanager, Prometheus).
pub struct Service(pub Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers 200.
pub fn wait_http_ok(url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if http("GET", url, None, None).0 == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer 200 within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
