//! The `maxUnhealthy` circuit of a `scope: Fleet` policy in fleet mode, counted across the
//! fleet: this node's counts plus the other live nodes' sums, which the circuit counter
//! (`hale_fleet::spawn_counter`) publishes and reads in a task of its own. The reconciler
//! only sends its counts on a `watch` and reads the latest reading; it never waits on
//! Redis.
//!
//! # Freshness
//! A replica failing at the same moment on every node would be healed by each node before
//! the counts meet. So, for a fleet-scoped policy with `maxUnhealthy`, a target newly
//! counted as failing is decided only once a reading *settled* for the local counts that
//! include it has arrived (one retry period after they were written, plus a round trip):
//! by then every node that confirmed its failure within that period has published it.
//!
//! For the same reason the circuit itself opens and closes only on a reading settled for
//! this node's latest counts: one older than them pairs a fresh local change with the
//! others' sums of up to a retry period ago.
//!
//! # Redis unreachable
//! The others' sums are then stale. Fleet-scoped remediations are held anyway (the rails
//! live in Redis), so the circuit keeps the state it had: a stale count neither opens it
//! (an audit record of an outage nobody saw) nor closes it (which would also forget the
//! failures seen while it was open). The first fresh reading decides again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hale_fleet::{Counts, FleetReading, LocalCounts, Others};
use tokio::sync::watch;

use crate::circuit::CircuitReading;

/// The reconciler's end of the circuit counter.
#[derive(Clone)]
pub struct FleetCounting {
    /// Where the reconciler sends this node's counts.
    pub local: Arc<watch::Sender<LocalCounts>>,
    /// The counter's latest reading of the fleet.
    pub reading: watch::Receiver<Arc<FleetReading>>,
}

impl FleetCounting {
    /// Sends `policy`'s local counts when they changed, and answers the seq at which they
    /// last changed: a reading settled for it has them.
    pub(crate) fn send(&self, policy: &str, counts: Counts) -> u64 {
        self.local.send_if_modified(|local| {
            let changed = local.policies.get(policy) != Some(&counts);
            if changed {
                local.policies.insert(policy.to_owned(), counts);
                local.seq += 1;
                local.changed.insert(policy.to_owned(), local.seq);
            }
            changed
        });
        self.local
            .borrow()
            .changed
            .get(policy)
            .copied()
            .unwrap_or_default()
    }

    /// Stops publishing the policies not in `kept` (removed, or no longer fleet-scoped):
    /// their entries expire in Redis by themselves.
    pub(crate) fn keep_only(&self, kept: &BTreeSet<String>) {
        self.local.send_if_modified(|local| {
            let before = local.policies.len();
            local.policies.retain(|policy, _| kept.contains(policy));
            local.changed.retain(|policy, _| kept.contains(policy));
            let changed = local.policies.len() != before;
            if changed {
                local.seq += 1;
            }
            changed
        });
    }
}

/// The circuit of a fleet-scoped policy: the reading to judge it by, and whether it is
/// frozen at its previous state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FleetVerdict {
    /// Local counts plus the others' (their last known sums when stale).
    pub reading: CircuitReading,
    /// The others' sums are stale, not known yet, or older than this node's latest counts:
    /// the circuit neither opens nor closes.
    pub frozen: bool,
    /// Frozen because Redis does not answer (else: waiting for a settled reading).
    pub stale: bool,
}

impl FleetVerdict {
    /// Whether the circuit is open, given whether it was.
    pub(crate) fn is_open(&self, was_open: bool) -> bool {
        if self.frozen {
            was_open
        } else {
            self.reading.is_open()
        }
    }

    /// Why the circuit is open, in words; `None` while it is closed.
    pub(crate) fn open_reason(&self, was_open: bool) -> Option<String> {
        let why = self
            .reading
            .open_reason()
            .map(|why| format!("{why}, fleet-wide"));
        if !self.frozen {
            return why;
        }
        was_open.then(|| {
            why.unwrap_or_else(|| {
                if self.stale {
                    "held open: the fleet's counts are stale (Redis unreachable); it closes on the first fresh reading".to_owned()
                } else {
                    "held open until the fleet's counts include this node's latest".to_owned()
                }
            })
        })
    }
}

/// Judges a fleet-scoped policy by `local` (this node's reading) and the other nodes'
/// sums (`fresh`: `None` when stale or not known yet, then `last` is used for messages).
/// `settled`: whether the reading is settled for this node's latest counts. A reading
/// that is not is up to a retry period older than them: judged with them, a replica that
/// failed here just after another node's recovered would open the circuit for a moment
/// (and its closing would forget the failure), so the circuit waits for the settled one.
pub(crate) fn verdict(
    local: CircuitReading,
    fresh: Option<Others>,
    last: Others,
    settled: bool,
) -> FleetVerdict {
    let others = fresh.unwrap_or(last).counts;
    FleetVerdict {
        reading: CircuitReading {
            total: local.total + others.total,
            failing: local.failing + others.failing,
            ..local
        },
        frozen: fresh.is_none() || !settled,
        stale: fresh.is_none(),
    }
}

