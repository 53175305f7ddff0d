//! From observations to a verdict: is a target failing, since when, seen when — and after
//! hale acted, has it proven healthy by evidence newer than the action?

use std::collections::BTreeMap;
use std::time::Duration;

use hale_core::{ContainerSnapshot, ContainerStatus, HealthStatus, Timestamp};
use hale_policy::{ExitProbe, HealPolicySpec, Probe};
use serde::{Deserialize, Serialize};

/// Why a target is failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSignal {
    /// The probe that failed.
    pub probe: String,
    /// What was observed, in words: `docker health: unhealthy`, `exited with code 1`.
    pub signal: String,
    /// When the failure was first observed.
    pub since: Timestamp,
    /// When the failure was last seen (a health check that failed, a probe that failed, an
    /// exit, an alert notification): what decides whether it is newer than hale's own last
    /// action.
    pub observed_at: Timestamp,
}

/// What hale waits to see after its own action on a target: evidence newer than the
/// action, of the kind the target can give (see [`assess`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// When hale decided the action.
    pub acted_at: Timestamp,
    /// When the action ended.
    pub ended_at: Timestamp,
    /// The action restarted or replaced the container (Docker resets its health check).
    pub restarted: bool,
    /// How long a target with no health signal must run without failing to count as
    /// recovered.
    pub stable_period: Duration,
}

/// The verdict about one target at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessment {
    /// No probe fails and the container is running (and healthy, if it has a health check);
    /// after an action of hale's, proven so by evidence newer than the action.
    Healthy,
    /// hale acted, and no probe fails, but nothing newer than the action shows the target
    /// healthy yet: Docker's health check has not passed since the restart, a periodic probe
    /// has not passed `successThreshold` times since, or a target without a health signal
    /// has not yet run for the stable period. Look again at `recheck_at` if set.
    Verifying {
        /// When the evidence may be complete (the end of the stable period).
        recheck_at: Option<Timestamp>,
    },
    /// No probe fails, but the container is not known to be healthy either: its health
    /// check is still starting, or it is stopped on purpose. Neither failing nor recovered.
    Unknown,
    /// A probe fails but has not yet failed long enough (failureThreshold × period) or the
    /// container is in its start period; re-assess at `until`.
    Pending {
        /// The failure seen so far.
        failure: FailureSignal,
        /// When the failure would be confirmed.
        until: Timestamp,
    },
    /// A probe has failed long enough: the target is failing.
    Failing(FailureSignal),
}

impl Assessment {
    /// The failure, confirmed or not.
    pub fn failure(&self) -> Option<&FailureSignal> {
        match self {
            Self::Healthy | Self::Verifying { .. } | Self::Unknown => None,
            Self::Pending { failure, .. } | Self::Failing(failure) => Some(failure),
        }
    }
}

/// The probes hale applies when a policy names none: the image's HEALTHCHECK and
/// unexpected exits, with the same defaults as when they are written out
/// (`- {name: docker-health, dockerHealth: {}}` and `- {name: exit, exit: {}}`): both act on
/// the first failure Docker reports (autoheal's behaviour).
pub fn default_probes() -> Vec<Probe> {
    let base = |name: &str| Probe {
        name: name.to_owned(),
        site_ref: None,
        docker_health: None,
        exit: None,
        http_get: None,
        tcp_socket: None,
        exec: None,
        disk: None,
        period: hale_policy::Duration::from_secs(10),
        timeout: hale_policy::Duration::from_secs(1),
        failure_threshold: None,
        success_threshold: 1,
        failure_window: None,
        start_period: hale_policy::Duration::default(),
        conditions: Vec::new(),
    };
    vec![
        Probe {
            docker_health: Some(hale_policy::DockerHealthProbe {}),
            ..base("docker-health")
        },
        Probe {
            exit: Some(ExitProbe::default()),
            ..base("exit")
        },
    ]
}

/// The running tally of one periodic probe (`httpGet`, `tcpSocket`, `exec`) on one target,
/// counted the Kubernetes way: `failureThreshold` consecutive failures make it failing,
/// `successThreshold` consecutive successes make it pass again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTrack {
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Successes in a row.
    pub consecutive_successes: u32,
    /// Since when the probe has been failing (threshold reached), if it is.
    pub failing_since: Option<Timestamp>,
    /// What the last failure saw.
    pub last_failure: String,
    /// When the last failure was seen.
    #[serde(default)]
    pub last_failure_at: Option<Timestamp>,
    /// When the first outcome of this tally was counted.
    pub first_counted_at: Option<Timestamp>,
    /// The last outcome passed as degraded (a site's 4xx).
    #[serde(default)]
    pub degraded: bool,
    /// What the degraded outcome saw (`HTTP 404`), while `degraded`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub degraded_reason: String,
    /// With `failureWindow`: when each failure still inside the window was seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_failures: Vec<Timestamp>,
}

