//! The `HealPolicy` kind: what to watch, how to probe it, and how to heal it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::max_unhealthy::MaxUnhealthy;
use crate::meta::ObjectMeta;
use crate::scope::Scope;
use crate::secret::SecretRef;
use crate::selector::LabelSelector;
use crate::tls::TlsTrust;

/// A `HealPolicy`: which containers and sites hale watches, how it decides they are failing,
/// and the ladder of remediations it climbs to heal them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealPolicy {
    /// Must be `hale.dev/v1alpha1`.
    #[schemars(extend("const" = "hale.dev/v1alpha1"))]
    pub api_version: String,
    /// Must be `HealPolicy`.
    #[schemars(extend("const" = "HealPolicy"))]
    pub kind: String,
    /// The policy's name and labels.
    pub metadata: ObjectMeta,
    /// The desired behaviour.
    pub spec: HealPolicySpec,
}

/// The desired behaviour of a [`HealPolicy`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealPolicySpec {
    /// Containers this policy watches, by Docker label. Default: none (a policy may watch
    /// only `sites`). An empty selector selects nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// HTTP targets that are not local containers (remote sites, apps deployed through
    /// Coolify). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<Site>,
    /// How targets are checked. Default: none, in which case containers are judged by their
    /// image's HEALTHCHECK and by unexpected exits (`dockerHealth` and `exit` probes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Probe>,
    /// Alertmanager alerts that mark a target failing, received on hale's webhook.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertRule>,
    /// What hale does about a failing target, and the limits it respects.
    /// Default: restart up to 3 times, with cooldown, backoff and quarantine.
    #[serde(default)]
    pub remediation: Remediation,
    /// `Enforce` acts; `DryRun` decides and records but touches nothing. Default: `Enforce`.
    #[serde(default)]
    pub mode: Mode,
    /// Who hears about what, by `Notifier` name. Default: nobody.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifyRoute>,
    /// `Host` keeps the rails per host; `Fleet` shares them among a service's replicas on
    /// every node of `hale run --fleet`. Default: `Host`.
    #[serde(default, skip_serializing_if = "Scope::is_host")]
    pub scope: Scope,
    /// With `scope: Fleet`, the label whose value names the service a container is a
    /// replica of. Default: its Compose project and service, else its container name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_label: Option<String>,
}

/// An HTTP target that is not a local container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Site {
    /// The site's name, unique within the policy; probes and alerts refer to it by
    /// `siteRef`. Audit records and `hale unquarantine` call the site `site:<name>`.
    pub name: String,
    /// The URL that probes check, `http://` or `https://`.
    pub url: String,
    /// The Coolify application behind this site, for `coolifyRestart` and
    /// `coolifyRedeploy`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coolify: Option<CoolifyApplication>,
}

/// A Coolify (v4) application that hale can restart or redeploy through Coolify's API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CoolifyApplication {
    /// The application's UUID, as shown in Coolify's UI and API: letters, digits, `-` and `_`.
    pub application_uuid: String,
    /// Base URL of the Coolify instance, e.g. `https://coolify.example.com`.
    /// Default: the `COOLIFY_URL` environment variable of the hale process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The API token (needs the `deploy` ability). Default: `{fromEnv: COOLIFY_TOKEN}`.
    #[serde(default = "default_coolify_token")]
    pub token: SecretRef,
}

impl CoolifyApplication {
    /// What is wrong with `application_uuid`, if anything. Coolify's resource IDs are
    /// letters, digits, `-` and `_`; anything else would change the request hale sends (a
    /// `/` or `..` another path, a `,` in `/deploy?uuid=` a second application), so it is
    /// refused here and again before any request.
    pub fn uuid_problem(&self) -> Option<&'static str> {
        let uuid = &self.application_uuid;
        if uuid.trim().is_empty() {
            Some("must not be empty")
        } else if !uuid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Some(
                "may hold only letters, digits, '-' and '_' (copy it from the application's page in Coolify)",
            )
        } else {
            None
        }
    }
}

