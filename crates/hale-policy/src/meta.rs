//! Object metadata and the type header every resource starts with.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only API version this release understands.
pub const API_VERSION: &str = "hale.dev/v1alpha1";

/// Identity of a resource, as in Kubernetes' `ObjectMeta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The resource's name: lowercase letters, digits, `-` and `.`, starting and ending with
    /// a letter or digit, at most 253 characters. Unique per kind across the whole policy
    /// directory.
    pub name: String,
    /// Free-form labels for organising policies (they do not select anything). Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations, e.g. an owner or a link to a runbook. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Why a name is not a valid resource name, or `None` when it is.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 253 {
        Some("must be at most 253 characters")
    } else if !name.chars().all(valid_char) {
        Some("may contain only lowercase letters, digits, '-' and '.'")
    } else if !name.starts_with(alnum) || !name.ends_with(alnum) {
        Some("must start and end with a lowercase letter or digit")
    } else {
        None
    }
}
