//! Publishes this node's targets to the fleet's status view (`hale:status:<node>`), from
//! a task of its own: the reconciler only writes the status board, as without `--fleet`,
//! and never waits on Redis.
//!
//! Every [`CHECK`] the task compares the board's targets with what it last published: a
//! change goes out within a check (so changes are debounced to one publish per check),
//! and an unchanged view is only refreshed (its time and TTL moved, the view not resent)
//! every [`PERIOD`]. The key lives [`TTL`]: a node that dies drops out of the view when it
//! expires.

use std::time::Duration;

use hale_core::{ControllerStatus, StatusBoard, TargetStatus};
use hale_fleet::FleetStatus;
use serde_json::{Value, json};
use tokio::time::Instant;

/// How often an unchanged view is refreshed.
pub const PERIOD: Duration = Duration::from_secs(5);

/// How long a node's view outlives its last publish: three periods, so one or two lost
/// refreshes do not drop a live node out of the view.
pub const TTL: Duration = Duration::from_secs(15);

/// How often the board is compared with what was published: the longest a change waits.
const CHECK: Duration = Duration::from_secs(1);

/// The most targets one node publishes (the rest are counted as `omitted`): with
/// [`MAX_TEXT`] this bounds a node's view at about a megabyte even on a huge host.
pub const MAX_TARGETS: usize = 2_000;

/// The longest text (a signal, a probe's last failure) a published target carries; the
/// node's own API has the whole of it.
const MAX_TEXT: usize = 160;

/// Starts the publisher of `node`'s view; it runs until aborted (at shutdown, before the
/// node withdraws its view).
pub fn spawn_status_publisher(
    status: FleetStatus,
    node: String,
    board: StatusBoard,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // What Redis has of this node, as far as this task knows (`None`: unknown).
        let mut published: Option<String> = None;
        let mut last_publish: Option<Instant> = None;
        let mut unreachable = false;
        let mut ticker = tokio::time::interval(CHECK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let view = node_view(&board.snapshot());
            let changed = published.as_deref() != Some(view.as_str());
            let due = last_publish.is_none_or(|at| at.elapsed() >= PERIOD);
            if !changed && !due {
                continue;
            }
            let sent = changed.then_some(view.as_str());
            match status.publish(&node, sent, PERIOD, TTL).await {
                Ok(true) => {
                    if unreachable {
                        tracing::info!(%node, "fleet: this node's status is published again");
                        unreachable = false;
                    }
                    published = Some(view);
                    last_publish = Some(Instant::now());
                }
                // The key was gone (expired, or Redis restarted empty): send it whole.
                Ok(false) => published = None,
                Err(error) => {
                    if !unreachable {
                        tracing::warn!(%node, %error, "fleet: cannot publish this node's status; it drops out of the fleet view until Redis answers");
                        unreachable = true;
                    }
                    published = None;
                }
            }
        }
    })
}

/// The node's view as published: every target of every policy (the list `GET
/// /api/v1/targets` serves, each item with its `policy`), bounded by [`MAX_TARGETS`] and
/// [`MAX_TEXT`], with every registered secret redacted.
pub fn node_view(status: &ControllerStatus) -> String {
    let mut items: Vec<Value> = Vec::new();
    let mut omitted = 0usize;
    for policy in status.policies.values() {
        for target in &policy.targets {
            if items.len() >= MAX_TARGETS {
                omitted += 1;
                continue;
            }
            let mut item = serde_json::to_value(bounded(target)).unwrap_or_default();
            item["policy"] = json!(policy.name);
            items.push(item);
        }
    }
    // What leaves the node passes the process's redactor, as every API answer does: a
    // reader elsewhere in the fleet cannot know this node's secrets to hide them.
    hale_core::redact::redact(&json!({ "items": items, "omitted": omitted }).to_string())
        .into_owned()
}

