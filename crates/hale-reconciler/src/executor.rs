//! Runs a planned action against Docker, Coolify or a webhook. Called from a spawned task,
//! never from a mailbox.

use std::time::{Duration, Instant};

use hale_core::{DockerError, DockerPort, TargetRef};
use hale_policy::Action;

use crate::coolify::{CoolifyAction, CoolifyOutcome};
use crate::decide::PlannedAction;

/// How an action ended, with the detail for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResult {
    /// It did what it should.
    Succeeded(String),
    /// It did nothing, on purpose: the remote side is already remediating (a Coolify
    /// deployment is queued or running). Not an attempt, and not a failure.
    Skipped(String),
    /// It failed; hale tries again or escalates when the step's wait is over.
    Failed(String),
}

impl From<Result<String, String>> for ActionResult {
    fn from(result: Result<String, String>) -> Self {
        match result {
            Ok(detail) => Self::Succeeded(detail),
            Err(error) => Self::Failed(error),
        }
    }
}

/// How an action ended and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// The result.
    pub result: ActionResult,
    /// How long it took.
    pub duration: Duration,
}

/// Executes `planned` on `target` (a container, or a site for Coolify, webhook and notify
/// actions).
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
    let docker_result = |result: Result<String, DockerError>| {
        ActionResult::from(result.map_err(|error| error.to_string()))
    };
    let result = match planned.action {
        Action::Restart => docker_result(
            docker
                .restart(id, timeout)
                .await
                .map(|()| format!("restarted (stop timeout {timeout}s)")),
        ),
        Action::StopStart => docker_result(match docker.stop(id, timeout).await {
            Ok(()) => docker
                .start(id)
                .await
                .map(|()| format!("stopped and started (stop timeout {timeout}s)")),
            Err(error) => Err(error),
        }),
        Action::Recreate => docker_result(
            docker
                .recreate(id, timeout)
                .await
                .map(|new_id| format!("recreated as {}", &new_id[..new_id.len().min(12)])),
        ),
        Action::Notify => {
            ActionResult::Succeeded("nothing to run; the event is the notification".to_owned())
        }
        Action::Webhook => {
            let context = crate::webhook::WebhookContext {
                policy: policy.to_owned(),
                target: target.name.clone(),
                target_id: target.id.clone(),
                reason: planned.reason.clone(),
            };
            ActionResult::from(match &planned.webhook {
                Some(webhook) => crate::webhook::send(http, webhook, &context).await,
                None => Err("the step has no webhook block".to_owned()),
            })
        }
        Action::CoolifyRestart | Action::CoolifyRedeploy => {
            let action = if planned.action == Action::CoolifyRestart {
                CoolifyAction::Restart
            } else {
                CoolifyAction::Redeploy
            };
            match &planned.coolify {
                Some(app) => match crate::coolify::remediate(app, action).await {
                    Ok(CoolifyOutcome::Queued(detail)) => ActionResult::Succeeded(detail),
                    Ok(CoolifyOutcome::Busy(detail)) => ActionResult::Skipped(detail),
                    Err(error) => ActionResult::Failed(error),
                },
                None => ActionResult::Failed(format!(
                    "{} needs a site with a coolify application; {} has none",
                    hale_core::action_name(planned.action),
                    target.name
                )),
            }
        }
    };
    ActionOutcome {
        result,
        duration: started.elapsed(),
    }
}
