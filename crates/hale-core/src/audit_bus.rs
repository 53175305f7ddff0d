//! The audit bus: every audit record, once it is durable, to everyone who reacts to it —
//! the notifier, the metrics, the API's live event stream. The store writer publishes
//! into it and is no longer where records are heard.

use tokio::sync::broadcast;

use crate::{HealEvent, OutputPort};

/// How many records a live stream (an API client) may lag behind before it misses some
/// (it is told, and can resume from the store by sequence number).
const STREAM_CAPACITY: usize = 1024;

/// The one bus of written audit records. Cloning gives another handle on the same bus.
#[derive(Clone, Debug)]
pub struct AuditBus {
    /// In-process consumers: every record, none skipped.
    port: OutputPort<HealEvent>,
    /// Network streams, which may fall behind and resume from the store.
    streams: broadcast::Sender<HealEvent>,
}

impl Default for AuditBus {
    fn default() -> Self {
        Self::new()
    }
}

impl AuditBus {
    /// A bus nobody listens to yet.
    pub fn new() -> Self {
        Self {
            port: OutputPort::new(),
            streams: broadcast::channel(STREAM_CAPACITY).0,
        }
    }

    /// Publishes a record that is now on disk (with its sequence number).
    pub fn publish(&self, event: &HealEvent) {
        self.port.send(event);
        if self.streams.receiver_count() > 0 {
            let _ = self.streams.send(event.clone());
        }
    }

    /// The port in-process consumers subscribe to.
    pub fn port(&self) -> &OutputPort<HealEvent> {
        &self.port
    }

    /// A live stream of records from now on, for a network client.
    pub fn stream(&self) -> broadcast::Receiver<HealEvent> {
        self.streams.subscribe()
    }
}
