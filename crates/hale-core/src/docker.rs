//! The Docker port: everything hale asks of the Docker daemon.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::container::{ContainerEvent, ContainerSnapshot};

/// Docker's event stream, as hale consumes it.
pub type EventStream = BoxStream<'static, Result<ContainerEvent, DockerError>>;

/// Why a Docker call failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The daemon could not be reached (socket missing, refused, timed out).
    #[error("cannot reach the Docker daemon at {endpoint}: {message}")]
    Unreachable {
        /// Where hale looked for the daemon.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The daemon accepted the request but did not answer in time (it may hold the
    /// container's lock during a slow stop).
    #[error("docker {operation} did not answer within {seconds}s")]
    TimedOut {
        /// What hale asked for.
        operation: &'static str,
        /// How long hale waited.
        seconds: u64,
    },
    /// The container does not exist (any more).
    #[error("no such container: {0}")]
    NotFound(String),
    /// The daemon refused or failed the request.
    #[error("docker {operation} failed: {message}")]
    Api {
        /// What hale asked for.
        operation: &'static str,
        /// What the daemon said.
        message: String,
    },
}

impl DockerError {
    /// True when the daemon itself is gone, so callers should reconnect rather than retry.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// What a command run inside a container produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit code.
    pub exit_code: i64,
    /// Its standard output and error, interleaved, cut to a few KiB.
    pub output: String,
}

/// What hale needs from a Docker daemon. Implemented over bollard by `hale_docker::BollardDocker`,
/// and in memory by the fakes tests use.
///
/// Futures are boxed so the port can be shared as `Arc<dyn DockerPort>` across actors and
/// spawned tasks.
pub trait DockerPort: Send + Sync + 'static {
    /// A human description of the endpoint, for logs and errors.
    fn endpoint(&self) -> String;

    /// Checks that the daemon answers.
    fn ping(&self) -> BoxFuture<'_, Result<(), DockerError>>;

    /// Every container, running or not, with its full state (list, then inspect each).
    fn list(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>>;

    /// Every container as the list call alone describes it (ID, name, labels, state and
    /// health, no inspect): one cheap call, for a periodic check that nothing was missed.
    /// The default lists fully.
    fn summaries(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        self.list()
    }

    /// One container's full state.
    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<ContainerSnapshot, DockerError>>;

    /// Container events from `since_nanos` (Unix time in nanoseconds) on, or from now.
    fn events(&self, since_nanos: Option<i64>) -> EventStream;

    /// The `kill` events Docker recorded for container `id` from `since_nanos` to
    /// `until_nanos` (Unix time in nanoseconds), oldest first, as (time, signal): how hale
    /// tells its own stop from an operator's while it acts. The default knows of none.
    fn kills_between(
        &self,
        id: &str,
        since_nanos: i64,
        until_nanos: i64,
    ) -> BoxFuture<'_, Result<Vec<(i64, String)>, DockerError>> {
        let _ = (id, since_nanos, until_nanos);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// `docker restart -t timeout`.
    fn restart(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<(), DockerError>>;

    /// `docker stop -t timeout`.
    fn stop(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<(), DockerError>>;

    /// `docker start`.
    fn start(&self, id: &str) -> BoxFuture<'_, Result<(), DockerError>>;

    /// Runs `command` inside the running container and waits up to `timeout` for it.
    fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: std::time::Duration,
    ) -> BoxFuture<'_, Result<ExecOutput, DockerError>>;

    /// Stops and removes the container, then creates and starts a new one with the same
    /// name and configuration. Returns the new container's ID.
    fn recreate(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<String, DockerError>>;

    /// Docker's own account of its disk usage (`/system/df`). The default has none.
    fn disk_usage(&self) -> BoxFuture<'_, Result<crate::DockerDiskUsage, DockerError>> {
        Box::pin(async { Err(unsupported("system df")) })
    }

    /// Removes what `what` allows through Docker's prune endpoints, one kind after
    /// another, and reports what was removed. The default removes nothing.
    fn prune<'a>(
        &'a self,
        what: &'a hale_policy::PruneAction,
    ) -> BoxFuture<'a, Result<crate::PruneReport, DockerError>> {
        let _ = what;
        Box::pin(async { Err(unsupported("prune")) })
    }
}

/// The error of an operation a Docker port does not offer.
fn unsupported(operation: &'static str) -> DockerError {
    DockerError::Api {
        operation,
        message: "not supported by this Docker connection".to_owned(),
    }
}
