//! Ships this node's audit records to the fleet's Redis stream (`hale events --fleet`
//! reads it): after every record written, and every few seconds in case Redis was away.
//! The local store is the source of truth and the queue: what was recorded while Redis
//! was unreachable is shipped when it is back, exactly once. Redis keeps this node's
//! high-water mark and appends only when the shipper agrees with it (see
//! [`FleetAudit::ship`]): a Redis that came back empty says 0 and gets every local record
//! again (its stream lost them too); one that lost only the mark finds it in the stream,
//! and nothing is doubled. With nothing new, every round still asks, so an empty Redis is
//! noticed within a round, not at the next record.

use std::sync::Arc;
use std::time::Duration;

use hale_core::AuditBus;
use hale_fleet::{FleetAudit, Shipment};
use hale_store::{AuditQuery, Store};
use tokio::sync::Notify;

/// Records per round trip: big enough to catch up fast after an outage, small enough that
/// one script does not hold Redis for long.
const BATCH: usize = 500;

/// How often the shipper looks even when nothing new was written (Redis may be back).
const RETRY: Duration = Duration::from_secs(2);

/// Starts the shipper; it runs until the runtime stops.
pub fn spawn_audit_shipper(
    audit: FleetAudit,
    store: Arc<Store>,
    bus: &AuditBus,
) -> tokio::task::JoinHandle<()> {
    let written = Arc::new(Notify::new());
    let notify = Arc::clone(&written);
    bus.port().listen(move |_| notify.notify_one());
    tokio::spawn(async move {
        // What Redis has of this node as far as the shipper knows; asked at the start, then
        // corrected by every answer.
        let mut mark: Option<u64> = None;
        let mut unreachable = false;
        loop {
            match ship_new(&audit, &store, &mut mark).await {
                Ok(shipped) => {
                    if unreachable {
                        tracing::info!(shipped, "fleet: audit records delivered again");
                        unreachable = false;
                    }
                }
                Err(error) => {
                    if !unreachable {
                        tracing::warn!(%error, "fleet: audit records are kept locally until Redis answers");
                        unreachable = true;
                    }
                    // What Redis has is not known now; its answer to the next shipment
                    // says, whatever happened to it meanwhile.
                }
            }
            tokio::select! {
                () = written.notified() => {}
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    })
}

/// Why a round of shipping stopped.
#[derive(Debug, thiserror::Error)]
enum ShipError {
    /// Redis did not take the records.
    #[error(transparent)]
    Fleet(#[from] hale_fleet::FleetError),
    /// The local store could not be read.
    #[error("the local audit log: {0}")]
    Store(#[from] hale_store::StoreError),
    /// The read was cancelled.
    #[error("the local audit log read did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Ships every local record above the mark; returns how many Redis appended.
async fn ship_new(
    audit: &FleetAudit,
    store: &Arc<Store>,
    mark: &mut Option<u64>,
) -> Result<u64, ShipError> {
    let mut after = match *mark {
        Some(after) => after,
        None => audit.delivered_through().await?,
    };
    let mut shipped = 0;
    // Each pass ships what the store has above `after`; a pass ends early only when Redis
    // says it has the node through another mark, and the next starts from there. Redis
    // answers with its own mark, so this ends: a second disagreement needs another loss.
    'passes: for _ in 0..3 {
        let reader = Arc::clone(store);
        let mut records = tokio::task::spawn_blocking(move || {
            reader.events(&AuditQuery {
                after_seq: Some(after),
                ..AuditQuery::default()
            })
        })
        .await??;
        records.sort_by_key(|record| record.seq);
        let lines: Vec<(u64, String)> = records
            .iter()
            .filter_map(|record| Some((record.seq, serde_json::to_string(record).ok()?)))
            .collect();
        let mut batches: Vec<&[(u64, String)]> = lines.chunks(BATCH).collect();
        if batches.is_empty() {
            // Nothing new: ask all the same.
            batches.push(&[]);
        }
        for batch in batches {
            match audit.ship(after, batch).await? {
                Shipment::Appended { count, mark: now } => {
                    shipped += count;
                    after = now;
                    *mark = Some(after);
                }
                Shipment::Resume { mark: from } => {
                    if from < after {
                        tracing::warn!(
                            delivered = after,
                            fleet_store_has = from,
                            "fleet: the fleet store lost this node's audit records (restarted empty?); shipping them again"
                        );
                    }
                    after = from;
                    *mark = Some(after);
                    continue 'passes;
                }
            }
        }
        break;
    }
    Ok(shipped)
}
