//! The reconciler's messages, arguments and working state.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hale_core::{ContainerSnapshot, DockerPort, StatusBoard, Timestamp};
use hale_policy::HealPolicy;
use hale_store::{RequestQueue, Store, StoreWriter};
use ractor::RpcReplyPort;
use tokio::task::JoinHandle;

use crate::action::{ActionOutcome, PlannedAction};
use crate::target_state::TargetState;

/// A pending [`ReconcilerMsg::Tick`], as ractor's `send_after` returns it.
type TickTimer = JoinHandle<Result<(), ractor::MessagingErr<ReconcilerMsg>>>;

/// The name the reconciler registers under, so that other actors find its current
/// incarnation after a restart.
pub const RECONCILER_NAME: &str = "hale-reconciler";

/// Messages the reconciler understands.
pub enum ReconcilerMsg {
    /// A container's current state (after an event or an inspect).
    Observed(ContainerSnapshot),
    /// A container was removed.
    Removed {
        /// Its ID.
        id: String,
    },
    /// The complete list of containers (after start-up or a reconnect): replaces what the
    /// reconciler knew.
    Relisted(Vec<ContainerSnapshot>),
    /// An action task finished.
    ActionFinished {
        /// The policy and target name the action was for.
        key: (String, String),
        /// The action (boxed: a webhook step's settings make it the largest message).
        planned: Box<PlannedAction>,
        /// How it went.
        outcome: ActionOutcome,
    },
    /// A probe ran.
    Probed(hale_core::ProbeOutcome),
    /// The policies in force changed (a reload), with their generations.
    Policies {
        /// The policies now in force.
        policies: Arc<Vec<HealPolicy>>,
        /// Their generations, by name.
        generations: Arc<BTreeMap<String, u64>>,
    },
    /// Pause (`true`) or resume a policy; replies what was done.
    Pause {
        /// The policy.
        policy: String,
        /// Pause or resume.
        paused: bool,
        /// The answer.
        reply: RpcReplyPort<Result<String, ControlFailure>>,
    },
    /// Release a quarantined target.
    Unquarantine {
        /// Target name or ID prefix.
        target: String,
        /// Only in this policy.
        policy: Option<String>,
        /// The answer.
        reply: RpcReplyPort<Result<String, ControlFailure>>,
    },
    /// Turn healing of one target off (`true`) or back on, in every policy.
    Disable {
        /// Target name or ID prefix.
        target: String,
        /// Off or on.
        disabled: bool,
        /// The answer.
        reply: RpcReplyPort<Result<String, ControlFailure>>,
    },
    /// Remediate a target now (the next rung of its ladder), whatever its state.
    Heal {
        /// Target name or ID prefix.
        target: String,
        /// Only in this policy.
        policy: Option<String>,
        /// The answer.
        reply: RpcReplyPort<Result<String, ControlFailure>>,
    },
    /// Alerts from Alertmanager: firing ones mark their targets failing, resolved ones
    /// clear them.
    Alerts(Vec<Alert>),
    /// An audit record made outside the mailbox (a dry-run prune's estimate), to store.
    Recorded(Box<hale_core::HealEvent>),
    /// A timer came due (see `schedule_tick`).
    Tick,
    /// Fleet mode: this node was granted a lease; what it stood by for is decided now,
    /// not at the next timer (failover is the lease TTL plus a retry period, not plus a
    /// reconcile interval).
    LeaseWon,
    /// Fleet mode: the circuit counter has a new reading of the fleet's counts; the
    /// failures that waited for it are decided now.
    FleetCounted,
    /// Shutdown: start no new action, wait up to the given time for running ones, record
    /// the rest as interrupted, flush the store, then reply with how many were interrupted.
    Drain(Duration, RpcReplyPort<usize>),
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlFailure {
    /// No such policy or target.
    NotFound(String),
    /// The target's state does not allow it.
    Conflict(String),
}

/// One alert, as Alertmanager's webhook reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Firing (`true`) or resolved.
    pub firing: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Alertmanager's identity of the alert.
    pub fingerprint: String,
}

/// The firing alerts that mark one target failing: fingerprint to (alert name, when the
/// latest notification arrived).
pub(crate) type FiringAlerts = BTreeMap<String, (String, Timestamp)>;

/// See [`ReconcilerArgs::live_actions`].
pub type LiveActions =
    Arc<std::sync::Mutex<HashMap<(String, String), Option<(PlannedAction, ActionOutcome)>>>>;

