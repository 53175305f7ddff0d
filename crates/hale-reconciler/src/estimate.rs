//! What a dry-run prune would free: Docker's disk usage read in a spawned task (never in
//! the mailbox), estimated with the step's filters, and recorded as a dry-run record.

use std::sync::Arc;

use hale_core::{HealEvent, HealEventKind, TargetRef, estimate_prune};
use ractor::ActorRef;

use crate::action::PlannedAction;
use crate::state::{ReconcilerMsg, ReconcilerState};

/// Reads Docker's usage and tells the reconciler what pruning `planned` would free.
pub(crate) fn estimate_dry_run(
    myself: &ActorRef<ReconcilerMsg>,
    state: &ReconcilerState,
    policy: String,
    target: TargetRef,
    planned: PlannedAction,
) {
    let docker = Arc::clone(&state.args.docker);
    let clock = state.args.clock;
    let reply_to = myself.clone();
    let mailbox = state.args.mailbox.clone();
    tokio::spawn(async move {
        let what = planned.prune.clone().unwrap_or_default();
        let usage = docker.disk_usage().await;
        let now = clock.now();
        let mut event = HealEvent::new(
            now,
            HealEventKind::DryRun,
            &policy,
            Some(&target),
            String::new(),
        );
        event.dry_run = true;
        event.action = Some(planned.action);
        event.step = Some((planned.step, planned.attempt));
        match usage {
            Ok(usage) => {
                let report = estimate_prune(&usage, &what, (now.0 / 1000) as i64);
                event.bytes_freed = Some(report.bytes_freed);
                event.reason = format!(
                    "dry-run: prune would free about {} (Docker's own accounting, with the step's filters); nothing was removed",
                    report.summary("").trim_start()
                );
            }
            Err(error) => {
                event.reason = format!(
                    "dry-run: cannot estimate what prune would free ({error}); nothing was removed"
                );
            }
        }
        let current = mailbox.get().unwrap_or(reply_to);
        let _ = current.cast(ReconcilerMsg::Recorded(Box::new(event)));
    });
}
