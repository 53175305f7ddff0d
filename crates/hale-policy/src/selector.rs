//! Kubernetes label selectors over container labels.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Selects containers by their Docker labels, with the semantics of a Kubernetes
/// `LabelSelector`: every `matchLabels` pair and every `matchExpressions` requirement must
/// hold (a logical AND).
///
/// An empty selector (`{}`) selects nothing here, unlike in Kubernetes: selecting every
/// container on a host by accident is too dangerous for a tool that restarts things.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels a container must carry with exactly these values. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements a container's labels must meet. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement, e.g. `{key: env, operator: In, values: [prod]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key the requirement applies to.
    pub key: String,
    /// How the key's value is compared with `values`.
    pub operator: SelectorOperator,
    /// The values to compare with. Required (non-empty) for `In` and `NotIn`; must be empty
    /// for `Exists` and `DoesNotExist`. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operators of a [`LabelSelectorRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectorOperator {
    /// The label is present and its value is one of `values`.
    In,
    /// The label is absent, or its value is none of `values`.
    NotIn,
    /// The label is present, whatever its value.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl std::fmt::Display for LabelSelector {
    /// kubectl's selector syntax: `app=web,env in (prod,staging),tier,!legacy`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        for requirement in &self.match_expressions {
            let values = requirement.values.join(",");
            parts.push(match requirement.operator {
                SelectorOperator::In => format!("{} in ({values})", requirement.key),
                SelectorOperator::NotIn => format!("{} notin ({values})", requirement.key),
                SelectorOperator::Exists => requirement.key.clone(),
                SelectorOperator::DoesNotExist => format!("!{}", requirement.key),
            });
        }
        f.write_str(&parts.join(","))
    }
}

impl LabelSelector {
    /// True when the selector has no requirement at all and so selects nothing.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// True when a container with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.is_empty()
            && self
                .match_labels
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
            && self
                .match_expressions
                .iter()
                .all(|requirement| requirement.matches(labels))
    }
}

impl LabelSelectorRequirement {
    /// True when `labels` meet this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn requirement(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            }],
        }
    }

    #[test]
    fn match_labels_require_every_pair() {
        let selector = LabelSelector {
            match_labels: labels(&[("app", "web"), ("tier", "front")]),
            match_expressions: vec![],
        };
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
        assert!(!selector.matches(&labels(&[("app", "api"), ("tier", "front")])));
    }

    #[test]
    fn each_operator_follows_kubernetes_semantics() {
        let prod = labels(&[("env", "prod")]);
        let dev = labels(&[("env", "dev")]);
        let none = labels(&[]);
        let r#in = requirement("env", SelectorOperator::In, &["prod", "staging"]);
        assert!(r#in.matches(&prod) && !r#in.matches(&dev) && !r#in.matches(&none));
        let not_in = requirement("env", SelectorOperator::NotIn, &["prod"]);
        assert!(!not_in.matches(&prod) && not_in.matches(&dev) && not_in.matches(&none));
        let exists = requirement("env", SelectorOperator::Exists, &[]);
        assert!(exists.matches(&prod) && !exists.matches(&none));
        let absent = requirement("env", SelectorOperator::DoesNotExist, &[]);
        assert!(!absent.matches(&prod) && absent.matches(&none));
    }

    #[test]
    fn an_empty_selector_selects_nothing() {
        assert!(!LabelSelector::default().matches(&labels(&[("app", "web")])));
    }
}
