//! `hale run`: the controller.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Mutex;

use hale_core::{AuditBus, DockerPort, LatestPort, OutputPort, StatusBoard, Timestamp};
use hale_docker::{BollardDocker, ConnectError, DockerRouter, NamedEndpoint};
use hale_prober::ProberArgs;
use hale_reconciler::ReconcilerArgs;
use hale_store::{Store, StoreWriter};
use hale_watcher::{
    DockerWatcherArgs, Observation, PolicyBook, PolicyRecord, PolicyWatcherArgs, PolicyWatcherMsg,
};
use ractor::Actor;

use crate::routes::{Mailboxes, Routes};

use crate::cli::RunArgs;
use crate::error::{CliError, CommandResult};
use crate::reloads::Reloads;
use crate::supervisor::{SUPERVISOR_NAME, Supervisor, SupervisorArgs, shutdown};

/// The store key of the newest Docker event hale has seen (Unix ns, as text).
const LAST_DOCKER_EVENT: &str = "docker/last_event";

/// The newest Docker event a previous run saw, if the store remembers one: the watcher
/// replays from there, so a crash or an operator's stop while hale was down is known.
fn last_docker_event(store: &hale_store::Store) -> Option<i64> {
    store
        .controls()
        .ok()?
        .into_iter()
        .find(|(key, _)| key == LAST_DOCKER_EVENT)
        .and_then(|(_, value)| String::from_utf8(value).ok()?.parse().ok())
}

/// hale waits on Docker and the network far more than it computes: two workers keep a slow
/// task from delaying the others, and more only cost memory (a stack and an allocator arena
/// each) on a big host. `TOKIO_WORKER_THREADS` still overrides it.
fn worker_threads() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, std::num::NonZeroUsize::get)
                .min(2)
        })
}

