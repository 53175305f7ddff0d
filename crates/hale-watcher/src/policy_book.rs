//! The policy directory's bookkeeping across reloads: last-known-good resources,
//! generations, and which rejections were already reported. No I/O: the caller loads the
//! directory and persists the records.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use hale_core::{HealEvent, HealEventKind, RejectedFile, Timestamp};
use hale_policy::{
    Diagnostic, DocumentIndex, HealPolicy, HealPolicySpec, LastKnownGood, LoadReport, Located,
    Notifier, ObjectMeta,
};
use serde::{Deserialize, Serialize};

/// What hale remembers about a policy across reloads and restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    /// Bumped each time the spec in force changes, from 1.
    pub generation: u64,
    /// When hale first saw the policy.
    pub created_at: Timestamp,
    /// The spec in force, as JSON: what a change is detected against.
    pub spec: String,
    /// The file that defines it.
    pub file: PathBuf,
}

/// One policy in force, as the status API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFacts {
    /// The policy's name.
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// The line its document starts on.
    pub line: usize,
    /// Its generation.
    pub generation: u64,
    /// When hale first saw it.
    pub created_at: Timestamp,
    /// The spec in force.
    pub spec: HealPolicySpec,
    /// The errors of its file at this reload, when the file was rejected (the version in
    /// force is the previous one).
    pub rejected: Option<String>,
}

/// The outcome of one reload, for the controller.
#[derive(Debug, Clone)]
pub struct PolicyUpdate {
    /// The policies in force.
    pub policies: Arc<Vec<HealPolicy>>,
    /// The notifiers in force.
    pub notifiers: Arc<Vec<Notifier>>,
    /// Generations by policy name.
    pub generations: Arc<BTreeMap<String, u64>>,
    /// Each policy in force, for the status API.
    pub facts: Vec<PolicyFacts>,
    /// Files rejected at this reload that define no policy in force.
    pub rejected_files: Vec<RejectedFile>,
    /// `policy_applied`, `policy_rejected` and `policy_removed` records.
    pub events: Vec<HealEvent>,
    /// Every diagnostic of the load (errors and warnings), for the log.
    pub diagnostics: Vec<Diagnostic>,
    /// Records to persist (changed or new), and names whose records to delete.
    pub records: Vec<(String, PolicyRecord)>,
    /// Policies whose records to delete.
    pub forgotten: Vec<String>,
    /// The policies in force or their generations changed: the actors need the update.
    pub changed: bool,
}

/// The policies in force, as every actor that needs them receives them: in its arguments
/// when it starts or restarts, and on the policy port at each reload that changes them.
#[derive(Debug, Clone, Default)]
pub struct PolicySnapshot {
    /// The policies in force.
    pub policies: Arc<Vec<HealPolicy>>,
    /// Their generations, by name.
    pub generations: Arc<BTreeMap<String, u64>>,
    /// The notifiers in force.
    pub notifiers: Arc<Vec<Notifier>>,
    /// Whether the policies or their generations changed with this snapshot (when only
    /// notifiers changed, only the notifier needs it).
    pub policies_changed: bool,
}

impl PolicyUpdate {
    /// The snapshot of what this reload put in force.
    pub fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot {
            policies: Arc::clone(&self.policies),
            generations: Arc::clone(&self.generations),
            notifiers: Arc::clone(&self.notifiers),
            policies_changed: self.changed,
        }
    }
}

/// The directory's state across reloads. Shared by the incarnations of the PolicyWatcher,
/// so a restarted watcher keeps last-known-good.
#[derive(Debug, Default)]
pub struct PolicyBook {
    good: LastKnownGood,
    records: BTreeMap<String, PolicyRecord>,
    /// The errors last reported per rejected file, so each rejection is reported once.
    reported: BTreeMap<PathBuf, Vec<String>>,
}

impl PolicyBook {
    /// A book that remembers `records` (from the store) from an earlier run: their specs
    /// are the last known good versions, so a file that is broken (or a directory that is
    /// missing) when hale starts keeps the policies it had, instead of starting with none.
    pub fn new(records: BTreeMap<String, PolicyRecord>) -> Self {
        let mut good = LastKnownGood::default();
        for (name, record) in &records {
            let Ok(spec) = serde_json::from_str::<HealPolicySpec>(&record.spec) else {
                tracing::warn!(policy = %name, "ignoring an unreadable stored policy spec");
                continue;
            };
            good.seed(Located {
                resource: HealPolicy {
                    api_version: hale_policy::API_VERSION.to_owned(),
                    kind: "HealPolicy".to_owned(),
                    metadata: ObjectMeta {
                        name: name.clone(),
                        ..ObjectMeta::default()
                    },
                    spec,
                },
                file: record.file.clone(),
                index: Arc::new(DocumentIndex::default()),
            });
        }
        Self {
            good,
            records,
            ..Self::default()
        }
    }

