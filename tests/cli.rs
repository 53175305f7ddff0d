//! The `hale` binary's policy commands, run as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hale(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the hale binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_shipped_examples_and_default_policies_validate() {
    let output = hale(&["validate", "examples/", "policies/"], &repository());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(!text.contains("warning"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("valid") && !last.contains(" 0 policies"),
        "{text}"
    );
}

#[test]
fn every_example_file_is_valid_on_its_own() {
    let examples = repository().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let output = hale(&["validate", path.to_str().unwrap()], &repository());
            assert_eq!(
                output.status.code(),
                Some(0),
                "{}: {}",
                path.display(),
                stdout(&output)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "expected at least five examples, found {checked}"
    );
}

#[test]
fn validate_without_arguments_checks_the_default_policy_directory() {
    let output = hale(&["validate"], &repository());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("1 policy"), "{}", stdout(&output));
}

#[test]
fn a_directory_of_broken_files_exits_1_and_prints_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let header = "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  name: NAME\nspec:\n  selector: {matchLabels: {app: x}}\n";
    std::fs::write(
        dir.path().join("web.yaml"),
        header.replace("NAME", "web")
            + "  probes:\n    - name: http\n      httpGet: {port: 80}\n      period: 10x\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("db.yaml"),
        header.replace("NAME", "db") + "  remediation:\n    steps: []\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.yaml"), "kind: [unclosed\n").unwrap();
    let output = hale(&["validate", "."], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "./db.yaml:8:5: spec.remediation.steps: the ladder needs at least one step (use `- action: notify` to only report)\n\
         ./notes.yaml:1:7: invalid YAML: unclosed bracket '['\n\
         ./web.yaml:10:15: spec.probes[0].period: invalid duration \"10x\" (expected e.g. \"10s\", \"5m\", \"1h30m\")\n\
         3 files checked: 0 policies and 0 notifiers valid; 3 errors, 0 warnings\n"
    );
}

#[test]
fn json_output_is_one_document_for_tools() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: p}\nspec: {mode: Maybe}\n",
    )
    .unwrap();
    let output = hale(&["validate", "-o", "json", "p.yaml"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["valid"], false);
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["file"], "p.yaml");
    assert_eq!(diagnostic["line"], 4);
    assert_eq!(diagnostic["column"], 14);
    assert_eq!(diagnostic["path"], "spec.mode");
}

#[test]
fn warnings_pass_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: p}\nspec: {mode: DryRun}\n",
    )
    .unwrap();
    assert_eq!(
        hale(&["validate", "p.yaml"], dir.path()).status.code(),
        Some(0)
    );
    assert_eq!(
        hale(&["validate", "--strict", "p.yaml"], dir.path())
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = hale(&["validate", "no-such-dir"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "hale validate: no-such-dir: no such file or directory (pass policy files or directories)\n"
    );
    assert_eq!(
        hale(&["validate", "--bogus"], dir.path()).status.code(),
        Some(2)
    );
    assert_eq!(
        hale(&["validate", "-o", "xml"], dir.path()).status.code(),
        Some(2)
    );
}

#[test]
fn schema_prints_the_committed_schema() {
    let output = hale(&["schema"], &repository());
    assert_eq!(output.status.code(), Some(0));
    let committed =
        std::fs::read_to_string(repository().join("docs/schema/healpolicy.v1alpha1.json")).unwrap();
    assert_eq!(stdout(&output), committed);
}

#[test]
fn explain_describes_a_field_like_kubectl() {
    let output = hale(
        &["explain", "healpolicy.spec.remediation.backoff"],
        &repository(),
    );
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "KIND:     HealPolicy\nVERSION:  hale.dev/v1alpha1\n\nFIELD: backoff <Backoff>\n"
        ),
        "{text}"
    );
    assert!(text.contains("  initial\t<Duration>\n"), "{text}");
    assert!(text.contains("  resetAfter\t<Duration>\n"), "{text}");
    let recursive = stdout(&hale(
        &["explain", "notifier", "--recursive"],
        &repository(),
    ));
    assert!(
        recursive.contains("      webhookUrl\t<SecretRef> -required-\n        fromEnv\t<string>\n"),
        "{recursive}"
    );
}

#[test]
fn explain_of_an_unknown_field_lists_the_real_ones_and_exits_2() {
    let output = hale(&["explain", "healpolicy.spec.probs"], &repository());
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "hale explain: field \"probs\" does not exist in spec (fields: selector, sites, probes, alerts, remediation, mode, notify, scope, identityLabel)\n"
    );
}

