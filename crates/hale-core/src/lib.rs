//! Runtime vocabulary shared by hale's actors: what a container looks like to hale
//! ([`ContainerSnapshot`]), what happened to it ([`ContainerEvent`]), what hale decided and
//! did ([`HealEvent`], the audit record), and the Docker port ([`DockerPort`]) with its
//! bollard adapter ([`BollardDocker`]).

mod audit;
mod bollard_docker;
mod container;
mod docker;
mod probe;
mod status;
mod time;

pub use audit::{HealEvent, HealEventKind, TargetRef, action_name};
pub use bollard_docker::BollardDocker;
pub use container::{
    ContainerEvent, ContainerEventKind, ContainerSnapshot, ContainerStatus, HealthStatus,
    RestartPolicy, stop_timeout_from_labels,
};
pub use docker::{DockerError, DockerPort, EventStream, ExecOutput};
pub use probe::{ProbeOutcome, Target, site_of_target, site_target_name};
pub use status::{
    Condition, ConditionStatus, ControllerStatus, PolicyStatus, RejectedFile, StatusBoard,
    TargetStatus,
};
pub use time::Timestamp;

/// An error with its causes, `outer: inner: innermost`: HTTP and I/O errors keep the useful
/// part (`connection refused`, `dns error`) in their sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message = format!("{message}: {inner}");
        source = inner.source();
    }
    message
}
