//! What the controller reports about itself: per-policy generations and Kubernetes-style
//! conditions, and the state of every target. Written by the actors, read by the API.
//!
//! Status is never written into the policy files (they belong to Git); the controller
//! serves it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use hale_policy::{HealPolicySpec, Mode};
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// `True`, `False` or `Unknown`, as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// Not known yet.
    Unknown,
}

/// One condition of a policy, e.g. `Accepted=True`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Accepted`, `Ready`, `RemediationAllowed` or `Paused`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// A CamelCase reason, e.g. `Invalid`, `CircuitOpen`.
    pub reason: String,
    /// The details, for people.
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Timestamp,
}

/// Every state a target can be reported in: `healthy`, `degraded` (a site answering 4xx:
/// recorded, not acted on), `unknown` (no evidence yet), `pending` (failing, not yet
/// confirmed), `failing`, `verifying` (hale acted; waiting for evidence newer than its
/// action), `quarantined`.
pub const TARGET_STATES: [&str; 7] = [
    "healthy",
    "degraded",
    "unknown",
    "pending",
    "failing",
    "verifying",
    "quarantined",
];

/// One target of a policy and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// The container name, or `site:<name>`.
    pub name: String,
    /// The container ID (empty for sites).
    pub id: String,
    /// One of [`TARGET_STATES`].
    pub state: String,
    /// The failure signal, while there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// The ladder step (1-based) the next action would use.
    pub step: usize,
    /// The last action and when it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
    /// When the last action was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_at: Option<Timestamp>,
    /// No action before this instant (cooldown, backoff, step timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action_at: Option<Timestamp>,
    /// Attempts already made at the current step.
    #[serde(default)]
    pub attempts: u32,
    /// The last action reported an error.
    #[serde(default)]
    pub last_action_failed: bool,
    /// An operator turned healing of this target off (`hale disable`): assessed, never
    /// remediated.
    #[serde(default)]
    pub disabled: bool,
    /// Fleet mode: why this node does not heal this target now. It starts `held:` while
    /// the fleet store is unreachable (the action waits for Redis), `fleet standby:` while
    /// another node holds the target's lease, `waiting:` while a new failure under a
    /// fleet-counted `maxUnhealthy` waits for every node's counts. Assessed and reported
    /// here, not remediated meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<String>,
    /// The periodic probes' latest tallies, by probe name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeSummary>,
    /// The selector rule that selected it (`labels autoheal=true`, `name web-*`,
    /// `compose shop/web`, `all`), or `site` for a site of the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_by: Option<String>,
}

/// Where one periodic probe of a target stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSummary {
    /// The probe's name in the policy.
    pub name: String,
    /// The last outcome passed.
    pub passing: bool,
    /// How many outcomes in a row agree with the last one.
    pub streak: u32,
    /// What the last failure saw.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_failure: String,
    /// When the last failure was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<Timestamp>,
}

/// A container that no policy selects, so hale does not heal it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnselectedContainer {
    /// The container name.
    pub name: String,
    /// The container ID.
    pub id: String,
    /// Its labels, so that a reader can see which selector label is missing.
    pub labels: BTreeMap<String, String>,
}

/// A policy as the controller runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// The policy's name.
    pub name: String,
    /// The file that defines the version in force.
    pub file: String,
    /// The line of that file its document starts on (0: unknown).
    #[serde(default)]
    pub line: usize,
    /// Bumped each time the spec in force changes.
    pub generation: u64,
    /// The generation the reconciler has applied.
    pub observed_generation: u64,
    /// When hale first saw this policy.
    pub created_at: Timestamp,
    /// The spec in force.
    pub spec: HealPolicySpec,
    /// Why the policy's file was rejected at the last reload (the previous version keeps
    /// running); `None` when it was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// Why remediation is held back by the circuit breaker, while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_open: Option<String>,
    /// The targets and their states (as of the last reconcile).
    pub targets: Vec<TargetStatus>,
    /// `Accepted`, `Ready`, `RemediationAllowed`, `Paused`.
    pub conditions: Vec<Condition>,
}

impl PolicyStatus {
    /// A fresh status for a policy first seen at `now`.
    pub fn new(
        name: &str,
        file: String,
        generation: u64,
        created_at: Timestamp,
        spec: HealPolicySpec,
    ) -> Self {
        Self {
            name: name.to_owned(),
            file,
            line: 0,
            generation,
            observed_generation: 0,
            created_at,
            spec,
            rejected: None,
            circuit_open: None,
            targets: Vec::new(),
            conditions: Vec::new(),
        }
    }

    /// How many targets are healthy.
    pub fn healthy(&self) -> usize {
        self.targets.iter().filter(|t| t.state == "healthy").count()
    }

