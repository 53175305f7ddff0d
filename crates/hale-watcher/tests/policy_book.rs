//! The policy book across reloads and restarts: generations, and last-known-good carried
//! over from the previous run when the directory is broken or missing at start.

use std::collections::BTreeMap;

use hale_core::{HealEventKind, Timestamp};
use hale_watcher::PolicyBook;

fn policy(name: &str, threshold: u32) -> String {
    format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  probes:\n  - name: health\n    dockerHealth: {{}}\n    failureThreshold: {threshold}\n"
    )
}

fn kinds(update: &hale_watcher::PolicyUpdate) -> Vec<HealEventKind> {
    update.events.iter().map(|e| e.kind).collect()
}

#[test]
fn generations_count_spec_changes_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yaml");
    std::fs::write(&file, policy("web", 3)).unwrap();
    let mut book = PolicyBook::default();
    let first = book.reload(hale_policy::load_paths(&[dir.path()]), Timestamp::now());
    assert_eq!(first.generations["web"], 1);
    assert_eq!(kinds(&first), [HealEventKind::PolicyApplied]);
    // Same spec: nothing to report, nothing changed.
    let again = book.reload(hale_policy::load_paths(&[dir.path()]), Timestamp::now());
    assert!(!again.changed && again.events.is_empty());
    std::fs::write(&file, policy("web", 4)).unwrap();
    let second = book.reload(hale_policy::load_paths(&[dir.path()]), Timestamp::now());
    assert_eq!(second.generations["web"], 2);

    // A restart: the records come back from the store; the same spec is not a change.
    let records: BTreeMap<_, _> = second.records.into_iter().collect();
    let mut restarted = PolicyBook::new(records.clone());
    let after = restarted.reload(hale_policy::load_paths(&[dir.path()]), Timestamp::now());
    assert_eq!(after.generations["web"], 2);
    assert!(after.events.is_empty(), "{:?}", after.events);

    // Broken at start: the previous run's version keeps running, and nothing is forgotten.
    std::fs::write(&file, "spec: [").unwrap();
    let mut broken = PolicyBook::new(records.clone());
    let update = broken.reload(hale_policy::load_paths(&[dir.path()]), Timestamp::now());
    assert_eq!(update.policies.len(), 1);
    assert_eq!(update.policies[0].spec.probes[0].failure_threshold, Some(4));
    assert!(update.forgotten.is_empty());
    assert_eq!(kinds(&update), [HealEventKind::PolicyRejected]);

    // Missing at start: the same.
    let missing = dir.path().join("gone");
    let mut moved = PolicyBook::new(
        records
            .into_iter()
            .map(|(name, mut record)| {
                record.file = missing.join("web.yaml");
                (name, record)
            })
            .collect(),
    );
    let update = moved.reload(hale_policy::load_paths(&[&missing]), Timestamp::now());
    assert_eq!(update.policies.len(), 1);
    assert!(update.forgotten.is_empty());
    assert_eq!(kinds(&update), [HealEventKind::PolicyRejected]);
    assert!(
        update.events[0].reason.contains("stays in force"),
        "{}",
        update.events[0].reason
    );
}