fn default_coolify_token() -> SecretRef {
    SecretRef {
        from_env: Some("COOLIFY_TOKEN".into()),
        from_file: None,
    }
}

/// One check of a target. Exactly one handler (`dockerHealth`, `exit`, `httpGet`,
/// `tcpSocket`, `exec`) is set. Timing fields mean what they mean in a Kubernetes probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// The probe's name, unique within the policy; it appears in audit records and metrics.
    pub name: String,
    /// Probe this site of the policy instead of the selected containers. Only `httpGet` and
    /// `tcpSocket` can probe a site. Default: probe the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_ref: Option<String>,
    /// Use the container's own Docker HEALTHCHECK: `unhealthy` is a failure. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_health: Option<DockerHealthProbe>,
    /// Treat an unexpected container exit as a failure. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitProbe>,
    /// Send an HTTP request. Without conditions, any 2xx or 3xx passes; on a site, the
    /// classic rule applies: a 4xx passes but is recorded as `degraded` (no action), and a
    /// 5xx, a timeout or a connection error fails. Conditions replace the rule: add
    /// `"[STATUS] < 400"` to treat a site's 4xx as a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetProbe>,
    /// Open a TCP connection; it passes when the connection is accepted within `timeout`.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketProbe>,
    /// Run a command inside the container; exit code 0 passes. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecProbe>,
    /// Free space on a filesystem of the host (a host target, `host:<probe name>`, not a
    /// container). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<crate::DiskProbe>,
    /// How often the probe runs (`httpGet`, `tcpSocket`, `exec`). Event-driven probes
    /// (`dockerHealth`, `exit`) have no period: they act when Docker reports. Default: `10s`.
    #[serde(default = "default_period")]
    pub period: Duration,
    /// How long one probe may take before it counts as failed; must be shorter than
    /// `period`. Default: `1s`.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Consecutive failures before the target counts as failing. Minimum 1.
    ///
    /// For `httpGet`, `tcpSocket` and `exec`: consecutive failed probes. Default: `3`.
    /// For `dockerHealth`: consecutive failed health checks, read from Docker's
    /// `FailingStreak`. Docker says `unhealthy` only after the image's own
    /// `--health-retries`, so the default is `1`: act on Docker's verdict at once; a
    /// larger value waits for more failed checks than the image asks for (a smaller one
    /// cannot act before Docker's verdict). For `exit`: not used; an unexpected exit is a
    /// failure at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<u32>,
    /// Consecutive successes before a failing target counts as healthy again. Minimum 1.
    /// Default: `1`.
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
    /// Count `failureThreshold` failures within this window, consecutive or not, instead
    /// of consecutive failures: `failureThreshold: 2` with `failureWindow: 2m` confirms a
    /// failure at the second failed probe within two minutes, even with passes between
    /// (a flaky site that fails every other probe). Periodic probes only (`httpGet`,
    /// `tcpSocket`, `exec`); at least `period`. The window's failures are kept in the state
    /// store, so a restart of hale does not forget them. Default: none (consecutive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_window: Option<Duration>,
    /// Grace period after a container starts during which failures are not counted.
    /// Default: `0s`.
    #[serde(default)]
    pub start_period: Duration,
    /// Gatus-style conditions that must all hold for the probe to pass, e.g.
    /// `"[STATUS] == 200"`, `"[RESPONSE_TIME] < 800"`, `"[BODY].status == UP"`,
    /// `"[CERTIFICATE_EXPIRATION] > 7d"` (HTTPS probes only).
    /// Default: none (the handler's own rule decides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

fn default_period() -> Duration {
    Duration::from_secs(10)
}
fn default_timeout() -> Duration {
    Duration::from_secs(1)
}
/// The failure threshold of periodic probes when the policy sets none (Kubernetes' default).
pub const PERIODIC_FAILURE_THRESHOLD: u32 = 3;
fn default_success_threshold() -> u32 {
    1
}

