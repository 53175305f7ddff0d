//! The [`DockerPort`] adapter over bollard: the one crate that talks to the Docker daemon's
//! API, so the crates that only speak hale's vocabulary (`hale-core`) do not compile
//! bollard.

mod connect;
mod connect_error;
mod disk;
mod endpoint;
mod router;

pub use connect_error::ConnectError;
pub use endpoint::{
    DockerEndpoint, DockerEnvironment, EndpointSource, EndpointSpec, LOCAL_SOCKET, NamedEndpoint,
    TlsFiles, context_digest, resolve, resolve_all,
};
pub use router::DockerRouter;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointSettings,
    EventMessageTypeEnum, HealthStatusEnum, NetworkConnectRequest, NetworkingConfig,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt, stream};

use hale_core::{
    ContainerEvent, ContainerEventKind, ContainerSnapshot, ContainerStatus, DockerError,
    DockerPort, EventStream, ExecOutput, HealthStatus, RestartPolicy, Timestamp,
};

/// Output of an exec probe kept for the audit record.
const EXEC_OUTPUT_LIMIT: usize = 4096;

/// How many containers are inspected at once during a relist.
const INSPECT_CONCURRENCY: usize = 8;

/// Bound on calls that should answer at once (list, inspect, create); actions that wait
/// for a container to stop get their stop timeout on top.
pub(crate) const QUICK_CALL: Duration = Duration::from_secs(30);

