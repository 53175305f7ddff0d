//! hale as people deploy it: the container image (built from a static binary, `FROM
//! scratch`) run exactly as charts/image/Dockerfile and the README say, the Compose
//! bundles under charts/compose (validated with Debian's docker-compose, promtool and
//! amtool; the hale-alone bundle run for real), and the systemd unit
//! (`systemd-analyze verify`).
//!
//! The image and the hale-alone bundle run the shipped policy, which selects every
//! container labelled `autoheal=true` on the daemon: those tests take turns, and no other
//! test of this binary uses the label. (Test binaries run one after another.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{HEALTH, HEALTHY, TestDocker, docker_ok};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// One shipped-policy hale on the daemon at a time.
static SHIPPED_POLICY: Mutex<()> = Mutex::new(());

/// The image, built once per run of this binary.
static IMAGE: OnceLock<String> = OnceLock::new();

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The static binary, built once per run of this binary (the `image` profile: the
/// release image's static build without LTO, so that it takes minutes, not ten).
fn static_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let repo = repo();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let started = Instant::now();
        let output = Command::new(cargo)
            .current_dir(&repo)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            // Its own target directory: the test run's own is locked while it runs.
            .env("CARGO_TARGET_DIR", repo.join("target/image-build"))
            .args([
                "build",
                "--profile",
                "image",
                "--target",
                "x86_64-unknown-linux-gnu",
                "-p",
                "hale",
            ])
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "the static build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!("static build: {:.0} s", started.elapsed().as_secs_f64());
        let binary = repo.join(STATIC_BINARY);
        if let Ok(ldd) = Command::new("ldd").arg(&binary).output() {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&ldd.stdout),
                String::from_utf8_lossy(&ldd.stderr)
            );
            assert!(
                said.contains("not a dynamic executable") || said.contains("statically linked"),
                "the image's binary must be static: ldd says {said}"
            );
        }
        binary
    })
}

/// Where [`static_binary`] is, from the tree's root.
const STATIC_BINARY: &str = "target/image-build/x86_64-unknown-linux-gnu/image/hale";

/// How many tests of this binary use [`image`]: the last to finish removes it.
static IMAGE_USERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(2);

/// Held by a test that uses the image; the last one dropped removes the image.
struct ImageUser;

impl Drop for ImageUser {
    fn drop(&mut self) {
        if IMAGE_USERS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1
            && let Some(tag) = IMAGE.get()
        {
            let _ = common::docker(&["rmi", "-f", tag]);
        }
    }
}

/// The image from charts/image/Dockerfile, built once per run of this binary.
fn image() -> &'static str {
    IMAGE.get_or_init(|| {
        let repo = repo();
        static_binary();
        // Images of earlier runs that ended before their last test (a filtered run).
        let stale = docker_ok(&["images", "-q", "hale-test-image"]);
        for id in stale.split_whitespace() {
            let _ = common::docker(&["rmi", "-f", id]);
        }
        let tag = format!("hale-test-image:{}", std::process::id());
        docker_ok(&[
            "build",
            "-q",
            "-f",
            repo.join("charts/image/Dockerfile").to_str().unwrap(),
            "--build-arg",
            &format!("BINARY={STATIC_BINARY}"),
            "-t",
            &tag,
            repo.to_str().unwrap(),
        ]);
        tag
    })
}