impl Probe {
    /// True for probes that act on what Docker reports (`dockerHealth`, `exit`) rather
    /// than on a schedule of hale's own: they have no `period`.
    pub fn is_event_driven(&self) -> bool {
        self.docker_health.is_some() || self.exit.is_some()
    }

    /// The failure threshold in force: the policy's `failureThreshold`, else `1` for
    /// event-driven probes (Docker's verdict and an unexpected exit are already confirmed)
    /// and [`PERIODIC_FAILURE_THRESHOLD`] for periodic ones. An `exit` probe always acts on
    /// the first unexpected exit.
    pub fn effective_failure_threshold(&self) -> u32 {
        if self.exit.is_some() {
            return 1;
        }
        self.failure_threshold.unwrap_or(if self.is_event_driven() {
            1
        } else {
            PERIODIC_FAILURE_THRESHOLD
        })
    }

    /// The handlers that are set, by their YAML field names, in declaration order.
    pub fn handler_names(&self) -> Vec<&'static str> {
        [
            ("dockerHealth", self.docker_health.is_some()),
            ("exit", self.exit.is_some()),
            ("httpGet", self.http_get.is_some()),
            ("tcpSocket", self.tcp_socket.is_some()),
            ("exec", self.exec.is_some()),
            ("disk", self.disk.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Judge a container by its image's Docker HEALTHCHECK. Has no settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerHealthProbe {}

/// Which container exits count as failures. An exit caused by `docker stop` or `docker
/// kill` never counts: that is an operator's intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExitProbe {
    /// An exit with a non-zero code is a failure. Default: `true`.
    #[serde(default = "default_true")]
    pub non_zero: bool,
    /// A kill by the kernel's out-of-memory killer is a failure. Default: `true`.
    #[serde(default = "default_true")]
    pub oom_killed: bool,
}

impl Default for ExitProbe {
    fn default() -> Self {
        Self {
            non_zero: true,
            oom_killed: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// An HTTP check of a container or a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpGetProbe {
    /// Request path. For a site it replaces the path of the site's URL. Default: `/` for
    /// containers; the site URL's own path for sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Container port to connect to. Required for containers; ignored for sites.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Connect through this host instead of the container's IP address, using the host
    /// port the container publishes for `port` (`-p 127.0.0.1::8080`), or `port` itself
    /// when it publishes none (host networking). For hale running where container IPs
    /// are unreachable. Default: the container's IP on `network`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The Docker network whose container IP is used. Default: the container's first
    /// network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `HTTP` or `HTTPS`. Default: `HTTP`.
    #[serde(default)]
    pub scheme: Scheme,
    /// `GET` or `HEAD`. Default: `GET`.
    #[serde(default)]
    pub method: ProbeMethod,
    /// Extra request headers; values may come from secrets. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
    /// Accept any TLS certificate (self-signed, expired). `hale validate` warns about it:
    /// a private CA is better trusted with `tls.caFile`. Default: `false`.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// CA certificates trusted beyond the system roots, and a client certificate, for
    /// `HTTPS`. Default: the system roots only.
    #[serde(default, skip_serializing_if = "TlsTrust::is_default")]
    pub tls: TlsTrust,
    /// Follow redirects instead of judging the 3xx response itself. Default: `false`.
    #[serde(default)]
    pub follow_redirects: bool,
}

/// The scheme of an HTTP probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

/// The method of an HTTP probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProbeMethod {
    /// `GET`: the body is available to conditions.
    #[default]
    Get,
    /// `HEAD`: cheaper, no body.
    Head,
}

/// An HTTP header whose value is written inline or read from a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpHeader {
    /// Header name, e.g. `Authorization`.
    pub name: String,
    /// The value, for values that are not secret. Exactly one of `value` and `valueFrom`.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value, read from a secret. Exactly one of `value` and `valueFrom`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<SecretRef>,
}

impl HttpHeader {
    /// Every header's name and current value (secrets read now); headers with neither
    /// `value` nor `valueFrom` (refused by validation) are skipped.
    ///
    /// # Errors
    /// [`HeaderError`]: names the header whose secret could not be read, never its value.
    pub fn resolve_all(headers: &[HttpHeader]) -> Result<Vec<(String, String)>, HeaderError> {
        let mut resolved = Vec::with_capacity(headers.len());
        for header in headers {
            let value = match (&header.value, &header.value_from) {
                (Some(value), _) => value.clone(),
                (None, Some(secret)) => secret.resolve().map_err(|source| HeaderError {
                    header: header.name.clone(),
                    source,
                })?,
                (None, None) => continue,
            };
            resolved.push((header.name.clone(), value));
        }
        Ok(resolved)
    }
}

/// A header whose secret could not be read.
#[derive(Debug, thiserror::Error)]
#[error("header {header}: {source}")]
pub struct HeaderError {
    /// The header's name.
    pub header: String,
    /// Why its secret could not be read.
    pub source: crate::secret::SecretError,
}

/// A TCP connect check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpSocketProbe {
    /// Port to connect to. Required for containers; for a site, defaults to the URL's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Connect through this host instead of the container's IP address, using the host
    /// port the container publishes for `port`, or `port` itself when it publishes none.
    /// Default: the container's IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A command run inside the container through the Docker exec API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecProbe {
    /// The command and its arguments (no shell unless you call one, e.g.
    /// `["sh", "-c", "pg_isready"]`). Must not be empty.
    pub command: Vec<String>,
}

/// An Alertmanager alert that marks a target failing while it fires: the container its
/// `targetLabel` names, the site of `siteRef`, or, with `targetSelected`, every container
/// the policy selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertRule {
    /// Labels the alert must carry with exactly these values, e.g.
    /// `{alertname: TcpEndpointDownFast}`. Must not be empty.
    pub match_labels: BTreeMap<String, String>,
    /// The alert label that names the container (by name or ID). Unused with `siteRef`;
    /// refused with `targetSelected`. Default: `container`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = DEFAULT_TARGET_LABEL))]
    pub target_label: Option<String>,
    /// Mark this site failing instead of a container named by `targetLabel`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_ref: Option<String>,
    /// The alert marks every container this policy selects failing, while it fires: for
    /// alerts that carry no label naming a container (a service's latency, a queue's
    /// depth), where the selector says what to heal. A container selected later is marked
    /// at the alert's next notification (Alertmanager's `repeat_interval`). Every selected
    /// container counts as failing, so a `maxUnhealthy` smaller than the selection holds
    /// every action back while the alert fires. Not with `siteRef` or `targetLabel`.
    /// Default: `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub target_selected: bool,
}