/// A Docker daemon reached through bollard, with the API version negotiated (the daemon
/// on Debian's docker.io 20.10 speaks at most API 1.41; without negotiation every call
/// fails with 400).
#[derive(Clone)]
pub struct BollardDocker {
    client: Docker,
    endpoint: String,
    /// The TLS client configuration of a TLS endpoint, for the one request hale sends
    /// itself (`/system/df`, see `disk.rs`).
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl BollardDocker {
    /// `snapshot` with its published ports reachable from where hale runs: a port Docker
    /// publishes on all addresses of a remote daemon's host is probed on that host, not
    /// on hale's own loopback.
    fn localized(&self, mut snapshot: ContainerSnapshot) -> ContainerSnapshot {
        if let Some(host) = endpoint::remote_host(&self.endpoint) {
            endpoint::publish_on(host, &mut snapshot.published);
        }
        snapshot
    }

    fn map_error(&self, operation: &'static str, id: &str, error: BollardError) -> DockerError {
        match error {
            BollardError::DockerResponseServerError {
                status_code: 404, ..
            } => DockerError::NotFound(id.to_owned()),
            BollardError::DockerResponseServerError { message, .. } => {
                DockerError::Api { operation, message }
            }
            BollardError::JsonDataError { .. }
            | BollardError::JsonSerdeError { .. }
            | BollardError::DockerStreamError { .. } => DockerError::Api {
                operation,
                message: error.to_string(),
            },
            other => DockerError::Unreachable {
                endpoint: self.endpoint.clone(),
                message: other.to_string(),
            },
        }
    }

    async fn quick<T>(
        &self,
        operation: &'static str,
        id: &str,
        call: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T, DockerError> {
        match tokio::time::timeout(QUICK_CALL, call).await {
            Ok(result) => result.map_err(|e| self.map_error(operation, id, e)),
            Err(_) => Err(DockerError::Unreachable {
                endpoint: self.endpoint.clone(),
                message: format!(
                    "{operation} did not answer within {}s",
                    QUICK_CALL.as_secs()
                ),
            }),
        }
    }

    async fn inspect_raw(&self, id: &str) -> Result<ContainerInspectResponse, DockerError> {
        self.quick("inspect", id, self.client.inspect_container(id, None))
            .await
    }

    /// Replaces the container without ever leaving nothing behind: the old one is stopped
    /// and renamed aside, the new one created and started under the original name, and
    /// only then the old one removed. If creating or starting the new one fails, it is
    /// removed and the old one is renamed back and started again.
    async fn recreate_container(&self, id: &str, timeout: u32) -> Result<String, DockerError> {
        let old = self.inspect_raw(id).await?;
        let name = old.name.clone().unwrap_or_default();
        let name = name.trim_start_matches('/').to_owned();
        let (body, extra_networks) = create_body_from(&old);
        let stop = StopContainerOptionsBuilder::new().t(timeout as i32).build();
        match bounded("stop", timeout, self.client.stop_container(id, Some(stop))).await? {
            Ok(())
            | Err(BollardError::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(error) => return Err(self.map_error("stop", id, error)),
        }
        let short: String = id.chars().take(12).collect();
        let aside = format!("{name}-hale-replaced-{short}");
        let rename = |to: &str| {
            bollard::query_parameters::RenameContainerOptionsBuilder::new()
                .name(to)
                .build()
        };
        self.quick(
            "rename",
            id,
            self.client.rename_container(id, rename(&aside)),
        )
        .await?;
        match self.create_and_start(&name, body, extra_networks).await {
            Ok(new_id) => {
                let remove = RemoveContainerOptionsBuilder::new().force(true).build();
                if let Err(error) = self
                    .quick("remove", id, self.client.remove_container(id, Some(remove)))
                    .await
                {
                    tracing::warn!(container = %aside, %error, "the replaced container could not be removed; remove it by hand");
                }
                Ok(new_id)
            }
            Err((error, created)) => {
                if let Some(created) = created {
                    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
                    let _ = self.client.remove_container(&created, Some(remove)).await;
                }
                let _ = self.client.rename_container(id, rename(&name)).await;
                let _ = self.client.start_container(id, None).await;
                Err(error)
            }
        }
    }

    /// Creates the replacement, connects its other networks and starts it; on failure,
    /// returns the error and the ID of what was created, for cleanup.
    async fn create_and_start(
        &self,
        name: &str,
        body: ContainerCreateBody,
        extra_networks: Vec<(String, EndpointSettings)>,
    ) -> Result<String, (DockerError, Option<String>)> {
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let created = self
            .quick(
                "create",
                name,
                self.client.create_container(Some(options), body),
            )
            .await
            .map_err(|e| (e, None))?;
        let id = created.id;
        for (network, settings) in extra_networks {
            let request = NetworkConnectRequest {
                container: id.clone(),
                endpoint_config: Some(settings),
            };
            self.quick(
                "network connect",
                &id,
                self.client.connect_network(&network, request),
            )
            .await
            .map_err(|e| (e, Some(id.clone())))?;
        }
        self.quick("start", &id, self.client.start_container(&id, None))
            .await
            .map_err(|e| (e, Some(id.clone())))?;
        Ok(id)
    }
}

/// The creation request that reproduces `old`: same config (image, command, env, labels,
/// healthcheck, ...), same host config (mounts, named volumes, ports, restart policy, ...),
/// the primary network with its aliases at creation, and the other networks to connect
/// afterwards (API 1.41 accepts one network at creation).
fn create_body_from(
    old: &ContainerInspectResponse,
) -> (ContainerCreateBody, Vec<(String, EndpointSettings)>) {
    let config = old.config.clone().unwrap_or_default();
    let host_config = old.host_config.clone();
    let short_id: String = old
        .id
        .clone()
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect();
    let mut networks: Vec<(String, EndpointSettings)> = old
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(name, settings)| (name, reusable_endpoint(settings, &short_id)))
        .collect();
    networks.sort_by(|a, b| a.0.cmp(&b.0));
    let primary = host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_else(|| "default".into());
    let primary_index = networks
        .iter()
        .position(|(name, _)| *name == primary)
        .or_else(|| (!networks.is_empty()).then_some(0));
    let networking_config = primary_index.map(|index| {
        let (name, settings) = networks.remove(index);
        NetworkingConfig {
            endpoints_config: Some(HashMap::from([(name, settings)])),
        }
    });
    // Docker sets the hostname to the short ID unless one was given; keep explicit ones.
    let hostname = config.hostname.filter(|h| *h != short_id);
    let body = ContainerCreateBody {
        hostname,
        domainname: config.domainname,
        user: config.user,
        attach_stdin: config.attach_stdin,
        attach_stdout: config.attach_stdout,
        attach_stderr: config.attach_stderr,
        exposed_ports: config.exposed_ports,
        tty: config.tty,
        open_stdin: config.open_stdin,
        stdin_once: config.stdin_once,
        env: config.env,
        cmd: config.cmd,
        healthcheck: config.healthcheck,
        args_escaped: config.args_escaped,
        image: config.image,
        volumes: config.volumes,
        working_dir: config.working_dir,
        entrypoint: config.entrypoint,
        network_disabled: config.network_disabled,
        on_build: config.on_build,
        labels: config.labels,
        stop_signal: config.stop_signal,
        stop_timeout: config.stop_timeout,
        shell: config.shell,
        host_config,
        networking_config,
    };
    (body, networks)
}

/// Runs a Docker action with a hard limit: the stop timeout plus a margin. Docker can wait
/// forever for a process that ignores SIGKILL (stuck in the kernel); hale must not wait
/// with it, or the target would stay "in flight" and never escalate.
async fn bounded<T>(
    operation: &'static str,
    stop_timeout: u32,
    call: impl Future<Output = T>,
) -> Result<T, DockerError> {
    let limit = Duration::from_secs(u64::from(stop_timeout)) + QUICK_CALL;
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| DockerError::Api {
            operation,
            message: format!("Docker did not finish within {}s", limit.as_secs()),
        })
}

/// Whether a `kill` event's signal (a number, as Docker 20.10 reports it, or a name) stops
/// the process: SIGKILL, SIGTERM, SIGINT, SIGQUIT.
fn is_stopping_signal(signal: &str) -> bool {
    matches!(
        signal.trim_start_matches("SIG"),
        "9" | "15" | "2" | "3" | "KILL" | "TERM" | "INT" | "QUIT"
    )
}

/// Endpoint settings without the parts Docker assigns per container (IDs, addresses it
/// chose, the alias equal to the old short ID).
fn reusable_endpoint(settings: EndpointSettings, short_id: &str) -> EndpointSettings {
    let aliases = settings
        .aliases
        .map(|aliases| {
            aliases
                .into_iter()
                .filter(|a| a != short_id)
                .collect::<Vec<_>>()
        })
        .filter(|aliases| !aliases.is_empty());
    EndpointSettings {
        ipam_config: settings.ipam_config,
        links: settings.links,
        aliases,
        driver_opts: settings.driver_opts,
        ..EndpointSettings::default()
    }
}

/// What the list itself says about a container, for when its inspect fails: identity,
/// labels, lifecycle state and health (from the status text), nothing else.
fn snapshot_from_summary(summary: bollard::models::ContainerSummary) -> ContainerSnapshot {
    use bollard::models::ContainerSummaryStateEnum as State;
    let status_text = summary.status.unwrap_or_default();
    let status = match summary.state {
        Some(State::CREATED) => ContainerStatus::Created,
        Some(State::RUNNING | State::STOPPING) => ContainerStatus::Running,
        Some(State::PAUSED) => ContainerStatus::Paused,
        Some(State::RESTARTING) => ContainerStatus::Restarting,
        Some(State::REMOVING) => ContainerStatus::Removing,
        Some(State::DEAD) => ContainerStatus::Dead,
        _ => ContainerStatus::Exited,
    };
    let health = if status_text.contains("(unhealthy)") {
        Some(HealthStatus::Unhealthy)
    } else if status_text.contains("(healthy)") {
        Some(HealthStatus::Healthy)
    } else if status_text.contains("(health: starting)") {
        Some(HealthStatus::Starting)
    } else {
        None
    };
    ContainerSnapshot {
        labels: summary.labels.unwrap_or_default().into_iter().collect(),
        health,
        ..ContainerSnapshot::new(
            summary.id.unwrap_or_default(),
            summary
                .names
                .and_then(|names| names.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/'),
            status,
        )
    }
}

fn snapshot_from(inspect: ContainerInspectResponse) -> ContainerSnapshot {
    let state = inspect.state.unwrap_or_default();
    let config = inspect.config.unwrap_or_default();
    let status = match state.status {
        Some(ContainerStateStatusEnum::CREATED) => ContainerStatus::Created,
        Some(ContainerStateStatusEnum::RUNNING) => ContainerStatus::Running,
        Some(ContainerStateStatusEnum::PAUSED) => ContainerStatus::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => ContainerStatus::Restarting,
        Some(ContainerStateStatusEnum::REMOVING) => ContainerStatus::Removing,
        Some(ContainerStateStatusEnum::DEAD) => ContainerStatus::Dead,
        _ => ContainerStatus::Exited,
    };
    let health_checked_at = state
        .health
        .as_ref()
        .and_then(|h| h.log.as_ref()?.last()?.end.clone())
        .as_deref()
        .and_then(Timestamp::parse_rfc3339);
    let health_failing_streak = state
        .health
        .as_ref()
        .and_then(|h| h.failing_streak)
        .map_or(0, |streak| u32::try_from(streak.max(0)).unwrap_or(u32::MAX));
    // Docker's default interval when the image's HEALTHCHECK sets none (or sets 0).
    let health_interval_ms = config.healthcheck.as_ref().and_then(|check| {
        let disabled = check
            .test
            .as_ref()
            .is_some_and(|test| test.first().is_some_and(|t| t == "NONE"));
        let configured = check.test.as_ref().is_some_and(|test| !test.is_empty());
        (configured && !disabled).then(|| {
            check
                .interval
                .filter(|nanos| *nanos > 0)
                .map_or(30_000, |nanos| {
                    u32::try_from(nanos / 1_000_000).unwrap_or(u32::MAX)
                })
        })
    });
    let health = state
        .health
        .and_then(|h| h.status)
        .and_then(|status| match status {
            HealthStatusEnum::STARTING => Some(HealthStatus::Starting),
            HealthStatusEnum::HEALTHY => Some(HealthStatus::Healthy),
            HealthStatusEnum::UNHEALTHY => Some(HealthStatus::Unhealthy),
            _ => None,
        });
    let network_settings = inspect.network_settings.unwrap_or_default();
    let addresses = network_settings
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(name, endpoint)| (name, endpoint.ip_address.unwrap_or_default()))
        .collect();
    let published = network_settings
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(port, bindings)| {
            let binding = bindings?.into_iter().next()?;
            let host_port = binding.host_port?.parse().ok()?;
            let host_ip = match binding.host_ip.as_deref() {
                None | Some("") | Some("0.0.0.0") => "127.0.0.1".to_owned(),
                Some("::") => "::1".to_owned(),
                Some(ip) => ip.to_owned(),
            };
            Some((port, (host_ip, host_port)))
        })
        .collect();
    let restart = inspect.host_config.and_then(|h| h.restart_policy);
    let restart_policy = match restart.as_ref().and_then(|r| r.name) {
        Some(RestartPolicyNameEnum::ALWAYS) => RestartPolicy::Always,
        Some(RestartPolicyNameEnum::UNLESS_STOPPED) => RestartPolicy::UnlessStopped,
        Some(RestartPolicyNameEnum::ON_FAILURE) => RestartPolicy::OnFailure {
            max_retries: restart
                .and_then(|r| r.maximum_retry_count)
                .unwrap_or(0)
                .max(0) as u32,
        },
        _ => RestartPolicy::No,
    };
    ContainerSnapshot {
        id: inspect.id.unwrap_or_default(),
        name: inspect
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        labels: config
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        status,
        health,
        exit_code: state.exit_code.unwrap_or(0),
        oom_killed: state.oom_killed.unwrap_or(false),
        started_at: state
            .started_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339),
        finished_at: state
            .finished_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339),
        restart_count: inspect.restart_count.unwrap_or(0).max(0) as u32,
        restart_policy,
        stop_timeout: config.stop_timeout.and_then(|t| u32::try_from(t).ok()),
        stopped_by_operator: false,
        exit_seen: false,
        health_since: None,
        health_checked_at,
        health_failing_streak,
        health_interval_ms,
        received_at: None,
        addresses,
        published,
    }
}

