//! What hale knows about a container, and what Docker says happened to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The lifecycle state Docker reports for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created but never started.
    Created,
    /// Running (possibly unhealthy).
    Running,
    /// Paused by `docker pause`.
    Paused,
    /// Being restarted by Docker's restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Stopped or crashed.
    Exited,
    /// Failed to stop or be removed properly.
    Dead,
}

/// The result of the image's HEALTHCHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Within the health check's start period, no verdict yet.
    Starting,
    /// Passing.
    Healthy,
    /// Failing: Docker gave up after `--health-retries` failures.
    Unhealthy,
}

/// The restart policy Docker applies to a container on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RestartPolicy {
    /// Docker never restarts it.
    No,
    /// Docker restarts it whenever it stops, except after `docker stop`.
    Always,
    /// Like `Always`, and it stays stopped across daemon restarts after `docker stop`.
    UnlessStopped,
    /// Docker restarts it after a non-zero exit, at most `max_retries` times (0 = unlimited).
    OnFailure {
        /// The retry limit; 0 means no limit.
        max_retries: u32,
    },
}

/// The state of one container as hale last observed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSnapshot {
    /// The full container ID.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// Docker labels.
    pub labels: BTreeMap<String, String>,
    /// Lifecycle state.
    pub status: ContainerStatus,
    /// HEALTHCHECK result, `None` when the image has no health check.
    pub health: Option<HealthStatus>,
    /// Exit code of the last run (meaningful when exited).
    pub exit_code: i64,
    /// Whether the last run was ended by the kernel's OOM killer.
    pub oom_killed: bool,
    /// When the current (or last) run started.
    pub started_at: Option<Timestamp>,
    /// When the last run ended.
    pub finished_at: Option<Timestamp>,
    /// How many times Docker's restart policy has restarted it.
    pub restart_count: u32,
    /// Docker's own restart policy.
    pub restart_policy: RestartPolicy,
    /// Seconds to wait for a graceful stop before SIGKILL, from the container config.
    pub stop_timeout: Option<u32>,
    /// True when the last stop came from `docker stop`/`docker kill` (an operator's intent)
    /// rather than from the process dying by itself. Known from the event stream.
    pub stopped_by_operator: bool,
    /// True when hale saw the `die` event of the last exit. An exit that happened while
    /// hale was not watching cannot be told apart from an operator's stop, so it is never
    /// treated as a failure.
    pub exit_seen: bool,
    /// Since when `health` has had its current value (the `health_status` event's time, or
    /// when hale first saw it).
    pub health_since: Option<Timestamp>,
    /// When Docker last ran the health check, as far as hale knows (the `health_status`
    /// event's time, or the end of the newest entry of an inspect's health log): how fresh
    /// the evidence of `health` is.
    #[serde(default)]
    pub health_checked_at: Option<Timestamp>,
    /// Consecutive failed health checks, Docker's `FailingStreak` as of the last inspect
    /// (0 when healthy or unknown). What a `dockerHealth` probe's `failureThreshold`
    /// counts.
    #[serde(default)]
    pub health_failing_streak: u32,
    /// How often Docker runs the image's HEALTHCHECK (its `--health-interval`), when the
    /// container has one.
    #[serde(default)]
    pub health_interval_ms: Option<u32>,
    /// When hale received the observation this snapshot reflects (event or inspect), to
    /// measure hale's own reaction time.
    #[serde(default)]
    pub received_at: Option<Timestamp>,
    /// The container's IP address on each network it is attached to.
    #[serde(default)]
    pub addresses: BTreeMap<String, String>,
    /// Published ports: container port (`8080/tcp`) to the host address and port.
    #[serde(default)]
    pub published: BTreeMap<String, (String, u16)>,
}

impl ContainerSnapshot {
    /// A container known only by identity and state: no labels, health check, exit,
    /// restart policy, addresses or event history. The base that adapters and tests fill in.
    pub fn new(id: impl Into<String>, name: impl Into<String>, status: ContainerStatus) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            status,
            health: None,
            exit_code: 0,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            restart_count: 0,
            restart_policy: RestartPolicy::No,
            stop_timeout: None,
            stopped_by_operator: false,
            exit_seen: false,
            health_since: None,
            health_checked_at: None,
            health_failing_streak: 0,
            health_interval_ms: None,
            received_at: None,
            addresses: BTreeMap::new(),
            published: BTreeMap::new(),
        }
    }

    /// Where to reach the container's TCP `port`: through `host` when given (using the
    /// port the container publishes for it, if any), else at the container's IP on
    /// `network` (or its first network). `None` when it has no address.
    pub fn endpoint(
        &self,
        port: u16,
        host: Option<&str>,
        network: Option<&str>,
    ) -> Option<(String, u16)> {
        if let Some(host) = host {
            let published = self.published.get(&format!("{port}/tcp")).map(|(_, p)| *p);
            return Some((host.to_owned(), published.unwrap_or(port)));
        }
        let address = match network {
            Some(network) => self.addresses.get(network),
            None => self.addresses.values().find(|ip| !ip.is_empty()),
        }?;
        (!address.is_empty()).then(|| (address.clone(), port))
    }
}