/// `target` with its long texts redacted and cut to [`MAX_TEXT`] characters.
fn bounded(target: &TargetStatus) -> TargetStatus {
    let mut target = target.clone();
    let cut = |text: &mut String| {
        // Redacted before it is cut: a cut secret would no longer be recognized.
        *text = hale_core::redact::redact(text).into_owned();
        if let Some((index, _)) = text.char_indices().nth(MAX_TEXT) {
            text.truncate(index);
            text.push('…');
        }
    };
    if let Some(signal) = target.signal.as_mut() {
        cut(signal);
    }
    if let Some(standby) = target.standby.as_mut() {
        cut(standby);
    }
    for probe in &mut target.probes {
        cut(&mut probe.last_failure);
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;
    use hale_core::{PolicyStatus, ProbeSummary, Timestamp};

    fn target(index: usize) -> TargetStatus {
        TargetStatus {
            name: format!("shop-web-{index}"),
            id: format!("{index:064x}"),
            state: "failing".to_owned(),
            signal: Some("probe http failed: HTTP 503 Service Unavailable ".repeat(20)),
            step: 2,
            last_action: Some("restart".to_owned()),
            last_action_at: Some(Timestamp::now()),
            next_action_at: Some(Timestamp::now()),
            attempts: 1,
            last_action_failed: false,
            disabled: false,
            standby: None,
            probes: vec![ProbeSummary {
                name: "http".to_owned(),
                passing: false,
                streak: 3,
                last_failure: "x".repeat(10_000),
                last_failure_at: Some(Timestamp::now()),
            }],
            selected_by: Some("labels app=shop".to_owned()),
        }
    }

    fn status_with(targets: usize) -> ControllerStatus {
        let board = StatusBoard::new(Timestamp::now(), false);
        board.update(|status| {
            let report = hale_policy::load_str(
                "policies/autoheal.yaml",
                include_str!("../../../policies/autoheal.yaml"),
            );
            let spec = report.set.policies[0].resource.spec.clone();
            let mut policy =
                PolicyStatus::new("web", "web.yaml".to_owned(), 1, Timestamp::now(), spec);
            policy.targets = (0..targets).map(target).collect();
            status.policies.insert("web".to_owned(), policy);
        });
        board.snapshot()
    }

    #[test]
    fn a_thousand_targets_with_every_text_at_its_cap_stay_under_800_kilobytes() {
        let view = node_view(&status_with(1_000));
        let parsed: Value = serde_json::from_str(&view).unwrap();
        assert_eq!(parsed["items"].as_array().unwrap().len(), 1_000);
        assert_eq!(parsed["items"][0]["policy"], "web");
        assert_eq!(parsed["omitted"], 0);
        println!("1,000 targets: {} bytes", view.len());
        assert!(view.len() < 800_000, "{} bytes", view.len());
    }

    #[test]
    fn a_secret_in_a_probe_failure_is_redacted_before_it_leaves_the_node() {
        let secret = "zqxv-planted-secret-3141";
        hale_core::redact::register(secret);
        let mut status = status_with(1);
        let policy = status.policies.get_mut("web").unwrap();
        policy.targets[0].probes[0].last_failure = format!("GET http://u:{secret}@db/ failed");
        // Where the cut would fall inside the secret.
        policy.targets[0].signal = Some(format!("{}{secret}", "x".repeat(MAX_TEXT - 5)));
        let view = node_view(&status);
        assert!(!view.contains(secret), "{view}");
        assert!(
            !view.contains(&secret[..5]),
            "no cut piece of it either: {view}"
        );
    }

    #[test]
    fn past_the_cap_targets_are_counted_not_sent() {
        let parsed: Value =
            serde_json::from_str(&node_view(&status_with(MAX_TARGETS + 5))).unwrap();
        assert_eq!(parsed["items"].as_array().unwrap().len(), MAX_TARGETS);
        assert_eq!(parsed["omitted"], 5);
    }
}
