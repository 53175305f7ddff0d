//! Reading policy files and directories into typed resources.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use walkdir::WalkDir;

use crate::diagnostic::{Diagnostic, Position};
use crate::located::{Located, PolicySet};
use crate::meta::API_VERSION;
use crate::notifier::Notifier;
use crate::policy::HealPolicy;
use crate::validate::validate;
use crate::yaml::{self, Document};
use crate::yaml_index::DocumentIndex;
use crate::yaml_value::{ValueError, YamlValue};

/// Policy files larger than this are refused unread: a policy is a few kilobytes, and a
/// controller must not let one stray file exhaust its memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The outcome of loading: the accepted resources and every diagnostic, sorted by file and
/// position.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Resources that parsed and validated without errors.
    pub set: PolicySet,
    /// Errors and warnings from every file.
    pub diagnostics: Vec<Diagnostic>,
    /// The files that were read.
    pub files: Vec<PathBuf>,
}

impl LoadReport {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads and validates every policy file under `paths`.
///
/// A path may be a file (read whatever its name) or a directory, walked recursively for
/// `*.yaml` and `*.yml` files in name order; hidden files and directories (a leading `.`,
/// which also skips the `..data` directories of Kubernetes ConfigMap volumes) and editor
/// backups are skipped. Symlinks are followed; a symlink loop is reported, not followed.
///
/// # Guarantees
/// Never panics and never stops at the first problem: every file is read, every document
/// checked, and each problem becomes a [`Diagnostic`] with file, line, column and field
/// path. A resource with an error is left out of [`LoadReport::set`]; everything else is
/// in it. Memory stays bounded: files over [`MAX_FILE_BYTES`] are refused unread, and
/// nesting and alias expansion are capped (see [`yaml`]).
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> LoadReport {
    let mut report = LoadReport::default();
    let mut documents = Vec::new();
    for file in discover(paths, &mut report.diagnostics) {
        match read_policy_file(&file) {
            Ok(text) => {
                documents.extend(parse_documents(&file, &text, &mut report.diagnostics));
            }
            Err(diagnostic) => report.diagnostics.push(diagnostic),
        }
        report.files.push(file);
    }
    finish(report, documents)
}

/// Loads and validates resources from YAML text, as if read from `file`. For tests and for
/// content that does not come from disk.
pub fn load_str(file: impl AsRef<Path>, text: &str) -> LoadReport {
    let file = file.as_ref().to_path_buf();
    let mut report = LoadReport::default();
    let documents = parse_documents(&file, text, &mut report.diagnostics);
    report.files.push(file);
    finish(report, documents)
}

fn finish(mut report: LoadReport, documents: Vec<Resource>) -> LoadReport {
    let mut candidates = PolicySet::default();
    for document in documents {
        match document {
            Resource::Policy(policy) => candidates.policies.push(policy),
            Resource::Notifier(notifier) => candidates.notifiers.push(notifier),
        }
    }
    let findings = validate(&candidates);
    let rejected: HashSet<(PathBuf, Position)> = findings
        .iter()
        .filter(|d| d.is_error())
        .filter_map(|d| d.document.clone())
        .collect();
    report
        .diagnostics
        .extend(findings.into_iter().map(|finding| finding.diagnostic));
    let keep =
        |file: &Path, index: &DocumentIndex| !rejected.contains(&(file.to_path_buf(), index.start));
    report.set.policies = candidates
        .policies
        .into_iter()
        .filter(|p| keep(&p.file, &p.index))
        .collect();
    report.set.notifiers = candidates
        .notifiers
        .into_iter()
        .filter(|n| keep(&n.file, &n.index))
        .collect();
    report
        .diagnostics
        .sort_by(|a, b| (&a.file, a.position, a.severity).cmp(&(&b.file, b.position, b.severity)));
    report
}

/// One typed document. Short-lived (one per document, moved straight into a list), so
/// the size difference between the variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Resource {
    Policy(Located<HealPolicy>),
    Notifier(Located<Notifier>),
}

/// Lists the policy files under `paths`, reporting paths that cannot be walked.
fn discover<P: AsRef<Path>>(paths: &[P], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for root in paths {
        let root = root.as_ref();
        let metadata = match std::fs::metadata(root) {
            Ok(metadata) => metadata,
            Err(error) => {
                diagnostics.push(Diagnostic::error(
                    root,
                    None,
                    "",
                    format!("cannot read: {}", io_message(&error)),
                ));
                continue;
            }
        };
        if !metadata.is_dir() {
            // A file named explicitly is read whatever its extension.
            if seen.insert(canonical(root)) {
                files.push(root.to_path_buf());
            }
            continue;
        }
        let walker = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));
        for entry in walker {
            match entry {
                Ok(entry) => {
                    if entry.file_type().is_dir() || !is_policy_file_name(entry.file_name()) {
                        continue;
                    }
                    if seen.insert(canonical(entry.path())) {
                        files.push(entry.into_path());
                    }
                }
                Err(error) => diagnostics.push(walk_diagnostic(root, &error)),
            }
        }
    }
    files
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn walk_diagnostic(root: &Path, error: &walkdir::Error) -> Diagnostic {
    let path = error.path().unwrap_or(root);
    let message = if let Some(ancestor) = error.loop_ancestor() {
        format!(
            "symlink loop: this directory leads back to {}; skipped (remove or retarget the link)",
            ancestor.display()
        )
    } else if let Some(io) = error.io_error() {
        format!("cannot read: {}", io_message(io))
    } else {
        error.to_string()
    };
    Diagnostic::error(path, None, "", message)
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|name| name.starts_with('.'))
}