    /// Recomputes the conditions from the fields; a condition's transition time moves only
    /// when its status changes.
    pub fn refresh_conditions(&mut self, dry_run: bool, paused: bool, now: Timestamp) {
        use ConditionStatus::{False, True};
        let accepted = match &self.rejected {
            None => (
                True,
                "Valid",
                "the policy file parsed and validated".to_owned(),
            ),
            Some(errors) => (
                False,
                "Invalid",
                format!("{errors}; generation {} keeps running", self.generation),
            ),
        };
        let ready = if self.observed_generation >= self.generation {
            (
                True,
                "Applied",
                format!("generation {} is in force", self.generation),
            )
        } else {
            (
                False,
                "Pending",
                format!(
                    "generation {} is not applied yet (observed {})",
                    self.generation, self.observed_generation
                ),
            )
        };
        let remediation = match (
            &self.circuit_open,
            dry_run || self.spec.mode == Mode::DryRun,
        ) {
            // Paused holds everything, whatever else is true.
            _ if paused => (
                False,
                "Paused",
                "paused by an operator: nothing is decided or done until `hale resume`".to_owned(),
            ),
            (Some(reason), _) => (False, "CircuitOpen", reason.clone()),
            (None, true) => (
                False,
                "DryRun",
                "dry-run: decisions are recorded, nothing is touched".to_owned(),
            ),
            (None, false) => (
                True,
                "Allowed",
                "remediation acts on failing targets".to_owned(),
            ),
        };
        let paused = if paused {
            (
                True,
                "PausedByOperator",
                "targets are assessed and reported, but nothing is decided or done (no action, no ladder step, no notification of a failure) until `hale resume`".to_owned(),
            )
        } else {
            (False, "NotPaused", "the policy is active".to_owned())
        };
        for (kind, (status, reason, message)) in [
            ("Accepted", accepted),
            ("Ready", ready),
            ("RemediationAllowed", remediation),
            ("Paused", paused),
        ] {
            self.set_condition(kind, status, reason, message, now);
        }
    }

    fn set_condition(
        &mut self,
        kind: &str,
        status: ConditionStatus,
        reason: &str,
        message: String,
        now: Timestamp,
    ) {
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(condition) => {
                if condition.status != status {
                    condition.last_transition_time = now;
                }
                condition.status = status;
                reason.clone_into(&mut condition.reason);
                condition.message = message;
            }
            None => self.conditions.push(Condition {
                kind: kind.to_owned(),
                status,
                reason: reason.to_owned(),
                message,
                last_transition_time: now,
            }),
        }
    }

    /// The condition of `kind`, if set.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// A policy file rejected at the last reload that defines no policy in force (a new
/// broken file), with its errors as `file:line:col: path: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedFile {
    /// The file.
    pub file: String,
    /// Its errors.
    pub errors: Vec<String>,
}

/// Everything the controller reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    /// When this `hale run` started.
    pub started_at: Timestamp,
    /// `--dry-run` for the whole controller.
    pub dry_run: bool,
    /// The policies in force, by name.
    pub policies: BTreeMap<String, PolicyStatus>,
    /// Files rejected at the last reload whose errors concern no policy in force.
    pub rejected_files: Vec<RejectedFile>,
    /// When the policy directory was last reloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reload: Option<Timestamp>,
    /// The Docker daemon answers.
    #[serde(default)]
    pub docker_connected: bool,
    /// Every container was listed at least once since start (readiness).
    #[serde(default)]
    pub docker_synced: bool,
    /// Policies paused by an operator (`hale pause`), persisted across restarts.
    #[serde(default)]
    pub paused: std::collections::BTreeSet<String>,
    /// Targets whose healing an operator turned off (`hale disable`), persisted across
    /// restarts.
    #[serde(default)]
    pub disabled: std::collections::BTreeSet<String>,
    /// Containers that no policy selects (as of the last reconcile).
    #[serde(default)]
    pub unselected: Vec<UnselectedContainer>,
    /// When the reconciler last made a pass: hale's heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile: Option<Timestamp>,
}

/// The shared, current [`ControllerStatus`]. Cheap to clone; writers hold the lock only
/// to copy values in.
#[derive(Debug, Clone)]
pub struct StatusBoard(Arc<RwLock<ControllerStatus>>);

impl StatusBoard {
    /// An empty board for a controller started at `started_at`.
    pub fn new(started_at: Timestamp, dry_run: bool) -> Self {
        Self(Arc::new(RwLock::new(ControllerStatus {
            started_at,
            dry_run,
            policies: BTreeMap::new(),
            rejected_files: Vec::new(),
            last_reload: None,
            docker_connected: false,
            docker_synced: false,
            paused: std::collections::BTreeSet::new(),
            disabled: std::collections::BTreeSet::new(),
            unselected: Vec::new(),
            last_reconcile: None,
        })))
    }

    /// Changes the status; conditions are refreshed afterwards.
    pub fn update(&self, change: impl FnOnce(&mut ControllerStatus)) {
        let mut status = self.0.write().unwrap_or_else(|e| e.into_inner());
        change(&mut status);
        let now = Timestamp::now();
        let dry_run = status.dry_run;
        let paused = status.paused.clone();
        for policy in status.policies.values_mut() {
            policy.refresh_conditions(dry_run, paused.contains(&policy.name), now);
        }
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> ControllerStatus {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
