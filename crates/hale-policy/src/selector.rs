//! Which containers a policy selects: Kubernetes label selectors over container labels,
//! and, beyond labels, container names (globs), Compose projects and services, or every
//! container, less an exclude list.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Selects containers: by their Docker labels, with the semantics of a Kubernetes
/// `LabelSelector` (every `matchLabels` pair and every `matchExpressions` requirement must
/// hold), and by `names` and `compose`; every requirement given must hold (a logical AND).
/// `all: true` selects every container instead, and needs an `exclude`. A container that
/// `exclude` matches is never selected.
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
    /// Container names, as globs (`*` any run of characters, `?` one): the container's
    /// name must match one of them, e.g. `[web-*, api]`. When hale watches several Docker
    /// endpoints (`hale run --docker NAME=URL` more than once), a name is
    /// `ENDPOINT/container`: `*/web` is `web` on every endpoint. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// A Compose project (and service): containers that Compose started for it, by the
    /// `com.docker.compose.project` and `com.docker.compose.service` labels it sets.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<ComposeSelector>,
    /// Every container on the host (willfarrell/autoheal's `AUTOHEAL_CONTAINER_LABEL=all`).
    /// Cannot be combined with the other requirements, and needs an `exclude` (list the
    /// databases and anything a restart would hurt). hale never selects its own container.
    /// Default: `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Containers never selected, whatever else matches. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<SelectorExclude>,
}

/// A Compose project, and optionally one of its services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComposeSelector {
    /// The project name (`docker compose -p`, or the directory's name).
    pub project: String,
    /// The service within it. Default: every service of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// What a selector never selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SelectorExclude {
    /// Container names, as globs (`ENDPOINT/container` with several Docker endpoints).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Containers carrying any one of these labels with this value. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl SelectorExclude {
    /// True when nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.match_labels.is_empty()
    }

    /// Why a container is excluded, or `None`.
    pub fn excludes(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<String> {
        if let Some(glob) = self.names.iter().find(|glob| glob_matches(glob, name)) {
            return Some(format!("name {glob}"));
        }
        self.match_labels
            .iter()
            .find(|(key, value)| labels.get(*key) == Some(*value))
            .map(|(key, value)| format!("label {key}={value}"))
    }
}

/// True when `name` matches the glob `pattern` (`*` and `?`).
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(name)
}

/// The Compose labels Docker Compose sets on the containers it starts.
use crate::scope::{
    COMPOSE_PROJECT_LABEL as COMPOSE_PROJECT, COMPOSE_SERVICE_LABEL as COMPOSE_SERVICE,
};

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
        if !self.names.is_empty() {
            parts.push(format!("name in ({})", self.names.join(",")));
        }
        if let Some(compose) = &self.compose {
            parts.push(match &compose.service {
                Some(service) => format!("compose={}/{service}", compose.project),
                None => format!("compose={}", compose.project),
            });
        }
        if self.all {
            parts.push("all".to_owned());
        }
        if let Some(exclude) = self.exclude.as_ref().filter(|e| !e.is_empty()) {
            let mut out: Vec<String> = exclude.names.clone();
            out.extend(exclude.match_labels.iter().map(|(k, v)| format!("{k}={v}")));
            parts.push(format!("except ({})", out.join(",")));
        }
        f.write_str(&parts.join(","))
    }
}