/// The targets of one policy newly counted as failing, each with the seq of the local
/// counts that first included it: decided only once a reading settled for that seq came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pending(BTreeMap<String, u64>);

impl Pending {
    /// Follows the policy's failing set at `seq`: a target that joined it waits for `seq`
    /// to settle, one that left it waits no more.
    pub(crate) fn follow(&mut self, failing: &BTreeSet<String>, seq: u64) {
        self.0.retain(|target, _| failing.contains(target));
        for target in failing {
            self.0.entry(target.clone()).or_insert(seq);
        }
    }

    /// Whether `target`'s failure still waits for a settled reading (`settled`: the seq
    /// the latest reading is settled for).
    pub(crate) fn waits(&self, target: &str, settled: u64) -> bool {
        self.0.get(target).is_some_and(|&seq| seq > settled)
    }

    /// What a target's status says while its failure waits (`TargetStatus::standby`).
    pub(crate) const REASON: &'static str = "waiting: this failure is counted across the fleet (maxUnhealthy of a scope: Fleet policy) before it is decided: every node's counts meet within one retry period, once the fleet store answers";

    /// Whether any failure still waits.
    pub(crate) fn any_waits(&self, settled: u64) -> bool {
        self.0.values().any(|&seq| seq > settled)
    }
}

#[cfg(test)]
mod tests {
    use hale_policy::MaxUnhealthy;

    use super::*;

    fn local(failing: usize, total: usize) -> CircuitReading {
        CircuitReading {
            max_unhealthy: Some(MaxUnhealthy::Count(1)),
            total,
            failing,
        }
    }

    fn others(failing: usize, total: usize) -> Others {
        Others {
            counts: Counts { failing, total },
            nodes: total,
        }
    }

    #[test]
    fn one_replica_per_node_opens_the_circuit_once_the_fleet_counts_meet() {
        // Alone, a node's single failing replica never opens it.
        assert!(!local(1, 1).is_open());
        let fleet = verdict(local(1, 1), Some(others(2, 2)), Others::default(), true);
        assert!(!fleet.frozen);
        assert!(fleet.is_open(false));
        assert!(
            fleet
                .open_reason(false)
                .unwrap()
                .starts_with("3 of 3 targets")
        );
        // A lone failure in the fleet is healed: the circuit stays closed.
        let lone = verdict(local(1, 1), Some(others(0, 2)), Others::default(), true);
        assert!(!lone.is_open(false));
        // Two of three recovered: it closes.
        let recovered = verdict(local(1, 1), Some(others(0, 2)), others(2, 2), true);
        assert!(!recovered.is_open(true));
    }

    #[test]
    fn stale_counts_neither_open_nor_close_the_circuit() {
        // The last known sums would open it, and close it: neither happens while stale.
        let stale = verdict(local(1, 1), None, others(2, 2), true);
        assert!(stale.frozen);
        assert!(!stale.is_open(false), "a stale count does not open it");
        assert_eq!(stale.open_reason(false), None);
        let stale = verdict(local(0, 1), None, others(0, 2), true);
        assert!(stale.is_open(true), "nor close it");
        assert!(stale.open_reason(true).unwrap().contains("stale"));
    }

    #[test]
    fn a_reading_older_than_the_local_counts_neither_opens_nor_closes_the_circuit() {
        // Another node's replica was still failing in the last reading; this node's just
        // failed: together they would open it, but the reading predates this failure.
        let unsettled = verdict(local(1, 1), Some(others(1, 2)), Others::default(), false);
        assert!(unsettled.frozen && !unsettled.stale);
        assert!(!unsettled.is_open(false));
        // Nor does an old reading close it.
        let unsettled = verdict(local(0, 1), Some(others(0, 2)), Others::default(), false);
        assert!(unsettled.is_open(true));
        assert!(unsettled.open_reason(true).unwrap().contains("latest"));
        // Settled, the same counts decide.
        assert!(!verdict(local(0, 1), Some(others(0, 2)), Others::default(), true).is_open(true));
    }

    #[test]
    fn a_new_failure_waits_for_a_reading_settled_after_it_was_counted() {
        let mut pending = Pending::default();
        let failing = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        pending.follow(&failing(&["web-1"]), 3);
        assert!(pending.waits("web-1", 2));
        assert!(pending.any_waits(2));
        assert!(
            !pending.waits("web-1", 3),
            "settled for the counts that had it"
        );
        // Still failing in a later pass: it keeps the seq it joined with.
        pending.follow(&failing(&["web-1", "web-2"]), 5);
        assert!(!pending.waits("web-1", 4));
        assert!(pending.waits("web-2", 4));
        // Recovered, then failing again: a new failure, a new wait.
        pending.follow(&failing(&["web-2"]), 6);
        pending.follow(&failing(&["web-1", "web-2"]), 7);
        assert!(pending.waits("web-1", 6));
        assert!(!pending.waits("web-3", 0), "never failing: never waits");
    }
}
