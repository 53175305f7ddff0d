//! Last-known-good: what a running controller keeps when the policy directory changes.
//!
//! A reload reads the whole directory with [`load_paths`](crate::load_paths), the same code
//! `hale validate` runs, and then decides file by file:
//! - a file without errors replaces what it defined before (adds, changes, removes);
//! - a file with an error keeps the version that was in force, unchanged, and its errors
//!   are reported (a half-written or broken file never changes what runs);
//! - a file that is gone removes what it defined (deleting a file is deliberate);
//! - but when the directory itself (or a subdirectory) cannot be read, nothing under it is
//!   taken as deleted: a directory swapped or remounted under hale's feet is not an
//!   instruction to stop healing everything.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::load::LoadReport;
use crate::located::Located;
use crate::notifier::Notifier;
use crate::policy::HealPolicy;

/// The resources one file contributes.
#[derive(Debug, Clone, Default)]
struct FileResources {
    policies: Vec<Located<HealPolicy>>,
    notifiers: Vec<Located<Notifier>>,
}

/// The resources in force, by the file that defined them.
#[derive(Debug, Clone, Default)]
pub struct LastKnownGood {
    files: BTreeMap<PathBuf, FileResources>,
}

/// What one reload changed and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Every diagnostic of the load, plus the duplicates the merge refused.
    pub diagnostics: Vec<Diagnostic>,
    /// Files with errors whose previous version stays in force, with those errors.
    pub kept: BTreeMap<PathBuf, Vec<Diagnostic>>,
    /// Files that could not be read at all (the directory is missing, or a subdirectory is
    /// unreadable): what they defined stays in force.
    pub unreadable: Vec<PathBuf>,
    /// Names of the policies that are gone because their file (or document) is.
    pub removed: Vec<String>,
}

impl LastKnownGood {
    /// Applies a fresh load of the policy directory (from
    /// [`load_paths`](crate::load_paths)): see the module documentation for the rules.
    pub fn apply(&mut self, mut report: LoadReport) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let errors_of = |file: &Path, diagnostics: &[Diagnostic]| -> Vec<Diagnostic> {
            diagnostics
                .iter()
                .filter(|d| d.is_error() && d.file == file)
                .cloned()
                .collect()
        };
        // Directories (or the root) that could not be walked: files under them may exist.
        let unreadable_dirs: Vec<PathBuf> = report
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && d.position.is_none() && !report.files.contains(&d.file))
            .map(|d| d.file.clone())
            .collect();

        let mut next: BTreeMap<PathBuf, FileResources> = BTreeMap::new();
        for file in &report.files {
            let errors = errors_of(file, &report.diagnostics);
            if errors.is_empty() {
                next.insert(file.clone(), FileResources::default());
            } else {
                if let Some(previous) = self.files.get(file) {
                    next.insert(file.clone(), previous.clone());
                }
                summary.kept.insert(file.clone(), errors);
            }
        }
        for policy in std::mem::take(&mut report.set.policies) {
            if let Some(resources) = next.get_mut(&policy.file)
                && !summary.kept.contains_key(&policy.file)
            {
                resources.policies.push(policy);
            }
        }
        for notifier in std::mem::take(&mut report.set.notifiers) {
            if let Some(resources) = next.get_mut(&notifier.file)
                && !summary.kept.contains_key(&notifier.file)
            {
                resources.notifiers.push(notifier);
            }
        }
        for (file, previous) in &self.files {
            if next.contains_key(file) {
                continue;
            }
            let under_unreadable = unreadable_dirs.iter().any(|dir| file.starts_with(dir));
            if under_unreadable {
                next.insert(file.clone(), previous.clone());
                summary.unreadable.push(file.clone());
            }
        }
        summary.diagnostics = report.diagnostics;
        let mut owners: std::collections::BTreeSet<PathBuf> =
            summary.kept.keys().cloned().collect();
        owners.extend(summary.unreadable.iter().cloned());
        refuse_duplicates(&mut next, &owners, &mut summary.diagnostics);

        let before: Vec<String> = self.policy_names();
        self.files = next;
        let after: std::collections::HashSet<String> = self.policy_names().into_iter().collect();
        summary.removed = before.into_iter().filter(|n| !after.contains(n)).collect();
        summary
    }

    /// Puts `policy` in force as if an earlier load had accepted it from its file: how a
    /// restarted controller carries on with the last good version of a file that is broken
    /// (or a directory that is missing) when it starts.
    pub fn seed(&mut self, policy: Located<HealPolicy>) {
        self.files
            .entry(policy.file.clone())
            .or_default()
            .policies
            .push(policy);
    }

    /// Every policy in force, in file order.
    pub fn policies(&self) -> impl Iterator<Item = &Located<HealPolicy>> {
        self.files.values().flat_map(|f| f.policies.iter())
    }

    /// Every notifier in force, in file order.
    pub fn notifiers(&self) -> impl Iterator<Item = &Located<Notifier>> {
        self.files.values().flat_map(|f| f.notifiers.iter())
    }

    /// The names of the policies a file contributes now.
    pub fn policies_of(&self, file: &Path) -> Vec<String> {
        self.files
            .get(file)
            .map(|f| {
                f.policies
                    .iter()
                    .map(|p| p.resource.metadata.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn policy_names(&self) -> Vec<String> {
        self.policies()
            .map(|p| p.resource.metadata.name.clone())
            .collect()
    }
}

/// A name defined twice after the merge (a kept old file — broken, or under an unreadable
/// directory — and a new valid one, which the load could not compare): the version in
/// force wins, the newcomer is refused with a diagnostic.
fn refuse_duplicates(
    files: &mut BTreeMap<PathBuf, FileResources>,
    kept: &std::collections::BTreeSet<PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut owner: HashMap<(bool, String), PathBuf> = HashMap::new();
    for (file, resources) in files.iter().filter(|(f, _)| kept.contains(*f)) {
        for p in &resources.policies {
            owner.insert((true, p.resource.metadata.name.clone()), file.clone());
        }
        for n in &resources.notifiers {
            owner.insert((false, n.resource.metadata.name.clone()), file.clone());
        }
    }
    for (file, resources) in files.iter_mut().filter(|(f, _)| !kept.contains(*f)) {
        let mut refuse = |policy: bool, name: &str, origin: String| -> bool {
            let Some(other) = owner.get(&(policy, name.to_owned())) else {
                return false;
            };
            let kind = if policy { "HealPolicy" } else { "Notifier" };
            diagnostics.push(Diagnostic::error(
                file.clone(),
                None,
                "metadata.name",
                format!(
                    "{kind} {name:?} at {origin} is also defined in {}, whose version stays in force because that file has errors; fix it or rename one",
                    other.display()
                ),
            ));
            true
        };
        resources
            .policies
            .retain(|p| !refuse(true, &p.resource.metadata.name, p.origin()));
        resources
            .notifiers
            .retain(|n| !refuse(false, &n.resource.metadata.name, n.origin()));
    }
}
