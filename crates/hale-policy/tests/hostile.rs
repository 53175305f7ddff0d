//! Hostile and odd input: every case gives a clear diagnostic, bounded memory, no panic and
//! no hang. Also the rules of directory loading (recursion, hidden files, backups).

use std::fs;
use std::path::Path;

use hale_policy::{MAX_FILE_BYTES, load_paths};

const VALID: &str = "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  name: NAME\nspec:\n  selector:\n    matchLabels: {app: web}\n";

fn valid(name: &str) -> String {
    VALID.replace("NAME", name)
}

/// Diagnostics with the temporary directory's path replaced by `DIR`.
fn diagnostics(dir: &Path) -> Vec<String> {
    let report = load_paths(&[dir]);
    report
        .diagnostics
        .iter()
        .map(|d| d.to_string().replace(&dir.display().to_string(), "DIR"))
        .collect()
}

fn policy_names(dir: &Path) -> Vec<String> {
    load_paths(&[dir])
        .set
        .policies
        .iter()
        .map(|p| p.resource.metadata.name.clone())
        .collect()
}

#[test]
fn a_billion_laughs_alias_bomb_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..=9 {
        let previous = format!("*a{}", level - 1);
        let items = [previous.as_str(); 9].join(", ");
        bomb.push_str(&format!("x{level}: &a{level} [{items}]\n"));
    }
    bomb.push_str("metadata:\n  name: bomb\n  annotations: *a9\nspec: {}\n");
    fs::write(dir.path().join("bomb.yaml"), bomb).unwrap();
    let started = std::time::Instant::now();
    let found = diagnostics(dir.path());
    assert_eq!(
        found,
        [
            "DIR/bomb.yaml:8:15: invalid YAML: aliases replay more than 200000 events (an alias bomb?); policies never need that"
        ]
    );
    // Refused while expanding, long before a billion nodes (generous: debug build, shared machine).
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn an_alias_bomb_inside_a_known_field_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata:\n  name: bomb\n  annotations:\n    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..=9 {
        let previous = format!("*a{}", level - 1);
        let items = [previous.as_str(); 9].join(", ");
        bomb.push_str(&format!("    a{level}: &a{level} [{items}]\n"));
    }
    fs::write(dir.path().join("bomb.yaml"), bomb).unwrap();
    let found = diagnostics(dir.path());
    assert_eq!(
        found,
        [
            "DIR/bomb.yaml:11:19: invalid YAML: aliases replay more than 200000 events (an alias bomb?); policies never need that"
        ]
    );
}

#[test]
fn a_deeply_nested_document_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let flow = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nspec: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    fs::write(dir.path().join("flow.yaml"), flow).unwrap();
    let mut block = String::from("apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nspec:\n");
    for depth in 1..=100 {
        block.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
    }
    fs::write(dir.path().join("block.yaml"), block).unwrap();
    assert_eq!(
        diagnostics(dir.path()),
        [
            "DIR/block.yaml:35:33: invalid YAML: document is nested more than 32 levels deep; policies never need that",
            "DIR/flow.yaml:3:262: invalid YAML: document is nested more than 32 levels deep; policies never need that",
        ]
    );
}

#[test]
fn a_50_megabyte_file_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let big = fs::File::create(dir.path().join("big.yaml")).unwrap();
    big.set_len(50 * 1024 * 1024).unwrap();
    assert_eq!(
        diagnostics(dir.path()),
        [
            "DIR/big.yaml: file is 50.0 MiB, over the 1 MiB limit for a policy file; split it into several files"
        ]
    );
    assert_eq!(MAX_FILE_BYTES, 1024 * 1024);
}

#[test]
fn invalid_utf8_is_reported_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = valid("latin").into_bytes();
    bytes.extend_from_slice(b"  mode: Enf\xF6rce\n");
    fs::write(dir.path().join("latin1.yaml"), bytes).unwrap();
    assert_eq!(
        diagnostics(dir.path()),
        [
            "DIR/latin1.yaml:8:12: invalid UTF-8 (policy files must be UTF-8 text; re-save the file as UTF-8)"
        ]
    );
}