impl LabelSelector {
    /// True when the selector has no requirement at all and so selects nothing.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty()
            && self.match_expressions.is_empty()
            && self.names.is_empty()
            && self.compose.is_none()
            && !self.all
    }

    /// True when the container called `name` with `labels` is selected.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.selects(name, labels).is_some()
    }

    /// Which rule selects the container called `name` with `labels` (`labels
    /// autoheal=true`, `name web-*`, `compose shop/web`, `all`), or `None` when none does
    /// or `exclude` keeps it out: what `hale get targets -o wide` shows.
    pub fn selects(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        if self
            .exclude
            .as_ref()
            .is_some_and(|exclude| exclude.excludes(name, labels).is_some())
        {
            return None;
        }
        if self.all {
            return Some("all".to_owned());
        }
        let mut rules = Vec::new();
        let by_labels = !self.match_labels.is_empty() || !self.match_expressions.is_empty();
        if by_labels {
            let labelled = self
                .match_labels
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
                && self
                    .match_expressions
                    .iter()
                    .all(|requirement| requirement.matches(labels));
            if !labelled {
                return None;
            }
            let plain = LabelSelector {
                match_labels: self.match_labels.clone(),
                match_expressions: self.match_expressions.clone(),
                ..LabelSelector::default()
            };
            rules.push(format!("labels {plain}"));
        }
        if !self.names.is_empty() {
            let glob = self.names.iter().find(|glob| glob_matches(glob, name))?;
            rules.push(format!("name {glob}"));
        }
        if let Some(compose) = &self.compose {
            if labels.get(COMPOSE_PROJECT) != Some(&compose.project) {
                return None;
            }
            match &compose.service {
                Some(service) if labels.get(COMPOSE_SERVICE) != Some(service) => return None,
                Some(service) => rules.push(format!("compose {}/{service}", compose.project)),
                None => rules.push(format!("compose {}", compose.project)),
            }
        }
        Some(rules.join(" and "))
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
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            }],
            ..LabelSelector::default()
        }
    }

    #[test]
    fn match_labels_require_every_pair() {
        let selector = LabelSelector {
            match_labels: labels(&[("app", "web"), ("tier", "front")]),
            ..LabelSelector::default()
        };
        assert!(selector.matches(
            "c",
            &labels(&[("app", "web"), ("tier", "front"), ("x", "y")])
        ));
        assert!(!selector.matches("c", &labels(&[("app", "web")])));
        assert!(!selector.matches("c", &labels(&[("app", "api"), ("tier", "front")])));
    }

    #[test]
    fn each_operator_follows_kubernetes_semantics() {
        let prod = labels(&[("env", "prod")]);
        let dev = labels(&[("env", "dev")]);
        let none = labels(&[]);
        let r#in = requirement("env", SelectorOperator::In, &["prod", "staging"]);
        assert!(r#in.matches("c", &prod) && !r#in.matches("c", &dev) && !r#in.matches("c", &none));
        let not_in = requirement("env", SelectorOperator::NotIn, &["prod"]);
        assert!(
            !not_in.matches("c", &prod) && not_in.matches("c", &dev) && not_in.matches("c", &none)
        );
        let exists = requirement("env", SelectorOperator::Exists, &[]);
        assert!(exists.matches("c", &prod) && !exists.matches("c", &none));
        let absent = requirement("env", SelectorOperator::DoesNotExist, &[]);
        assert!(!absent.matches("c", &prod) && absent.matches("c", &none));
    }

    #[test]
    fn an_empty_selector_selects_nothing() {
        assert!(!LabelSelector::default().matches("c", &labels(&[("app", "web")])));
    }

    #[test]
    fn names_are_globs_and_say_which_one_selected() {
        let selector = LabelSelector {
            names: vec!["web-*".into(), "api".into()],
            ..LabelSelector::default()
        };
        assert_eq!(
            selector.selects("web-1", &labels(&[])).as_deref(),
            Some("name web-*")
        );
        assert_eq!(
            selector.selects("api", &labels(&[])).as_deref(),
            Some("name api")
        );
        assert_eq!(selector.selects("api-2", &labels(&[])), None);
    }

    #[test]
    fn compose_selects_by_the_labels_compose_sets() {
        let selector = LabelSelector {
            compose: Some(ComposeSelector {
                project: "shop".into(),
                service: Some("web".into()),
            }),
            ..LabelSelector::default()
        };
        let web = labels(&[(COMPOSE_PROJECT, "shop"), (COMPOSE_SERVICE, "web")]);
        let db = labels(&[(COMPOSE_PROJECT, "shop"), (COMPOSE_SERVICE, "db")]);
        assert_eq!(
            selector.selects("shop-web-1", &web).as_deref(),
            Some("compose shop/web")
        );
        assert_eq!(selector.selects("shop-db-1", &db), None);
    }

    #[test]
    fn requirements_combine_with_and_and_exclude_always_wins() {
        let selector = LabelSelector {
            match_labels: labels(&[("env", "prod")]),
            names: vec!["web-*".into()],
            exclude: Some(SelectorExclude {
                names: vec!["web-canary".into()],
                match_labels: labels(&[("hale.dev/ignore", "true")]),
            }),
            ..LabelSelector::default()
        };
        let prod = labels(&[("env", "prod")]);
        assert_eq!(
            selector.selects("web-1", &prod).as_deref(),
            Some("labels env=prod and name web-*")
        );
        assert_eq!(selector.selects("api-1", &prod), None, "both must hold");
        assert_eq!(selector.selects("web-canary", &prod), None);
        let ignored = labels(&[("env", "prod"), ("hale.dev/ignore", "true")]);
        assert_eq!(selector.selects("web-2", &ignored), None);
    }

    #[test]
    fn all_selects_every_container_but_the_excluded() {
        let selector = LabelSelector {
            all: true,
            exclude: Some(SelectorExclude {
                names: vec!["*db*".into()],
                ..SelectorExclude::default()
            }),
            ..LabelSelector::default()
        };
        assert_eq!(
            selector.selects("anything", &labels(&[])).as_deref(),
            Some("all")
        );
        assert_eq!(selector.selects("shop-db-1", &labels(&[])), None);
    }
}