impl ContainerSnapshot {
    /// Whether Docker's restart policy will restart this container after its last exit, in
    /// which case hale must not race it.
    pub fn docker_will_restart(&self) -> bool {
        if self.status != ContainerStatus::Exited || self.stopped_by_operator {
            return false;
        }
        match self.restart_policy {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                self.exit_code != 0 && (max_retries == 0 || self.restart_count < max_retries)
            }
        }
    }

    /// The stop timeout to use when restarting: label `hale.dev/stop-timeout`, then
    /// `autoheal.stop.timeout` (for users migrating from autoheal), then the container's
    /// own `StopTimeout`, then Docker's default of 10 seconds.
    pub fn effective_stop_timeout(&self) -> u32 {
        stop_timeout_from_labels(&self.labels)
            .or(self.stop_timeout)
            .unwrap_or(10)
    }
}

/// The stop timeout a container's labels ask for, if any.
pub fn stop_timeout_from_labels(labels: &BTreeMap<String, String>) -> Option<u32> {
    ["hale.dev/stop-timeout", "autoheal.stop.timeout"]
        .iter()
        .find_map(|key| labels.get(*key)?.trim().trim_end_matches('s').parse().ok())
}

/// What Docker reported about a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerEvent {
    /// The container's full ID.
    pub id: String,
    /// What happened.
    pub kind: ContainerEventKind,
    /// When Docker says it happened.
    pub time: Timestamp,
    /// Docker's event time in nanoseconds, for resuming the stream after a reconnect.
    pub time_nano: i64,
    /// When hale read the event from the stream.
    #[serde(default)]
    pub received_at: Timestamp,
}

/// The container events hale follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerEventKind {
    /// `start`.
    Start,
    /// `die`, with the exit code.
    Die {
        /// The process's exit code.
        exit_code: i64,
    },
    /// `oom`: the kernel's OOM killer struck.
    Oom,
    /// `kill`: a signal was sent (by `docker kill`, `docker stop` or `docker restart`).
    Kill,
    /// `stop`: `docker stop` (or a restart's stop phase) completed.
    Stop,
    /// `health_status: ...`.
    HealthStatus(HealthStatus),
    /// `restart`.
    Restart,
    /// `destroy`: the container was removed.
    Destroy,
    /// `rename`.
    Rename,
    /// `create`.
    Create,
    /// `pause` or `unpause`.
    PauseChange,
}

impl ContainerSnapshot {
    /// Applies what an event says about the container's state, without asking Docker.
    ///
    /// Events carry enough to keep a snapshot current between inspects: a start, a death
    /// with its exit code, an OOM kill, a health change. What they do not carry (restart
    /// count, new name, pause state) needs an inspect: see
    /// [`ContainerEventKind::needs_inspect`].
    pub fn apply(&mut self, event: &ContainerEvent) {
        match &event.kind {
            ContainerEventKind::Start => {
                self.status = ContainerStatus::Running;
                self.started_at = Some(event.time);
                self.oom_killed = false;
                // Docker resets the health check on every start.
                if self.health.is_some() {
                    self.health = Some(HealthStatus::Starting);
                }
            }
            ContainerEventKind::Die { exit_code } => {
                self.status = ContainerStatus::Exited;
                self.exit_code = *exit_code;
                self.finished_at = Some(event.time);
            }
            ContainerEventKind::Oom => self.oom_killed = true,
            ContainerEventKind::HealthStatus(health) => {
                self.health = Some(*health);
                self.health_checked_at = Some(event.time);
            }
            ContainerEventKind::Kill
            | ContainerEventKind::Stop
            | ContainerEventKind::Restart
            | ContainerEventKind::Destroy
            | ContainerEventKind::Rename
            | ContainerEventKind::Create
            | ContainerEventKind::PauseChange => {}
        }
    }
}

