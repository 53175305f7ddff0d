//! `GET /metrics`: hale's Prometheus metrics (prometheus-client, OpenMetrics text).
//!
//! Counters and histograms are fed as things happen (audit records, probe outcomes,
//! reloads); per-target gauges are rebuilt from the status board at every scrape, so the
//! series of a target that is gone disappear with it and cardinality stays bounded when
//! containers churn. No series carries a container ID, a reason or any other free text.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use hale_core::{ControllerStatus, HealEvent, HealEventKind, ProbeOutcome, Timestamp};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `hale_actions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    policy: String,
    action: String,
    result: String,
}

/// Labels of `hale_action_last_timestamp_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyActionLabels {
    policy: String,
    action: String,
}

/// Labels of `hale_alert_actions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertActionLabels {
    policy: String,
    alertname: String,
    action: String,
    result: String,
}

/// Labels of `hale_targets`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    policy: String,
    state: String,
}

/// Labels of `hale_cooldown_remaining_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    policy: String,
    target: String,
}

/// Labels of the probe metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    policy: String,
    probe: String,
}

/// Labels of `hale_probe_results_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeResultLabels {
    policy: String,
    probe: String,
    result: String,
}

/// A `result` label alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// Labels of `hale_notifications_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    notifier: String,
    result: String,
}

/// A `notifier` label alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifierLabel {
    notifier: String,
}

/// The results `hale_notifications_total` counts.
pub const NOTIFICATION_RESULTS: [&str; 3] = ["delivered", "failed", "dropped"];

/// A `version` label alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn probe_histogram() -> Histogram {
    // 1 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric hale exports.
