//! The lease keeper: one task per node that, every retry period, acquires or renews the
//! leases of the subjects the node is asked to cover, and publishes what it may act on. A
//! lease of another node that runs out before the next round is asked for again the moment
//! it does: a holder that died is replaced within the TTL, not the TTL and a retry period.
//!
//! The reconciler reads the published book without waiting (a `watch` channel's latest
//! value): the keeper's Redis round trips never sit in a mailbox. Transitions — a lease won
//! or lost, the fleet store lost or back — go out as [`KeeperEvent`]s for the audit log
//! and metrics.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::lease::{LeaseBook, StoreState};
use crate::redis_leases::{LeaseGrant, RedisLeases};

/// A change the keeper saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeeperEvent {
    /// This node was granted `subject`'s lease.
    Won {
        /// The subject.
        subject: String,
    },
    /// This node no longer may act on `subject`: another node holds it, or the renew
    /// deadline passed without a renewal.
    Lost {
        /// The subject.
        subject: String,
        /// The holder, when Redis named one.
        holder: Option<String>,
    },
    /// Redis stopped answering; fleet remediations are held until it is back.
    StoreUnreachable {
        /// What the Redis client said.
        error: String,
    },
    /// Redis answers again.
    StoreBack,
}

/// How long after another node's lease runs out (by Redis' answer) the keeper asks for it:
/// the answer's own travel time, so the ask does not arrive a moment before the expiry.
const EXPIRY_MARGIN: Duration = Duration::from_millis(20);

/// What a running keeper hands out.
pub struct KeeperHandle {
    /// The node's leases, replaced after every round.
    pub book: watch::Receiver<Arc<LeaseBook>>,
    /// The transitions, in order.
    pub events: mpsc::UnboundedReceiver<KeeperEvent>,
    /// The keeper task (ends when `subjects`' sender is dropped).
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the keeper for `leases`, covering the subjects most recently sent on `subjects`.
pub fn spawn_keeper(
    leases: RedisLeases,
    mut subjects: watch::Receiver<Vec<String>>,
) -> KeeperHandle {
    let timings = leases.timings();
    let (book_tx, book_rx) = watch::channel(Arc::new(LeaseBook::new(timings)));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut book = LeaseBook::new(timings);
        let mut reachable = true;
        // The first round at once; then every retry period, or sooner when a lease another
        // node holds runs out before that.
        let mut next_round = Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next_round) => {}
                changed = subjects.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            let started = Instant::now();
            next_round = started + timings.retry_period;
            let wanted = subjects.borrow_and_update().clone();
            let before: Vec<String> = book
                .acting(Instant::now())
                .map(|(subject, _)| subject.to_owned())
                .collect();
            let mut holders = std::collections::HashMap::new();
            // With nothing to cover, a PING: the store's state (metrics, the status view)
            // is known even on a node with no site.
            let round = if wanted.is_empty() {
                leases.ping().await.map(|()| Vec::new())
            } else {
                leases.acquire_or_renew(&wanted, &mut book).await
            };
            match round {
                Ok(grants) => {
                    book.set_store(StoreState::Reachable);
                    if !reachable {
                        reachable = true;
                        let _ = events_tx.send(KeeperEvent::StoreBack);
                    }
                    for (subject, grant) in wanted.iter().zip(grants) {
                        if let LeaseGrant::Theirs {
                            node, expires_in, ..
                        } = grant
                        {
                            holders.insert(subject.clone(), node);
                            next_round = next_round.min(started + expires_in + EXPIRY_MARGIN);
                        }
                    }
                }
                Err(error) => {
                    book.set_store(StoreState::Unreachable);
                    if reachable {
                        reachable = false;
                        let _ = events_tx.send(KeeperEvent::StoreUnreachable {
                            error: error.to_string(),
                        });
                    }
                }
            }
            // Subjects no longer covered stop being acted on here (their leases run out).
            for subject in &before {
                if !wanted.contains(subject) {
                    book.lost(subject);
                }
            }
            let now = Instant::now();
            book.expire(now);
            let mut changes = Vec::new();
            for subject in &before {
                if book.may_act(subject, now).is_none() {
                    changes.push(KeeperEvent::Lost {
                        subject: subject.clone(),
                        holder: holders.get(subject).cloned(),
                    });
                }
            }
            for (subject, _) in book.acting(now) {
                if !before.iter().any(|b| b == subject) {
                    changes.push(KeeperEvent::Won {
                        subject: subject.to_owned(),
                    });
                }
            }
            // The book first: whoever hears of a change finds the book that has it.
            book_tx.send_replace(Arc::new(book.clone()));
            for change in changes {
                let _ = events_tx.send(change);
            }
        }
    });
    KeeperHandle {
        book: book_rx,
        events: events_rx,
        task,
    }
}
