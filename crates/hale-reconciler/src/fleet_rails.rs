//! `scope: Fleet` in the reconciler: the replicas of one service on every node share a
//! cooldown, a quarantine, a ladder position and the `maxConcurrent` budget, kept in the
//! fleet's Redis.
//!
//! The rails are asked right before the action, in the action's own task (never in the
//! mailbox), by one script that checks and takes them atomically; a remediation they hold
//! is taken back, as if never decided, and asked about again when the hold may be over (at
//! once, on the rung the service's ladder is at, when that is what held it). What the
//! reconciler learns afterwards goes back to Redis from spawned tasks: a replica seen
//! healthy gives its place back (the next replica may go), a quarantined one quarantines
//! the service, a release ends that.

use std::time::Duration;

use hale_core::{ContainerSnapshot, HealEvent, HealEventKind};
use hale_fleet::{RailsAnswer, RemediationClaim};
use hale_policy::{Action, HealPolicy, Scope};

use crate::action::{ActionResult, PlannedAction};
use crate::fleet::FleetGate;
use crate::target_state::QuarantineState;

/// How long a quarantine that waits for a person holds the other replicas before they ask
/// again (a release ends it in Redis at once; this is only how often they look).
const QUARANTINE_RECHECK: Duration = Duration::from_secs(30);

/// A target as one replica of a fleet-scoped service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replica {
    /// The service, under its policy: `policy/identity`.
    identity: String,
    /// This replica: `node/target`.
    holder: String,
}

/// The replica `container` is under `policy`, when the policy is `scope: Fleet` (this
/// node runs in fleet mode: it has `gate`).
pub(crate) fn replica_of(
    gate: &FleetGate,
    policy: &HealPolicy,
    container: &ContainerSnapshot,
) -> Option<Replica> {
    (policy.spec.scope == Scope::Fleet).then(|| Replica {
        identity: format!(
            "{}/{}",
            policy.metadata.name,
            hale_policy::replica_identity(
                policy.spec.identity_label.as_deref(),
                &container.name,
                &container.labels,
            )
        ),
        holder: format!("{}/{}", gate.node, container.name),
    })
}

/// The rails one action must pass, run in the action's task.
pub(crate) struct RailsCheck {
    gate: FleetGate,
    replica: Replica,
    max_concurrent: Option<u32>,
    hold: Duration,
    cooldown: Duration,
    rung: usize,
    /// The actions of this node's ladder, rung by rung (to say where a replica is sent).
    ladder: Vec<Action>,
    ladder_lasts: Duration,
}

impl RailsCheck {
    /// The check of `planned` on `replica` under `policy`. A place lasts the step's
    /// timeout (the time the action gets to work) and the stable period after it, at
    /// least the cooldown, unless the replica is seen healthy before. The service's ladder
    /// position lasts that long and `resetAfter` more: the time after which a replica's own
    /// ladder would start over.
    pub(crate) fn new(
        gate: &FleetGate,
        replica: Replica,
        policy: &HealPolicy,
        planned: &PlannedAction,
    ) -> Self {
        let remediation = &policy.spec.remediation;
        let cooldown = remediation.cooldown.as_std();
        let step_timeout = remediation
            .steps
            .get(planned.step)
            .map_or(Duration::ZERO, |step| step.timeout.as_std());
        let hold = step_timeout.max(cooldown) + remediation.stable_period.as_std();
        Self {
            gate: gate.clone(),
            replica,
            max_concurrent: remediation.max_concurrent,
            hold,
            cooldown,
            rung: planned.step,
            ladder: remediation.steps.iter().map(|step| step.action).collect(),
            ladder_lasts: hold + remediation.backoff.reset_after.as_std(),
        }
    }

