//! The audit record: one [`HealEvent`] per decision hale takes.

use std::fmt;

use hale_policy::Action;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// What a policy acts on: a container (by ID, with its name for people) or a site (whose
/// ID and name are both `site:<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TargetRef {
    /// Stable identity: the full container ID.
    pub id: String,
    /// Human name: the container name.
    pub name: String,
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id.is_empty() || self.id == self.name {
            return f.write_str(&self.name);
        }
        let short: String = self.id.chars().take(12).collect();
        write!(f, "{} ({short})", self.name)
    }
}

/// The kinds of audit record, in snake_case on the wire (`hale events --kind restart`
/// filters on the `action`; `--kind` filters on these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealEventKind {
    /// A target started failing (the failure threshold was reached).
    Failing,
    /// An action was started.
    ActionStarted,
    /// An action completed successfully.
    ActionSucceeded,
    /// An action failed; hale tries again or escalates later.
    ActionFailed,
    /// An action was decided but not executed because of dry-run.
    DryRun,
    /// A failing target is healthy again.
    Recovered,
    /// An action was due but held back by the cooldown or backoff.
    CooldownSkip,
    /// Too many of a policy's targets are failing: nothing is remediated.
    CircuitOpen,
    /// The circuit closed again.
    CircuitClosed,
    /// hale gave up on a target after repeated remediations.
    Quarantined,
    /// A quarantined target was released.
    Released,
    /// A failure was seen but deliberately left alone (operator stop, Docker's restart
    /// policy, already restarting).
    Skipped,
    /// hale stopped (or crashed) while an action was running.
    Interrupted,
    /// hale moved to the next step of the ladder.
    Escalated,
    /// A site answers, but with a 4xx status: worth a look, not an action (unless the
    /// probe's conditions make it a failure).
    Degraded,
    /// A policy (new or changed) was loaded and is in force.
    PolicyApplied,
    /// A policy file was rejected; the previous version of what it defined keeps running.
    PolicyRejected,
    /// A policy is gone (its file or document was deleted).
    PolicyRemoved,
    /// An operator paused a policy: it decides nothing until resumed.
    Paused,
    /// An operator resumed a paused policy.
    Resumed,
    /// An operator turned healing of one target off: it is assessed, never remediated.
    Disabled,
    /// An operator turned healing of one target back on.
    Enabled,
    /// A notification could not be delivered (after retries), or was dropped from a full
    /// queue.
    NotificationFailed,
    /// Fleet mode: this node was granted a lease and heals its subject.
    FleetLeaseWon,
    /// Fleet mode: this node no longer holds a lease (another node does, or it could not
    /// renew in time).
    FleetLeaseLost,
    /// Fleet mode: this node, stopping, handed a lease back, so another node takes it over
    /// at its next retry instead of after the TTL.
    FleetLeaseReleased,
    /// Fleet mode: the fleet's Redis stopped answering; site and fleet-scoped actions are
    /// held, this host's own containers are still healed.
    FleetStoreUnreachable,
    /// Fleet mode: the fleet's Redis answers again.
    FleetStoreBack,
}

impl HealEventKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [Self; 28] = [
        Self::Failing,
        Self::ActionStarted,
        Self::ActionSucceeded,
        Self::ActionFailed,
        Self::DryRun,
        Self::Recovered,
        Self::CooldownSkip,
        Self::CircuitOpen,
        Self::CircuitClosed,
        Self::Quarantined,
        Self::Released,
        Self::Skipped,
        Self::Interrupted,
        Self::Escalated,
        Self::Degraded,
        Self::PolicyApplied,
        Self::PolicyRejected,
        Self::PolicyRemoved,
        Self::Paused,
        Self::Resumed,
        Self::Disabled,
        Self::Enabled,
        Self::NotificationFailed,
        Self::FleetLeaseWon,
        Self::FleetLeaseLost,
        Self::FleetLeaseReleased,
        Self::FleetStoreUnreachable,
        Self::FleetStoreBack,
    ];

    /// The snake_case name used on the wire and in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::ActionStarted => "action_started",
            Self::ActionSucceeded => "action_succeeded",
            Self::ActionFailed => "action_failed",
            Self::DryRun => "dry_run",
            Self::Recovered => "recovered",
            Self::CooldownSkip => "cooldown_skip",
            Self::CircuitOpen => "circuit_open",
            Self::CircuitClosed => "circuit_closed",
            Self::Quarantined => "quarantined",
            Self::Released => "released",
            Self::Skipped => "skipped",
            Self::Interrupted => "interrupted",
            Self::Escalated => "escalated",
            Self::Degraded => "degraded",
            Self::PolicyApplied => "policy_applied",
            Self::PolicyRejected => "policy_rejected",
            Self::PolicyRemoved => "policy_removed",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::Disabled => "disabled",
            Self::Enabled => "enabled",
            Self::NotificationFailed => "notification_failed",
            Self::FleetLeaseWon => "fleet_lease_won",
            Self::FleetLeaseLost => "fleet_lease_lost",
            Self::FleetLeaseReleased => "fleet_lease_released",
            Self::FleetStoreUnreachable => "fleet_store_unreachable",
            Self::FleetStoreBack => "fleet_store_back",
        }
    }
}