impl ProbeTrack {
    /// Counts one outcome.
    pub fn record(&mut self, probe: &Probe, success: bool, time: Timestamp, reason: &str) {
        self.first_counted_at.get_or_insert(time);
        self.degraded = false;
        let window = probe.failure_window.map(|w| w.as_std());
        if let Some(window) = window {
            let oldest = time.minus(window);
            self.recent_failures.retain(|seen| *seen > oldest);
        }
        if success {
            self.consecutive_successes += 1;
            self.consecutive_failures = 0;
            if self.consecutive_successes >= probe.success_threshold {
                if self.failing_since.is_some() {
                    // Recovered: the next failure episode counts its own failures.
                    self.recent_failures.clear();
                }
                self.failing_since = None;
            }
        } else {
            self.consecutive_failures += 1;
            self.consecutive_successes = 0;
            reason.clone_into(&mut self.last_failure);
            self.last_failure_at = Some(time);
            let counted = if window.is_some() {
                self.recent_failures.push(time);
                u32::try_from(self.recent_failures.len()).unwrap_or(u32::MAX)
            } else {
                self.consecutive_failures
            };
            if self.failing_since.is_none() && counted >= probe.effective_failure_threshold() {
                self.failing_since = Some(time);
            }
        }
    }
}

impl ProbeTrack {
    /// Forgets the passes counted so far (after hale's own action, only passes seen since
    /// count towards recovery); failures are kept.
    pub fn forget_successes(&mut self) {
        self.consecutive_successes = 0;
    }
}

