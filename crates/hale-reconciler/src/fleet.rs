//! Fleet mode in the reconciler: a site is remediated only by the node that holds its lease
//! (`hale run --fleet`), and only after a fencing check against Redis right before the
//! action. Without `--fleet` there is no gate and nothing here runs.
//!
//! The reconciler never waits on Redis in its mailbox: it reads the lease keeper's latest
//! book (a `watch` value) while deciding, and the fencing check runs in the action's own
//! task.

use std::sync::Arc;

use hale_fleet::{FencingToken, FleetRails, LeaseBook, RedisLeases, StoreState};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::action::ActionResult;

/// What the reconciler needs of fleet mode.
#[derive(Clone)]
pub struct FleetGate {
    /// This node's name (`--node`).
    pub node: String,
    /// The lease keeper's latest book of this node's leases.
    pub book: watch::Receiver<Arc<LeaseBook>>,
    /// Where the reconciler tells the keeper which subjects need a lease.
    pub subjects: Arc<watch::Sender<Vec<String>>>,
    /// For the fencing check right before an action.
    pub leases: RedisLeases,
    /// The cooldown, quarantine and `maxConcurrent` of `scope: Fleet` services.
    pub rails: FleetRails,
    /// The fleet-wide counts of the `maxUnhealthy` circuit of `scope: Fleet` policies.
    pub counting: crate::fleet_circuit::FleetCounting,
}

/// The lease subject of a policy's target, when the target needs one: its sites (reached
/// over the network, so every node sees the same one). Containers and the host are local
/// to each node and healed by it alone.
pub fn lease_subject(policy: &str, target: &str) -> Option<String> {
    hale_core::site_of_target(target).map(|_| format!("{policy}/{target}"))
}

impl FleetGate {
    /// Tells the keeper the subjects of this pass, when they changed.
    pub(crate) fn cover(&self, mut subjects: Vec<String>) {
        subjects.sort();
        subjects.dedup();
        self.subjects.send_if_modified(|current| {
            let changed = *current != subjects;
            if changed {
                *current = subjects;
            }
            changed
        });
    }

    /// Why this node must leave `subject` alone (`None`: it holds the lease and may act):
    /// "held" while the fleet store is unreachable (nobody may be sure of the lease, so the
    /// action waits for Redis), "fleet standby" while another node holds it. Either way the
    /// node keeps probing and reporting; it does not decide.
    pub(crate) fn standby(&self, subject: &str) -> Option<String> {
        let book = self.book.borrow();
        book.may_act(subject, Instant::now()).is_none().then(|| {
            if book.store() == StoreState::Unreachable {
                format!(
                    "held: fleet store unreachable; node {} holds the actions on {subject} until Redis answers (probing goes on)",
                    self.node
                )
            } else {
                format!(
                    "fleet standby: node {} does not hold the lease of {subject}; the node that does heals it",
                    self.node
                )
            }
        })
    }

    /// The fence to pass before acting on `subject`: the token this node holds now.
    pub(crate) fn fence(&self, subject: String) -> Fence {
        let token = self.book.borrow().may_act(&subject, Instant::now());
        Fence {
            subject,
            token,
            gate: self.clone(),
        }
    }
}

/// The fencing check of one action, run in the action's task.
pub(crate) struct Fence {
    subject: String,
    token: Option<FencingToken>,
    gate: FleetGate,
}

impl Fence {
    /// `None` when the action may run: Redis confirms this node's grant is still the
    /// current one. Otherwise the result to record instead of acting (not an attempt, not
    /// a failure): a node that was paused or cut off and comes back does not act on a
    /// lease it lost.
    pub(crate) async fn check(&self) -> Option<ActionResult> {
        let node = &self.gate.node;
        let subject = &self.subject;
        // Asked again at the keeper's pace: the lease may be back by then, or Redis.
        let retry_in = self.gate.leases.timings().retry_period;
        let refused = |reason: String| {
            Some(ActionResult::Held {
                reason,
                retry_in,
                rung: None,
            })
        };
        let Some(token) = self.token else {
            return refused(format!(
                "not run: node {node} no longer holds the lease of {subject} (renew deadline passed)"
            ));
        };
        if self.gate.book.borrow().may_act(subject, Instant::now()) != Some(token) {
            return refused(format!(
                "not run: node {node}'s lease of {subject} (token {token}) ended before the action"
            ));
        }
        match self.gate.leases.still_holds(subject, token).await {
            Ok(true) => None,
            Ok(false) => refused(format!(
                "not run: fencing token {token} of {subject} is stale; another node holds the lease now"
            )),
            Err(error) => refused(format!("not run: held: fleet store unreachable ({error})")),
        }
    }
}