/// `hale events -o json` inside the hale container (the image has no shell: hale is all).
fn audit(container: &str) -> Vec<Value> {
    let out = docker_ok(&[
        "exec",
        container,
        "/hale",
        "events",
        "--state-dir",
        "/var/lib/hale",
        "-o",
        "json",
    ]);
    serde_json::from_str(&out)
        .unwrap_or_else(|problem| panic!("hale events -o json: {problem}: {out}"))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A labelled container that the test breaks: healthy, then its health check fails.
fn break_one(docker: &TestDocker, suffix: &str) -> (String, String) {
    let mut args = vec!["--label", "autoheal=true"];
    args.extend_from_slice(HEALTH);
    docker.run(suffix, &args, HEALTHY);
    docker.wait_field(suffix, "{{.State.Health.Status}}", "healthy", WAIT);
    let before = docker.field(suffix, "{{.State.StartedAt}}");
    docker_ok(&["exec", &docker.name(suffix), "rm", "/tmp/healthy"]);
    (docker.name(suffix), before)
}

/// Breaks a labelled container; the hale in container `hale` must restart it and record
/// `kind` about it.
fn heals_a_broken_container(docker: &TestDocker, hale: &str, kind: &str) {
    let (broken, before) = break_one(docker, "web");
    wait_until("the restart of the broken container", || {
        docker.field("web", "{{.State.StartedAt}}") != before
    });
    wait_until(&format!("the audit record {kind}"), || {
        audit(hale)
            .iter()
            .any(|e| e["kind"] == kind && e["target"]["name"] == broken.as_str())
    });
}

#[test]
fn the_image_runs_as_documented_heals_a_labelled_container_and_never_itself() {
    let _turn = SHIPPED_POLICY.lock().unwrap_or_else(|e| e.into_inner());
    let _user = ImageUser;
    let docker = TestDocker::new("image");
    let image = image();
    let size: f64 = docker_ok(&["image", "inspect", "-f", "{{.Size}}", image])
        .parse()
        .unwrap();
    println!(
        "image {image}: {:.1} MB (the image profile; the release image is smaller)",
        size / 1e6
    );
    let config: Value = serde_json::from_str(&docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config}}",
        image,
    ]))
    .unwrap();
    assert_eq!(config["Labels"]["org.opencontainers.image.title"], "hale");
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/hale", "ready"])
    );
    let layers = docker_ok(&["history", "-q", image]);
    assert!(
        layers.lines().count() <= 12,
        "a FROM scratch image has a few layers: {layers}"
    );

    // As the README's quick start says (with this test's name, volume and label).
    let readme = include_str!("../README.md");
    let block = readme
        .split("<!-- readme-test: container -->")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("the README's container quick start");
    assert!(
        block.contains("docker build -f charts/image/Dockerfile -t hale:latest .")
            && block.contains("docker run -d --name hale --restart unless-stopped")
            && block.contains(
                "-v /var/run/docker.sock:/var/run/docker.sock -v hale-state:/var/lib/hale hale:latest"
            ),
        "the README's container commands changed; change this test with them:{block}"
    );
    let state = docker.volume("state");
    let hale = docker.name("hale");
    let label = format!("hale.test={}", docker.id);
    let started = Instant::now();
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &hale,
        "--label",
        &label,
        "--restart",
        "unless-stopped",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &format!("{state}:/var/lib/hale"),
        image,
    ]);
    wait_until("hale to be ready", || {
        common::docker(&["exec", &hale, "/hale", "ready"])
            .status
            .success()
    });
    println!(
        "docker run to ready (hale ready, polled through docker exec): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    wait_until("the image's HEALTHCHECK (hale ready) to pass", || {
        docker.field("hale", "{{.State.Health.Status}}") == "healthy"
    });

    heals_a_broken_container(&docker, &hale, "action_succeeded");
    docker_ok(&["rm", "-f", &hale]);

    // hale in a container that its own policy selects and that looks unhealthy (a
    // health check that cannot run in an image without a shell): left alone, and said so.
    let own = docker.name("hale-own");
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &own,
        "--label",
        &label,
        "--label",
        "autoheal=true",
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &format!("{state}:/var/lib/hale"),
        image,
    ]);
    docker.wait_field("hale-own", "{{.State.Health.Status}}", "unhealthy", WAIT);
    let own_start = docker.field("hale-own", "{{.State.StartedAt}}");
    wait_until("the audit to say hale skips its own container", || {
        audit(&own).iter().any(|e| {
            e["kind"] == "skipped"
                && e["target"]["name"] == own.as_str()
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("own container"))
        })
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        docker.field("hale-own", "{{.State.StartedAt}}"),
        own_start,
        "hale restarted itself"
    );
    assert_eq!(docker.field("hale-own", "{{.RestartCount}}"), "0");
    docker_ok(&["rm", "-f", &own]);
}

/// A bundle copied to a scratch directory, with the secret files it names created there.
fn bundle(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("charts/compose").join(name);
    let copy = Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", source.display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(copy.success());
    for secret in ["hale-token", "coolify-token"] {
        std::fs::write(dir.path().join(secret), "0123456789abcdef0123456789abcdef").unwrap();
    }
    dir
}

fn compose(dir: &Path, project: &str, args: &[&str]) -> std::process::Output {
    Command::new("docker-compose")
        .current_dir(dir)
        .env(
            "HALE_IMAGE",
            IMAGE.get().map_or("hale:latest", String::as_str),
        )
        .args(["-p", project, "-f", "docker-compose.yml"])
        .args(args)
        .output()
        .expect("the tests need Debian's docker-compose: `apt-get install docker-compose`")
}

