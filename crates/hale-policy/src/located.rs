//! What loading produces: each resource with the file and positions it was read from, and
//! the set of resources that passed validation (read by `load` and `validate` alike).

use std::path::PathBuf;
use std::sync::Arc;

use crate::diagnostic::Position;
use crate::notifier::Notifier;
use crate::policy::HealPolicy;
use crate::yaml_index::DocumentIndex;

/// A resource together with where it was read from.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The resource.
    pub resource: T,
    /// The file it came from.
    pub file: PathBuf,
    /// Field positions within that file's document.
    pub index: Arc<DocumentIndex>,
}

impl<T> Located<T> {
    /// The position of the value at a field path such as `spec.probes[0].period`.
    pub fn position(&self, path: &str) -> Position {
        self.index.value_position(path)
    }

    /// `file:line:col` of the document, for messages that point at another resource.
    pub fn origin(&self) -> String {
        let Position { line, column } = self.index.start;
        format!("{}:{line}:{column}", self.file.display())
    }
}

/// Every resource that was read and passed validation, plus what was found on the way.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// The valid `HealPolicy` resources, in file order.
    pub policies: Vec<Located<HealPolicy>>,
    /// The valid `Notifier` resources, in file order.
    pub notifiers: Vec<Located<Notifier>>,
}

impl PolicySet {
    /// The policy called `name`.
    pub fn policy(&self, name: &str) -> Option<&Located<HealPolicy>> {
        self.policies
            .iter()
            .find(|p| p.resource.metadata.name == name)
    }

    /// The notifier called `name`.
    pub fn notifier(&self, name: &str) -> Option<&Located<Notifier>> {
        self.notifiers
            .iter()
            .find(|n| n.resource.metadata.name == name)
    }
}
