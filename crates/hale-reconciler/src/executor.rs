//! Runs a planned action against Docker, Coolify or a webhook. Called from a spawned task,
//! never from a mailbox.

use std::time::Instant;

use hale_core::{DockerError, DockerPort, TargetRef, unix_nanos};
use hale_policy::Action;

use crate::action::{ActionOutcome, ActionResult, PlannedAction};
use crate::coolify::{CoolifyAction, CoolifyOutcome};

/// Executes `planned` on `target` (a container, or a site for Coolify, webhook and notify
/// actions).
///
/// # Errors
/// Never returns early: every failure (container gone, daemon unreachable, an action this
/// build cannot run) becomes an `Err` in the outcome, to be recorded in the audit log.
pub async fn execute(
    docker: &dyn DockerPort,
    http: &hale_core::http_client::ClientCache,
    policy: &str,
    target: &TargetRef,
    planned: &PlannedAction,
) -> ActionOutcome {
    let started = Instant::now();
    let id = target.id.as_str();
    let timeout = planned.stop_timeout;
    let docker_result = |result: Result<String, DockerError>| match result {
        Ok(detail) => ActionResult::Succeeded(detail),
        Err(error) => ActionResult::Failed(error.to_string()),
    };
    let mut bytes_freed = None;
    let result = match planned.action {
        Action::Restart | Action::StopStart => {
            let verb = hale_core::action_name(planned.action);
            match stop_unless_overridden(docker, id, timeout, &verb).await {
                Err(overridden) => overridden,
                Ok(()) => match docker.start(id).await {
                    Ok(()) => ActionResult::Succeeded(format!(
                        "{} (stop timeout {timeout}s)",
                        if planned.action == Action::Restart {
                            "restarted"
                        } else {
                            "stopped and started"
                        }
                    )),
                    Err(error) => ActionResult::Failed(error.to_string()),
                },
            }
        }
        // The old container is stopped first, on its own, for the same reason: its
        // replacement is created only if no one else stopped it meanwhile (the recreate's
        // own stop then finds it stopped already).
        Action::Recreate => match stop_unless_overridden(docker, id, timeout, "recreate").await {
            Err(overridden) => overridden,
            Ok(()) => docker_result(
                docker
                    .recreate(id, timeout)
                    .await
                    .map(|new_id| format!("recreated as {}", &new_id[..new_id.len().min(12)])),
            ),
        },
        Action::Prune => {
            let what = planned.prune.clone().unwrap_or_default();
            match docker.prune(&what).await {
                Ok(report) => {
                    bytes_freed = Some(report.bytes_freed);
                    ActionResult::Succeeded(report.summary("freed"))
                }
                Err(error) => ActionResult::Failed(error.to_string()),
            }
        }
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
            match &planned.webhook {
                Some(webhook) => match crate::webhook::send(http, webhook, &context).await {
                    Ok(detail) => ActionResult::Succeeded(detail),
                    Err(error) => ActionResult::Failed(error.to_string()),
                },
                None => ActionResult::Failed("the step has no webhook block".to_owned()),
            }
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
                    Err(error) => ActionResult::Failed(error.to_string()),
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
        bytes_freed,
    }
}

/// The first half of a restart, a stopStart or a recreate, so that an operator's stop in
/// between wins: hale stops the container, then looks at the `kill` events Docker recorded
/// meanwhile. `Ok` when every one was its own (the stop signal once, and SIGKILL once when
/// the process outlived the timeout): the action may go on. Otherwise the result to record
/// instead: Docker's own restart, or a recreate, would bring back a container an operator
/// stopped while hale was waiting for it to exit.
async fn stop_unless_overridden(
    docker: &dyn DockerPort,
    id: &str,
    timeout: u32,
    verb: &str,
) -> Result<(), ActionResult> {
    let began = unix_nanos();
    if let Err(error) = docker.stop(id, timeout).await {
        return Err(ActionResult::Failed(error.to_string()));
    }
    // Docker records a kill event as it sends the signal; a little slack covers the clock
    // reading on either side.
    let kills = docker
        .kills_between(id, began - SLACK_NANOS, unix_nanos() + SLACK_NANOS)
        .await;
    match kills {
        Ok(kills) if !own_kills_only(&kills, began, timeout) => {
            let signals: Vec<&str> = kills.iter().map(|(_, signal)| signal.as_str()).collect();
            return Err(ActionResult::OperatorStopped(format!(
                "someone else stopped or killed the container while hale's {verb} was stopping it (signals {}); hale leaves it stopped",
                signals.join(", ")
            )));
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(container = %id, %error, "cannot read Docker's events to tell an operator's stop from hale's; going on as planned");
        }
    }
    Ok(())
}

/// Slack around the window in which hale's own stop sends its signals.
const SLACK_NANOS: i64 = 200_000_000;

/// Whether `kills` are exactly what hale's stop at `began` with `timeout` sends: the stop
/// signal once, then SIGKILL once, no sooner than the timeout.
fn own_kills_only(kills: &[(i64, String)], began: i64, timeout: u32) -> bool {
    let is_sigkill = |signal: &str| matches!(signal, "9" | "SIGKILL" | "KILL");
    let sigkill_due = began + i64::from(timeout) * 1_000_000_000 - SLACK_NANOS;
    let mut stop_signal_seen = false;
    let mut sigkill_seen = false;
    for (at, signal) in kills {
        if is_sigkill(signal) && !sigkill_seen && (*at >= sigkill_due || timeout == 0) {
            sigkill_seen = true;
        } else if !is_sigkill(signal) && !stop_signal_seen && !sigkill_seen {
            stop_signal_seen = true;
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::own_kills_only;

    const S: i64 = 1_000_000_000;

    #[test]
    fn hales_own_stop_and_its_late_sigkill_are_not_an_operators() {
        assert!(own_kills_only(&[], 0, 10));
        assert!(own_kills_only(&[(0, "15".into())], 0, 10));
        assert!(own_kills_only(
            &[(0, "15".into()), (10 * S, "9".into())],
            0,
            10
        ));
    }

    #[test]
    fn a_second_stop_signal_or_an_early_sigkill_is_an_operators() {
        // `docker stop` two seconds into hale's restart.
        assert!(!own_kills_only(
            &[(0, "15".into()), (2 * S, "15".into())],
            0,
            10
        ));
        // `docker kill` while hale waits for the process to exit.
        assert!(!own_kills_only(
            &[(0, "15".into()), (3 * S, "9".into())],
            0,
            10
        ));
        // Both hale's SIGKILL and one more.
        assert!(!own_kills_only(
            &[(0, "15".into()), (10 * S, "9".into()), (10 * S, "9".into())],
            0,
            10
        ));
    }
}