/// Starts logging, the runtime and the supervision tree; returns when a signal stops it.
pub fn run(args: RunArgs) -> CommandResult {
    let endpoints = hale_docker::resolve_all(
        &args.docker,
        &hale_docker::DockerEnvironment::from_process(),
    )
    .map_err(|error| match error {
        ConnectError::UnnamedEndpoint { .. } | ConnectError::DuplicateEndpointName { .. } => {
            CliError::Usage(error.to_string())
        }
        other => CliError::Failed(other.to_string()),
    })?;
    let hosts = endpoints
        .iter()
        .map(|named| named.endpoint.host.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let metrics = Arc::new(hale_server::Metrics::new());
    let telemetry = crate::telemetry::init(args.log_format, Some(&hosts), metrics.spans_dropped());
    if !args.policies.exists() {
        return Err(CliError::Usage(format!(
            "policy directory {} does not exist (pass --policies DIR)",
            args.policies.display()
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hale")
        .worker_threads(worker_threads())
        .build()
        .map_err(CliError::Runtime)?;
    let (code, writer_thread) = runtime.block_on(controller(args, endpoints, metrics));
    // Pending spans go out before the process does.
    telemetry.shutdown();
    // Everything was flushed; do not let a stray task (an aborted Docker call) hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Some(thread) = writer_thread {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(code)
}

async fn controller(
    args: RunArgs,
    endpoints: Vec<NamedEndpoint>,
    metrics: Arc<hale_server::Metrics>,
) -> (ExitCode, Option<std::thread::JoinHandle<()>>) {
    let store = match Store::open(&args.state.path, args.audit_retention) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            tracing::error!(%error, "cannot open the state store");
            return (ExitCode::FAILURE, None);
        }
    };
    let audit = AuditBus::new();
    let (writer, writer_thread) = StoreWriter::start(Arc::clone(&store), audit.clone());
    let status = StatusBoard::new(Timestamp::now(), args.dry_run);

    // The first load takes the same path as every reload: last-known-good, generations
    // remembered from the previous run, audit records of what changed meanwhile.
    let book = Arc::new(Mutex::new(PolicyBook::new(stored_policy_records(&store))));
    let initial = book
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .reload(hale_policy::load_paths(&[&args.policies]), Timestamp::now());
    if initial.policies.is_empty() {
        tracing::warn!(
            path = %args.policies.display(),
            "no valid HealPolicy loaded: hale watches but will not act"
        );
    }
    tracing::info!(
        policies = initial.policies.len(),
        names = %initial.policies.iter().map(|p| p.metadata.name.as_str()).collect::<Vec<_>>().join(","),
        dry_run = args.dry_run,
        "policies loaded"
    );

    let token = match args
        .api_token_file
        .as_deref()
        .map(crate::api::read_token)
        .transpose()
    {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "cannot start the API");
            return (ExitCode::FAILURE, Some(writer_thread));
        }
    };
    let read_token = match args
        .api_read_token_file
        .as_deref()
        .map(crate::api::read_token)
        .transpose()
    {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "cannot start the API");
            return (ExitCode::FAILURE, Some(writer_thread));
        }
    };
    if args.metrics_require_token && token.is_none() && read_token.is_none() {
        tracing::error!(
            "cannot start the API: --metrics-require-token needs a token to require: pass --api-read-token-file (or --api-token-file)"
        );
        return (ExitCode::FAILURE, Some(writer_thread));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match hale_server::TlsConfig::from_pem_files(cert, key) {
            Ok(config) => Some(config),
            Err(error) => {
                tracing::error!(%error, "cannot start the API");
                return (ExitCode::FAILURE, Some(writer_thread));
            }
        },
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Bound before anything else starts, so a taken port fails the start at once.
    let listener =
        match hale_server::bind(args.listen, token.is_some() || read_token.is_some()).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "cannot start the API");
                return (ExitCode::FAILURE, Some(writer_thread));
            }
        };
    let address = listener
        .local_addr()
        .map_or_else(|_| args.listen.to_string(), |a| a.to_string());
    let listener: hale_server::ApiListener = match tls {
        None => listener.into(),
        Some(config) => match hale_server::TlsListener::new(listener, config) {
            Ok(listener) => listener.into(),
            Err(error) => {
                tracing::error!(%error, "cannot start the API");
                return (ExitCode::FAILURE, Some(writer_thread));
            }
        },
    };
    let alertmanager = args.alertmanager_url.as_deref().map(|url| {
        crate::url_password::with_password(
            url,
            &crate::url_password::PasswordSource {
                url_option: "--alertmanager-url",
                file_option: "--alertmanager-password-file",
                file: args.alertmanager_password_file.as_deref(),
                env: "HALE_ALERTMANAGER_PASSWORD",
                expected: "http://[user@]host:9093",
            },
        )
    });
    let ack = match alertmanager {
        None => None,
        Some(Err(error)) => {
            tracing::error!(%error, "cannot set up acknowledgements");
            return (ExitCode::FAILURE, Some(writer_thread));
        }
        Some(Ok(url)) => match crate::api::ack_key(&args.state.path) {
            Ok(key) => Some(hale_server::AckConfig {
                alertmanager: url,
                key,
                public_url: args
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("{scheme}://{address}")),
                http: hale_core::http_client::ClientCache::new().system(),
            }),
            Err(error) => {
                tracing::error!(%error, "cannot set up acknowledgements");
                return (ExitCode::FAILURE, Some(writer_thread));
            }
        },
    };
    // Every audit record, as it is written, feeds the metrics (the notifier subscribes at
    // its start).
    metrics.set_node(&crate::fleet::node_name(&args.fleet));
    let counted = Arc::clone(&metrics);
    audit
        .port()
        .listen(move |event| counted.observe_event(event));
    let routes = Routes {
        mailboxes: Mailboxes::default(),
        observations: OutputPort::new(),
        outcomes: OutputPort::new(),
        policies: LatestPort::new(initial.snapshot()),
        audit: audit.clone(),
    };
    let reloads = Reloads {
        writer: writer.clone(),
        status: status.clone(),
        metrics: Arc::clone(&metrics),
        policies: routes.policies.clone(),
        logged: Arc::default(),
    };
    let links = notification_links(
        &format!("{scheme}://{address}"),
        args.public_url.as_deref(),
        ack.clone(),
    );
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(hale_server::serve(
        listener,
        hale_server::ApiState {
            status: status.clone(),
            store: Arc::clone(&store),
            audit: audit.clone(),
            metrics: Arc::clone(&metrics),
            control: Arc::new(crate::api::ActorControl(
                routes.mailboxes.reconciler.clone(),
            )),
            token,
            read_token,
            metrics_need_token: args.metrics_require_token,
            guards: hale_server::Guards::new(&hale_server::ApiLimits {
                max_streams: args.api_max_streams,
                control_per_second: args.api_control_rate,
                control_burst: args.api_control_burst,
            }),
            ack,
            policy_writes: hale_server::PolicyWrites {
                path: args.policies.clone(),
                allowed: args.ui_writes,
            },
            fleet: crate::fleet_view::api_source(&args.fleet),
        },
        async {
            let _ = api_stopped.await;
        },
    ));
    tracing::info!(%address, %scheme, "API listening (hale get, hale describe)");

    let docker: Arc<dyn DockerPort> = match connect(&endpoints).await {
        Some(docker) => docker,
        None => return (ExitCode::FAILURE, Some(writer_thread)),
    };

    // Test-only fault injection, in test builds only (a release build ignores the variable).
    let failpoints: Vec<String> = std::env::var("HALE_FAILPOINTS")
        .ok()
        .filter(|_| hale_reconciler::FAILPOINTS)
        .map(|v| v.split(',').map(str::trim).map(str::to_owned).collect())
        .unwrap_or_default();
    let policies = Arc::clone(&initial.policies);
    // The watcher's observations also keep the status board's Docker connection current
    // (the reconciler and the prober subscribe at their start).
    let watched = status.clone();
    routes
        .observations
        .listen(move |observation| match observation {
            Observation::Connected(up) => {
                let up = *up;
                watched.update(|status| status.docker_connected = up);
            }
            Observation::All(_) => watched.update(|status| {
                status.docker_connected = true;
                status.docker_synced = true;
            }),
            _ => {}
        });
    let probe_metrics = Arc::clone(&metrics);
    routes
        .outcomes
        .listen(move |outcome| probe_metrics.observe_probe(outcome));
    let fleet = match crate::fleet::start(
        &args.fleet,
        &crate::fleet::FleetSinks {
            store: &store,
            writer: &writer,
            bus: &audit,
            metrics: &metrics,
        },
    ) {
        Ok(Some(mut fleet)) => {
            fleet
                .tasks
                .push(crate::fleet_publisher::spawn_status_publisher(
                    fleet.status.clone(),
                    fleet.gate.node.clone(),
                    status.clone(),
                ));
            Some(fleet)
        }
        Ok(None) => None,
        Err(error) => {
            tracing::error!(%error, "cannot start fleet mode");
            return (ExitCode::FAILURE, Some(writer_thread));
        }
    };
    let mut fleet = fleet;
    if let Some(fleet) = &mut fleet {
        let wake = crate::fleet::wake_on_lease_won(
            fleet.gate.book.clone(),
            routes.mailboxes.reconciler.clone(),
        );
        fleet.tasks.push(wake);
        let wake = crate::fleet::wake_on_fleet_counts(
            fleet.gate.counting.reading.clone(),
            routes.mailboxes.reconciler.clone(),
        );
        fleet.tasks.push(wake);
    }
    let own_container = hale_core::own_container_id();
    if let Some(id) = &own_container {
        tracing::info!(
            container = %id,
            "hale runs in a container; it never remediates its own container"
        );
    }
    let supervisor_args = SupervisorArgs {
        reconciler: ReconcilerArgs {
            policies: Arc::clone(&policies),
            generations: Arc::clone(&initial.generations),
            status: status.clone(),
            clock: hale_core::Clock::system(),
            docker: Arc::clone(&docker),
            store: Arc::clone(&store),
            writer: writer.clone(),
            global_dry_run: args.dry_run,
            failpoints,
            requests: hale_store::RequestQueue::new(&args.state.path),
            http: hale_core::http_client::ClientCache::new(),
            live_actions: Arc::default(),
            mailbox: routes.mailboxes.reconciler.clone(),
            own_container: own_container.clone(),
            fleet: fleet.as_ref().map(|fleet| fleet.gate.clone()),
        },
        prober: ProberArgs {
            policies,
            docker: Arc::clone(&docker),
            outcomes: routes.outcomes.clone(),
        },
        watcher: DockerWatcherArgs {
            docker,
            resync: args.resync.as_std().max(Duration::from_secs(1)),
            observations: routes.observations.clone(),
            resume_from: last_docker_event(&store),
            remember: {
                let writer = writer.clone();
                let newest = Arc::new(std::sync::atomic::AtomicI64::new(0));
                Arc::new(move |nanos: i64| {
                    let previous = newest.fetch_max(nanos, std::sync::atomic::Ordering::Relaxed);
                    if nanos > previous {
                        writer.put_control(
                            LAST_DOCKER_EVENT.to_owned(),
                            nanos.to_string().into_bytes(),
                        );
                    }
                })
            },
        },
        policy_watcher: PolicyWatcherArgs {
            root: args.policies.clone(),
            book,
            updates: {
                let updates = OutputPort::new();
                let reloads = reloads.clone();
                updates.listen(move |update| reloads.apply(update));
                updates
            },
        },
        notifier: hale_notifier::NotifierArgs {
            clock: hale_core::Clock::system(),
            policies: Arc::clone(&initial.policies),
            notifiers: Arc::clone(&initial.notifiers),
            default_route: args.notify_default.clone(),
            links,
            record: {
                let writer = writer.clone();
                Arc::new(move |event| writer.record(event))
            },
            http: hale_core::http_client::ClientCache::new(),
            metrics: {
                let metrics = Arc::clone(&metrics);
                Arc::new(move |notifier, metric| {
                    use hale_notifier::NotificationMetric;
                    match metric {
                        NotificationMetric::Delivered => {
                            metrics.observe_notification(notifier, "delivered");
                        }
                        NotificationMetric::Failed => {
                            metrics.observe_notification(notifier, "failed");
                        }
                        NotificationMetric::Dropped => {
                            metrics.observe_notification(notifier, "dropped");
                        }
                        NotificationMetric::QueueDepth(depth) => {
                            metrics.set_notification_queue(notifier, depth);
                        }
                    }
                })
            },
        },
        routes: routes.clone(),
    };
    // The start-up load takes the path every reload takes, before any actor starts, so a
    // reload by the PolicyWatcher can never be overtaken by it.
    reloads.apply(&initial);
    let (supervisor, supervisor_handle) =
        match Actor::spawn(Some(SUPERVISOR_NAME.into()), Supervisor, supervisor_args).await {
            Ok(spawned) => spawned,
            Err(error) => {
                tracing::error!(%error, "cannot start the controller");
                return (ExitCode::FAILURE, Some(writer_thread));
            }
        };
    tokio::spawn(reload_on_sighup(routes.mailboxes.policy_watcher.clone()));
    tracing::info!(state = %store.path().display(), "hale is running");

    let signal = wait_for_signal().await;
    tracing::info!(%signal, "shutting down: finishing running actions");
    let interrupted = shutdown(&supervisor, &routes, args.shutdown_grace.as_std()).await;
    let _ = supervisor_handle.await;
    let _ = stop_api.send(());
    // Open event streams never end on their own: give requests a moment, then stop.
    let mut api = api;
    match tokio::time::timeout(Duration::from_secs(2), &mut api).await {
        Ok(Ok(Err(error))) => tracing::warn!(%error, "the API stopped with an error"),
        Ok(_) => {}
        Err(_) => api.abort(),
    }
    if let Some(fleet) = &fleet {
        crate::fleet_leave::leave(fleet, &writer, &metrics).await;
    }
    if let Err(error) = writer.sync().await {
        tracing::error!(%error, "the last writes to the state store failed");
    }
    drop(writer);
    tracing::info!(interrupted, "hale stopped");
    (ExitCode::SUCCESS, Some(writer_thread))
}