#[test]
fn every_compose_bundle_is_valid_and_its_prometheus_and_alertmanager_configs_pass_their_checkers() {
    for name in ["hale", "monitoring", "coolify"] {
        let output = Command::new("docker-compose")
            .current_dir(repo().join("charts/compose").join(name))
            .env("HALE_IMAGE", "hale:latest")
            .args(["-f", "docker-compose.yml", "config", "-q"])
            .output()
            .expect("the tests need Debian's docker-compose: `apt-get install docker-compose`");
        // Secret files are the operator's to create: config checks the rest without them.
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "charts/compose/{name}: {stderr}");
    }
    // Prometheus resolves rule files next to its configuration, as the bundle mounts them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("charts/compose/monitoring/prometheus.yml"),
        dir.path().join("prometheus.yml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::copy(
        repo().join("monitoring/prometheus/hale-rules.yml"),
        dir.path().join("rules/hale-rules.yml"),
    )
    .unwrap();
    let promtool = Command::new("promtool")
        .args(["check", "config"])
        .arg(dir.path().join("prometheus.yml"))
        .output()
        .expect("the tests need promtool: `apt-get install prometheus`");
    let said = String::from_utf8_lossy(&promtool.stdout);
    assert!(
        promtool.status.success(),
        "promtool: {said}{}",
        String::from_utf8_lossy(&promtool.stderr)
    );
    assert!(
        said.contains("1 rules found") || said.contains("rules found"),
        "the rules were not loaded: {said}"
    );
    let amtool = Command::new("amtool")
        .args(["check-config"])
        .arg(repo().join("charts/compose/monitoring/alertmanager.yml"))
        .output()
        .expect("the tests need amtool: `apt-get install prometheus-alertmanager`");
    assert!(
        amtool.status.success(),
        "amtool: {}{}",
        String::from_utf8_lossy(&amtool.stdout),
        String::from_utf8_lossy(&amtool.stderr)
    );
    // The Coolify bundle's policies validate as hale reads them.
    let validate = Command::new(env!("CARGO_BIN_EXE_hale"))
        .arg("validate")
        .arg(repo().join("charts/compose/coolify/policies"))
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stdout)
    );
}

#[test]
fn the_hale_alone_bundle_runs_with_docker_compose_and_heals_a_container() {
    let _turn = SHIPPED_POLICY.lock().unwrap_or_else(|e| e.into_inner());
    let _user = ImageUser;
    let docker = TestDocker::new("compose");
    image();
    let dir = bundle("hale");
    let project = format!("halecompose{}", std::process::id());
    struct Down<'a>(&'a Path, &'a str);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = compose(self.0, self.1, &["down", "-v", "--timeout", "2"]);
        }
    }
    let up = compose(dir.path(), &project, &["up", "-d"]);
    let _down = Down(dir.path(), &project);
    assert!(
        up.status.success(),
        "docker-compose up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let hale = format!("{project}_hale_1");
    wait_until("the bundle's hale to be healthy", || {
        let out = common::docker(&["inspect", "-f", "{{.State.Health.Status}}", &hale]);
        String::from_utf8_lossy(&out.stdout).trim() == "healthy"
    });
    heals_a_broken_container(&docker, &hale, "recovered");
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(repo().join("charts/systemd/hale.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/hale run"));
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    // Verified against this build's binary where the package puts it.
    let path = dir.path().join("hale.service");
    std::fs::write(
        &path,
        unit.replace("/usr/bin/hale", env!("CARGO_BIN_EXE_hale")),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("the tests need systemd-analyze (Debian's systemd)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn the_debian_package_installs_and_its_policies_validate() {
    let binary = static_binary();
    let out = tempfile::tempdir().unwrap();
    let built = Command::new("bash")
        .arg(repo().join("charts/debian/build-deb.sh"))
        .arg(binary)
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "build-deb.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = String::from_utf8_lossy(&built.stdout).trim().to_owned();
    struct Purge;
    impl Drop for Purge {
        fn drop(&mut self) {
            let _ = Command::new("dpkg").args(["--purge", "hale"]).output();
        }
    }
    let installed = Command::new("dpkg")
        .args(["-i", &deb])
        .output()
        .expect("dpkg runs");
    let _purge = Purge;
    assert!(
        installed.status.success(),
        "dpkg -i {deb}: {}{}",
        String::from_utf8_lossy(&installed.stdout),
        String::from_utf8_lossy(&installed.stderr)
    );
    let validate = Command::new("/usr/bin/hale")
        .args(["validate", "/etc/hale/policies"])
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "hale validate /etc/hale/policies: {}",
        String::from_utf8_lossy(&validate.stdout)
    );
    for file in [
        "/lib/systemd/system/hale.service",
        "/etc/default/hale",
        "/usr/share/man/man1/hale.1.gz",
        "/usr/share/man/man1/hale-run.1.gz",
        "/usr/share/bash-completion/completions/hale",
        "/usr/share/zsh/vendor-completions/_hale",
    ] {
        assert!(
            Path::new(file).exists(),
            "the package did not install {file}"
        );
    }
    let conffiles = Command::new("dpkg-query")
        .args(["-W", "-f", "${Conffiles}", "hale"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains("/etc/hale/policies/autoheal.yaml")
    );
    // The installed unit verifies against the installed binary.
    let verify = Command::new("systemd-analyze")
        .args(["verify", "/lib/systemd/system/hale.service"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