#[test]
fn a_symlink_loop_is_reported_and_the_rest_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("team")).unwrap();
    fs::write(dir.path().join("team/web.yaml"), valid("web")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("team/loop")).unwrap();
    assert_eq!(
        diagnostics(dir.path()),
        [
            "DIR/team/loop: symlink loop: this directory leads back to DIR; skipped (remove or retarget the link)"
        ]
    );
    assert_eq!(policy_names(dir.path()), ["web"]);
}

#[test]
fn an_unreadable_file_is_reported_with_the_operating_systems_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Reading /proc/self/mem at offset 0 fails with EIO even for root, which makes a file
    // that is unreadable whoever runs the tests (chmod 000 does not stop root).
    std::os::unix::fs::symlink("/proc/self/mem", dir.path().join("mem.yaml")).unwrap();
    fs::write(dir.path().join("ok.yaml"), valid("ok")).unwrap();
    let found = diagnostics(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("DIR/mem.yaml: cannot read: Input/output error"),
        "{found:?}"
    );
    assert_eq!(policy_names(dir.path()), ["ok"]);
}

#[test]
fn a_fifo_is_refused_instead_of_blocking_forever() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
    assert_eq!(
        diagnostics(dir.path()),
        [
            "DIR/pipe.yaml: not a regular file (a pipe, socket or device); remove it from the policy directory"
        ]
    );
}

#[test]
fn directories_are_read_recursively_with_multi_document_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("a/b")).unwrap();
    fs::write(dir.path().join("top.yml"), valid("top")).unwrap();
    fs::write(
        dir.path().join("a/b/two.yaml"),
        format!("{}---\n{}", valid("second"), valid("third")),
    )
    .unwrap();
    assert!(diagnostics(dir.path()).is_empty());
    assert_eq!(policy_names(dir.path()), ["second", "third", "top"]);
}

#[test]
fn hidden_files_editor_backups_and_other_extensions_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("web.yaml"), valid("web")).unwrap();
    for ignored in [
        ".web.yaml.swp",
        ".#web.yaml",
        "#web.yaml#",
        "web.yaml~",
        "web.yaml.bak",
        "README.md",
        ".hidden.yaml",
    ] {
        fs::write(dir.path().join(ignored), "this: [is not valid").unwrap();
    }
    // Kubernetes ConfigMap volumes keep the real files in a hidden `..data` directory and
    // link them from the top; each file is read once, through the link.
    fs::create_dir(dir.path().join("..2026_11_23")).unwrap();
    fs::write(dir.path().join("..2026_11_23/cm.yaml"), valid("cm")).unwrap();
    std::os::unix::fs::symlink("..2026_11_23", dir.path().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/cm.yaml", dir.path().join("cm.yaml")).unwrap();
    assert_eq!(diagnostics(dir.path()), Vec::<String>::new());
    assert_eq!(policy_names(dir.path()), ["cm", "web"]);
}

#[test]
fn a_yaml_syntax_error_is_reported_with_the_parsers_position() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: hale.dev/v1alpha1\nkind: [HealPolicy\n",
    )
    .unwrap();
    let found = diagnostics(dir.path());
    assert_eq!(found.len(), 1);
    assert!(
        found[0] == "DIR/broken.yaml:2:7: invalid YAML: unclosed bracket '['",
        "{found:?}"
    );
}

#[test]
fn a_missing_path_is_an_error_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let report = load_paths(&[&missing]);
    assert!(report.has_errors());
    assert_eq!(
        report.diagnostics[0].to_string(),
        format!(
            "{}: cannot read: no such file or directory",
            missing.display()
        )
    );
}

#[test]
fn errors_in_several_files_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a.yaml"),
        valid("a").replace("{app: web}", "[web]"),
    )
    .unwrap();
    fs::write(dir.path().join("b.yaml"), valid("b") + "  mode: Maybe\n").unwrap();
    fs::write(dir.path().join("c.yaml"), valid("c")).unwrap();
    let found = diagnostics(dir.path());
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("DIR/a.yaml:7:5: spec.selector.matchLabels: invalid type: sequence"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("DIR/b.yaml:8:9: spec.mode: unknown variant `Maybe`"),
        "{found:?}"
    );
    assert_eq!(policy_names(dir.path()), ["c"]);
}
