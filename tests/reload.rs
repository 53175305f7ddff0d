//! Hot reload of the policy directory, driving the real binary: edits take effect without
//! a restart, a broken file keeps the previous version running and says where it is
//! broken, a deleted file stops remediation, and every way files really change (rename
//! over, the `..data` symlink swap, a swapped or vanished directory, fifty files at once,
//! SIGHUP) ends in the right reload.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Hale, TestDocker, Workspace, docker_ok};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// A policy named `name` with an exec probe on this test's containers that passes while
/// /tmp/ok exists, failing after `threshold` failures, healed by restart.
fn exec_policy(docker: &TestDocker, name: &str, threshold: u32) -> String {
    docker.policy(
        name,
        &format!(
            "  probes:\n  - name: ok\n    exec: {{command: [test, -f, /tmp/ok]}}\n    period: 1s\n    timeout: 900ms\n    failureThreshold: {threshold}\n  remediation:\n    steps: [{{action: restart, attempts: 5, timeout: 2s}}]\n    cooldown: 1s\n    backoff: {{initial: 1s, max: 1s}}\n"
        ),
    )
}

/// The policy called `name` in `hale get policies -o json`, if it is in force.
fn policy(hale: &Hale, name: &str) -> Option<Value> {
    hale.policies()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

/// Waits until `check` holds for the policy list; fails with the last list.
fn wait_policies(hale: &Hale, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = hale.policies();
        if check(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; policies: {list:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until policy `name` is in force at `generation`, applied by the reconciler.
fn wait_generation(hale: &Hale, name: &str, generation: u64) -> Value {
    wait_policies(
        hale,
        &format!("{name} at generation {generation}"),
        |list| {
            list["items"].as_array().unwrap().iter().any(|p| {
                p["name"] == name
                    && p["generation"] == generation
                    && p["observedGeneration"] == generation
            })
        },
    );
    policy(hale, name).unwrap()
}

fn condition<'a>(policy: &'a Value, kind: &str) -> &'a Value {
    policy["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} condition in {policy:#}"))
}

/// How many reloads hale has logged.
fn reloads(hale: &Hale) -> usize {
    hale.lines()
        .iter()
        .filter(|l| l["message"] == "policies reloaded")
        .count()
}

#[test]
fn an_edited_threshold_takes_effect_without_a_restart() {
    let docker = TestDocker::new("edit");
    let workspace = Workspace::new(&exec_policy(&docker, "edit", 1000));
    let hale = workspace.start(&[], &[]);
    let first = wait_generation(&hale, "edit", 1);
    assert_eq!(condition(&first, "Accepted")["status"], "True");
    assert_eq!(condition(&first, "Ready")["status"], "True");
    // /tmp/ok is missing: the probe fails every second, but 1000 failures are far away.
    docker.run("web", &["--init"], &["sleep", "1000000"]);
    let name = docker.name("web");
    std::thread::sleep(Duration::from_secs(3));
    assert!(hale.audit("failing", &name).is_empty());

    let file = workspace.policies().join("test.yaml");
    std::fs::write(&file, exec_policy(&docker, "edit", 2)).unwrap();
    wait_generation(&hale, "edit", 2);
    hale.wait_audit("action_started", &name, WAIT);
    let applied = hale.wait_for("policy_applied generation 2", WAIT, |l| {
        l["kind"] == "policy_applied" && l["reason"].as_str().unwrap_or("").contains("generation 2")
    });
    assert_eq!(applied["policy"], "edit");
    assert!(hale.stop().success());
}

#[test]
fn a_broken_file_keeps_the_old_version_running_until_fixed_and_a_deleted_one_stops_healing() {
    let docker = TestDocker::new("lkg");
    let workspace = Workspace::new(&exec_policy(&docker, "lkg", 2));
    let hale = workspace.start(&[], &[]);
    wait_generation(&hale, "lkg", 1);
    docker.run(
        "web",
        &["--init"],
        &["sh", "-c", "touch /tmp/ok; exec sleep 1000000"],
    );
    let name = docker.name("web");
    let file = workspace.policies().join("test.yaml");

    // Break the file: a typo in a duration, on a known line.
    let broken = exec_policy(&docker, "lkg", 2).replace("period: 1s", "period: 1x");
    std::fs::write(&file, &broken).unwrap();
    let line = broken.lines().position(|l| l.contains("1x")).unwrap() + 1;
    let rejected = hale.wait_for("policy_rejected", WAIT, |l| l["kind"] == "policy_rejected");
    let reason = rejected["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("test.yaml:{line}:"))
            && reason.contains("generation 1 keeps running"),
        "{reason}"
    );
    let list = wait_policies(&hale, "Accepted=False", |list| {
        list["items"][0]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Accepted" && c["status"] == "False")
        })
    });
    let lkg = &list["items"][0];
    assert_eq!(lkg["generation"], 1);
    let accepted = condition(lkg, "Accepted");
    assert_eq!(accepted["reason"], "Invalid");
    assert!(
        accepted["message"]
            .as_str()
            .unwrap()
            .contains(&format!("test.yaml:{line}:")),
        "{accepted}"
    );
    // The old version still heals.
    docker_ok(&["exec", &name, "rm", "/tmp/ok"]);
    hale.wait_audit("action_started", &name, WAIT);
    // The restarted container recreates /tmp/ok itself (its command does); touching it
    // from here would race the restart.
    hale.wait_audit("action_succeeded", &name, WAIT);

    // `hale describe` shows the same.
    let (code, described, stderr) = hale.cli(&["describe", "policy", "lkg"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        described.contains("Accepted") && described.contains("Invalid"),
        "{described}"
    );
    assert!(described.contains(&name), "targets are listed: {described}");

    // Fixed (with a new threshold): accepted, generation 2.
    std::fs::write(&file, exec_policy(&docker, "lkg", 3)).unwrap();
    let fixed = wait_generation(&hale, "lkg", 2);
    assert_eq!(condition(&fixed, "Accepted")["status"], "True");

    // Deleted: the policy is gone and its targets are left alone.
    std::fs::remove_file(&file).unwrap();
    wait_policies(&hale, "no policy", |list| {
        list["items"].as_array().unwrap().is_empty()
    });
    hale.wait_for("policy_removed", WAIT, |l| {
        l["kind"] == "policy_removed" && l["policy"] == "lkg"
    });
    let actions_before = hale.audit("action_started", &name).len();
    docker_ok(&["exec", &name, "rm", "/tmp/ok"]);
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        hale.audit("failing", &name).len() <= 1,
        "{:?}",
        hale.audit("failing", &name)
    );
    assert_eq!(
        hale.audit("action_started", &name).len(),
        actions_before,
        "a removed policy must not act"
    );
    let (code, table, _) = hale.cli(&["get", "policies"]);
    assert_eq!(code, 0);
    assert!(table.contains("No policies in force"), "{table}");
    assert!(hale.stop().success());
}

