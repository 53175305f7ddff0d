//! Runtime vocabulary shared by hale's actors: what a container looks like to hale
//! ([`ContainerSnapshot`]), what happened to it ([`ContainerEvent`]), what hale decided and
//! did ([`HealEvent`], the audit record), and the Docker port ([`DockerPort`]), which the
//! `hale-docker` crate implements over bollard.

mod audit;
mod audit_bus;
mod clock;
mod container;
mod disk;
mod docker;
pub mod http_client;
mod own_container;
mod probe;
mod retry;
mod retry_after;
mod status;
mod template;
mod time;
mod trace;
mod wiring;

pub use audit::{
    HealEvent, HealEventKind, TargetRef, action_name, alert_signal, alertname_of_signal,
    kind_filter_names,
};
pub use audit_bus::AuditBus;
pub use clock::Clock;
pub use container::{
    ContainerEvent, ContainerEventKind, ContainerSnapshot, ContainerStatus, HealthStatus,
    RestartPolicy, stop_timeout_from_labels,
};
pub use disk::{DockerDiskUsage, PruneReport, UsageItem, estimate as estimate_prune, labels_allow};
pub use docker::{DockerError, DockerPort, EventStream, ExecOutput};
/// The redaction layer every outgoing text passes through (it lives beside `SecretRef`,
/// which registers each secret it reads).
pub use hale_policy::redact;
pub use own_container::{container_id_in, own_container_id};
pub use probe::{
    ProbeOutcome, Target, host_of_target, host_target_name, is_policy_target, policy_has_target,
    site_of_target, site_target_name,
};
pub use retry::RetryPolicy;
pub use retry_after::retry_after;
pub use status::{
    Condition, ConditionStatus, ControllerStatus, PolicyStatus, ProbeSummary, RejectedFile,
    StatusBoard, TARGET_STATES, TargetStatus, UnselectedContainer,
};
pub use template::{fill_template, fill_template_with};
pub use time::{SinceError, Timestamp, unix_nanos};
pub use trace::continue_trace;
pub use wiring::{LatestPort, Mailbox, OutputPort};

/// An error with its causes, `outer: inner: innermost`: HTTP and I/O errors keep the useful
/// part (`connection refused`, `dns error`) in their sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message = format!("{message}: {inner}");
        source = inner.source();
    }
    // Errors carry URLs and sometimes values; none leaves the process unredacted.
    redact::redact(&message).into_owned()
}
