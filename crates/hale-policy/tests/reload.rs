//! Last-known-good across reloads of a real directory.

use std::path::Path;

use hale_policy::{LastKnownGood, load_paths};

fn policy(name: &str, threshold: u32) -> String {
    format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  probes:\n  - name: health\n    dockerHealth: {{}}\n    failureThreshold: {threshold}\n"
    )
}

fn reload(book: &mut LastKnownGood, root: &Path) -> hale_policy::ReloadSummary {
    book.apply(load_paths(&[root]))
}

/// (name, failureThreshold) of every policy in force.
fn in_force(book: &LastKnownGood) -> Vec<(String, u32)> {
    let mut all: Vec<_> = book
        .policies()
        .map(|p| {
            (
                p.resource.metadata.name.clone(),
                p.resource.spec.probes[0].effective_failure_threshold(),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn a_broken_file_keeps_its_previous_version_and_says_where_it_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("web.yaml"), policy("web", 3)).unwrap();
    std::fs::write(root.join("db.yaml"), policy("db", 3)).unwrap();
    let mut book = LastKnownGood::default();
    assert!(reload(&mut book, root).kept.is_empty());

    // web.yaml is half-written; db.yaml changes validly.
    std::fs::write(
        root.join("web.yaml"),
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web\n",
    )
    .unwrap();
    std::fs::write(root.join("db.yaml"), policy("db", 5)).unwrap();
    let summary = reload(&mut book, root);
    assert_eq!(in_force(&book), [("db".into(), 5), ("web".into(), 3)]);
    let errors = &summary.kept[&root.join("web.yaml")];
    assert!(
        errors[0]
            .to_string()
            .starts_with(&format!("{}:", root.join("web.yaml").display())),
        "{}",
        errors[0]
    );
    assert!(errors[0].position.is_some(), "errors carry line:col");
    assert!(summary.removed.is_empty());

    // Fixed: the new version replaces the old one.
    std::fs::write(root.join("web.yaml"), policy("web", 7)).unwrap();
    let summary = reload(&mut book, root);
    assert!(summary.kept.is_empty());
    assert_eq!(in_force(&book), [("db".into(), 5), ("web".into(), 7)]);
}

#[test]
fn a_deleted_file_removes_its_policies_but_a_vanished_directory_removes_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("policies");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("web.yaml"), policy("web", 3)).unwrap();
    std::fs::write(root.join("db.yaml"), policy("db", 3)).unwrap();
    let mut book = LastKnownGood::default();
    reload(&mut book, &root);

    std::fs::remove_file(root.join("db.yaml")).unwrap();
    let summary = reload(&mut book, &root);
    assert_eq!(summary.removed, ["db"]);
    assert_eq!(in_force(&book), [("web".into(), 3)]);

    std::fs::rename(&root, parent.path().join("elsewhere")).unwrap();
    let summary = reload(&mut book, &root);
    assert_eq!(summary.unreadable, [root.join("web.yaml")]);
    assert!(summary.removed.is_empty());
    assert_eq!(in_force(&book), [("web".into(), 3)]);
}

#[test]
fn a_new_broken_file_adds_nothing_and_a_duplicate_of_a_kept_policy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("web.yaml"), policy("web", 3)).unwrap();
    let mut book = LastKnownGood::default();
    reload(&mut book, root);

    std::fs::write(root.join("new.yaml"), "kind: [").unwrap();
    let summary = reload(&mut book, root);
    assert!(summary.kept.contains_key(&root.join("new.yaml")));
    assert_eq!(in_force(&book), [("web".into(), 3)]);

    // web.yaml breaks while a new file defines "web" too: the running one wins.
    std::fs::write(root.join("web.yaml"), "metadata: [").unwrap();
    std::fs::write(root.join("web2.yaml"), policy("web", 9)).unwrap();
    let summary = reload(&mut book, root);
    assert_eq!(in_force(&book), [("web".into(), 3)]);
    assert!(
        summary
            .diagnostics
            .iter()
            .any(|d| d.file == root.join("web2.yaml") && d.message.contains("also defined in")),
        "{:?}",
        summary.diagnostics
    );
}