    /// `None` when the action may run (its place is taken and the shared cooldown
    /// started); otherwise the hold to record instead.
    pub(crate) async fn check(&self) -> Option<ActionResult> {
        let claim = RemediationClaim {
            identity: &self.replica.identity,
            holder: &self.replica.holder,
            max_concurrent: self.max_concurrent,
            hold: self.hold,
            cooldown: self.cooldown,
            rung: self.rung,
            top_rung: self.ladder.len().saturating_sub(1),
            ladder_lasts: self.ladder_lasts,
        };
        let poll = self.gate.leases.timings().retry_period;
        let service = &self.replica.identity;
        let (reason, retry_in) = match self.gate.rails.begin(&claim).await {
            Ok(RailsAnswer::Go) => return None,
            Ok(RailsAnswer::Ahead { by, rung }) => {
                let action = |rung: usize| {
                    self.ladder
                        .get(rung)
                        .map_or_else(|| "?".to_owned(), |action| hale_core::action_name(*action))
                };
                return Some(ActionResult::Held {
                    reason: format!(
                        "not run: the ladder of {service}, which the fleet shares, is at step {} ({}) since {by} got there; this replica starts at that step instead of step {} ({})",
                        rung + 1,
                        action(rung),
                        self.rung + 1,
                        action(self.rung),
                    ),
                    retry_in: Duration::ZERO,
                    rung: Some(rung),
                });
            }
            Ok(RailsAnswer::Busy { holders, remaining }) => (
                format!(
                    "held: maxConcurrent {} of {service} is taken by {} (the fleet heals one replica after another)",
                    self.max_concurrent.unwrap_or_default(),
                    holders.join(", ")
                ),
                remaining.min(poll),
            ),
            Ok(RailsAnswer::CoolingDown { by, remaining }) => (
                format!(
                    "held: {by} was remediated within the cooldown of {service}, which the fleet shares"
                ),
                remaining.max(Duration::from_millis(100)),
            ),
            Ok(RailsAnswer::Quarantined { by, remaining }) => (
                format!(
                    "held: {service} is quarantined fleet-wide ({by} kept failing); release it with `hale unquarantine` on that node"
                ),
                remaining
                    .unwrap_or(QUARANTINE_RECHECK)
                    .min(QUARANTINE_RECHECK),
            ),
            Err(error) => (
                format!(
                    "held until the fleet store answers: the rails of {service} live there ({error})"
                ),
                poll,
            ),
        };
        Some(ActionResult::Held {
            reason,
            retry_in,
            rung: None,
        })
    }
}

/// Tells the fleet what the `events` about `container` under `policy` learnt, when it is
/// a replica of a fleet-scoped service: recovered (its place goes back, and the service's
/// ladder position lasts `resetAfter` from now), quarantined (the service is, as long as
/// `quarantine` says), or released (the service no longer is, and its ladder starts over).
/// Each runs in a task of its own; a Redis that does not answer lets the place expire and
/// the quarantine go unshared.
pub(crate) fn share_outcome(
    gate: Option<&FleetGate>,
    policy: &HealPolicy,
    container: &ContainerSnapshot,
    events: &[HealEvent],
    quarantine: Option<&QuarantineState>,
) {
    let Some(gate) = gate else {
        return;
    };
    let Some(replica) = replica_of(gate, policy, container) else {
        return;
    };
    let ladder_lasts = policy.spec.remediation.backoff.reset_after.as_std();
    for event in events {
        let rails = gate.rails.clone();
        let Replica { identity, holder } = replica.clone();
        match event.kind {
            HealEventKind::Recovered => {
                tokio::spawn(async move {
                    if let Err(error) = rails.give_back(&identity, &holder, ladder_lasts).await {
                        tracing::warn!(%error, identity, "fleet: the place of a recovered replica could not be given back; it expires by itself");
                    }
                });
            }
            HealEventKind::Quarantined => {
                let lasts = quarantine.and_then(|q| {
                    let until = q.until?;
                    Some(until.since(event.time))
                });
                tokio::spawn(async move {
                    if let Err(error) = rails.quarantine(&identity, &holder, lasts).await {
                        tracing::warn!(%error, identity, "fleet: the quarantine could not be shared; the other replicas are not held by it");
                    }
                });
            }
            HealEventKind::Released => {
                tokio::spawn(async move {
                    if let Err(error) = rails.release(&identity).await {
                        tracing::warn!(%error, identity, "fleet: the release could not be shared; the fleet-wide quarantine holds until it ends");
                    }
                });
            }
            _ => {}
        }
    }
}
