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

/// Fills `{{name}}` placeholders in a body template with `values`. Inside a JSON template
/// (one starting with `{` or `[`) the values are JSON-escaped, so a quote in a reason
/// cannot break the document. Longer names are filled first (`{{target_id}}` before
/// `{{target}}`).
pub fn fill_template(template: &str, values: &[(&str, &str)]) -> String {
    let json = template.trim_start().starts_with(['{', '[']);
    let escape = |value: &str| {
        if json {
            let quoted = serde_json::to_string(value).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_owned()
        } else {
            value.to_owned()
        }
    };
    let mut ordered: Vec<&(&str, &str)> = values.iter().collect();
    ordered.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    ordered
        .into_iter()
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{{{name}}}}}"), &escape(value))
        })
}
