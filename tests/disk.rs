//! Disk cleanup against the real daemon: a disk probe on a small tmpfs filled past its
//! threshold, and a prune step that removes only what its filters allow (a stopped
//! container and a dangling image of this test; an image labelled `keep` survives), with
//! the bytes freed in the audit; the disk still being full afterwards climbs the ladder.
//! In dry-run the same policy removes nothing and reports what it would free.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{IMAGE, TestDocker, Workspace, docker, docker_ok};
use serde_json::Value;

/// What a user waits: the probe period (1 s here) and Docker's prune.
const WAIT: Duration = Duration::from_secs(30);

/// A 4 MiB tmpfs, 3 MiB of it taken: 25% free, below the policy's 50%. Unmounted on drop.
struct FullDisk {
    dir: tempfile::TempDir,
}

impl FullDisk {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs on {} (the disk test needs root, as CI has)",
            dir.path().display()
        );
        std::fs::write(dir.path().join("fill"), vec![7u8; 3 << 20]).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Images this test builds, removed when it ends (whatever the prune left).
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = docker(&["rmi", "-f", image]);
        }
    }
}

/// Builds an image of this test with `labels`, a file of its own (so its size is its own),
/// tagged `tag`; returns its ID.
fn build(tag: &str, labels: &[String], seed: &str) -> String {
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("seed"), seed.repeat(256 * 1024)).unwrap();
    let mut dockerfile = format!("FROM {IMAGE}\nCOPY seed /seed\n");
    for label in labels {
        dockerfile.push_str(&format!("LABEL {label}\n"));
    }
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    docker_ok(&["build", "-q", "-t", tag, context.path().to_str().unwrap()])
}

fn image_exists(id: &str) -> bool {
    docker(&["image", "inspect", id]).status.success()
}

fn container_exists(name: &str) -> bool {
    docker(&["container", "inspect", name]).status.success()
}

/// A disk policy whose prune may touch only this test's objects (`hale.test=<id>`), never
/// the ones labelled `keep`; `mode` is `Enforce` or `DryRun`.
fn policy(docker: &TestDocker, path: &Path, mode: &str) -> String {
    format!(
        r#"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: disk}}
spec:
  probes:
    - name: data
      disk: {{path: "{}", freeBelow: "50%"}}
      period: 1s
      timeout: 500ms
      failureThreshold: 1
  remediation:
    steps:
      - action: prune
        timeout: 2s
        prune:
          containers: true
          images: dangling
          buildCache: false
          networks: false
          labels: ["hale.test={}"]
          excludeLabels: [keep]
      - action: notify
    cooldown: 1s
    backoff: {{initial: 1s, max: 1s}}
  mode: {mode}
"#,
        path.display(),
        docker.id
    )
}

/// The test's objects: a stopped container, a dangling image and a kept dangling image.
struct Garbage {
    stopped: String,
    dangling: String,
    kept: String,
    _images: Images,
}

fn make_garbage(docker: &TestDocker) -> Garbage {
    let label = format!("hale.test={}", docker.id);
    let tag = format!("hale-disk-{}", docker.id);
    // Two builds under one tag: the first becomes dangling (untagged).
    let dangling = build(&tag, std::slice::from_ref(&label), "a");
    let _current = build(&tag, std::slice::from_ref(&label), "b");
    let kept_tag = format!("hale-disk-keep-{}", docker.id);
    // Dangling too, but labelled keep: the filter, not its kind, must spare it.
    let kept = build(&kept_tag, &[label.clone(), "keep=true".to_owned()], "c");
    let _retag = build(&kept_tag, &[label.clone(), "keep=true".to_owned()], "d");
    assert!(image_exists(&dangling) && image_exists(&kept));
    let stopped = docker.name("stopped");
    // 2 MiB in its writable layer, which a container prune reclaims.
    docker_ok(&[
        "run",
        "--name",
        &stopped,
        "--label",
        &label,
        IMAGE,
        "sh",
        "-c",
        "head -c 2097152 /dev/zero > /big",
    ]);
    Garbage {
        stopped,
        _images: Images(vec![tag, kept_tag, dangling.clone(), kept.clone()]),
        dangling,
        kept,
    }
}

fn audit_of(line: &Value, kind: &str) -> bool {
    line["target"] == "hale::audit" && line["kind"] == kind && line["container"] == "host:data"
}

#[test]
fn a_full_disk_is_pruned_by_the_filters_and_the_ladder_climbs_when_it_stays_full() {
    let docker = TestDocker::new("disk");
    let disk = FullDisk::new();
    let garbage = make_garbage(&docker);
    let ws = Workspace::new(&policy(&docker, disk.path(), "Enforce"));
    let hale = ws.start(&[], &[]);

    let succeeded = hale.wait_for("a prune's ActionSucceeded", WAIT, |l| {
        audit_of(l, "action_succeeded") && l["action"] == "prune"
    });
    let freed = succeeded["bytes_freed"].as_u64().unwrap_or(0);
    assert!(freed > 0, "the audit says what was freed: {succeeded}");
    let reason = succeeded["reason"].as_str().unwrap();
    assert!(reason.starts_with("freed "), "{reason}");
    assert!(reason.contains("1 containers"), "{reason}");
    assert!(
        !container_exists(&garbage.stopped),
        "the stopped container is pruned"
    );
    assert!(
        !image_exists(&garbage.dangling),
        "the dangling image is pruned"
    );
    assert!(
        image_exists(&garbage.kept),
        "the image labelled keep survives"
    );

    // The failure the prune answered carried the probe's reading and Docker's own usage.
    let started = hale
        .lines()
        .into_iter()
        .find(|l| audit_of(l, "action_started"))
        .unwrap();
    let why = started["reason"].as_str().unwrap();
    assert!(
        why.contains("below 50%") && why.contains("Docker: images"),
        "{why}"
    );

    // Docker's space is not on this tmpfs: it stays full, so the ladder climbs to notify.
    hale.wait_for("the climb to notify", WAIT, |l| {
        audit_of(l, "action_started") && l["action"] == "notify"
    });
    hale.stop();

    // The audit trail kept the figure.
    let events = common::hale_events(&ws.state(), &["--target", "host:data"]);
    let stored = events
        .iter()
        .find(|e| e["kind"] == "action_succeeded" && e["action"] == "prune")
        .expect("the prune is in the audit trail");
    assert_eq!(stored["bytes_freed"].as_u64(), Some(freed));
}

#[test]
fn a_dry_run_prune_removes_nothing_and_says_what_it_would_free() {
    let docker = TestDocker::new("disk-dry");
    let disk = FullDisk::new();
    let garbage = make_garbage(&docker);
    let ws = Workspace::new(&policy(&docker, disk.path(), "DryRun"));
    let hale = ws.start(&[], &[]);

    let estimate = hale.wait_for("the dry-run estimate", WAIT, |l| {
        audit_of(l, "dry_run") && l["bytes_freed"].as_u64().is_some()
    });
    let would = estimate["bytes_freed"].as_u64().unwrap();
    assert!(would > 0, "{estimate}");
    let reason = estimate["reason"].as_str().unwrap();
    assert!(
        reason.contains("would free about") && reason.contains("1 containers"),
        "{reason}"
    );
    hale.stop();
    assert!(
        container_exists(&garbage.stopped),
        "dry-run removes nothing"
    );
    assert!(image_exists(&garbage.dangling), "dry-run removes nothing");
    assert!(image_exists(&garbage.kept));
}
