//! The result of one probe run, as the prober reports it to the reconciler.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// One probe run against one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// The policy whose probe ran.
    pub policy: String,
    /// The probe's name.
    pub probe: String,
    /// The container's ID.
    pub container_id: String,
    /// When the probe started.
    pub time: Timestamp,
    /// Whether it passed (the handler's rule and every condition).
    pub success: bool,
    /// How long it took.
    pub latency_ms: u64,
    /// How late the run started against its schedule, in microseconds.
    #[serde(default)]
    pub lag_us: u64,
    /// What was seen, e.g. `HTTP 503`, `[STATUS] == 200 (503)`, `connection refused`.
    pub reason: String,
}