/// `*.yaml` and `*.yml`, but not editor leftovers such as `#web.yaml#`.
fn is_policy_file_name(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !name.starts_with('#')
        && !name.starts_with('.')
}

fn io_message(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (check the file's owner and mode)".into()
        }
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => error.to_string(),
    }
}

/// Reads one file, refusing what is not a small, regular, UTF-8 text file.
fn read_policy_file(file: &Path) -> Result<String, Diagnostic> {
    let whole_file = |message: String| Diagnostic::error(file, None, "", message);
    let metadata = std::fs::metadata(file)
        .map_err(|e| whole_file(format!("cannot read: {}", io_message(&e))))?;
    if !metadata.is_file() {
        // Opening a FIFO or a device would block or read forever.
        return Err(whole_file(
            "not a regular file (a pipe, socket or device); remove it from the policy directory"
                .into(),
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(whole_file(too_large(metadata.len())));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    File::open(file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| whole_file(format!("cannot read: {}", io_message(&e))))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(whole_file(too_large(bytes.len() as u64)));
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        Diagnostic::error(
            file,
            Some(Position { line, column }),
            "",
            "invalid UTF-8 (policy files must be UTF-8 text; re-save the file as UTF-8)",
        )
    })
}

fn too_large(len: u64) -> String {
    format!(
        "file is {:.1} MiB, over the {} MiB limit for a policy file; split it into several files",
        len as f64 / (1024.0 * 1024.0),
        MAX_FILE_BYTES / (1024 * 1024)
    )
}

/// Parses every document of one file into typed resources.
fn parse_documents(file: &Path, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Resource> {
    let documents = match yaml::parse(text) {
        Ok(documents) => documents,
        Err(failure) => {
            diagnostics.push(Diagnostic::error(
                file,
                Some(failure.position),
                "",
                format!("invalid YAML: {}", failure.message),
            ));
            return Vec::new();
        }
    };
    let mut resources = Vec::new();
    for Document { index, value } in documents {
        let index = Arc::new(index);
        let error_at = |path: &str, message: String| {
            Diagnostic::error(file, Some(index.value_position(path)), path, message)
        };
        if index.api_version.as_deref() != Some(API_VERSION) {
            diagnostics.push(error_at(
                "apiVersion",
                match &index.api_version {
                    Some(other) => {
                        format!("unsupported apiVersion {other:?} (expected {API_VERSION:?})")
                    }
                    None => format!("missing field `apiVersion` (expected {API_VERSION:?})"),
                },
            ));
            continue;
        }
        let resource = match index.kind.as_deref() {
            Some("HealPolicy") => typed(file, &index, value, diagnostics).map(Resource::Policy),
            Some("Notifier") => typed(file, &index, value, diagnostics).map(Resource::Notifier),
            Some(other) => {
                diagnostics.push(error_at(
                    "kind",
                    format!("unknown kind {other:?} (expected HealPolicy or Notifier)"),
                ));
                None
            }
            None => {
                diagnostics.push(error_at(
                    "kind",
                    "missing field `kind` (expected HealPolicy or Notifier)".into(),
                ));
                None
            }
        };
        resources.extend(resource);
    }
    resources
}

fn typed<T: DeserializeOwned>(
    file: &Path,
    index: &Arc<DocumentIndex>,
    value: YamlValue,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Located<T>> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(resource) => Some(Located {
            resource,
            file: file.to_path_buf(),
            index: Arc::clone(index),
        }),
        Err(error) => {
            diagnostics.push(deserialize_diagnostic(file, index, &error));
            None
        }
    }
}

/// Turns a deserialization error into a diagnostic at the field it is about.
fn deserialize_diagnostic(
    file: &Path,
    index: &DocumentIndex,
    error: &serde_path_to_error::Error<ValueError>,
) -> Diagnostic {
    let path = error.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = error.inner().to_string();
    let position = if message.starts_with("unknown field") || message.starts_with("missing field") {
        index.key_position(&path)
    } else {
        index.value_position(&path)
    };
    let message = if message.starts_with("unknown field") {
        format!("{message} (fields are case-sensitive; see `hale explain`)")
    } else {
        message
    };
    Diagnostic::error(file, Some(position), path, message)
}