/// Assesses a container against a policy's probes: event-driven ones (`dockerHealth`,
/// `exit`) from the snapshot, periodic ones from their tallies in `tracks` (by probe
/// name).
///
/// Event-driven probes act on Docker's verdict: `unhealthy` has already been confirmed by
/// the image's own `--health-retries`, and an unexpected exit is a failure at once. A
/// `dockerHealth` probe whose `failureThreshold` asks for more consecutive failed checks
/// than that waits until Docker's `FailingStreak` reaches it. Health failures inside
/// `startPeriod` after the container started are not counted.
///
/// # Fresh evidence
/// With `verify` (hale acted on the target and waits to see the result), "nothing fails" is
/// not enough to be [`Assessment::Healthy`]: the evidence must be newer than the action.
/// Docker's health check must report healthy after the restart (for an action that did not
/// restart the container, it must be healthy); every periodic probe must have passed
/// `successThreshold` times since the action (its tally forgot older passes); and a
/// container with neither must have run, since the action, for the stable period. Until
/// then the target is [`Assessment::Verifying`].
pub fn assess(
    spec: &HealPolicySpec,
    container: &ContainerSnapshot,
    tracks: &BTreeMap<String, ProbeTrack>,
    verify: Option<&Verification>,
    now: Timestamp,
) -> Assessment {
    let defaults;
    let probes = if spec.probes.is_empty() {
        defaults = default_probes();
        &defaults
    } else {
        &spec.probes
    };
    let probes: Vec<&Probe> = probes.iter().filter(|p| p.site_ref.is_none()).collect();
    let mut pending: Option<(FailureSignal, Timestamp)> = None;
    for probe in &probes {
        if !probe.is_event_driven() {
            // A probe's tally speaks for the run it was counted in, while it runs: a stopped
            // container is not probed, and a new run starts counting afresh.
            if let Some(track) = current_track(probe, container, tracks)
                && let Some(failure) = periodic_failure(probe, track, now, &mut pending)
            {
                return Assessment::Failing(failure);
            }
            continue;
        }
        let Some((signal, since, observed_at, graced)) = failure_of(probe, container) else {
            continue;
        };
        let mut confirmed_at = since;
        if graced && let Some(started) = container.started_at {
            confirmed_at = confirmed_at.max(started.plus(probe.start_period.as_std()));
        }
        let failure = FailureSignal {
            probe: probe.name.clone(),
            signal,
            since,
            observed_at,
        };
        if let Some(more) = health_checks_still_needed(probe, container) {
            // Docker re-inspects are what bring a longer streak; look again after as many
            // health intervals as checks are missing.
            let interval = u64::from(container.health_interval_ms.unwrap_or(30_000));
            let wait = Duration::from_millis(interval.saturating_mul(more.into()));
            keep_earliest(&mut pending, failure, confirmed_at.max(now.plus(wait)));
            continue;
        }
        if now >= confirmed_at {
            return Assessment::Failing(failure);
        }
        keep_earliest(&mut pending, failure, confirmed_at);
    }
    if let Some((failure, until)) = pending {
        return Assessment::Pending { failure, until };
    }
    let running = container.status == ContainerStatus::Running;
    let Some(verify) = verify else {
        // Healthy is a claim: every periodic probe must have passed in this run (a
        // container not yet probed is unknown, not healthy).
        let probed = probes.iter().filter(|p| !p.is_event_driven()).all(|p| {
            current_track(p, container, tracks).is_some_and(|t| t.consecutive_successes > 0)
        });
        return if running
            && probed
            && matches!(container.health, None | Some(HealthStatus::Healthy))
        {
            Assessment::Healthy
        } else {
            Assessment::Unknown
        };
    };
    if !running {
        // (Not running after hale's own action: `decide` tells an operator's stop from
        // hale's failed restart; the circuit still counts it, see `counts_as_failing`.)
        return Assessment::Unknown;
    }
    if verify.restarted
        && container
            .started_at
            .is_none_or(|started| started <= verify.acted_at)
    {
        // Still the run hale acted on: the restart has not shown up yet.
        return Assessment::Verifying { recheck_at: None };
    }
    let mut signals = 0;
    let docker_health = probes.iter().any(|p| p.docker_health.is_some());
    if docker_health && let Some(health) = container.health {
        signals += 1;
        let fresh = health == HealthStatus::Healthy
            && (!verify.restarted
                || container
                    .health_since
                    .zip(container.started_at)
                    .is_some_and(|(healthy, started)| healthy >= started));
        if !fresh {
            return Assessment::Verifying { recheck_at: None };
        }
    }
    for probe in probes.iter().filter(|p| !p.is_event_driven()) {
        signals += 1;
        let passed = current_track(probe, container, tracks)
            .is_some_and(|track| track.consecutive_successes >= probe.success_threshold);
        if !passed {
            return Assessment::Verifying { recheck_at: None };
        }
    }
    if signals == 0 {
        // No health signal at all: running without failing for the stable period is the
        // evidence (a crash loop that stays up a second is not recovered).
        let from = container
            .started_at
            .unwrap_or(verify.ended_at)
            .max(verify.ended_at);
        let stable_at = from.plus(verify.stable_period);
        if now < stable_at {
            return Assessment::Verifying {
                recheck_at: Some(stable_at),
            };
        }
    }
    Assessment::Healthy
}

/// The tally of a periodic probe for the container's current run, if it has one.
fn current_track<'a>(
    probe: &Probe,
    container: &ContainerSnapshot,
    tracks: &'a BTreeMap<String, ProbeTrack>,
) -> Option<&'a ProbeTrack> {
    tracks.get(&probe.name).filter(|track| {
        container.status == ContainerStatus::Running
            && track
                .first_counted_at
                .zip(container.started_at)
                .is_none_or(|(counted, started)| counted >= started)
    })
}

/// Assesses a target of the policy that is not a container: a site (`site:<name>`), from
/// the tallies of the probes that name it in `siteRef`, or the host (`host:<probe>`), from
/// its disk probe's. One whose probes have all passed, and none is failing, is healthy
/// (one not yet probed is unknown); after an action of hale's, once its probes have passed
/// `successThreshold` times since (a site without probes: once it has not failed for the
/// stable period).
pub fn assess_policy_target(
    spec: &HealPolicySpec,
    target: &str,
    tracks: &BTreeMap<String, ProbeTrack>,
    verify: Option<&Verification>,
    now: Timestamp,
) -> Assessment {
    let site = hale_core::site_of_target(target);
    let host = hale_core::host_of_target(target);
    let probes: Vec<&Probe> = spec
        .probes
        .iter()
        .filter(|p| match (site, host) {
            (Some(site), _) => p.site_ref.as_deref() == Some(site),
            (None, Some(probe)) => p.name == probe && p.disk.is_some(),
            (None, None) => false,
        })
        .collect();
    assess_by_probes(&probes, tracks, verify, now)
}

