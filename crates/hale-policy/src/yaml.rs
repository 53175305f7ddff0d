//! Reading YAML text: one parse gives every document's value and the position of every
//! field in it.
//!
//! The parse is serde-saphyr's (YAML 1.2, on the granit parser, no `unsafe`): each
//! document is read into a tree of [`Spanned`] nodes, which is then turned into a
//! [`YamlValue`] for the typed resources and a [`DocumentIndex`] for positions.
//! Because both come from the same tree, what the positions describe is exactly what the
//! values hold: anchors, aliases and merge keys (`<<: *base`) resolved once, by one grammar.
//! See `docs/design-notes.md` ("One YAML parser") for why this library and this shape.
//!
//! # Limits
//! Budgets bound what a hostile file can cost: nesting deeper than [`MAX_DEPTH`], more than
//! [`MAX_NODES`] nodes once aliases are expanded (a "billion laughs"), or more alias replay
//! than [`MAX_REPLAYED_EVENTS`] is refused with the position where it happened. The file
//! size is bounded before parsing ([`crate::MAX_FILE_BYTES`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Error, MessageFormatter, Spanned};

use crate::diagnostic::Position;
use crate::yaml_index::{DocumentIndex, join_key};
use crate::yaml_value::{Resolved, Scalar, YamlValue};

/// Documents nested deeper than this are refused. The deepest field of a policy is 7
/// levels down; reading a nested level costs stack, and hale reads policies on threads
/// with 2 MiB stacks (debug builds overflow them past about 50 levels).
pub const MAX_DEPTH: usize = 32;

/// Documents with more nodes than this, once aliases are expanded, are refused. A policy
/// has a few hundred; a file of a thousand policies stays far below.
pub const MAX_NODES: usize = 200_000;

/// Alias replay (events re-read through `*alias`) beyond this is refused.
pub const MAX_REPLAYED_EVENTS: usize = 200_000;

/// One YAML document: its value and where each of its fields is.
#[derive(Debug, Clone)]
pub struct Document {
    /// Field positions, and the document's `kind` and `apiVersion`.
    pub index: DocumentIndex,
    /// The document's content.
    pub value: YamlValue,
}

/// Why a file's text is not YAML that hale reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlFailure {
    /// Where the problem is.
    pub position: Position,
    /// What the problem is.
    pub message: String,
}

/// Reads every document of `text` (empty documents are skipped).
///
/// Accepts what YAML 1.2 allows and people write: anchors and aliases, merge keys, a
/// byte-order mark, CRLF line ends, JSON, `---` separated documents, comments.
/// Booleans are only `true` and `false` (YAML 1.2's core schema: `yes`, `on` and `no` are
/// strings, so a label value `no` stays the string it looks like).
///
/// # Errors
/// A [`YamlFailure`] with the position of the first problem: a syntax error, a tab used
/// for indentation, a duplicate key, a mapping key that is not a scalar, or a breached
/// budget (see the module's limits).
pub fn parse(text: &str) -> Result<Vec<Document>, YamlFailure> {
    let budget = serde_saphyr::budget! {
        max_depth: MAX_DEPTH,
        max_nodes: MAX_NODES,
    };
    let options = serde_saphyr::options! {
        budget: budget,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
        },
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    };
    let roots = serde_saphyr::from_multiple_with_options::<Spanned<Node>>(text, options)
        .map_err(|error| failure(&error))?;
    roots
        .iter()
        .filter(|root| !matches!(root.value, Node::Null))
        .map(|root| document(text, root))
        .collect()
}

