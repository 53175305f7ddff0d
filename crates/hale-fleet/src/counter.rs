//! The circuit counter: one task per node that publishes its circuit counts of fleet-scoped
//! policies every retry period and right after they change, and hands the reconciler the
//! other nodes' sums on a `watch` it reads without waiting (as the lease keeper does).
//!
//! # Freshness
//! Replicas that fail at the same moment on several nodes are each confirmed locally
//! before any node has seen the others' failures. So that the first node to publish does
//! not heal its replica on a count that has not met the others yet, each reading says up
//! to which of this node's local counts it is *settled*: a count is settled by a reading
//! taken at least one settle period (the retry period) after the count was written to
//! Redis. Every node publishes as soon as its counts change, so failures confirmed within
//! one settle period of each other meet in every node's settled reading.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::circuit_counts::{Counts, FleetCounts, Others};
use crate::lease::StoreState;

/// This node's counts, as the reconciler sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalCounts {
    /// Bumped at every change of `policies`, so a reading can say which it settled.
    pub seq: u64,
    /// The counts of each fleet-scoped policy on this node.
    pub policies: BTreeMap<String, Counts>,
    /// The `seq` at which each policy's counts last changed: a reading settled for it has
    /// them (another policy's later change need not settle first).
    pub changed: BTreeMap<String, u64>,
}

/// What the counter last learnt of the fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetReading {
    /// Whether the last round reached Redis; `None` before the first round.
    pub store: Option<StoreState>,
    /// The other live nodes' sums per policy, from the last round that reached Redis
    /// (stale while `store` is not reachable).
    pub others: BTreeMap<String, Others>,
    /// The highest [`LocalCounts::seq`] this reading is settled for (see the module doc).
    pub settled: u64,
}

impl FleetReading {
    /// The other nodes' sums for `policy`, when they are fresh (the last round reached
    /// Redis); `None` when they are stale or not known yet.
    pub fn fresh_others(&self, policy: &str) -> Option<Others> {
        (self.store == Some(StoreState::Reachable))
            .then(|| self.others.get(policy).copied().unwrap_or_default())
    }
}

/// Which published counts are settled, as pure bookkeeping over time.
#[derive(Debug, Clone)]
pub struct Settling {
    settle: Duration,
    settled: u64,
    written: VecDeque<(u64, Instant)>,
}

impl Settling {
    /// Counts settle `settle` after they were written.
    pub fn new(settle: Duration) -> Self {
        Self {
            settle,
            settled: 0,
            written: VecDeque::new(),
        }
    }

    /// The counts `seq` were in Redis from `at` on.
    pub fn written(&mut self, seq: u64, at: Instant) {
        if seq > self.settled {
            self.written.push_back((seq, at));
        }
    }

    /// The highest seq settled by a reading whose round starts at `start`: written at
    /// least one settle period before it.
    pub fn settled_at(&mut self, start: Instant) -> u64 {
        while let Some(&(seq, at)) = self.written.front() {
            if at + self.settle > start {
                break;
            }
            self.settled = self.settled.max(seq);
            self.written.pop_front();
        }
        self.settled
    }

    /// When the next written seq settles, if one waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.written.front().map(|&(_, at)| at + self.settle)
    }
}

/// What a running counter hands out.
pub struct CounterHandle {
    /// The latest reading, replaced after every round.
    pub reading: watch::Receiver<Arc<FleetReading>>,
    /// The counter task (ends when the local counts' sender is dropped).
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the counter: publishes what the reconciler sends on `local` through `counts`
/// every `period`, right after a change, and when a written count settles (`period` after
/// it was written).
pub fn spawn_counter(
    counts: FleetCounts,
    mut local: watch::Receiver<LocalCounts>,
    period: Duration,
) -> CounterHandle {
    let (reading_tx, reading_rx) = watch::channel(Arc::new(FleetReading::default()));
    let task = tokio::spawn(async move {
        let mut settling = Settling::new(period);
        let mut reading = FleetReading::default();
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = settling.next_due();
            tokio::select! {
                _ = ticker.tick() => {}
                changed = local.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = sleep_until(due), if due.is_some() => {}
            }
            let current = local.borrow_and_update().clone();
            let started = Instant::now();
            reading.settled = settling.settled_at(started);
            if current.policies.is_empty() {
                // Nothing fleet-scoped here: nothing to wait for either.
                reading.settled = current.seq;
                reading.others.clear();
            } else {
                match counts.publish(&current.policies).await {
                    Ok(others) => {
                        settling.written(current.seq, Instant::now());
                        reading.store = Some(StoreState::Reachable);
                        reading.others = others;
                    }
                    Err(error) => {
                        if reading.store != Some(StoreState::Unreachable) {
                            tracing::warn!(%error, "fleet: the circuit counts could not be published; the fleet's counts are stale until Redis answers");
                        }
                        reading.store = Some(StoreState::Unreachable);
                    }
                }
            }
            reading_tx.send_if_modified(|old| {
                let changed = **old != reading;
                if changed {
                    *old = Arc::new(reading.clone());
                }
                changed
            });
        }
    });
    CounterHandle {
        reading: reading_rx,
        task,
    }
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_count_settles_one_period_after_it_was_written_not_before() {
        let period = Duration::from_secs(2);
        let mut settling = Settling::new(period);
        let t0 = Instant::now();
        assert_eq!(settling.settled_at(t0), 0);
        settling.written(1, t0);
        assert_eq!(settling.next_due(), Some(t0 + period));
        // The round that wrote it, and one shortly after, are not settled readings.
        assert_eq!(settling.settled_at(t0), 0);
        assert_eq!(settling.settled_at(t0 + Duration::from_millis(1999)), 0);
        settling.written(2, t0 + Duration::from_secs(1));
        assert_eq!(settling.settled_at(t0 + period), 1);
        assert_eq!(settling.next_due(), Some(t0 + Duration::from_secs(3)));
        assert_eq!(settling.settled_at(t0 + Duration::from_secs(3)), 2);
        assert_eq!(settling.next_due(), None);
        // A rewrite of what is settled already waits for nothing.
        settling.written(2, t0 + Duration::from_secs(4));
        assert_eq!(settling.next_due(), None);
        assert_eq!(settling.settled_at(t0 + Duration::from_secs(4)), 2);
    }

    #[test]
    fn stale_others_are_not_handed_out() {
        let mut reading = FleetReading::default();
        assert_eq!(reading.fresh_others("p"), None, "no round yet");
        reading.store = Some(StoreState::Reachable);
        assert_eq!(reading.fresh_others("p"), Some(Others::default()));
        let others = Others {
            counts: Counts {
                failing: 2,
                total: 3,
            },
            nodes: 3,
        };
        reading.others.insert("p".to_owned(), others);
        assert_eq!(reading.fresh_others("p"), Some(others));
        reading.store = Some(StoreState::Unreachable);
        assert_eq!(reading.fresh_others("p"), None);
    }
}
