//! An action as the decision plans it and as its execution ends: what decide hands to the
//! executor, and what the executor hands back.

use std::time::Duration;

use hale_policy::Action;

/// An action to run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAction {
    /// What to do.
    pub action: Action,
    /// The rung (0-based).
    pub step: usize,
    /// The attempt at that rung (1-based).
    pub attempt: u32,
    /// Seconds to wait for a graceful stop.
    pub stop_timeout: u32,
    /// The request, for `webhook` steps.
    pub webhook: Option<hale_policy::WebhookAction>,
    /// The Coolify application, for `coolifyRestart` and `coolifyRedeploy` steps.
    pub coolify: Option<hale_policy::CoolifyApplication>,
    /// What to remove, for `prune` steps (the step's block, or the defaults).
    pub prune: Option<hale_policy::PruneAction>,
    /// Why the action is taken, for webhook bodies.
    pub reason: String,
    /// The ladder before this decision, put back if the action is held before it runs.
    pub before: crate::held::LadderBefore,
}

/// How an action ended, with the detail for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResult {
    /// It did what it should.
    Succeeded(String),
    /// It did nothing, on purpose: the remote side is already remediating (a Coolify
    /// deployment is queued or running). Not an attempt, and not a failure.
    Skipped(String),
    /// It failed; hale tries again or escalates when the step's wait is over.
    Failed(String),
    /// It was not run: the fleet holds it (another replica of the service is being
    /// remediated, the shared cooldown or quarantine holds, the service's shared ladder is
    /// further up, the fleet store does not answer, or this node's lease ended). The
    /// decision is taken back, as if never made, and the target is looked at again after
    /// `retry_in`.
    Held {
        /// What holds it, in words.
        reason: String,
        /// When to ask again.
        retry_in: Duration,
        /// The rung (0-based) the service's shared ladder is at, when that is what held
        /// it: the target climbs there before it is looked at again.
        rung: Option<usize>,
    },
    /// An operator stopped the container while hale's action ran: hale left it stopped.
    /// The operator's hand wins; the episode ends.
    OperatorStopped(String),
}

/// How an action ended and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// The result.
    pub result: ActionResult,
    /// How long it took.
    pub duration: Duration,
    /// Bytes a prune freed, as Docker reported them.
    pub bytes_freed: Option<u64>,
}
