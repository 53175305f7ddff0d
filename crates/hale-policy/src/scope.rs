//! `scope`: whether a policy's rails hold per host (each hale on its own) or across the
//! fleet (`hale run --fleet`), and which containers on different hosts count as replicas
//! of one service.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Compose label naming a container's project.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
/// The Compose label naming a container's service.
pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";

/// Where a policy's rails (cooldown, quarantine, `maxConcurrent`) are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Scope {
    /// Each host's hale keeps them for its own containers. With or without `--fleet`, a
    /// replica on one host is healed regardless of the replicas on the others.
    #[default]
    Host,
    /// With `hale run --fleet`, the replicas of one service on all nodes share them through
    /// the fleet's Redis: a remediation of one replica starts the cooldown of all, a
    /// quarantined replica quarantines the service, and `maxConcurrent` bounds how many
    /// replicas are remediated at once; `maxUnhealthy` counts the policy's targets on every
    /// node (a new failure is then decided once the fleet's counts have it, up to one lease
    /// retry period later). While Redis is unreachable these remediations are held (probing
    /// goes on). Without `--fleet`, `Fleet` acts as `Host`.
    Fleet,
}

impl Scope {
    /// True for [`Scope::Host`], the default (left out when a policy is written back).
    pub fn is_host(&self) -> bool {
        *self == Self::Host
    }
}

/// Which service a container is a replica of, for `scope: Fleet`: the value of
/// `identity_label` when the policy names one and the container has it, else its Compose
/// project and service, else its name (without the `ENDPOINT/` prefix several Docker
/// endpoints add), so that same-named containers on several hosts are one service.
pub fn replica_identity(
    identity_label: Option<&str>,
    container_name: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    if let Some(value) = identity_label.and_then(|label| labels.get(label)) {
        return value.clone();
    }
    match (
        labels.get(COMPOSE_PROJECT_LABEL),
        labels.get(COMPOSE_SERVICE_LABEL),
    ) {
        (Some(project), Some(service)) => format!("{project}/{service}"),
        _ => container_name
            .rsplit_once('/')
            .map_or(container_name, |(_, name)| name)
            .to_owned(),
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

    #[test]
    fn the_named_label_wins_then_compose_then_the_name() {
        let compose = labels(&[
            (COMPOSE_PROJECT_LABEL, "shop"),
            (COMPOSE_SERVICE_LABEL, "web"),
            ("app", "storefront"),
        ]);
        assert_eq!(
            replica_identity(Some("app"), "shop-web-1", &compose),
            "storefront"
        );
        assert_eq!(replica_identity(None, "shop-web-1", &compose), "shop/web");
        // A label the container lacks falls back to Compose.
        assert_eq!(
            replica_identity(Some("tier"), "shop-web-1", &compose),
            "shop/web"
        );
        assert_eq!(replica_identity(None, "edge/web", &labels(&[])), "web");
        assert_eq!(replica_identity(None, "web", &labels(&[])), "web");
    }
}