pub struct Metrics {
    registry: Registry,
    actions: Family<ActionLabels, Counter>,
    targets: Family<StateLabels, Gauge>,
    cooldown: Family<TargetLabels, FloatGauge>,
    probe_duration: Family<ProbeLabels, Histogram, fn() -> Histogram>,
    probe_results: Family<ProbeResultLabels, Counter>,
    reaction: Histogram,
    enabled: Gauge,
    dry_run: Gauge,
    last_event: FloatGauge,
    reloads: Family<ResultLabel, Counter>,
    docker_connected: Gauge,
    spans_dropped: Counter,
    notifications: Family<NotificationLabels, Counter>,
    notification_queue: Family<NotifierLabel, Gauge>,
    action_last: Family<PolicyActionLabels, FloatGauge>,
    alert_actions: Family<AlertActionLabels, Counter>,
    prune_freed: Family<TargetLabels, Counter>,
    prune_estimated: Family<TargetLabels, Gauge>,
    heartbeat: FloatGauge,
    /// `hale_node_info` and fleet mode's metrics.
    fleet: crate::fleet_metrics::FleetMetrics,
    /// The same depths, readable (a metric family cannot be listed), for the dashboard.
    queue_depths: Mutex<std::collections::BTreeMap<String, usize>>,
    /// One scrape at a time rebuilds the per-target gauges.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "hale_actions",
            "Remediation decisions by policy, action and result (executed, failed, dry_run, cooldown_skip, circuit_open, quarantined, skipped, error)",
            actions.clone(),
        );
        let targets = Family::<StateLabels, Gauge>::default();
        registry.register(
            "hale_targets",
            "Targets by policy and state (healthy, degraded, unknown, pending, failing, verifying, quarantined)",
            targets.clone(),
        );
        let cooldown = Family::<TargetLabels, FloatGauge>::default();
        registry.register(
            "hale_cooldown_remaining_seconds",
            "Seconds until hale may act on the target again (cooldown, backoff, step timeout)",
            cooldown.clone(),
        );
        let probe_duration =
            Family::<ProbeLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                probe_histogram,
            );
        registry.register(
            "hale_probe_duration_seconds",
            "How long probes take",
            probe_duration.clone(),
        );
        let probe_results = Family::<ProbeResultLabels, Counter>::default();
        registry.register(
            "hale_probe_results",
            "Probe outcomes by policy, probe and result (success, failure, degraded)",
            probe_results.clone(),
        );
        // 1 ms .. ~33 s.
        let reaction = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "hale_reaction_seconds",
            "From the failure signal being observed to the action being issued",
            reaction.clone(),
        );
        let enabled = Gauge::default();
        registry.register(
            "hale_enabled",
            "1 while at least one policy is in force and not paused",
            enabled.clone(),
        );
        let dry_run = Gauge::default();
        registry.register(
            "hale_dry_run",
            "1 when hale runs with --dry-run",
            dry_run.clone(),
        );
        let last_event = FloatGauge::default();
        registry.register(
            "hale_last_event_timestamp_seconds",
            "Unix time of the newest audit record",
            last_event.clone(),
        );
        let action_last = Family::<PolicyActionLabels, FloatGauge>::default();
        registry.register(
            "hale_action_last_timestamp_seconds",
            "Unix time each action last ran (executed or failed), per policy",
            action_last.clone(),
        );
        let alert_actions = Family::<AlertActionLabels, Counter>::default();
        registry.register(
            "hale_alert_actions",
            "Actions taken because an Alertmanager alert fired, by alert name and result (executed, failed)",
            alert_actions.clone(),
        );
        let prune_freed = Family::<TargetLabels, Counter>::default();
        registry.register(
            "hale_prune_freed_bytes",
            "Bytes Docker reported freed by prune actions, per policy and host target",
            prune_freed.clone(),
        );
        let prune_estimated = Family::<TargetLabels, Gauge>::default();
        registry.register(
            "hale_prune_estimated_bytes",
            "Bytes the last dry-run prune estimated it would free, per policy and host target",
            prune_estimated.clone(),
        );
        let heartbeat = FloatGauge::default();
        registry.register(
            "hale_heartbeat_timestamp_seconds",
            "Unix time of the reconciler's last pass (at least every 5 s while hale works)",
            heartbeat.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "hale_policy_reload",
            "Policy directory reloads by result (applied, rejected)",
            reloads.clone(),
        );
        let docker_connected = Gauge::default();
        registry.register(
            "hale_docker_connected",
            "1 while the Docker daemon answers",
            docker_connected.clone(),
        );
        let spans_dropped = Counter::default();
        registry.register(
            "hale_trace_spans_dropped",
            "Trace spans the OTLP collector did not take (down, refusing, timing out)",
            spans_dropped.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "hale_notifications",
            "Notifications by notifier and result (delivered, failed after its retries, dropped from a full queue)",
            notifications.clone(),
        );
        let notification_queue = Family::<NotifierLabel, Gauge>::default();
        registry.register(
            "hale_notification_queue_depth",
            "Notifications waiting in each notifier's queue (rateLimit, retries, a slow service)",
            notification_queue.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        registry.register(
            "hale_build_info",
            "Always 1; the version label is hale's version",
            build_info.clone(),
        );
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        let fleet = crate::fleet_metrics::FleetMetrics::register(&mut registry);
        let metrics = Self {
            registry,
            fleet,
            actions,
            targets,
            cooldown,
            probe_duration,
            probe_results,
            reaction,
            enabled,
            dry_run,
            last_event,
            reloads,
            docker_connected,
            spans_dropped,
            notifications,
            notification_queue,
            action_last,
            alert_actions,
            prune_freed,
            prune_estimated,
            heartbeat,
            queue_depths: Mutex::default(),
            scrape: Mutex::new(()),
        };
        // Alerts that fire on `increase(...)` need the series to exist at 0 before the
        // first event, or the first event is the series' first sample and increase() sees
        // no change.
        for result in ["applied", "rejected"] {
            let _created = metrics.reloads.get_or_create(&ResultLabel {
                result: result.to_owned(),
            });
        }
        metrics
    }

    /// Creates, at 0, every `hale_actions_total` series a policy can produce: each result of
    /// each action on its ladder, and the policy-wide results (circuit_open, quarantined,
    /// cooldown_skip) that carry no action. Idempotent.
    fn know_policy(&self, policy: &str, actions: impl IntoIterator<Item = String>) {
        let mut series: Vec<(String, &str)> = ["circuit_open", "quarantined", "cooldown_skip"]
            .into_iter()
            .map(|result| ("none".to_owned(), result))
            .collect();
        for action in actions {
            for result in ["executed", "failed", "dry_run", "skipped", "error"] {
                series.push((action.clone(), result));
            }
        }
        for (action, result) in series {
            let _created = self.actions.get_or_create(&ActionLabels {
                policy: policy.to_owned(),
                action,
                result: result.to_owned(),
            });
        }
    }

    /// Creates, at 0, the `hale_alert_actions_total` series of each alert the policy
    /// listens to (by `alertname`) and each action of its ladder, as [`Self::know_policy`]
    /// does for `hale_actions_total`. Idempotent.
    fn know_alerts(&self, policy: &hale_core::PolicyStatus) {
        for alertname in policy
            .spec
            .alerts
            .iter()
            .filter_map(|rule| rule.match_labels.get("alertname"))
        {
            for step in &policy.spec.remediation.steps {
                for result in ["executed", "failed"] {
                    let _created = self.alert_actions.get_or_create(&AlertActionLabels {
                        policy: policy.name.clone(),
                        alertname: alertname.clone(),
                        action: hale_core::action_name(step.action),
                        result: result.to_owned(),
                    });
                }
            }
        }
    }

    /// Counts a notification of `notifier` with `result` (one of `NOTIFICATION_RESULTS`).
    pub fn observe_notification(&self, notifier: &str, result: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                notifier: notifier.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Sets how many notifications wait for `notifier`. The first call for a notifier also
    /// creates its `hale_notifications_total` series at 0, so an alert on their
    /// `increase()` sees the first failure.
    pub fn set_notification_queue(&self, notifier: &str, depth: usize) {
        for result in NOTIFICATION_RESULTS {
            let _created = self.notifications.get_or_create(&NotificationLabels {
                notifier: notifier.to_owned(),
                result: result.to_owned(),
            });
        }
        self.notification_queue
            .get_or_create(&NotifierLabel {
                notifier: notifier.to_owned(),
            })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.queue_depths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(notifier.to_owned(), depth);
    }

    /// How many notifications wait in each notifier's queue.
    pub fn notification_queues(&self) -> std::collections::BTreeMap<String, usize> {
        self.queue_depths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Names this hale on `/metrics`: `hale_node_info{node="…"} 1` (the `--node`, else the
    /// hostname, fleet mode or not).
    pub fn set_node(&self, node: &str) {
        self.fleet.set_node(node);
    }

    /// Fleet mode started on `node`: its fleet series exist from now on (the store counted
    /// down until the first answer, every transition counter at 0).
    pub fn start_fleet(&self, node: &str) {
        self.fleet.start(node);
    }

    /// Sets `hale_fleet_store_up` (whether the fleet's Redis answered the last round) and
    /// `hale_fleet_leases_held` of `node`.
    pub fn set_fleet_state(&self, node: &str, store_up: bool, leases_held: usize) {
        self.fleet.set_store(node, store_up);
        self.fleet.set_leases(node, leases_held);
    }

    /// Counts a lease keeper transition (`kind`: one of [`crate::FLEET_TRANSITIONS`]).
    pub fn count_fleet_transition(&self, kind: &str) {
        self.fleet.count(kind);
    }

    /// The counter of dropped trace spans, for the exporter to increment.
    pub fn spans_dropped(&self) -> Counter {
        self.spans_dropped.clone()
    }

    /// Counts an audit record.
    pub fn observe_event(&self, event: &HealEvent) {
        self.last_event.set(event.time.0 as f64 / 1000.0);
        if event.kind == HealEventKind::PolicyApplied {
            self.know_policy(&event.policy, []);
        }
        if let Some(bytes) = event.bytes_freed {
            let labels = TargetLabels {
                policy: event.policy.clone(),
                target: event
                    .target
                    .as_ref()
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
            };
            if event.kind == HealEventKind::DryRun {
                // The estimate that follows a dry-run decision, already counted as one.
                self.prune_estimated
                    .get_or_create(&labels)
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
                return;
            }
            self.prune_freed.get_or_create(&labels).inc_by(bytes);
        }
        let result = match event.kind {
            HealEventKind::ActionSucceeded => "executed",
            HealEventKind::ActionFailed => "failed",
            HealEventKind::DryRun => "dry_run",
            HealEventKind::CooldownSkip => "cooldown_skip",
            HealEventKind::CircuitOpen => "circuit_open",
            HealEventKind::Quarantined => "quarantined",
            HealEventKind::Skipped if event.action.is_some() => "skipped",
            HealEventKind::Interrupted => "error",
            HealEventKind::ActionStarted => {
                if let Some(signal_at) = event.signal_at {
                    self.reaction
                        .observe(event.time.since(signal_at).as_secs_f64());
                }
                return;
            }
            _ => return,
        };
        let action = event
            .action
            .map_or_else(|| "none".to_owned(), hale_core::action_name);
        if matches!(result, "executed" | "failed") {
            self.action_last
                .get_or_create(&PolicyActionLabels {
                    policy: event.policy.clone(),
                    action: action.clone(),
                })
                .set(event.time.0 as f64 / 1000.0);
            if let Some(alertname) = event
                .signal
                .as_deref()
                .and_then(hale_core::alertname_of_signal)
            {
                self.alert_actions
                    .get_or_create(&AlertActionLabels {
                        policy: event.policy.clone(),
                        alertname: alertname.to_owned(),
                        action: action.clone(),
                        result: result.to_owned(),
                    })
                    .inc();
            }
        }
        self.actions
            .get_or_create(&ActionLabels {
                policy: event.policy.clone(),
                action,
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts a probe outcome.
    pub fn observe_probe(&self, outcome: &ProbeOutcome) {
        let labels = ProbeLabels {
            policy: outcome.policy.clone(),
            probe: outcome.probe.clone(),
        };
        self.probe_duration
            .get_or_create(&labels)
            .observe(outcome.latency_ms as f64 / 1000.0);
        let result = if !outcome.success {
            "failure"
        } else if outcome.degraded {
            "degraded"
        } else {
            "success"
        };
        self.probe_results
            .get_or_create(&ProbeResultLabels {
                policy: labels.policy,
                probe: labels.probe,
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts a reload of the policy directory.
    pub fn observe_reload(&self, rejected: bool) {
        let result = if rejected { "rejected" } else { "applied" };
        self.reloads
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// The exposition text, with the per-target gauges rebuilt from `status`.
    pub fn render(&self, status: &ControllerStatus) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.targets.clear();
        self.cooldown.clear();
        let now = Timestamp::now();
        for policy in status.policies.values() {
            let ladder = policy.spec.remediation.steps.iter();
            self.know_policy(
                &policy.name,
                ladder.map(|step| hale_core::action_name(step.action)),
            );
            self.know_alerts(policy);
            for state in hale_core::TARGET_STATES {
                let count = policy.targets.iter().filter(|t| t.state == state).count();
                self.targets
                    .get_or_create(&StateLabels {
                        policy: policy.name.clone(),
                        state: state.to_owned(),
                    })
                    .set(count as i64);
            }
            for target in &policy.targets {
                let remaining = target
                    .next_action_at
                    .filter(|next| *next > now)
                    .map_or(0.0, |next| next.since(now).as_secs_f64());
                self.cooldown
                    .get_or_create(&TargetLabels {
                        policy: policy.name.clone(),
                        target: target.name.clone(),
                    })
                    .set(remaining);
            }
        }
        let active = status
            .policies
            .keys()
            .any(|name| !status.paused.contains(name));
        self.enabled.set(i64::from(active));
        self.dry_run.set(i64::from(status.dry_run));
        self.docker_connected
            .set(i64::from(status.docker_connected));
        if let Some(pass) = status.last_reconcile {
            self.heartbeat.set(pass.0 as f64 / 1000.0);
        }
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        text
    }
}

/// The classic Prometheus text format (0.0.4) of an OpenMetrics exposition, for scrapers
/// and tools that do not ask for OpenMetrics (`curl`, `promtool check metrics`): counter
/// families are named with their `_total` suffix, and `# EOF` and `# UNIT` go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_an_alert_caused_are_counted_by_alert_name_and_stamped() {
        let metrics = Metrics::new();
        let mut started = HealEvent::new(
            Timestamp(1_800_000_000_000),
            HealEventKind::ActionSucceeded,
            "alerts",
            None,
            "restarted",
        );
        started.action = Some(hale_policy::Action::Restart);
        started.signal = Some(hale_core::alert_signal("ContainerDown"));
        metrics.observe_event(&started);
        let mut plain = started.clone();
        plain.signal = Some("docker health: unhealthy".to_owned());
        plain.kind = HealEventKind::ActionFailed;
        metrics.observe_event(&plain);
        let status = hale_core::StatusBoard::new(Timestamp(1_800_000_000_000), false).snapshot();
        let text = to_prometheus_text(&metrics.render(&status));
        assert!(
            text.contains("hale_alert_actions_total{policy=\"alerts\",alertname=\"ContainerDown\",action=\"restart\",result=\"executed\"} 1"),
            "{text}"
        );
        assert!(!text.contains("result=\"failed\"} 1\nhale_alert"), "{text}");
        assert!(
            text.contains("hale_action_last_timestamp_seconds{policy=\"alerts\",action=\"restart\"} 1800000000"),
            "{text}"
        );
    }

    #[test]
    fn counters_get_their_total_suffix_in_the_classic_format() {
        let open = "# HELP hale_actions Remediation decisions.\n# TYPE hale_actions counter\nhale_actions_total{policy=\"web\"} 1\n# HELP hale_dry_run Dry run.\n# TYPE hale_dry_run gauge\nhale_dry_run 0\n# EOF\n";
        assert_eq!(
            to_prometheus_text(open),
            "# HELP hale_actions_total Remediation decisions.\n# TYPE hale_actions_total counter\nhale_actions_total{policy=\"web\"} 1\n# HELP hale_dry_run Dry run.\n# TYPE hale_dry_run gauge\nhale_dry_run 0\n"
        );
    }
}
