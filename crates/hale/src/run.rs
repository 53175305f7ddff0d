//! `hale run`: the controller.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hale_core::{BollardDocker, DockerPort};
use hale_prober::{PROBER_NAME, ProberArgs, ProberMsg};
use hale_reconciler::{RECONCILER_NAME, ReconcilerArgs, ReconcilerMsg};
use hale_store::{Store, StoreWriter};
use hale_watcher::{DockerWatcherArgs, Observation};
use ractor::{Actor, ActorRef};

use crate::cli::{LogFormat, RunArgs};
use crate::commands::USAGE_ERROR;
use crate::supervisor::{Supervisor, SupervisorArgs, shutdown};

/// How long to wait between attempts to reach Docker at start-up.
const CONNECT_RETRY_MAX: Duration = Duration::from_secs(30);

/// Starts logging, the runtime and the supervision tree; returns when a signal stops it.
pub fn run(args: RunArgs) -> ExitCode {
    init_logging(args.log_format);
    if !args.policies.exists() {
        eprintln!(
            "hale run: policy directory {} does not exist (pass --policies DIR)",
            args.policies.display()
        );
        return ExitCode::from(USAGE_ERROR);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hale")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hale run: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (code, writer_thread) = runtime.block_on(controller(args));
    // Everything was flushed; do not let a stray task (an aborted Docker call) hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Some(thread) = writer_thread {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    code
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn controller(args: RunArgs) -> (ExitCode, Option<std::thread::JoinHandle<()>>) {
    let report = hale_policy::load_paths(&[&args.policies]);
    for diagnostic in &report.diagnostics {
        if diagnostic.is_error() {
            tracing::error!(%diagnostic, "policy rejected");
        } else {
            tracing::warn!(%diagnostic, "policy warning");
        }
    }
    let policies: Vec<_> = report
        .set
        .policies
        .iter()
        .map(|p| p.resource.clone())
        .collect();
    if policies.is_empty() {
        tracing::warn!(
            path = %args.policies.display(),
            "no valid HealPolicy loaded: hale watches but will not act"
        );
    }
    tracing::info!(
        policies = policies.len(),
        names = %policies.iter().map(|p| p.metadata.name.as_str()).collect::<Vec<_>>().join(","),
        dry_run = args.dry_run,
        "policies loaded"
    );

    let store = match Store::open(&args.state.path, args.audit_retention) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            tracing::error!(%error, "cannot open the state store");
            return (ExitCode::FAILURE, None);
        }
    };
    let (writer, writer_thread) = StoreWriter::start(Arc::clone(&store));

    let docker: Arc<dyn DockerPort> = match connect(args.docker_host.as_deref()).await {
        Some(docker) => docker,
        None => return (ExitCode::FAILURE, Some(writer_thread)),
    };

    let failpoints: Vec<String> = std::env::var("HALE_FAILPOINTS")
        .map(|v| v.split(',').map(str::trim).map(str::to_owned).collect())
        .unwrap_or_default();
    let policies = Arc::new(policies);
    // The watcher's observations go to the reconciler and the prober, whichever
    // incarnation is current (a restarting one is skipped; it relists when back).
    let sink = Arc::new(|observation: Observation| {
        if let Some(cell) = ractor::registry::where_is(PROBER_NAME) {
            let _ = ActorRef::<ProberMsg>::from(cell).cast(match &observation {
                Observation::Container(snapshot) => ProberMsg::Observed(snapshot.clone()),
                Observation::Removed(id) => ProberMsg::Removed(id.clone()),
                Observation::All(list) => ProberMsg::All(list.clone()),
            });
        }
        if let Some(cell) = ractor::registry::where_is(RECONCILER_NAME) {
            let _ = ActorRef::<ReconcilerMsg>::from(cell).cast(match observation {
                Observation::Container(snapshot) => ReconcilerMsg::Observed(snapshot),
                Observation::Removed(id) => ReconcilerMsg::Removed { id },
                Observation::All(list) => ReconcilerMsg::Relisted(list),
            });
        }
    });
    let probe_sink = Arc::new(|outcome: hale_core::ProbeOutcome| {
        if let Some(cell) = ractor::registry::where_is(RECONCILER_NAME) {
            let _ = ActorRef::<ReconcilerMsg>::from(cell).cast(ReconcilerMsg::Probed(outcome));
        }
    });
    let supervisor_args = SupervisorArgs {
        reconciler: ReconcilerArgs {
            policies: Arc::clone(&policies),
            docker: Arc::clone(&docker),
            store: Arc::clone(&store),
            writer: writer.clone(),
            global_dry_run: args.dry_run,
            failpoints,
            requests: hale_store::RequestQueue::new(&args.state.path),
            http: reqwest::Client::builder()
                .user_agent(concat!("hale/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client builds"),
            live_actions: Arc::default(),
        },
        prober: ProberArgs {
            policies,
            docker: Arc::clone(&docker),
            sink: probe_sink,
        },
        watcher: DockerWatcherArgs {
            docker,
            resync: args.resync.as_std().max(Duration::from_secs(1)),
            sink,
        },
    };
    let (supervisor, supervisor_handle) =
        match Actor::spawn(Some("hale-supervisor".into()), Supervisor, supervisor_args).await {
            Ok(spawned) => spawned,
            Err(error) => {
                tracing::error!(%error, "cannot start the controller");
                return (ExitCode::FAILURE, Some(writer_thread));
            }
        };
    tracing::info!(state = %store.path().display(), "hale is running");

    let signal = wait_for_signal().await;
    tracing::info!(%signal, "shutting down: finishing running actions");
    let interrupted = shutdown(&supervisor, args.shutdown_grace.as_std()).await;
    let _ = supervisor_handle.await;
    if let Err(error) = writer.sync().await {
        tracing::error!(%error, "the last writes to the state store failed");
    }
    drop(writer);
    tracing::info!(interrupted, "hale stopped");
    (ExitCode::SUCCESS, Some(writer_thread))
}

/// Connects to Docker, retrying with capped backoff until it answers or a signal arrives.
async fn connect(host: Option<&str>) -> Option<Arc<dyn DockerPort>> {
    let mut delay = Duration::from_millis(500);
    let mut logged = false;
    loop {
        match BollardDocker::connect(host).await {
            Ok(docker) => {
                tracing::info!(endpoint = %docker.endpoint(), "connected to Docker");
                return Some(Arc::new(docker));
            }
            Err(error) => {
                if !logged {
                    tracing::warn!(%error, "waiting for the Docker daemon (retrying with backoff)");
                    logged = true;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            signal = wait_for_signal() => {
                tracing::info!(%signal, "stopped before Docker was reachable");
                return None;
            }
        }
        delay = (delay * 2).min(CONNECT_RETRY_MAX);
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