/// The alert label that names the container when a rule sets no `targetLabel`.
pub const DEFAULT_TARGET_LABEL: &str = "container";

impl AlertRule {
    /// The alert label that names the container: `targetLabel`, else
    /// [`DEFAULT_TARGET_LABEL`].
    pub fn target_label(&self) -> &str {
        self.target_label.as_deref().unwrap_or(DEFAULT_TARGET_LABEL)
    }
}

/// What hale does about a failing target, and the limits it respects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Remediation {
    /// The escalation ladder, climbed one step at a time: each step is tried `attempts`
    /// times (each retry once the cooldown and backoff allow and the target has failed
    /// again since), and gets its `timeout` after the last attempt before the next step.
    /// Must not be empty. Default: `[{action: restart, attempts: 3}]`.
    #[serde(default = "default_steps")]
    pub steps: Vec<Step>,
    /// Minimum time between two actions on the same target; the next one also waits for the
    /// backoff delay and for a failure seen after the last action. Default: `30s`.
    #[serde(default = "default_cooldown")]
    pub cooldown: Duration,
    /// Growing delays between repeated actions, like the kubelet's CrashLoopBackOff.
    #[serde(default)]
    pub backoff: Backoff,
    /// Circuit breaker: when more of the policy's targets than this are failing at once,
    /// remediate none of them (a shared dependency is the likely cause) and report
    /// `CircuitOpen`. A count (`2`) or a percentage of the targets (`"40%"`, rounded down as
    /// in Cluster API). Only confirmed failures count (not a failure still below its
    /// threshold), and the circuit opens only when at least two targets fail: a lone
    /// failing target is always healed, so `50%` of one container allows that one.
    /// Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unhealthy: Option<MaxUnhealthy>,
    /// With `scope: Fleet`, at most this many replicas of a service are being remediated
    /// at once across the fleet, from the action until the replica is seen healthy again:
    /// heals roll, they never take every replica down together. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Stop acting on a target that keeps failing. Default: after 5 remediations within 1h.
    #[serde(default)]
    pub quarantine: Quarantine,
    /// After an action, a target is recovered only on evidence newer than the action: its
    /// Docker health check passing after the restart, or each periodic probe passing
    /// `successThreshold` times since. A target with neither (only an `exit` probe, or
    /// only alerts) must keep running, without failing, this long. Default: `10s` (the
    /// kubelet's first CrashLoopBackOff delay: a container that outlives it has stopped
    /// crash-looping).
    #[serde(default = "default_stable_period")]
    pub stable_period: Duration,
}

