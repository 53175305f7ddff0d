//! Runs a planned action against Docker. Called from a spawned task, never from a mailbox.

use std::time::{Duration, Instant};

use hale_core::{DockerError, DockerPort, TargetRef};
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
pub async fn execute(
    docker: &dyn DockerPort,
    http: &reqwest::Client,
    policy: &str,
    target: &TargetRef,
    planned: &PlannedAction,
) -> ActionOutcome {
    let started = Instant::now();
    let id = target.id.as_str();
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
        Action::Webhook => {
            let context = crate::webhook::WebhookContext {
                policy: policy.to_owned(),
                target: target.name.clone(),
                target_id: target.id.clone(),
                reason: planned.reason.clone(),
            };
            let result = match &planned.webhook {
                Some(webhook) => crate::webhook::send(http, webhook, &context).await,
                None => Err("the step has no webhook block".to_owned()),
            };
            return ActionOutcome {
                result,
                duration: started.elapsed(),
            };
        }
        Action::CoolifyRestart | Action::CoolifyRedeploy => Err(DockerError::Api {
            operation: "remediate",
            message: format!(
                "action {} needs a site target; container targets cannot be redeployed through Coolify yet",
                hale_core::action_name(planned.action)
            ),
        }),
    };
    ActionOutcome {
        result: result.map_err(|error| error.to_string()),
        duration: started.elapsed(),
    }
}
