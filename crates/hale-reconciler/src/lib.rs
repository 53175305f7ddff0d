//! The Reconciler: decides, per target, whether and how to remediate, and runs the actions.
//!
//! The decision logic ([`assess`], [`decide`]) is pure: a function of the policy, the
//! observed container, the target's remediation state and the current time. The
//! [`Reconciler`] actor feeds it observations, runs the chosen actions in spawned tasks
//! (never in its mailbox), and persists state and audit records through the store.

mod action;
mod actions;
mod actor;
mod alerts;
mod assess;
mod circuit;
mod controls;
mod coolify;
mod decide;
mod effects;
mod episodes;
mod estimate;
mod executor;
mod fleet;
mod fleet_circuit;
mod fleet_rails;
mod forget;
mod held;
mod persist;
mod reconcile;
mod retry;
mod selection;
mod state;
mod tallies;
mod target_state;
mod webhook;

pub use action::{ActionOutcome, ActionResult, PlannedAction};
pub use actor::Reconciler;

/// Whether this build has the test-only fault injection (`HALE_FAILPOINTS`): only test
/// builds do, through the `failpoints` feature.
pub const FAILPOINTS: bool = cfg!(feature = "failpoints");
pub use assess::{
    Assessment, FailureSignal, ProbeTrack, assess, assess_policy_target, default_probes,
};
pub use circuit::{CircuitReading, counts_as_failing};
pub use coolify::{
    ApplicationInfo as CoolifyApplicationInfo, CoolifyAction, CoolifyError, CoolifyOutcome,
    application as coolify_application, remediate as coolify_remediate,
};
pub use decide::{Decision, PolicyContext, Subject, decide, finish_action, release};
pub use executor::execute;
pub use fleet::{FleetGate, lease_subject};
pub use fleet_circuit::FleetCounting;
pub use retry::NetworkError;
pub use state::{Alert, ControlFailure, RECONCILER_NAME, ReconcilerArgs, ReconcilerMsg};
pub use target_state::{QuarantineState, TargetState};
pub use webhook::{
    WebhookContext, WebhookError, render as render_webhook_body, send as send_webhook,
};
