//! The JSON Schema of the resources, and the `kubectl explain`-style views built from it.
//!
//! One source serves three readers: editors (via `yaml-language-server`), `hale explain`,
//! and the generated policy reference in `docs/`. Each view walks the same schema, so a doc
//! comment written once on a Rust field shows up everywhere.

use std::fmt::Write as _;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::meta::API_VERSION;
use crate::notifier::Notifier;
use crate::policy::HealPolicy;

/// Any document in a policy directory: a `HealPolicy` or a `Notifier`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
enum Resource {
    HealPolicy(HealPolicy),
    Notifier(Notifier),
}

/// The JSON Schema (draft-07, as yaml-language-server expects) of a policy document.
pub fn json_schema() -> Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Resource>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "$id".into(),
            "https://hale.dev/schema/healpolicy.v1alpha1.json".into(),
        );
        object.insert(
            "title".into(),
            format!("hale {API_VERSION} resource (HealPolicy or Notifier)").into(),
        );
        object.insert(
            "description".into(),
            "A HealPolicy or Notifier document of a hale policy directory.".into(),
        );
    }
    value
}

/// The schema pretty-printed with a trailing newline, as committed to `docs/schema/`.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// The kinds `hale explain` knows, by lowercase name.
pub const KINDS: [&str; 2] = ["HealPolicy", "Notifier"];

/// A field found by [`explain`], ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The kind the path starts from, e.g. `HealPolicy`.
    pub kind: String,
    /// The field path below the kind, e.g. `spec.remediation`; empty for the kind itself.
    pub path: String,
    /// The field's type, as `kubectl explain` prints it (`<Remediation>`, `<[]Step>`).
    pub type_name: String,
    /// The field's documentation.
    pub description: String,
    /// The default value, as YAML, when the field has one.
    pub default: Option<String>,
    /// Allowed values, for enumerations.
    pub allowed: Vec<String>,
    /// Whether the field must be set.
    pub required: bool,
    /// The fields of an object type (or of an array's items), in declaration order.
    pub fields: Vec<FieldSummary>,
}

/// One field of an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSummary {
    /// The YAML name.
    pub name: String,
    /// The type, as in [`Explanation::type_name`].
    pub type_name: String,
    /// Whether the field must be set.
    pub required: bool,
    /// The first sentence of the field's documentation.
    pub summary: String,
    /// The full documentation.
    pub description: String,
    /// The default value, as YAML, when the field has one.
    pub default: Option<String>,
    /// Allowed values, for enumerations.
    pub allowed: Vec<String>,
    /// The field's own fields, for `--recursive`.
    pub children: Vec<FieldSummary>,
}

/// Why [`explain`] found nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// The first path element is not a kind.
    #[error("unknown kind {0:?} (known: healpolicy, notifier)")]
    UnknownKind(String),
    /// A path element names no field.
    #[error("field {field:?} does not exist in {parent} (fields: {known})")]
    UnknownField {
        /// The missing field.
        field: String,
        /// The path of the object searched.
        parent: String,
        /// The fields that do exist.
        known: String,
    },
}

/// Explains a field such as `healpolicy.spec.remediation` (case-insensitive kind, YAML
/// field names), like `kubectl explain`. Arrays are transparent: `spec.probes.period` is a
/// field of every probe.
///
/// # Errors
/// [`ExplainError`] when the kind or a field does not exist; the message lists what does.
pub fn explain(query: &str) -> Result<Explanation, ExplainError> {
    let schema = json_schema();
    let definitions = schema
        .get("definitions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut parts = query.split('.').filter(|p| !p.is_empty());
    let kind_query = parts.next().unwrap_or_default();
    let kind = KINDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(kind_query))
        .ok_or_else(|| ExplainError::UnknownKind(kind_query.to_owned()))?;
    let walker = Walker {
        definitions: &definitions,
    };
    let mut node = walker.resolve(&Value::Object(
        [(
            "$ref".to_owned(),
            Value::String(format!("#/definitions/{kind}")),
        )]
        .into_iter()
        .collect(),
    ));
    let mut description = walker.description(&node);
    let mut default = None;
    let mut required = true;
    let mut path = Vec::new();
    let mut type_name = walker.type_name(&node);
    for part in parts {
        let object = walker.object_of(&node);
        let properties = object.get("properties").and_then(Value::as_object);
        let Some(field) = properties.and_then(|p| p.get(part)) else {
            let known = properties
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "none".into());
            return Err(ExplainError::UnknownField {
                field: part.to_owned(),
                parent: if path.is_empty() {
                    (*kind).to_owned()
                } else {
                    path.join(".")
                },
                known,
            });
        };
        required = is_required(&object, part);
        description = walker.description(field);
        default = field.get("default").map(yaml_of);
        type_name = walker.type_name(field);
        node = walker.resolve(field);
        path.push(part.to_owned());
    }
    let fields = walker.fields(&node, 0);
    Ok(Explanation {
        kind: (*kind).to_owned(),
        path: path.join("."),
        type_name,
        allowed: walker.allowed(&node),
        description,
        default,
        required,
        fields,
    })
}