impl fmt::Display for HealEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit record: what hale saw, decided and did, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealEvent {
    /// Position in the audit log, assigned by the store (0 before it is stored).
    #[serde(default)]
    pub seq: u64,
    /// When the decision was taken.
    pub time: Timestamp,
    /// The record's kind.
    pub kind: HealEventKind,
    /// The policy that decided.
    pub policy: String,
    /// The target decided about; `None` for records about the policy as a whole (the
    /// circuit breaker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetRef>,
    /// When the signal that led here was observed (Docker's event time), so that
    /// `time - signal_at` is hale's reaction time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_at: Option<Timestamp>,
    /// The signal that made the target fail, e.g. `docker health: unhealthy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// The action concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// The ladder step (0-based) and attempt (1-based) of the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<(usize, u32)>,
    /// The result of an action: `ok` or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// How long the action took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// hale's own reaction time: from receiving the newest observation that confirmed the
    /// failure (a probe's result, a Docker event) to deciding the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction_ms: Option<u64>,
    /// For a prune: the bytes Docker reported freed (in a dry-run, the estimate of what it
    /// would free).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_freed: Option<u64>,
    /// Why hale decided this, in words.
    pub reason: String,
    /// True when the policy or the controller is in dry-run mode.
    #[serde(default)]
    pub dry_run: bool,
    /// The OpenTelemetry trace of the remediation episode this record belongs to (32 hex
    /// digits), when traces are exported: the link from an event to its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The episode's root span in that trace (16 hex digits), so work done later about this
    /// record (a notification) joins the trace as its child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

impl HealEvent {
    /// Removes every secret `redactor` knows, and URL credentials and queries, from the
    /// record's texts: its reason, result and signal.
    pub fn redact(&mut self, redactor: &crate::redact::Redactor) {
        let clean = |text: &mut String| {
            if let std::borrow::Cow::Owned(redacted) = redactor.redact(text) {
                *text = redacted;
            }
        };
        clean(&mut self.reason);
        if let Some(result) = &mut self.result {
            clean(result);
        }
        if let Some(signal) = &mut self.signal {
            clean(signal);
        }
    }

    /// A record of `kind` about `target` under `policy`, with the reason; other fields
    /// empty.
    pub fn new(
        time: Timestamp,
        kind: HealEventKind,
        policy: &str,
        target: Option<&TargetRef>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            seq: 0,
            time,
            kind,
            policy: policy.to_owned(),
            target: target.cloned(),
            signal_at: None,
            signal: None,
            action: None,
            step: None,
            result: None,
            duration_ms: None,
            reaction_ms: None,
            bytes_freed: None,
            reason: reason.into(),
            dry_run: false,
            trace_id: None,
            span_id: None,
        }
    }
}

impl fmt::Display for HealEvent {
    /// One line for `hale events`: time, kind, policy, target, action, result, reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self
            .target
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        // The kind column is as wide as the widest kind, so every line's policy starts in
        // the same column (`fleet_store_unreachable` is wider than the usual 16).
        let kind_width = HealEventKind::ALL
            .iter()
            .map(|kind| kind.as_str().len())
            .max()
            .unwrap_or(16);
        write!(
            f,
            "{}  {:<kind_width$} {:<16} {target}",
            self.time,
            self.kind.as_str(),
            self.policy
        )?;
        if let Some(action) = self.action {
            write!(f, "  action={}", action_name(action))?;
        }
        if let Some(result) = &self.result {
            write!(f, "  result={result}")?;
        }
        if let Some(duration) = self.duration_ms {
            write!(f, "  took={duration}ms")?;
        }
        write!(f, "  {}", self.reason)
    }
}

/// The YAML name of an action (`restart`, `stopStart`, ...).
pub fn action_name(action: Action) -> String {
    action_name_of(action)
}

/// The failure signal of a firing Alertmanager alert: `alert NAME firing`.
pub fn alert_signal(alertname: &str) -> String {
    format!("alert {alertname} firing")
}

/// The alert name in an [`alert_signal`], when the signal is one.
pub fn alertname_of_signal(signal: &str) -> Option<&str> {
    signal.strip_prefix("alert ")?.strip_suffix(" firing")
}

/// Every name a `kind` filter accepts: the record kinds, then the actions.
pub fn kind_filter_names() -> Vec<String> {
    HealEventKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .chain(Action::ALL.into_iter().map(action_name_of))
        .collect()
}

fn action_name_of(action: Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_hale_events_starts_its_policy_in_the_same_column() {
        let line = |kind| HealEvent::new(Timestamp(0), kind, "shop", None, "why").to_string();
        let short = line(HealEventKind::Failing);
        let widest = line(HealEventKind::FleetStoreUnreachable);
        assert_eq!(
            short.find(" shop "),
            widest.find(" shop "),
            "{short}\n{widest}"
        );
        assert!(widest.contains("fleet_store_unreachable shop"), "{widest}");
    }
}
