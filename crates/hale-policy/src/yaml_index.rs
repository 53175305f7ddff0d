//! A map from field paths to source positions.
//!
//! A deserialized value forgets where it came from, but type errors ("invalid type") and
//! semantic validation ("`notify` names a missing Notifier") must point at the field. The
//! YAML reader ([`crate::yaml`]) records, for every field path (`spec.probes[1].period`),
//! the line and column of its key and of its value, from the same parse that produced the
//! value.

use std::collections::HashMap;

use crate::diagnostic::Position;

/// Field positions of one YAML document.
#[derive(Debug, Clone, Default)]
pub struct DocumentIndex {
    /// Where the document's content starts.
    pub start: Position,
    /// The top-level `kind` scalar, if any.
    pub kind: Option<String>,
    /// The top-level `apiVersion` scalar, if any.
    pub api_version: Option<String>,
    /// Field path to (key position, value position).
    spans: HashMap<String, Span>,
}

/// Where a field's key and value are.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    key: Option<Position>,
    value: Option<Position>,
}

impl DocumentIndex {
    /// The position of the value at `path`, else of its nearest ancestor, else the document
    /// start.
    pub fn value_position(&self, path: &str) -> Position {
        self.lookup(path, |span| span.value.or(span.key))
    }

    /// The position of the key at `path` (falling back like [`Self::value_position`]).
    pub fn key_position(&self, path: &str) -> Position {
        self.lookup(path, |span| span.key.or(span.value))
    }

    fn lookup(&self, path: &str, pick: impl Fn(&Span) -> Option<Position>) -> Position {
        let mut current = path;
        loop {
            if let Some(position) = self.spans.get(current).and_then(&pick) {
                return position;
            }
            match parent_path(current) {
                Some(parent) => current = parent,
                None => return self.start,
            }
        }
    }

    /// An empty index of a document whose content starts at `start`.
    pub(crate) fn starting_at(start: Position) -> Self {
        Self {
            start,
            ..Self::default()
        }
    }

    pub(crate) fn set_value(&mut self, path: String, here: Position) {
        self.spans.entry(path).or_default().value = Some(here);
    }

    pub(crate) fn set_key(&mut self, path: String, here: Position) {
        self.spans.entry(path).or_default().key = Some(here);
    }
}

/// `spec.probes[1].period` → `spec.probes[1]` → `spec.probes` → `spec` → `` → None.
fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// Joins a map key onto a path the way serde_path_to_error prints paths.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let mut index = DocumentIndex::starting_at(at(1, 1));
        index.set_key("spec".into(), at(2, 1));
        index.set_value("spec.probes[1]".into(), at(6, 7));
        index.set_key("spec.probes[1].period".into(), at(7, 7));
        assert_eq!(index.value_position("spec.probes[1].timeout"), at(6, 7));
        assert_eq!(index.key_position("spec.probes[1].period"), at(7, 7));
        assert_eq!(index.value_position("spec.probes[1].period"), at(7, 7));
        assert_eq!(index.value_position("metadata.name"), at(1, 1));
    }
}