impl ContainerEventKind {
    /// The Docker event actions hale subscribes to (the `event` filter of
    /// `/events`): exactly those [`Self::from_docker`] maps to a kind.
    pub const DOCKER_ACTIONS: &'static [&'static str] = &[
        "start",
        "die",
        "oom",
        "kill",
        "stop",
        "restart",
        "destroy",
        "rename",
        "create",
        "pause",
        "unpause",
        "health_status",
    ];

    /// Whether the container must be inspected to learn what this event changed: a start
    /// (the addresses and published ports it got), a death (Docker's restart count and
    /// whether it will restart it), a rename, a creation, a pause.
    pub fn needs_inspect(&self) -> bool {
        matches!(
            self,
            Self::Start | Self::Die { .. } | Self::Rename | Self::Create | Self::PauseChange
        )
    }

    /// Maps Docker's `Action` string (e.g. `health_status: unhealthy`, `die`) and the
    /// event's attributes to a kind; `None` for actions hale ignores (exec, attach, ...).
    pub fn from_docker(action: &str, exit_code: Option<&str>) -> Option<Self> {
        Some(match action {
            "start" => Self::Start,
            "die" => Self::Die {
                exit_code: exit_code.and_then(|c| c.parse().ok()).unwrap_or(0),
            },
            "oom" => Self::Oom,
            "kill" => Self::Kill,
            "stop" => Self::Stop,
            "restart" => Self::Restart,
            "destroy" => Self::Destroy,
            "rename" => Self::Rename,
            "create" => Self::Create,
            "pause" | "unpause" => Self::PauseChange,
            "health_status: unhealthy" => Self::HealthStatus(HealthStatus::Unhealthy),
            "health_status: healthy" => Self::HealthStatus(HealthStatus::Healthy),
            "health_status: starting" => Self::HealthStatus(HealthStatus::Starting),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(policy: RestartPolicy, exit_code: i64, restart_count: u32) -> ContainerSnapshot {
        ContainerSnapshot {
            exit_code,
            restart_count,
            restart_policy: policy,
            exit_seen: true,
            ..ContainerSnapshot::new("abc", "web", ContainerStatus::Exited)
        }
    }

    #[test]
    fn docker_restarts_what_its_policy_covers_and_nothing_else() {
        assert!(!exited(RestartPolicy::No, 1, 0).docker_will_restart());
        assert!(exited(RestartPolicy::Always, 0, 0).docker_will_restart());
        assert!(exited(RestartPolicy::UnlessStopped, 1, 0).docker_will_restart());
        let on_failure = RestartPolicy::OnFailure { max_retries: 3 };
        assert!(exited(on_failure.clone(), 1, 2).docker_will_restart());
        assert!(!exited(on_failure.clone(), 1, 3).docker_will_restart());
        assert!(!exited(on_failure, 0, 0).docker_will_restart());
        let mut stopped = exited(RestartPolicy::Always, 0, 0);
        stopped.stopped_by_operator = true;
        assert!(!stopped.docker_will_restart());
    }

    #[test]
    fn stop_timeout_labels_win_over_the_config() {
        let mut container = exited(RestartPolicy::No, 1, 0);
        container.stop_timeout = Some(30);
        assert_eq!(container.effective_stop_timeout(), 30);
        container
            .labels
            .insert("autoheal.stop.timeout".into(), "5".into());
        assert_eq!(container.effective_stop_timeout(), 5);
        container
            .labels
            .insert("hale.dev/stop-timeout".into(), "2s".into());
        assert_eq!(container.effective_stop_timeout(), 2);
        container.labels.clear();
        container.stop_timeout = None;
        assert_eq!(container.effective_stop_timeout(), 10);
    }

    #[test]
    fn events_update_a_snapshot_without_an_inspect() {
        let mut container = exited(RestartPolicy::No, 1, 0);
        container.health = Some(HealthStatus::Unhealthy);
        let at = |kind, ms| ContainerEvent {
            id: "abc".into(),
            kind,
            time: Timestamp(ms),
            time_nano: 0,
            received_at: Timestamp(ms),
        };
        container.apply(&at(ContainerEventKind::Start, 10));
        assert_eq!(container.status, ContainerStatus::Running);
        assert_eq!(container.health, Some(HealthStatus::Starting));
        assert_eq!(container.started_at, Some(Timestamp(10)));
        container.apply(&at(
            ContainerEventKind::HealthStatus(HealthStatus::Unhealthy),
            20,
        ));
        assert_eq!(container.health, Some(HealthStatus::Unhealthy));
        container.apply(&at(ContainerEventKind::Oom, 30));
        container.apply(&at(ContainerEventKind::Die { exit_code: 137 }, 31));
        assert_eq!(container.status, ContainerStatus::Exited);
        assert_eq!((container.exit_code, container.oom_killed), (137, true));
        assert_eq!(container.finished_at, Some(Timestamp(31)));
    }

    #[test]
    fn docker_actions_map_to_kinds() {
        assert_eq!(
            ContainerEventKind::from_docker("health_status: unhealthy", None),
            Some(ContainerEventKind::HealthStatus(HealthStatus::Unhealthy))
        );
        assert_eq!(
            ContainerEventKind::from_docker("die", Some("137")),
            Some(ContainerEventKind::Die { exit_code: 137 })
        );
        assert_eq!(
            ContainerEventKind::from_docker("exec_start: sh", None),
            None
        );
    }

    #[test]
    fn the_subscribed_actions_are_exactly_those_hale_maps() {
        for action in ContainerEventKind::DOCKER_ACTIONS {
            // Docker sends `health_status: <state>` for the `health_status` filter.
            let sent = if *action == "health_status" {
                "health_status: healthy".to_owned()
            } else {
                (*action).to_owned()
            };
            assert!(
                ContainerEventKind::from_docker(&sent, None).is_some(),
                "{action} is subscribed to but not mapped"
            );
        }
    }
}