fn default_stable_period() -> Duration {
    Duration::from_secs(10)
}

impl Default for Remediation {
    fn default() -> Self {
        Self {
            steps: default_steps(),
            cooldown: default_cooldown(),
            backoff: Backoff::default(),
            max_unhealthy: None,
            max_concurrent: None,
            quarantine: Quarantine::default(),
            stable_period: default_stable_period(),
        }
    }
}

fn default_steps() -> Vec<Step> {
    vec![Step {
        action: Action::Restart,
        attempts: 3,
        timeout: default_step_timeout(),
        webhook: None,
        prune: None,
    }]
}
fn default_cooldown() -> Duration {
    Duration::from_secs(30)
}

/// One rung of the remediation ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// How many times to try this step before escalating. Minimum 1. Default: `1`.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// How long this step gets to work: hale climbs to the next step (or, after the last,
    /// quarantines) only when the step's attempts are used up, this long has passed since
    /// the last of them, and the target has failed again since. Retries of the same step
    /// come at the pace of `cooldown` and `backoff`. Default: `1m`.
    #[serde(default = "default_step_timeout")]
    pub timeout: Duration,
    /// The request to send, for `action: webhook` (required there, not allowed elsewhere).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookAction>,
    /// What to remove, for `action: prune` (optional there: the defaults prune stopped
    /// containers, dangling images, the build cache and unused networks; not allowed
    /// elsewhere). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<crate::PruneAction>,
}

fn default_attempts() -> u32 {
    1
}
fn default_step_timeout() -> Duration {
    Duration::from_secs(60)
}

/// A remediation action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// `docker restart` with the container's stop timeout (label `hale.dev/stop-timeout`
    /// or `autoheal.stop.timeout` overrides it).
    Restart,
    /// `docker stop` then `docker start`: a full stop, for images that misbehave on restart.
    StopStart,
    /// Remove the container and create it again with the same name and configuration.
    Recreate,
    /// Restart the site's Coolify application through Coolify's API.
    CoolifyRestart,
    /// Redeploy the site's Coolify application through Coolify's API.
    CoolifyRedeploy,
    /// Send the step's `webhook` request (e.g. a CI pipeline's redeploy hook).
    Webhook,
    /// Do nothing but notify: the last rung, when a person must decide.
    Notify,
    /// Free disk space through Docker's prune API (the step's `prune` block says what);
    /// for the host target of a `disk` probe.
    Prune,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 8] = [
        Self::Restart,
        Self::StopStart,
        Self::Recreate,
        Self::CoolifyRestart,
        Self::CoolifyRedeploy,
        Self::Webhook,
        Self::Notify,
        Self::Prune,
    ];

    /// True for actions that go through a Coolify application.
    pub fn needs_coolify(self) -> bool {
        matches!(self, Self::CoolifyRestart | Self::CoolifyRedeploy)
    }
}

