//! Ships this node's audit records to the fleet's Redis stream (`hale events --fleet`
//! reads it): after every record written, and every few seconds in case Redis was away.
//! The local store is the source of truth and the queue: what was recorded while Redis
//! was unreachable is shipped when it is back, exactly once (Redis keeps this node's
//! high-water mark and skips what it has).

use std::sync::Arc;
use std::time::Duration;

use hale_core::AuditBus;
use hale_fleet::FleetAudit;
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
        // What Redis has of this node; unknown until asked (and again after an error).
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
                    mark = None;
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
    let after = match *mark {
        Some(after) => after,
        None => audit.delivered_through().await?,
    };
    let reader = Arc::clone(store);
    let mut records = tokio::task::spawn_blocking(move || {
        reader.events(&AuditQuery {
            after_seq: Some(after),
            ..AuditQuery::default()
        })
    })
    .await??;
    records.sort_by_key(|record| record.seq);
    let mut shipped = 0;
    for batch in records.chunks(BATCH) {
        let lines: Vec<(u64, String)> = batch
            .iter()
            .filter_map(|record| Some((record.seq, serde_json::to_string(record).ok()?)))
            .collect();
        shipped += audit.ship(&lines).await?;
        *mark = batch.last().map(|record| record.seq);
    }
    if mark.is_none() {
        *mark = Some(after);
    }
    Ok(shipped)
}