/// A target that is not a container, judged only by its periodic `probes`' tallies.
fn assess_by_probes(
    probes: &[&Probe],
    tracks: &BTreeMap<String, ProbeTrack>,
    verify: Option<&Verification>,
    now: Timestamp,
) -> Assessment {
    let mut pending = None;
    for probe in probes {
        if let Some(track) = tracks.get(&probe.name)
            && let Some(failure) = periodic_failure(probe, track, now, &mut pending)
        {
            return Assessment::Failing(failure);
        }
    }
    if let Some((failure, until)) = pending {
        return Assessment::Pending { failure, until };
    }
    let Some(verify) = verify else {
        // Healthy only once every probe of the site has passed (not yet probed: unknown).
        let probed = probes.iter().all(|probe| {
            tracks
                .get(&probe.name)
                .is_some_and(|track| track.consecutive_successes > 0)
        });
        return if probed {
            Assessment::Healthy
        } else {
            Assessment::Unknown
        };
    };
    if probes.is_empty() {
        let stable_at = verify.ended_at.plus(verify.stable_period);
        if now < stable_at {
            return Assessment::Verifying {
                recheck_at: Some(stable_at),
            };
        }
    }
    let passed = probes.iter().all(|probe| {
        tracks
            .get(&probe.name)
            .is_some_and(|track| track.consecutive_successes >= probe.success_threshold)
    });
    if passed {
        Assessment::Healthy
    } else {
        Assessment::Verifying { recheck_at: None }
    }
}

/// What one periodic probe's tally says: the confirmed failure (threshold reached), or
/// nothing; failures below the threshold are offered to `pending`, since the next run may
/// confirm them.
fn periodic_failure(
    probe: &Probe,
    track: &ProbeTrack,
    now: Timestamp,
    pending: &mut Option<(FailureSignal, Timestamp)>,
) -> Option<FailureSignal> {
    let failure = |since| FailureSignal {
        probe: probe.name.clone(),
        signal: track.last_failure.clone(),
        since,
        observed_at: track.last_failure_at.unwrap_or(since),
    };
    if let Some(since) = track.failing_since {
        return Some(failure(since));
    }
    if track.consecutive_failures > 0 {
        keep_earliest(pending, failure(now), now.plus(probe.period.as_std()));
    }
    None
}

/// For a `dockerHealth` probe whose `failureThreshold` is above the failed checks Docker
/// has counted so far (`FailingStreak`): how many more are needed.
fn health_checks_still_needed(probe: &Probe, container: &ContainerSnapshot) -> Option<u32> {
    let needed = probe.effective_failure_threshold();
    (probe.docker_health.is_some() && needed > 1 && container.health_failing_streak < needed)
        .then(|| needed - container.health_failing_streak)
}

/// Keeps the pending failure that would be confirmed first.
fn keep_earliest(
    pending: &mut Option<(FailureSignal, Timestamp)>,
    failure: FailureSignal,
    until: Timestamp,
) {
    if pending.as_ref().is_none_or(|(_, current)| until < *current) {
        *pending = Some((failure, until));
    }
}

/// The failure a probe sees in the container: signal text, since when, when last seen,
/// and whether the start period applies.
fn failure_of(
    probe: &Probe,
    container: &ContainerSnapshot,
) -> Option<(String, Timestamp, Timestamp, bool)> {
    if probe.docker_health.is_some()
        && container.status == ContainerStatus::Running
        && container.health == Some(HealthStatus::Unhealthy)
    {
        let since = container
            .health_since
            .or(container.started_at)
            .unwrap_or_default();
        let observed = container.health_checked_at.unwrap_or(since).max(since);
        return Some(("docker health: unhealthy".to_owned(), since, observed, true));
    }
    if let Some(exit) = &probe.exit
        && container.status == ContainerStatus::Exited
        && container.exit_seen
        && !container.stopped_by_operator
    {
        let since = container.finished_at.unwrap_or_default();
        if exit.oom_killed && container.oom_killed {
            return Some(("killed by the OOM killer".to_owned(), since, since, false));
        }
        if exit.non_zero && container.exit_code != 0 {
            let signal = format!("exited with code {}", container.exit_code);
            return Some((signal, since, since, false));
        }
    }
    None
}