/// Connects to every endpoint, retrying with capped backoff while a daemon does not answer
/// (yet) or until a signal arrives; gives up at once on a configuration error (a wrong CA,
/// a missing certificate, plaintext to a TLS daemon), which waiting cannot fix. Several
/// endpoints are served through one [`DockerRouter`].
async fn connect(endpoints: &[NamedEndpoint]) -> Option<Arc<dyn DockerPort>> {
    let mut connected: Vec<Option<BollardDocker>> = vec![None; endpoints.len()];
    let mut delays = hale_core::RetryPolicy::DOCKER.delays();
    let mut logged = vec![false; endpoints.len()];
    loop {
        for (index, named) in endpoints.iter().enumerate() {
            if connected[index].is_some() {
                continue;
            }
            let name = named.name.as_deref().unwrap_or("");
            match BollardDocker::connect_to(&named.endpoint).await {
                Ok(docker) => {
                    tracing::info!(
                        endpoint = %docker.endpoint(),
                        name,
                        tls = named.endpoint.tls.is_some(),
                        from = %named.endpoint.source,
                        "connected to Docker"
                    );
                    connected[index] = Some(docker);
                }
                Err(error) if error.is_transient() => {
                    if !logged[index] {
                        tracing::warn!(%error, name, "waiting for the Docker daemon (retrying with backoff)");
                        logged[index] = true;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, name, "cannot use the Docker endpoint");
                    return None;
                }
            }
        }
        if connected.iter().all(Option::is_some) {
            break;
        }
        let delay = delays.next().unwrap_or(hale_core::RetryPolicy::DOCKER.max);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            signal = wait_for_signal() => {
                tracing::info!(%signal, "stopped before Docker was reachable");
                return None;
            }
        }
    }
    let mut ports: Vec<(Option<String>, Arc<dyn DockerPort>)> = endpoints
        .iter()
        .zip(connected.into_iter().flatten())
        .map(|(named, docker)| (named.name.clone(), Arc::new(docker) as Arc<dyn DockerPort>))
        .collect();
    if ports.len() == 1 {
        return ports.pop().map(|(_, port)| port);
    }
    Some(Arc::new(DockerRouter::new(
        ports
            .into_iter()
            .map(|(name, port)| (name.unwrap_or_default(), port))
            .collect(),
    )))
}

