//! Leaving the fleet on a graceful shutdown (SIGTERM, SIGINT): after the controller has
//! stopped acting, the node hands back every lease it holds (`RELEASE_ALL`, one round
//! trip) so another node takes each over at its next retry instead of after the TTL, and
//! takes its status out of the fleet view; each lease's end is an audit record. Bounded: a Redis that does not answer delays
//! the exit by [`LEAVE_BOUND`] at most, and the leases then run out by themselves.

use std::time::Duration;

use tokio::time::Instant;

use crate::fleet::Fleet;

/// The longest the release and the withdrawal may hold the exit.
const LEAVE_BOUND: Duration = Duration::from_secs(2);

/// Stops the fleet tasks, then releases this node's leases and withdraws its status, and
/// records each lease's end (`fleet_lease_released`, or `fleet_lease_lost` when it could
/// not be handed back) through `writer`, metered on `metrics`. Called once the reconciler
/// has stopped, so nothing acts on a lease after it is given back, and before the writer's
/// last sync, so the records are kept.
pub async fn leave(
    fleet: &Fleet,
    writer: &hale_store::StoreWriter,
    metrics: &hale_server::Metrics,
) {
    // The keeper first: a renewal after the release would take a lease back.
    fleet.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    let held: Vec<_> = fleet
        .gate
        .book
        .borrow()
        .acting(Instant::now())
        .map(|(subject, token)| (subject.to_owned(), token))
        .collect();
    let node = &fleet.gate.node;
    let work = async {
        let released = fleet.gate.leases.release_all(&held).await;
        let withdrawn = fleet.status.withdraw(node).await;
        (released, withdrawn)
    };
    let subjects: Vec<String> = held.iter().map(|(subject, _)| subject.clone()).collect();
    let outcome = tokio::time::timeout(LEAVE_BOUND, work).await;
    let unanswered;
    let released = match &outcome {
        Ok((Ok(released), withdrawn)) => {
            if let Err(error) = withdrawn {
                tracing::warn!(%node, %error, "fleet: this node's status stays in the fleet view until its TTL");
            }
            tracing::info!(
                %node,
                released = released.len(),
                held = held.len(),
                "fleet: leases released on shutdown; other nodes take them over at their next retry"
            );
            Ok(released.as_slice())
        }
        Ok((Err(error), _)) => {
            tracing::warn!(
                %node,
                %error,
                "fleet: cannot release the leases on shutdown; they pass to other nodes when their TTL runs out"
            );
            unanswered = format!("the fleet store failed: {error}");
            Err(unanswered.as_str())
        }
        Err(_) => {
            tracing::warn!(
                %node,
                bound = ?LEAVE_BOUND,
                "fleet: Redis did not answer the release on shutdown in time; the leases pass to other nodes when their TTL runs out"
            );
            unanswered = format!(
                "the fleet store did not answer within {}s",
                LEAVE_BOUND.as_secs()
            );
            Err(unanswered.as_str())
        }
    };
    for record in crate::fleet_transitions::leave_records(
        node,
        &subjects,
        released,
        hale_core::Timestamp::now(),
    ) {
        metrics.count_fleet_transition(record.kind.as_str());
        writer.record(record);
    }
}
