//! A map from field paths to source positions, built from YAML parser events.
//!
//! serde_yaml reports where a *syntax or type* error happened, but a deserialized value
//! forgets where it came from. Semantic validation ("`notify` names a missing Notifier")
//! needs positions too, so every document is also scanned once into a [`DocumentIndex`]:
//! field path (`spec.probes[1].period`) to the line and column of its key and value.
//! Scanning does not expand aliases, so it stays linear in the file size whatever the file
//! contains.

use std::collections::HashMap;

use yaml_rust2::Event;
use yaml_rust2::parser::Parser;
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::Position;

/// Documents nested deeper than this are refused before serde sees them.
pub const MAX_DEPTH: usize = 64;

/// Field positions of one YAML document.
#[derive(Debug, Clone, Default)]
pub struct DocumentIndex {
    /// Where the document's content starts.
    pub start: Position,
    /// True when the document holds nothing (`---` followed by nothing, or `null`).
    pub is_empty: bool,
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

    fn set_value(&mut self, path: String, here: Position) {
        self.spans.entry(path).or_default().value = Some(here);
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
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A syntax error found while scanning, or a document nested too deeply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFailure {
    /// Where the problem is.
    pub position: Position,
    /// What the problem is.
    pub message: String,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

fn position(marker: &Marker) -> Position {
    Position {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

/// Scans `text` into one [`DocumentIndex`] per YAML document.
///
/// # Errors
/// A [`ScanFailure`] for YAML syntax errors and for nesting deeper than [`MAX_DEPTH`].
pub fn scan(text: &str) -> Result<Vec<DocumentIndex>, ScanFailure> {
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let mut current = DocumentIndex::default();
    let mut stack: Vec<Frame> = Vec::new();
    // Paths of container nodes in sequences whose position is that of their first scalar
    // (the parser's marker for a container start is not where a person would look).
    let mut pending: Vec<String> = Vec::new();
    // The parser marks an implicit document's start after its first token; a person looks
    // for the document where its first scalar is.
    let mut start_pending = false;
    // Container markers point past the container's first token; errors about a container
    // point at the last scalar before it (its key) instead.
    let mut last_scalar = Position { line: 1, column: 1 };
    loop {
        let (event, marker) = parser.next_token().map_err(|error| ScanFailure {
            position: position(error.marker()),
            message: match error.info() {
                "recursion limit exceeded" => {
                    "recursion limit exceeded (the document is nested far too deeply)".to_owned()
                }
                info => info.to_owned(),
            },
        })?;
        let here = position(&marker);
        if matches!(event, Event::Scalar(..) | Event::Alias(..)) {
            if start_pending {
                current.start = here;
                start_pending = false;
            }
            last_scalar = here;
        }
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                current = DocumentIndex {
                    start: here,
                    ..DocumentIndex::default()
                };
                stack.clear();
                pending.clear();
                start_pending = true;
            }
            Event::DocumentEnd => documents.push(std::mem::take(&mut current)),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                finish_value(&mut stack);
            }
            Event::Scalar(..) | Event::Alias(..) if is_key_slot(&stack) => {
                let text = match &event {
                    Event::Scalar(value, ..) => value.clone(),
                    _ => "*alias".to_owned(),
                };
                let Some(Frame::Map { path, key }) = stack.last_mut() else {
                    unreachable!("is_key_slot checked the frame")
                };
                let child = join_key(path, &text);
                current.spans.entry(child).or_default().key = Some(here);
                *key = Some(text);
                resolve_pending(&mut pending, &mut current, here);
            }
            Event::Scalar(ref value, style, ..) => {
                let path = node_path(&mut stack);
                // Point at a quoted scalar's content, so that offsets into the text (a
                // condition's parse error) land on the right character.
                let here = match style {
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Position {
                        line: here.line,
                        column: here.column + 1,
                    },
                    _ => here,
                };
                if stack.is_empty() {
                    current.is_empty =
                        matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL");
                } else if stack.len() == 1 {
                    match path.as_str() {
                        "kind" => current.kind = Some(value.clone()),
                        "apiVersion" => current.api_version = Some(value.clone()),
                        _ => {}
                    }
                }
                current.set_value(path, here);
                resolve_pending(&mut pending, &mut current, here);
                finish_value(&mut stack);
            }
            Event::Alias(_) => {
                let path = node_path(&mut stack);
                current.set_value(path, here);
                resolve_pending(&mut pending, &mut current, here);
                finish_value(&mut stack);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ScanFailure {
                        position: last_scalar,
                        message: format!(
                            "document is nested more than {MAX_DEPTH} levels deep; policies never need that"
                        ),
                    });
                }
                let in_seq_or_root = !matches!(stack.last(), Some(Frame::Map { .. }));
                let path = if is_key_slot(&stack) {
                    // A complex (non-scalar) key: index its contents under a name no field has.
                    let Some(Frame::Map { path, key }) = stack.last_mut() else {
                        unreachable!("is_key_slot checked the frame")
                    };
                    *key = Some("?".into());
                    join_key(path, "?")
                } else {
                    node_path(&mut stack)
                };
                if in_seq_or_root && !current.spans.contains_key(&path) {
                    pending.push(path.clone());
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
        }
    }
    Ok(documents)
}

fn is_key_slot(stack: &[Frame]) -> bool {
    matches!(stack.last(), Some(Frame::Map { key: None, .. }))
}

/// The path of the value node that starts now, advancing sequence indices.
fn node_path(stack: &mut [Frame]) -> String {
    match stack.last_mut() {
        None => String::new(),
        Some(Frame::Map { path, key }) => join_key(path, key.as_deref().unwrap_or("?")),
        Some(Frame::Seq { path, next }) => {
            let child = format!("{path}[{next}]");
            *next += 1;
            child
        }
    }
}

/// After a map's value is complete, the map expects a key again.
fn finish_value(stack: &mut [Frame]) {
    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
        *key = None;
    }
}

fn resolve_pending(pending: &mut Vec<String>, index: &mut DocumentIndex, here: Position) {
    for path in pending.drain(..) {
        let span = index.spans.entry(path).or_default();
        if span.value.is_none() {
            span.value = Some(here);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn values_keys_and_sequence_items_get_their_positions() {
        let text =
            "kind: HealPolicy\nspec:\n  probes:\n    - name: a\n      period: 10s\n    - name: b\n";
        let docs = scan(text).unwrap();
        assert_eq!(docs.len(), 1);
        let doc = &docs[0];
        assert_eq!(doc.kind.as_deref(), Some("HealPolicy"));
        assert_eq!(doc.value_position("spec.probes[0].period"), at(5, 15));
        assert_eq!(doc.key_position("spec.probes[0].period"), at(5, 7));
        assert_eq!(doc.value_position("spec.probes[1]"), at(6, 7));
        assert_eq!(doc.key_position("spec.probes"), at(3, 3));
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(doc.value_position("spec.probes[1].timeout"), at(6, 7));
    }

    #[test]
    fn documents_are_split_and_empty_ones_flagged() {
        let docs = scan("kind: A\n---\n---\nkind: B\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].kind.as_deref(), Some("A"));
        assert!(docs[1].is_empty);
        assert_eq!(docs[2].kind.as_deref(), Some("B"));
    }

    #[test]
    fn deep_nesting_is_refused_with_a_position() {
        let text = format!("a: {}{}", "[".repeat(100), "]".repeat(100));
        let failure = scan(&text).unwrap_err();
        assert!(failure.message.contains("nested more than 64 levels"));
        assert_eq!(failure.position.line, 1);
    }

    #[test]
    fn syntax_errors_carry_the_parser_position() {
        let failure = scan("a: [b\n").unwrap_err();
        assert_eq!(failure.position.line, 2);
    }
}