/// An HTTP request sent as a remediation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookAction {
    /// The URL, `http://` or `https://`, when it holds no secret. Exactly one of `url` and
    /// `urlFrom`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL, read from a secret (for URLs that carry a token). Exactly one of `url` and
    /// `urlFrom`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<SecretRef>,
    /// CA certificates trusted beyond the system roots, and a client certificate.
    /// Default: the system roots only.
    #[serde(default, skip_serializing_if = "TlsTrust::is_default")]
    pub tls: TlsTrust,
    /// The HTTP method. Default: `POST`.
    #[serde(default)]
    pub method: WebhookMethod,
    /// Request headers; values may come from secrets. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
    /// Request body template; `{{target}}`, `{{policy}}` and `{{reason}}` are replaced.
    /// Default: a JSON object with those three fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// How long one request may take. Default: `10s`.
    #[serde(default = "default_webhook_timeout")]
    pub timeout: Duration,
    /// Retries on network errors, 5xx and 429 (honouring `Retry-After`). Default: `3`.
    #[serde(default = "default_webhook_retries")]
    pub retries: u32,
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_webhook_retries() -> u32 {
    3
}

/// The method of a webhook action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebhookMethod {
    /// `POST`.
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `GET`.
    Get,
}

/// Growing delays between repeated remediations of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Backoff {
    /// Delay before the second action; it doubles after each action (with the defaults,
    /// CrashLoopBackOff's 10s, 20s, 40s, 80s, 160s, then 5m). Default: `10s`.
    #[serde(default = "default_backoff_initial")]
    pub initial: Duration,
    /// The delay never grows past this. Default: `5m`.
    #[serde(default = "default_backoff_max")]
    pub max: Duration,
    /// A target healthy for this long starts again from `initial`. Default: `10m`.
    #[serde(default = "default_backoff_reset")]
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: default_backoff_initial(),
            max: default_backoff_max(),
            reset_after: default_backoff_reset(),
        }
    }
}

fn default_backoff_initial() -> Duration {
    Duration::from_secs(10)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(300)
}
fn default_backoff_reset() -> Duration {
    Duration::from_secs(600)
}

/// When hale gives up on a target and only reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Quarantine {
    /// Quarantine a target after this many remediations within `within`. Minimum 1.
    /// Default: `5`.
    #[serde(default = "default_quarantine_after")]
    pub after: u32,
    /// The sliding window over which remediations are counted. Default: `1h`.
    #[serde(default = "default_quarantine_within")]
    pub within: Duration,
    /// Release a quarantined target automatically after this long. Default: never (release
    /// with `hale unquarantine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_after: Option<Duration>,
}

impl Default for Quarantine {
    fn default() -> Self {
        Self {
            after: default_quarantine_after(),
            within: default_quarantine_within(),
            release_after: None,
        }
    }
}

fn default_quarantine_after() -> u32 {
    5
}
fn default_quarantine_within() -> Duration {
    Duration::from_secs(3600)
}

/// Whether a policy acts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    /// Decide and act.
    #[default]
    Enforce,
    /// Decide and record the decision as `dry_run`, but touch nothing. For rolling out a
    /// new policy safely.
    DryRun,
}

/// Sends some of a policy's events to a `Notifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotifyRoute {
    /// Name of a `Notifier` resource in the policy directory.
    pub notifier: String,
    /// The events to send. Default: all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<EventKind>,
}

/// The kinds of event a person can be told about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum EventKind {
    /// hale is acting on a failing target.
    Remediating,
    /// An action completed; hale is waiting to see whether the target recovers.
    Remediated,
    /// A failing target is healthy again.
    Recovered,
    /// An action failed.
    Failed,
    /// hale moved up the ladder to a stronger action.
    Escalated,
    /// hale gave up on a target that keeps failing.
    Quarantined,
    /// Too many targets are failing; hale holds back.
    CircuitOpen,
    /// A policy file was rejected; the last good version keeps running.
    PolicyRejected,
}