#[test]
fn explain_markdown_is_the_committed_reference() {
    let output = hale(&["explain", "--markdown"], &repository());
    let committed = std::fs::read_to_string(repository().join("docs/policy-reference.md")).unwrap();
    assert_eq!(stdout(&output), committed);
}

#[test]
fn get_and_describe_without_a_running_controller_say_how_to_reach_one() {
    // Port 1 on loopback: nothing listens there.
    for args in [
        &["get", "policies", "--server", "http://127.0.0.1:1"][..],
        &[
            "describe",
            "policy",
            "web",
            "--server",
            "http://127.0.0.1:1",
        ][..],
    ] {
        let output = hale(args, &repository());
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("cannot reach hale at http://127.0.0.1:1")
                && stderr.contains("HALE_SERVER"),
            "{stderr}"
        );
    }
}

#[test]
fn run_refuses_a_non_loopback_api_address() {
    let dir = tempfile::tempdir().unwrap();
    let output = hale(
        &[
            "run",
            "--policies",
            repository().join("policies").to_str().unwrap(),
            "--state-dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "0.0.0.0:9009",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to serve the API on 0.0.0.0:9009"),
        "{stderr}"
    );
}

#[test]
fn malformed_values_are_usage_errors_that_say_what_was_expected() {
    let dir = std::env::temp_dir();
    for (args, expected) in [
        (
            &["ack", "-l", "alertname", "--server", "127.0.0.1:1"][..],
            "expected NAME=VALUE",
        ),
        (&["ack", "-l", "a=b", "--for", "two hours"][..], "--for"),
        (
            &["events", "--since", "yesterday"][..],
            "expected a duration",
        ),
        (&["get", "policies", "--server", "ftp://x"][..], "http://"),
    ] {
        let output = hale(args, &dir);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Every command's failure is one error block on stderr, prefixed with the command as
/// typed, and its exit status says whose fault it is: 2 for what was asked, 1 for what
/// happened.
#[test]
fn every_command_fails_through_one_error_path_with_one_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    for (args, code, prefix) in [
        (
            &["events", "--kind", "nosuch", "--state-dir", state][..],
            2,
            "hale events: --kind",
        ),
        (
            &[
                "events",
                "-f",
                "--kind",
                "nosuch",
                "--server",
                "127.0.0.1:1",
            ][..],
            2,
            "hale events: --kind",
        ),
        (
            &["get", "targets", "--server", "127.0.0.1:1"][..],
            1,
            "hale get: cannot reach hale at http://127.0.0.1:1",
        ),
        (
            &["describe", "policy", "p", "--server", "127.0.0.1:1"][..],
            1,
            "hale describe: cannot reach hale",
        ),
        (
            &["pause", "p", "--server", "127.0.0.1:1"][..],
            1,
            "hale pause: this command needs the API token",
        ),
        (
            &["unquarantine", "web", "--state-dir", "/nonexistent/hale"][..],
            2,
            "hale unquarantine: no state directory",
        ),
        (
            &["notify", "test", "nosuch", "--policies", state][..],
            2,
            "hale notify test: no valid Notifier named \"nosuch\"",
        ),
        (
            &["run", "--policies", "/nonexistent/policies"][..],
            2,
            "hale run: policy directory /nonexistent/policies does not exist",
        ),
        (
            &["ready", "--server", "127.0.0.1:1"][..],
            1,
            "hale ready: cannot reach hale at http://127.0.0.1:1",
        ),
        (
            &["disable", "web", "--server", "127.0.0.1:1"][..],
            1,
            "hale disable: this command needs the API token",
        ),
        (
            &["enable", "web", "--server", "127.0.0.1:1"][..],
            1,
            "hale enable: this command needs the API token",
        ),
        (
            &["man", "/proc/hale-cannot-write-here"][..],
            1,
            "hale man: cannot write the manual pages into /proc/hale-cannot-write-here",
        ),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hale"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("HALE_API_TOKEN")
            .env_remove("HALE_API_TOKEN_FILE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.starts_with(prefix), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("hale ")).count(),
            1,
            "{args:?}: the error is printed once: {stderr}"
        );
    }
}

#[test]
fn man_pages_and_completions_are_generated_by_the_binary_itself() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hale"))
        .arg("man")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let page = std::fs::read_to_string(dir.path().join("hale.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH hale 1"),
        "{page}"
    );
    let run = std::fs::read_to_string(dir.path().join("hale-run.1")).unwrap();
    assert!(
        run.contains("policies"),
        "the run page documents its options"
    );
    for shell in ["bash", "zsh", "fish"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_hale"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && script.contains("unquarantine"),
            "{shell}: {script}"
        );
    }
}
