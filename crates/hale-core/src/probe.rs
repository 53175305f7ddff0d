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

/// The prefix of a host target's name (a disk probe's), set apart as sites are.
const HOST_PREFIX: &str = "host:";

/// The target name of a policy's disk probe: `host:<probe name>`.
pub fn host_target_name(probe: &str) -> String {
    format!("{HOST_PREFIX}{probe}")
}

/// The disk probe's name inside a target name, when it is a host target's.
pub fn host_of_target(target: &str) -> Option<&str> {
    target.strip_prefix(HOST_PREFIX)
}

/// Whether `target` names a policy's own target (a site or the host) rather than a
/// container: such targets have no container ID, and live as long as the policy has them.
pub fn is_policy_target(target: &str) -> bool {
    site_of_target(target).is_some() || host_of_target(target).is_some()
}

/// Whether the policy `spec` still has the site or host target called `target`.
pub fn policy_has_target(spec: &hale_policy::HealPolicySpec, target: &str) -> bool {
    if let Some(site) = site_of_target(target) {
        spec.sites.iter().any(|s| s.name == site)
    } else if let Some(probe) = host_of_target(target) {
        spec.probes
            .iter()
            .any(|p| p.name == probe && p.disk.is_some())
    } else {
        false
    }
}

/// What a probe or a remediation is aimed at: a local container, or a site of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A container, as the watcher last saw it.
    Container(ContainerSnapshot),
    /// A site (an HTTP target that is not a local container).
    Site(Site),
    /// The host, as a disk probe (named here) watches it.
    Host(String),
}

impl Target {
    /// The stable identity probe outcomes carry: the container ID, or `site:<name>`.
    pub fn id(&self) -> String {
        match self {
            Self::Container(container) => container.id.clone(),
            Self::Site(site) => site_target_name(&site.name),
            Self::Host(probe) => host_target_name(probe),
        }
    }

    /// The name people and the state store know the target by: the container name, or
    /// `site:<name>`.
    pub fn name(&self) -> String {
        match self {
            Self::Container(container) => container.name.clone(),
            Self::Site(site) => site_target_name(&site.name),
            Self::Host(probe) => host_target_name(probe),
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