impl DockerPort for BollardDocker {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), DockerError>> {
        async move { self.quick("ping", "", self.client.ping()).await.map(drop) }.boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        async move {
            let options = ListContainersOptionsBuilder::new().all(true).build();
            let summaries = self
                .quick("list", "", self.client.list_containers(Some(options)))
                .await?;
            let snapshots: Vec<Option<ContainerSnapshot>> = stream::iter(summaries)
                .map(|summary| async move {
                    let id = summary.id.clone().unwrap_or_default();
                    match self.inspect_raw(&id).await {
                        Ok(inspect) => Ok(Some(self.localized(snapshot_from(inspect)))),
                        // Removed between list and inspect: simply gone.
                        Err(DockerError::NotFound(_)) => Ok(None),
                        Err(error @ DockerError::Unreachable { .. }) => Err(error),
                        // One container's inspect hangs (Docker holds its lock during a
                        // slow stop) or fails: keep it known from the list's summary rather
                        // than failing the whole relist.
                        Err(error) => {
                            tracing::debug!(container = %id, %error, "inspect failed; using the list summary");
                            Ok(Some(snapshot_from_summary(summary)))
                        }
                    }
                })
                .buffer_unordered(INSPECT_CONCURRENCY)
                .try_collect()
                .await?;
            Ok(snapshots.into_iter().flatten().collect())
        }
        .boxed()
    }

    fn summaries(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        async move {
            let options = ListContainersOptionsBuilder::new().all(true).build();
            let summaries = self
                .quick("list", "", self.client.list_containers(Some(options)))
                .await?;
            Ok(summaries.into_iter().map(snapshot_from_summary).collect())
        }
        .boxed()
    }

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<ContainerSnapshot, DockerError>> {
        let id = id.to_owned();
        async move {
            let inspect = self.inspect_raw(&id).await?;
            Ok(self.localized(snapshot_from(inspect)))
        }
        .boxed()
    }

    fn events(&self, since_nanos: Option<i64>) -> EventStream {
        // Only the actions hale follows: every health check of every container is an
        // exec (exec_create, exec_start, exec_die), and an idle host with many health
        // checks would otherwise stream them all to hale. `health_status` matches its
        // `health_status: <state>` actions by prefix (Docker's fuzzy match for that name).
        let filters = HashMap::from([
            ("type", vec!["container"]),
            ("event", ContainerEventKind::DOCKER_ACTIONS.to_vec()),
        ]);
        let mut options = EventsOptionsBuilder::new().filters(&filters);
        let since = since_nanos
            .map(|nanos| format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000));
        if let Some(since) = &since {
            options = options.since(since);
        }
        let this = self.clone();
        self.client
            .events(Some(options.build()))
            .filter_map(move |item| {
                let result = match item {
                    Ok(message) => {
                        if message.typ != Some(EventMessageTypeEnum::CONTAINER) {
                            return futures_util::future::ready(None);
                        }
                        let actor = message.actor.unwrap_or_default();
                        let attributes = actor.attributes.unwrap_or_default();
                        let action = message.action.unwrap_or_default();
                        // `docker kill -s HUP` (a reload) is not a stop: only the signals
                        // that end a process count as an operator's intent.
                        if action == "kill"
                            && attributes
                                .get("signal")
                                .is_some_and(|signal| !is_stopping_signal(signal))
                        {
                            return futures_util::future::ready(None);
                        }
                        let Some(kind) = ContainerEventKind::from_docker(
                            &action,
                            attributes.get("exitCode").map(String::as_str),
                        ) else {
                            return futures_util::future::ready(None);
                        };
                        let time_nano = message
                            .time_nano
                            .unwrap_or_else(|| message.time.unwrap_or(0) * 1_000_000_000);
                        Ok(ContainerEvent {
                            id: actor.id.unwrap_or_default(),
                            kind,
                            time: Timestamp((time_nano / 1_000_000).max(0) as u64),
                            time_nano,
                            received_at: Timestamp::now(),
                        })
                    }
                    Err(error) => Err(this.map_error("events", "", error)),
                };
                futures_util::future::ready(Some(result))
            })
            .boxed()
    }

    fn kills_between(
        &self,
        id: &str,
        since_nanos: i64,
        until_nanos: i64,
    ) -> BoxFuture<'_, Result<Vec<(i64, String)>, DockerError>> {
        let id = id.to_owned();
        async move {
            let filters = HashMap::from([
                ("type", vec!["container"]),
                ("container", vec![id.as_str()]),
                ("event", vec!["kill"]),
            ]);
            let seconds =
                |nanos: i64| format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
            let options = EventsOptionsBuilder::new()
                .filters(&filters)
                .since(&seconds(since_nanos))
                .until(&seconds(until_nanos))
                .build();
            let messages: Vec<_> = self
                .client
                .events(Some(options))
                .try_collect()
                .await
                .map_err(|e| self.map_error("events", &id, e))?;
            Ok(messages
                .into_iter()
                .map(|message| {
                    let time = message
                        .time_nano
                        .unwrap_or_else(|| message.time.unwrap_or(0) * 1_000_000_000);
                    let signal = message
                        .actor
                        .and_then(|actor| actor.attributes?.get("signal").cloned())
                        .unwrap_or_default();
                    (time, signal)
                })
                .collect())
        }
        .boxed()
    }

    fn restart(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        async move {
            let options = RestartContainerOptionsBuilder::new()
                .t(timeout as i32)
                .build();
            self.client
                .restart_container(&id, Some(options))
                .await
                .map_err(|e| self.map_error("restart", &id, e))
        }
        .boxed()
    }

    fn stop(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        async move {
            let options = StopContainerOptionsBuilder::new().t(timeout as i32).build();
            match bounded(
                "stop",
                timeout,
                self.client.stop_container(&id, Some(options)),
            )
            .await?
            {
                // 304: already stopped, which is what we wanted.
                Err(BollardError::DockerResponseServerError {
                    status_code: 304, ..
                }) => Ok(()),
                other => other.map_err(|e| self.map_error("stop", &id, e)),
            }
        }
        .boxed()
    }

    fn start(&self, id: &str) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        async move {
            match bounded("start", 0, self.client.start_container(&id, None)).await? {
                Err(BollardError::DockerResponseServerError {
                    status_code: 304, ..
                }) => Ok(()),
                other => other.map_err(|e| self.map_error("start", &id, e)),
            }
        }
        .boxed()
    }

    fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> BoxFuture<'_, Result<ExecOutput, DockerError>> {
        let id = id.to_owned();
        let command = command.to_vec();
        async move {
            let run = async {
                let options = bollard::exec::CreateExecOptions::<String> {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(command),
                    ..Default::default()
                };
                let created = self
                    .client
                    .create_exec(&id, options)
                    .await
                    .map_err(|e| self.map_error("exec", &id, e))?;
                let mut output = String::new();
                if let bollard::exec::StartExecResults::Attached {
                    output: mut stream, ..
                } = self
                    .client
                    .start_exec(&created.id, None)
                    .await
                    .map_err(|e| self.map_error("exec", &id, e))?
                {
                    while let Some(chunk) = stream.next().await {
                        let Ok(chunk) = chunk else { break };
                        if output.len() < EXEC_OUTPUT_LIMIT {
                            output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                        }
                    }
                }
                if output.len() > EXEC_OUTPUT_LIMIT {
                    let mut cut = EXEC_OUTPUT_LIMIT;
                    while !output.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    output.truncate(cut);
                }
                let inspect = self
                    .client
                    .inspect_exec(&created.id)
                    .await
                    .map_err(|e| self.map_error("exec", &id, e))?;
                Ok(ExecOutput {
                    exit_code: inspect.exit_code.unwrap_or(-1),
                    output,
                })
            };
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| DockerError::Api {
                    operation: "exec",
                    message: format!(
                        "the command did not finish within {}ms",
                        timeout.as_millis()
                    ),
                })?
        }
        .boxed()
    }

    fn recreate(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<String, DockerError>> {
        let id = id.to_owned();
        async move { self.recreate_container(&id, timeout).await }.boxed()
    }

    fn disk_usage(&self) -> BoxFuture<'_, Result<hale_core::DockerDiskUsage, DockerError>> {
        self.disk_usage_raw().boxed()
    }

    fn prune<'a>(
        &'a self,
        what: &'a hale_policy::PruneAction,
    ) -> BoxFuture<'a, Result<hale_core::PruneReport, DockerError>> {
        self.prune_raw(what).boxed()
    }
}
