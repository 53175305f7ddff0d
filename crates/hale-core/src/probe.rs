//! What probes aim at, and the result of one probe run as the prober reports it to the
//! reconciler.

use hale_policy::Site;
use serde::{Deserialize, Serialize};

use crate::container::ContainerSnapshot;
use crate::time::Timestamp;

/// The prefix that sets a site's target name apart from container names (Docker names
/// cannot contain `:`), so a site and a container of one policy never share state.
const SITE_PREFIX: &str = "site:";

/// The target name of a policy's site: `site:<name>`. It is what audit records, `hale
/// events --target` and `hale unquarantine` use.
pub fn site_target_name(site: &str) -> String {
    format!("{SITE_PREFIX}{site}")
}

/// The site name inside a target name, when it is a site's.
pub fn site_of_target(target: &str) -> Option<&str> {
    target.strip_prefix(SITE_PREFIX)
}

/// What a probe or a remediation is aimed at: a local container, or a site of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A container, as the watcher last saw it.
    Container(ContainerSnapshot),
    /// A site (an HTTP target that is not a local container).
    Site(Site),
}

impl Target {
    /// The stable identity probe outcomes carry: the container ID, or `site:<name>`.
    pub fn id(&self) -> String {
        match self {
            Self::Container(container) => container.id.clone(),
            Self::Site(site) => site_target_name(&site.name),
        }
    }

    /// The name people and the state store know the target by: the container name, or
    /// `site:<name>`.
    pub fn name(&self) -> String {
        match self {
            Self::Container(container) => container.name.clone(),
            Self::Site(site) => site_target_name(&site.name),
        }
    }
}

/// One probe run against one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// The policy whose probe ran.
    pub policy: String,
    /// The probe's name.
    pub probe: String,
    /// The target's ID: the container ID, or `site:<name>` (see [`Target::id`]).
    pub target_id: String,
    /// When the probe started.
    pub time: Timestamp,
    /// Whether it passed (the handler's rule and every condition).
    pub success: bool,
    /// How long it took.
    pub latency_ms: u64,
    /// How late the run started against its schedule, in microseconds.
    #[serde(default)]
    pub lag_us: u64,
    /// The probe passed, but a site answered 4xx: recorded as degraded, not acted on.
    #[serde(default)]
    pub degraded: bool,
    /// What was seen, e.g. `HTTP 503`, `[STATUS] == 200 (503)`, `connection refused`.
    pub reason: String,
}