fn is_required(object: &Value, field: &str) -> bool {
    object
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|f| f == field))
}

fn yaml_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Recursion limit for `--recursive` and the reference: the model is far shallower.
const MAX_FIELD_DEPTH: usize = 8;

struct Walker<'a> {
    definitions: &'a Map<String, Value>,
}

impl Walker<'_> {
    /// Follows `$ref`, single-element `allOf`, and `anyOf [T, null]` (an optional field) to
    /// the schema that describes the value.
    fn resolve(&self, node: &Value) -> Value {
        let mut current = node.clone();
        for _ in 0..16 {
            if let Some(reference) = current.get("$ref").and_then(Value::as_str) {
                let name = reference.trim_start_matches("#/definitions/");
                match self.definitions.get(name) {
                    Some(definition) => current = definition.clone(),
                    None => return current,
                }
            } else if let Some(inner) = single(&current, "allOf") {
                current = inner;
            } else if let Some(inner) = non_null_any_of(&current) {
                current = inner;
            } else {
                return current;
            }
        }
        current
    }

    /// The object schema whose properties a path continues into: the node itself, or its
    /// array items.
    fn object_of(&self, node: &Value) -> Value {
        match node.get("items") {
            Some(items) => self.resolve(items),
            None => node.clone(),
        }
    }

    fn description(&self, node: &Value) -> String {
        node.get("description")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let resolved = self.resolve(node);
                resolved
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }

    fn type_name(&self, node: &Value) -> String {
        if let Some(reference) = ref_name(node) {
            let resolved = self.resolve(node);
            if resolved.get("enum").is_some() || resolved.get("oneOf").is_some() {
                return "string".into();
            }
            return reference;
        }
        let resolved = self.resolve(node);
        // Optional fields are `"type": ["string", "null"]` in draft-07.
        let type_of = resolved.get("type").and_then(|t| match t {
            Value::Array(types) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null"),
            other => other.as_str(),
        });
        match type_of {
            Some("array") => {
                let items = resolved.get("items").cloned().unwrap_or(Value::Null);
                format!("[]{}", self.type_name(&items))
            }
            Some("object") if resolved.get("additionalProperties").is_some() => {
                "map[string]string".into()
            }
            Some(other) => other.to_owned(),
            None => {
                if resolved.get("anyOf").is_some() {
                    "integer or string".into()
                } else {
                    "object".into()
                }
            }
        }
    }

    fn allowed(&self, node: &Value) -> Vec<String> {
        let mut resolved = self.resolve(node);
        // A list of enumeration values allows what its items allow.
        if let Some(items) = resolved.get("items") {
            resolved = self.resolve(items);
        }
        if let Some(values) = resolved.get("enum").and_then(Value::as_array) {
            return values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        resolved
            .get("oneOf")
            .and_then(Value::as_array)
            .map(|variants| {
                variants
                    .iter()
                    .filter_map(|v| {
                        v.get("const")
                            .or_else(|| v.get("enum").and_then(|e| e.get(0)))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn fields(&self, node: &Value, depth: usize) -> Vec<FieldSummary> {
        if depth >= MAX_FIELD_DEPTH {
            return Vec::new();
        }
        let object = self.object_of(node);
        let Some(properties) = object.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        properties
            .iter()
            .map(|(name, field)| {
                let description = self.description(field);
                let resolved = self.resolve(field);
                FieldSummary {
                    name: name.clone(),
                    type_name: self.type_name(field),
                    required: is_required(&object, name),
                    summary: first_sentence(&description),
                    description,
                    default: field.get("default").map(yaml_of),
                    allowed: self.allowed(field),
                    children: self.fields(&resolved, depth + 1),
                }
            })
            .collect()
    }
}

fn ref_name(node: &Value) -> Option<String> {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        return Some(reference.trim_start_matches("#/definitions/").to_owned());
    }
    single(node, "allOf")
        .or_else(|| non_null_any_of(node))
        .and_then(|inner| ref_name(&inner))
}

fn single(node: &Value, key: &str) -> Option<Value> {
    match node.get(key).and_then(Value::as_array) {
        Some(items) if items.len() == 1 => Some(items[0].clone()),
        _ => None,
    }
}

fn non_null_any_of(node: &Value) -> Option<Value> {
    let items = node.get("anyOf").and_then(Value::as_array)?;
    let non_null: Vec<&Value> = items
        .iter()
        .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
        .collect();
    (items.len() == 2 && non_null.len() == 1).then(|| non_null[0].clone())
}

fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}

impl Explanation {
    /// Renders the explanation as `hale explain` prints it; `recursive` lists nested fields
    /// as an indented tree instead of one level with descriptions.
    pub fn render(&self, recursive: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "KIND:     {}", self.kind);
        let _ = writeln!(out, "VERSION:  {API_VERSION}");
        out.push('\n');
        if !self.path.is_empty() {
            let field = self.path.rsplit('.').next().unwrap_or(&self.path);
            let required = if self.required { " -required-" } else { "" };
            let _ = writeln!(out, "FIELD: {field} <{}>{required}", self.type_name);
            let _ = writeln!(out, "PATH:  {}.{}", self.kind.to_lowercase(), self.path);
            out.push('\n');
        }
        let _ = writeln!(out, "DESCRIPTION:");
        for line in wrap(&self.description, 76) {
            let _ = writeln!(out, "    {line}");
        }
        if let Some(default) = &self.default {
            let _ = writeln!(out, "\nDEFAULT: {default}");
        }
        if !self.allowed.is_empty() {
            let _ = writeln!(out, "\nALLOWED VALUES: {}", self.allowed.join(", "));
        }
        if !self.fields.is_empty() {
            let _ = writeln!(out, "\nFIELDS:");
            if recursive {
                render_tree(&mut out, &self.fields, 1);
            } else {
                for field in &self.fields {
                    let required = if field.required { " -required-" } else { "" };
                    let _ = writeln!(out, "  {}\t<{}>{required}", field.name, field.type_name);
                    for line in wrap(&field.description, 72) {
                        let _ = writeln!(out, "    {line}");
                    }
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn render_tree(out: &mut String, fields: &[FieldSummary], depth: usize) {
    for field in fields {
        let indent = "  ".repeat(depth);
        let required = if field.required { " -required-" } else { "" };
        let _ = writeln!(
            out,
            "{indent}{}\t<{}>{required}",
            field.name, field.type_name
        );
        render_tree(out, &field.children, depth + 1);
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines.push(String::new());
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// The policy reference (Markdown) generated from the schema, as committed to
/// `docs/policy-reference.md`.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "<!-- Generated from the JSON Schema by `hale explain --markdown`; do not edit by hand.\n     \
         Regenerate with: cargo run -p hale -- explain --markdown > docs/policy-reference.md -->\n\n\
         # Policy reference (`hale.dev/v1alpha1`)\n\n\
         Every field of the two kinds hale reads from its policy directory. Durations are strings\n\
         with a unit (`\"500ms\"`, `\"10s\"`, `\"5m\"`, `\"1h30m\"`); secrets are references\n\
         (`{fromEnv: NAME}` or `{fromFile: /path}`), never inline values. The same text is\n\
         available offline with `hale explain <kind>.<path>`.\n",
    );
    for kind in KINDS {
        let explanation = explain(kind).expect("every kind explains");
        let _ = write!(out, "\n## {kind}\n\n{}\n", explanation.description);
        section(&mut out, kind.to_lowercase().as_str(), &explanation.fields);
    }
    out
}

fn section(out: &mut String, path: &str, fields: &[FieldSummary]) {
    let _ = write!(
        out,
        "\n### `{path}`\n\n| Field | Type | Required | Default | Description |\n|---|---|---|---|---|\n"
    );
    for field in fields {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} | {} |",
            field.name,
            field.type_name,
            if field.required { "yes" } else { "no" },
            field
                .default
                .as_deref()
                .map(|d| format!("`{}`", d.replace('|', "\\|")))
                .unwrap_or_else(|| "—".into()),
            {
                let mut text = field
                    .description
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                if !field.allowed.is_empty() {
                    text.push_str(&format!(" One of: `{}`.", field.allowed.join("`, `")));
                }
                text.replace('|', "\\|")
            },
        );
    }
    for field in fields {
        if !field.children.is_empty() {
            section(out, &format!("{path}.{}", field.name), &field.children);
        }
    }
}