/// What the reconciler starts with.
#[derive(Clone)]
pub struct ReconcilerArgs {
    /// The policies in force.
    pub policies: Arc<Vec<HealPolicy>>,
    /// Their generations, by name; reported as observed once applied.
    pub generations: Arc<BTreeMap<String, u64>>,
    /// Where the controller's status is published.
    pub status: StatusBoard,
    /// Where "now" comes from (the system clock; tokio's in tests, see `hale_core::Clock`).
    pub clock: hale_core::Clock,
    /// The Docker daemon.
    pub docker: Arc<dyn DockerPort>,
    /// Where state and audit records are persisted.
    pub store: Arc<Store>,
    /// The writer of that store.
    pub writer: StoreWriter,
    /// `--dry-run`: decide and record, act on nothing.
    pub global_dry_run: bool,
    /// Test-only fault injection (`HALE_FAILPOINTS`), e.g. `reconciler-panic-once`; read
    /// only in builds with the `failpoints` feature (see [`crate::FAILPOINTS`]).
    pub failpoints: Vec<String>,
    /// Operator requests (`hale unquarantine`).
    pub requests: RequestQueue,
    /// The HTTP client for webhook actions (shared, so connections are reused).
    pub http: hale_core::http_client::ClientCache,
    /// Actions started and not yet taken back, by (policy, target): `None` while running,
    /// then the result until a reconciler has applied it. Shared across incarnations, so a
    /// restarted reconciler knows an in-flight action is still running rather than
    /// interrupted, and takes its result even if it ended while no reconciler was there to
    /// be told.
    pub live_actions: LiveActions,
    /// The reconciler's own mailbox, re-handed by its supervisor at every start: an
    /// action's task reports its result to whichever incarnation holds it when the action
    /// ends (empty: to the one that started it).
    pub mailbox: hale_core::Mailbox<ReconcilerMsg>,
    /// The container hale itself runs in (see [`hale_core::own_container_id`]): never
    /// remediated, whatever selects it.
    pub own_container: Option<String>,
    /// Fleet mode (`hale run --fleet`): sites are remediated only by the node holding
    /// their lease. `None`: this node heals everything it selects.
    pub fleet: Option<crate::fleet::FleetGate>,
}

/// The reconciler's working state.
pub struct ReconcilerState {
    pub(crate) args: ReconcilerArgs,
    pub(crate) containers: HashMap<String, ContainerSnapshot>,
    pub(crate) targets: BTreeMap<(String, String), TargetState>,
    /// Policies whose circuit is open, with the targets that were unhealthy when it opened.
    pub(crate) circuits: HashMap<String, BTreeSet<String>>,
    /// Fleet mode: per fleet-scoped policy, the failures waiting for the fleet's settled
    /// counts before they are decided.
    pub(crate) fleet_pending: HashMap<String, crate::fleet_circuit::Pending>,
    /// Periodic probes' tallies by (policy, target name), then probe name.
    pub(crate) probe_tracks: HashMap<(String, String), BTreeMap<String, crate::assess::ProbeTrack>>,
    pub(crate) gone_since: HashMap<String, Timestamp>,
    pub(crate) running: HashMap<(String, String), JoinHandle<ActionOutcome>>,
    pub(crate) next_wake: Timestamp,
    pub(crate) next_request_poll: Timestamp,
    /// The one pending [`ReconcilerMsg::Tick`] timer and when it fires.
    pub(crate) tick: Option<(Timestamp, TickTimer)>,
    /// Requests applied but not yet durable; their files are deleted once they are.
    pub(crate) requests_in_progress:
        Arc<std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>>,
    pub(crate) draining: bool,
    /// Policies paused by an operator (persisted as `paused/<policy>` controls).
    pub(crate) paused: std::collections::BTreeSet<String>,
    /// Targets whose healing an operator turned off (persisted as `disabled/<target>`
    /// controls): assessed and reported, never remediated, in every policy.
    pub(crate) disabled: std::collections::BTreeSet<String>,
    /// Firing alerts by (policy, target name).
    pub(crate) alerts: HashMap<(String, String), FiringAlerts>,
    /// The trace span of each remediation episode in progress, by (policy, target name):
    /// opened at the first failure, closed at recovery or quarantine.
    pub(crate) episodes: HashMap<(String, String), tracing::Span>,
    /// Policies already told (in the audit) that they select hale's own container.
    pub(crate) own_container_noted: BTreeSet<String>,
    /// The store writes and audit records asked for since the shell last performed them.
    pub(crate) effects: crate::effects::Effects,
}