/// A YAML node as serde-saphyr reads it without a target type, with its children's
/// positions.
#[derive(Debug)]
enum Node {
    Null,
    Bool(bool),
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
    Sequence(Vec<Spanned<Node>>),
    Mapping(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Signed(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Unsigned(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Float(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Node, E> {
        Ok(Node::Text(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Node, E> {
        Ok(Node::Text(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element()? {
            items.push(item);
        }
        Ok(Node::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = access.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Mapping(entries))
    }
}

/// Turns one document's tree into its value and index.
fn document(text: &str, root: &Spanned<Node>) -> Result<Document, YamlFailure> {
    let mut index = DocumentIndex::starting_at(position(text, root));
    let value = convert(text, root, String::new(), None, &mut index)?;
    index.kind = value.text_at("kind").map(str::to_owned);
    index.api_version = value.text_at("apiVersion").map(str::to_owned);
    Ok(Document { index, value })
}

/// Converts `node`, found at field `path`, recording positions as it goes. A mapping or a
/// sequence that is the value of a key (`key` is where that key is) is placed at its key,
/// where a person looks for "this field"; scalars at themselves.
fn convert(
    text: &str,
    node: &Spanned<Node>,
    path: String,
    key: Option<Position>,
    index: &mut DocumentIndex,
) -> Result<YamlValue, YamlFailure> {
    let here = match (&node.value, key) {
        (Node::Sequence(_) | Node::Mapping(_), Some(key)) => key,
        // A list item that is a mapping (`- {key: env}` as much as `- key: env`) is where
        // its first key is.
        (Node::Mapping(entries), None) if !entries.is_empty() => position(text, &entries[0].0),
        _ => position(text, node),
    };
    index.set_value(path.clone(), here);
    let scalar = |resolved: Resolved| {
        YamlValue::Scalar(Scalar {
            resolved,
            text: written(text, node),
        })
    };
    Ok(match &node.value {
        Node::Null => YamlValue::Null,
        Node::Bool(value) => scalar(Resolved::Bool(*value)),
        Node::Signed(value) => scalar(Resolved::Signed(*value)),
        Node::Unsigned(value) => scalar(Resolved::Unsigned(*value)),
        Node::Float(value) => scalar(Resolved::Float(*value)),
        Node::Text(value) => YamlValue::Scalar(Scalar {
            resolved: Resolved::Text,
            text: value.clone(),
        }),
        Node::Sequence(items) => {
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                values.push(convert(text, item, format!("{path}[{i}]"), None, index)?);
            }
            YamlValue::Sequence(values)
        }
        Node::Mapping(entries) => {
            let mut map: Vec<(String, YamlValue)> = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let name = key_text(text, key)?;
                if map.iter().any(|(seen, _)| *seen == name) {
                    // Distinct YAML keys that read as the same field (`1` and `"1"`).
                    return Err(YamlFailure {
                        position: position(text, key),
                        message: format!(
                            "duplicate key {name:?} (each key may appear once in a mapping)"
                        ),
                    });
                }
                let child = join_key(&path, &name);
                let key_at = position(text, key);
                index.set_key(child.clone(), key_at);
                let value = convert(text, value, child, Some(key_at), index)?;
                map.push((name, value));
            }
            YamlValue::Mapping(map)
        }
    })
}

/// A non-string scalar's text as written, read from the file where it is defined (an
/// alias's target, a merged field's origin).
fn written(text: &str, node: &Spanned<Node>) -> String {
    let span = node.defined.span();
    let slice = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(start, len)| {
            let start = usize::try_from(start).ok()?;
            text.get(start..start.checked_add(usize::try_from(len).ok()?)?)
        });
    match (slice, &node.value) {
        (Some(slice), _) if !slice.is_empty() => slice.trim().to_owned(),
        (_, Node::Bool(value)) => value.to_string(),
        (_, Node::Signed(value)) => value.to_string(),
        (_, Node::Unsigned(value)) => value.to_string(),
        (_, Node::Float(value)) => value.to_string(),
        _ => String::new(),
    }
}

/// A mapping key as a field name: scalars only, as written.
fn key_text(text: &str, key: &Spanned<Node>) -> Result<String, YamlFailure> {
    Ok(match &key.value {
        Node::Text(name) => name.clone(),
        Node::Null => "null".to_owned(),
        Node::Bool(_) | Node::Signed(_) | Node::Unsigned(_) | Node::Float(_) => written(text, key),
        Node::Sequence(_) | Node::Mapping(_) => {
            return Err(YamlFailure {
                position: position(text, key),
                message: "a mapping key must be a scalar such as a name, not a list or a mapping"
                    .to_owned(),
            });
        }
    })
}

/// Where a node is used in the file. A quoted scalar's position is that of its first
/// character inside the quotes, so that offsets into its text (a condition's parse error)
/// land on the right character.
fn position<T>(text: &str, node: &Spanned<T>) -> Position {
    let location = node.referenced;
    let quoted = location
        .span()
        .byte_offset()
        .and_then(|offset| text.as_bytes().get(usize::try_from(offset).ok()?))
        .is_some_and(|byte| matches!(byte, b'"' | b'\''));
    Position {
        line: usize::try_from(location.line())
            .unwrap_or(usize::MAX)
            .max(1),
        column: usize::try_from(location.column())
            .unwrap_or(usize::MAX)
            .max(1)
            + usize::from(quoted),
    }
}

/// A serde-saphyr error as a message a person can act on, at its position.
fn failure(error: &Error) -> YamlFailure {
    let position = error
        .location()
        .map_or(Position { line: 1, column: 1 }, |at| Position {
            line: usize::try_from(at.line()).unwrap_or(usize::MAX).max(1),
            column: usize::try_from(at.column()).unwrap_or(usize::MAX).max(1),
        });
    YamlFailure {
        position,
        message: Messages.format_message(original(error)).into_owned(),
    }
}

/// The error an alias or snippet wrapper carries.
fn original(mut error: &Error) -> &Error {
    while let Error::AliasError { error: inner, .. } | Error::WithSnippet { error: inner, .. } =
        error
    {
        error = inner;
    }
    error
}

/// hale's wording for the YAML errors people meet; serde-saphyr's for the rest.
struct Messages;

impl MessageFormatter for Messages {
    fn format_message<'a>(&self, error: &'a Error) -> Cow<'a, str> {
        match error {
            Error::DuplicateMappingKey { key, .. } => Cow::Owned(match key {
                Some(key) => {
                    format!("duplicate key {key:?} (each key may appear once in a mapping)")
                }
                None => "duplicate key (each key may appear once in a mapping)".to_owned(),
            }),
            Error::Budget { breach, .. } => Cow::Owned(match breach {
                BudgetBreach::Depth { .. } => format!(
                    "document is nested more than {MAX_DEPTH} levels deep; policies never need that"
                ),
                BudgetBreach::Nodes { .. }
                | BudgetBreach::Aliases { .. }
                | BudgetBreach::AliasAnchorRatio { .. } => format!(
                    "the document expands to more than {MAX_NODES} nodes through its aliases (an alias bomb?); policies never need that"
                ),
                other => format!("the document is too large to read ({other:?})"),
            }),
            Error::AliasReplayLimitExceeded { .. } | Error::AliasExpansionLimitExceeded { .. } => {
                Cow::Owned(format!(
                    "aliases replay more than {MAX_REPLAYED_EVENTS} events (an alias bomb?); policies never need that"
                ))
            }
            other => {
                let message = serde_saphyr::DefaultMessageFormatter.format_message(other);
                if message.starts_with("tabs disallowed") {
                    Cow::Owned(format!("{message}; indent YAML with spaces"))
                } else if message.contains("recursion limit exceeded") {
                    // The parser's own guard against deep flow nesting (`[[[[...`).
                    Cow::Owned(format!(
                        "document is nested more than {MAX_DEPTH} levels deep; policies never need that"
                    ))
                } else {
                    message
                }
            }
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
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 1);
        let doc = &docs[0].index;
        assert_eq!(doc.kind.as_deref(), Some("HealPolicy"));
        assert_eq!(doc.value_position("spec.probes[0].period"), at(5, 15));
        assert_eq!(doc.key_position("spec.probes[0].period"), at(5, 7));
        assert_eq!(doc.value_position("spec.probes[1]"), at(6, 7));
        assert_eq!(doc.key_position("spec.probes"), at(3, 3));
        assert_eq!(doc.value_position("spec.probes[1].timeout"), at(6, 7));
    }

    #[test]
    fn documents_are_split_and_empty_ones_skipped() {
        let docs = parse("kind: A\n---\n---\nkind: B\n---\nnull\n").unwrap();
        let kinds: Vec<_> = docs.iter().map(|d| d.index.kind.as_deref()).collect();
        assert_eq!(kinds, [Some("A"), Some("B")]);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn a_quoted_scalar_points_inside_its_quotes() {
        let docs = parse("a: \"[STATUS] == 200\"\nb: '[BODY]'\n").unwrap();
        assert_eq!(docs[0].index.value_position("a"), at(1, 5));
        assert_eq!(docs[0].index.value_position("b"), at(2, 5));
    }

    #[test]
    fn merge_keys_anchors_bom_crlf_and_json_read_as_written() {
        let merged = parse(
            "\u{feff}base: &http {port: 8080, period: 10s}\r\nprobes:\r\n  - <<: *http\r\n    period: 30s\r\n",
        )
        .unwrap();
        let probe: std::collections::BTreeMap<String, String> =
            serde::Deserialize::deserialize(match &merged[0].value {
                YamlValue::Mapping(entries) => entries[1].1.clone(),
                other => panic!("{other:?}"),
            })
            .map(|probes: Vec<std::collections::BTreeMap<String, String>>| probes[0].clone())
            .unwrap();
        assert_eq!(probe["period"], "30s");
        assert_eq!(probe["port"], "8080");
        let json = parse("{\"kind\": \"HealPolicy\", \"spec\": {\"probes\": []}}").unwrap();
        assert_eq!(json[0].index.kind.as_deref(), Some("HealPolicy"));
    }

    #[test]
    fn yaml_1_1_booleans_are_strings() {
        let docs = parse("a: yes\nb: no\nc: on\nd: true\ne: 0755\nf: 1.10\n").unwrap();
        let YamlValue::Mapping(entries) = &docs[0].value else {
            panic!("{:?}", docs[0].value);
        };
        let read: Vec<(&str, Resolved, &str)> = entries
            .iter()
            .map(|(key, value)| match value {
                YamlValue::Scalar(scalar) => (key.as_str(), scalar.resolved, scalar.text.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            read,
            [
                ("a", Resolved::Text, "yes"),
                ("b", Resolved::Text, "no"),
                ("c", Resolved::Text, "on"),
                ("d", Resolved::Bool(true), "true"),
                ("e", Resolved::Text, "0755"),
                ("f", Resolved::Float(1.1), "1.10"),
            ]
        );
    }

    #[test]
    fn hostile_input_is_refused_with_a_position() {
        let duplicate = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(
            (duplicate.position, duplicate.message.as_str()),
            (
                at(3, 1),
                "duplicate key \"a\" (each key may appear once in a mapping)"
            )
        );
        let tab = parse("a:\n\tb: 1\n").unwrap_err();
        assert_eq!(tab.position.line, 2);
        assert!(tab.message.ends_with("indent YAML with spaces"), "{tab}");
        let deep = parse(&format!("a: {}{}", "[".repeat(100), "]".repeat(100))).unwrap_err();
        assert!(
            deep.message.contains("nested more than 32 levels"),
            "{deep}"
        );
        assert_eq!(deep.position.line, 1);
        let garbage = parse("\u{1}\u{2}binary\u{0}").unwrap_err();
        assert_eq!(garbage.position, at(1, 1));
        let complex = parse("? [a, b]\n: c\n").unwrap_err();
        assert!(complex.message.contains("must be a scalar"), "{complex}");
        let syntax = parse("a: [b\n").unwrap_err();
        assert_eq!(
            (syntax.position, syntax.message.as_str()),
            (at(1, 4), "unclosed bracket '['")
        );
    }

    #[test]
    fn an_alias_bomb_is_refused() {
        let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for level in 1..=9 {
            let items = vec![format!("*a{}", level - 1); 9].join(", ");
            bomb.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let refused = parse(&bomb).unwrap_err();
        assert!(refused.message.contains("alias bomb"), "{refused}");
    }
}
