//! What hale remembers about one target of one policy between decisions: the ladder's
//! position, the pace of retries, the verification of its last action, its quarantine, and
//! the dry-run simulation beside it. Persisted, so all of it survives a restart of hale.

use std::collections::BTreeMap;
use std::time::Duration;

use hale_core::Timestamp;
use hale_policy::Action;
use serde::{Deserialize, Serialize};

use crate::assess::{ProbeTrack, Verification};

/// What hale remembers about one target of one policy. Persisted, so that cooldowns,
/// backoff, attempts and quarantine survive a restart of hale.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// Since when the current failure was confirmed; `None` while healthy.
    pub failing_since: Option<Timestamp>,
    /// Since when the target has been healthy (after a failure).
    pub healthy_since: Option<Timestamp>,
    /// The signal of the current failure.
    pub signal: Option<String>,
    /// The current rung of the ladder (0-based).
    pub step: usize,
    /// Attempts made at the current rung.
    pub attempts_in_step: u32,
    /// When each recent action was taken (for the quarantine window).
    pub action_times: Vec<Timestamp>,
    /// The last action taken.
    pub last_action: Option<Action>,
    /// When the last action was taken.
    pub last_action_at: Option<Timestamp>,
    /// How long the last action's step waits for recovery.
    pub last_step_timeout_ms: Option<u64>,
    /// No action before this instant (cooldown and backoff: the pace of retries).
    pub next_action_at: Option<Timestamp>,
    /// No climb to the next rung, and no quarantine for an exhausted ladder, before this
    /// instant (the step's `timeout`: the time it gets to work).
    #[serde(default)]
    pub escalate_at: Option<Timestamp>,
    /// hale's last action ended at this instant and the target has neither proven healthy by
    /// evidence newer than it nor failed again since: it is being verified.
    #[serde(default)]
    pub verifying_since: Option<Timestamp>,
    /// That action restarted or replaced the container.
    #[serde(default)]
    pub verifying_restart: bool,
    /// The backoff delay chosen at the last action; doubles at each action.
    pub backoff_ms: Option<u64>,
    /// An action is running right now (set before it starts, cleared when it reports).
    pub in_flight: bool,
    /// The last action reported an error.
    #[serde(default)]
    pub last_action_failed: bool,
    /// A failure seen before this instant says nothing about the target now: it predates
    /// hale's last action (or the operator's release, or the circuit closing). Only a
    /// failure observed later counts (a health check or probe that failed since, a new
    /// exit, a repeated alert).
    pub fresh_after: Option<Timestamp>,
    /// hale acted during the current failure, so recovery is worth reporting.
    pub remediated: bool,
    /// The target is quarantined: hale does not act on it.
    pub quarantine: Option<QuarantineState>,
    /// The last "left alone" reason reported, so it is reported once, not at every tick.
    pub reported_skip: Option<String>,
    /// The `next_action_at` for which a cooldown skip was reported.
    pub reported_cooldown: Option<Timestamp>,
    /// An operator asked to remediate now (`hale heal`): the next decision climbs the
    /// ladder whatever the target's state, cooldown or circuit.
    #[serde(default)]
    pub heal_requested: bool,
    /// The periodic probes' tallies as of the last change of state (a failure confirmed, an
    /// action finished), so that a confirmed failure survives a restart of hale. The live
    /// tallies are the reconciler's; this copy is what it starts from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tracks: BTreeMap<String, ProbeTrack>,
    /// The trace and root span of the remediation episode in progress (when traces are
    /// exported), so that an episode that outlives a restart of hale stays one trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<(String, String)>,
    /// While the policy (or hale) runs in dry-run: the ladder as the simulated decisions
    /// moved it, started from a copy of the enforced one. Kept apart so that the enforced
    /// ladder never waits on a step timeout, cooldown or quarantine that only a simulated
    /// action started: when the policy turns to `Enforce`, the simulation is set aside and
    /// a target still failing is remediated at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Box<TargetState>>,
}

impl TargetState {
    /// What the target must show after hale's last action before it counts as recovered,
    /// while it is being verified.
    pub fn verification(&self, stable_period: Duration) -> Option<Verification> {
        let ended_at = self.verifying_since?;
        Some(Verification {
            acted_at: self.last_action_at.unwrap_or(ended_at),
            ended_at,
            restarted: self.verifying_restart,
            stable_period,
        })
    }

    /// The ladder that decisions under `dry_run` move: the simulation in dry-run (created
    /// from the enforced ladder on first use), else the enforced ladder itself.
    pub fn ladder_mut(&mut self, dry_run: bool) -> &mut TargetState {
        if !dry_run {
            return self;
        }
        let heal_requested = std::mem::take(&mut self.heal_requested);
        if self.simulation.is_none() {
            let copy = TargetState {
                in_flight: false,
                ..self.clone()
            };
            self.simulation = Some(Box::new(copy));
        }
        let simulation = self.simulation.get_or_insert_default();
        simulation.heal_requested |= heal_requested;
        simulation
    }

    /// The ladder a person should see: the simulation while there is one.
    pub fn ladder(&self) -> &TargetState {
        self.simulation.as_deref().unwrap_or(self)
    }

    /// The ladder decisions under `dry_run` read: the simulation in dry-run, once it
    /// exists (before, it starts as a copy of the enforced one), else the enforced one.
    pub fn ladder_for(&self, dry_run: bool) -> &TargetState {
        match &self.simulation {
            Some(simulation) if dry_run => simulation,
            _ => self,
        }
    }
}

/// A quarantine: since when, until when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineState {
    /// When hale gave up.
    pub since: Timestamp,
    /// When it is released automatically (`releaseAfter`); `None` waits for a person.
    pub until: Option<Timestamp>,
    /// Why, in words.
    pub reason: String,
}
