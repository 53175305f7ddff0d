//! Runs a planned action against Docker. Called from a spawned task, never from a mailbox.

use std::time::{Duration, Instant};

use hale_core::{DockerError, DockerPort};
use hale_policy::Action;

use crate::decide::PlannedAction;

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// `Ok(detail)` or `Err(message)`.
    pub result: Result<String, String>,
    /// How long it took.
    pub duration: Duration,
}

/// Executes `planned` on the container `id`.
///
/// # Errors
/// Never returns early: every failure (container gone, daemon unreachable, an action this
/// build cannot run) becomes an `Err` in the outcome, to be recorded in the audit log.
pub async fn execute(docker: &dyn DockerPort, id: &str, planned: &PlannedAction) -> ActionOutcome {
    let started = Instant::now();
    let timeout = planned.stop_timeout;
    let result = match planned.action {
        Action::Restart => docker
            .restart(id, timeout)
            .await
            .map(|()| format!("restarted (stop timeout {timeout}s)")),
        Action::StopStart => match docker.stop(id, timeout).await {
            Ok(()) => docker
                .start(id)
                .await
                .map(|()| format!("stopped and started (stop timeout {timeout}s)")),
            Err(error) => Err(error),
        },
        Action::Recreate => docker
            .recreate(id, timeout)
            .await
            .map(|new_id| format!("recreated as {}", &new_id[..new_id.len().min(12)])),
        Action::Notify => Ok("nothing to run; the event is the notification".to_owned()),
        Action::Webhook | Action::CoolifyRestart | Action::CoolifyRedeploy => {
            Err(DockerError::Api {
                operation: "remediate",
                message: format!(
                    "action {} is not supported by this version of hale (only restart, stopStart, recreate and notify are)",
                    hale_core::action_name(planned.action)
                ),
            })
        }
    };
    ActionOutcome {
        result: result.map_err(|error| error.to_string()),
        duration: started.elapsed(),
    }
}