/// The links notifications carry: the target's audit records and, with Alertmanager
/// configured, a signed link that acknowledges alerts about the target for 2 h (valid for a
/// day).
fn notification_links(
    listening_at: &str,
    public_url: Option<&str>,
    ack: Option<hale_server::AckConfig>,
) -> hale_notifier::LinkMaker {
    let base = public_url.map_or_else(
        || listening_at.to_owned(),
        |u| u.trim_end_matches('/').to_owned(),
    );
    Arc::new(move |event: &hale_core::HealEvent| {
        let mut links = Vec::new();
        let Some(target) = &event.target else {
            links.push((
                "Audit records".to_owned(),
                format!("{base}/api/v1/events?policy={}", event.policy),
            ));
            return links;
        };
        links.push((
            "Audit records".to_owned(),
            format!("{base}/api/v1/events?target={}", target.name),
        ));
        if let Some(ack) = &ack {
            let labels =
                std::collections::BTreeMap::from([("container".to_owned(), target.name.clone())]);
            let expires = Timestamp::now().plus(Duration::from_secs(24 * 3600));
            links.push((
                "Acknowledge 2h".to_owned(),
                hale_server::signed_link(ack, &labels, "2h", expires),
            ));
        }
        links
    })
}

/// The policy records of the previous run, so generations carry on.
fn stored_policy_records(store: &Store) -> BTreeMap<String, PolicyRecord> {
    match store.policy_records() {
        Ok(records) => records
            .into_iter()
            .filter_map(|(name, bytes)| Some((name, serde_json::from_slice(&bytes).ok()?)))
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot read policy generations; counting from 1 again");
            BTreeMap::new()
        }
    }
}

/// `SIGHUP` forces a full reload of the policy directory, as it does for most daemons.
async fn reload_on_sighup(policy_watcher: hale_core::Mailbox<PolicyWatcherMsg>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot handle SIGHUP; changes are still picked up by the directory watch");
        return;
    };
    while hangup.recv().await.is_some() {
        tracing::info!("reloading the policy directory (SIGHUP)");
        if !policy_watcher.cast(PolicyWatcherMsg::Reload { reason: "SIGHUP" }) {
            tracing::warn!("the policy watcher is restarting; it reads the directory when back");
        }
    }
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT can be handled");
    tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    }
}