    /// Applies a fresh load of the directory at `now`.
    pub fn reload(&mut self, report: LoadReport, now: Timestamp) -> PolicyUpdate {
        let summary = self.good.apply(report);
        let mut events = Vec::new();
        let mut records = Vec::new();
        let mut changed = false;

        // Errors by file, as people read them.
        let mut errors: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for diagnostic in summary.diagnostics.iter().filter(|d| d.is_error()) {
            errors
                .entry(diagnostic.file.clone())
                .or_default()
                .push(diagnostic.to_string());
        }

        let mut facts = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for located in self.good.policies() {
            let policy = &located.resource;
            let name = policy.metadata.name.clone();
            seen.insert(name.clone());
            let spec = serde_json::to_string(&policy.spec).unwrap_or_default();
            let record = match self.records.get(&name) {
                Some(old) if old.spec == spec && old.file == located.file => old.clone(),
                Some(old) if old.spec == spec => PolicyRecord {
                    file: located.file.clone(),
                    ..old.clone()
                },
                previous => {
                    let generation = previous.map_or(1, |old| old.generation + 1);
                    let what = if previous.is_some() {
                        format!("changed: generation {generation} from {}", located.origin())
                    } else {
                        format!("generation {generation} from {}", located.origin())
                    };
                    events.push(HealEvent::new(
                        now,
                        HealEventKind::PolicyApplied,
                        &name,
                        None,
                        what,
                    ));
                    changed = true;
                    PolicyRecord {
                        generation,
                        created_at: previous.map_or(now, |old| old.created_at),
                        spec,
                        file: located.file.clone(),
                    }
                }
            };
            if self.records.get(&name) != Some(&record) {
                records.push((name.clone(), record.clone()));
                self.records.insert(name.clone(), record.clone());
            }
            facts.push(PolicyFacts {
                name,
                file: located.file.clone(),
                line: located.index.start.line,
                generation: record.generation,
                created_at: record.created_at,
                spec: policy.spec.clone(),
                rejected: errors.get(&located.file).map(|e| e.join("; ")),
            });
        }

        let forgotten: Vec<String> = self
            .records
            .keys()
            .filter(|name| !seen.contains(*name))
            .cloned()
            .collect();
        for name in &forgotten {
            if let Some(record) = self.records.remove(name) {
                changed = true;
                events.push(HealEvent::new(
                    now,
                    HealEventKind::PolicyRemoved,
                    name,
                    None,
                    format!(
                        "no longer defined ({} was deleted or no longer contains it); its targets are no longer probed or remediated",
                        record.file.display()
                    ),
                ));
            }
        }

        let mut rejected_files = Vec::new();
        for (file, messages) in &errors {
            let owned = self.good.policies_of(file);
            if owned.is_empty() {
                rejected_files.push(RejectedFile {
                    file: file.display().to_string(),
                    errors: messages.clone(),
                });
            }
            if self.reported.get(file) == Some(messages) {
                continue;
            }
            let reason = |keeps: &str| format!("{}; {keeps}", messages.join("; "));
            if owned.is_empty() {
                let unreadable = summary.unreadable.iter().any(|kept| kept.starts_with(file));
                events.push(HealEvent::new(
                    now,
                    HealEventKind::PolicyRejected,
                    &file.display().to_string(),
                    None,
                    reason(if unreadable {
                        "what was defined under it stays in force"
                    } else {
                        "nothing from this file is in force"
                    }),
                ));
            }
            for name in owned {
                let generation = self.records.get(&name).map_or(0, |r| r.generation);
                events.push(HealEvent::new(
                    now,
                    HealEventKind::PolicyRejected,
                    &name,
                    None,
                    reason(&format!("generation {generation} keeps running")),
                ));
            }
        }
        self.reported = errors;

        PolicyUpdate {
            policies: Arc::new(self.good.policies().map(|p| p.resource.clone()).collect()),
            notifiers: Arc::new(self.good.notifiers().map(|n| n.resource.clone()).collect()),
            generations: Arc::new(
                self.records
                    .iter()
                    .map(|(name, record)| (name.clone(), record.generation))
                    .collect(),
            ),
            facts,
            rejected_files,
            events,
            diagnostics: summary.diagnostics,
            records,
            forgotten,
            changed,
        }
    }
}