#[test]
fn rename_over_write_symlink_swaps_and_a_vanished_directory_are_handled() {
    let docker = TestDocker::new("swap");
    let dir = tempfile::tempdir().unwrap();
    // The layout git-sync and ConfigMap volumes use: files are symlinks into `..data`,
    // itself a symlink to a versioned directory, swapped atomically.
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("..v1")).unwrap();
    std::fs::write(
        data.join("..v1/test.yaml"),
        exec_policy(&docker, "swap", 1000),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v1", data.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/test.yaml", data.join("test.yaml")).unwrap();
    // And the directory hale is given is itself a symlink to it.
    let root = dir.path().join("policies");
    std::os::unix::fs::symlink(&data, &root).unwrap();
    let hale = Hale::start(&root, &dir.path().join("state"), &[], &[]);
    wait_generation(&hale, "swap", 1);

    // The `..data` swap.
    std::fs::create_dir(data.join("..v2")).unwrap();
    std::fs::write(
        data.join("..v2/test.yaml"),
        exec_policy(&docker, "swap", 999),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v2", data.join("..data_tmp")).unwrap();
    std::fs::rename(data.join("..data_tmp"), data.join("..data")).unwrap();
    wait_generation(&hale, "swap", 2);

    // An editor's write-to-temp-then-rename, in the versioned directory.
    let temp = data.join("..v2/.test.yaml.swp");
    std::fs::write(&temp, exec_policy(&docker, "swap", 998)).unwrap();
    std::fs::rename(&temp, data.join("..v2/test.yaml")).unwrap();
    wait_generation(&hale, "swap", 3);

    // The directory symlink re-pointed at another directory.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("test.yaml"), exec_policy(&docker, "swap", 997)).unwrap();
    replace_symlink(&other, &root);
    wait_generation(&hale, "swap", 4);

    // The directory vanishes: nothing is removed; it comes back changed: reloaded.
    std::fs::remove_file(&root).unwrap();
    hale.wait_for("the missing directory to be noticed", WAIT, |l| {
        l["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not exist")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        policy(&hale, "swap").unwrap()["generation"],
        4,
        "a vanished directory removes nothing"
    );
    std::fs::write(other.join("test.yaml"), exec_policy(&docker, "swap", 996)).unwrap();
    std::os::unix::fs::symlink(&other, &root).unwrap();
    wait_generation(&hale, "swap", 5);
    assert!(hale.stop().success());
}

fn replace_symlink(target: &Path, link: &Path) {
    let temp = link.with_extension("tmp");
    std::os::unix::fs::symlink(target, &temp).unwrap();
    std::fs::rename(&temp, link).unwrap();
}

#[test]
fn fifty_files_changed_at_once_cause_one_reload_and_sighup_forces_one() {
    let docker = TestDocker::new("fifty");
    let workspace = Workspace::new("");
    let dir = workspace.policies();
    std::fs::remove_file(dir.join("test.yaml")).unwrap();
    for i in 0..50 {
        std::fs::write(
            dir.join(format!("p{i:02}.yaml")),
            exec_policy(&docker, &format!("p{i:02}"), 100),
        )
        .unwrap();
    }
    let hale = workspace.start(&[], &[]);
    wait_policies(&hale, "50 policies", |list| {
        list["items"].as_array().unwrap().len() == 50
    });
    // Let the start-up reload settle before counting.
    std::thread::sleep(Duration::from_secs(1));
    let before = reloads(&hale);

    // A `git checkout` touching every file.
    for i in 0..50 {
        std::fs::write(
            dir.join(format!("p{i:02}.yaml")),
            exec_policy(&docker, &format!("p{i:02}"), 200),
        )
        .unwrap();
    }
    wait_policies(&hale, "every policy at generation 2", |list| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["generation"] == 2 && p["observedGeneration"] == 2)
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        reloads(&hale) - before,
        1,
        "fifty files changed at once must cause one reload"
    );

    hale.signal("-HUP");
    hale.wait_for("the SIGHUP reload", WAIT, |l| {
        l["message"] == "reloading the policy directory (SIGHUP)"
    });
    let deadline = Instant::now() + WAIT;
    while reloads(&hale) - before < 2 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(hale.stop().success());
}
