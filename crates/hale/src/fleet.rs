//! `hale run --fleet`: coordinating with the other hosts' hale through Redis, so each
//! site is healed by one node (the holder of its lease). Without `--fleet` none of this
//! starts. The design is in docs/fleet.md.

use std::path::PathBuf;
use std::sync::Arc;

use hale_fleet::{
    FleetAudit, FleetConnection, FleetCounts, FleetRails, FleetStatus, LeaseTimings, LocalCounts,
    RedisLeases, StoreState, spawn_counter, spawn_keeper,
};
use hale_reconciler::{FleetCounting, FleetGate};
use tokio::sync::watch;

/// The keys of one fleet all start with this (`hale events --fleet` reads under it too), so a Redis can hold other data beside it.
pub const KEY_PREFIX: &str = "hale:";

/// Where the fleet's Redis is: shared by `hale run` and `hale events`.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetStoreArgs {
    /// The fleet's Redis: redis://[user[:password]@]host:port/db, or rediss:// for TLS.
    /// For `hale run`: coordinate with the hale of other hosts through it; each site is
    /// then healed by one node, the holder of its lease, and the others keep probing
    /// (standby); Redis being down never stops the healing of this host's own containers.
    #[arg(long, value_name = "URL", env = "HALE_FLEET")]
    pub fleet: Option<String>,
    /// A file holding the Redis password, so that it is not in the URL (nor in `ps`).
    /// HALE_FLEET_PASSWORD does the same from the environment.
    #[arg(long, value_name = "FILE", requires = "fleet")]
    pub fleet_password_file: Option<PathBuf>,
}

/// The fleet options of `hale run`.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// The Redis and its password.
    #[command(flatten)]
    pub store: FleetStoreArgs,
    /// This node's name in the fleet (leases, audit records). Default: the hostname.
    #[arg(long, value_name = "NAME", env = "HALE_NODE", requires = "fleet")]
    pub node: Option<String>,
    /// How long a site's lease outlives its holder's last renewal: the longest a site goes
    /// unhealed after its holder dies. The holder renews every 2/15 of it and stops acting
    /// 2/3 of it after its last renewal, as Kubernetes' 15 s / 2 s / 10 s.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15s",
        requires = "fleet"
    )]
    pub fleet_lease_ttl: hale_policy::Duration,
}

/// The lease timings for a TTL, in Kubernetes' proportions (15 s lease, 10 s renew
/// deadline, 2 s retry period).
fn timings(ttl: std::time::Duration) -> Result<LeaseTimings, FleetStartError> {
    if ttl < std::time::Duration::from_secs(1) {
        return Err(FleetStartError::LeaseTooShort(ttl));
    }
    LeaseTimings {
        ttl,
        renew_deadline: ttl * 2 / 3,
        retry_period: ttl * 2 / 15,
    }
    .validated()
    .map_err(|_| FleetStartError::LeaseTooShort(ttl))
}

/// Why fleet mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetStartError {
    /// The password file could not be read, or the URL cannot carry the password.
    #[error(transparent)]
    Password(#[from] crate::url_password::UrlPasswordError),
    /// The lease TTL leaves no time to renew.
    #[error(
        "--fleet-lease-ttl {0:?} is too short: give at least 1s (the holder renews every 2/15 of it)"
    )]
    LeaseTooShort(std::time::Duration),
    /// The Redis client refused the URL.
    #[error(transparent)]
    Fleet(#[from] hale_fleet::FleetError),
}

/// A started fleet mode: the gate the reconciler consults, and the tasks to stop at
/// shutdown.
pub struct Fleet {
    /// What the reconciler needs.
    pub gate: FleetGate,
    /// The lease keeper, the audit shipper and the status publisher.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// This node's key in the fleet's status view (`fleet_publisher`, `fleet_leave`).
    pub status: FleetStatus,
}

/// This node's name: `--node`, else the hostname (also without `--fleet`, for
/// `hale_node_info` on `/metrics`).
pub fn node_name(args: &FleetArgs) -> String {
    args.node.clone().unwrap_or_else(hostname)
}

/// This host's name, the default node name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "hale".to_owned())
}

/// `url` with the password from the file or HALE_FLEET_PASSWORD put in, when one is given.
pub fn with_password(url: &str, args: &FleetStoreArgs) -> Result<String, FleetStartError> {
    let source = crate::url_password::PasswordSource {
        url_option: "--fleet",
        file_option: "--fleet-password-file",
        file: args.fleet_password_file.as_deref(),
        env: "HALE_FLEET_PASSWORD",
        expected: "redis://host:port/db",
    };
    Ok(crate::url_password::with_password(url, &source)?)
}

/// What fleet mode writes to: the audit log (and the bus behind it) and the metrics.
pub struct FleetSinks<'a> {
    /// The local store, which the audit shipper reads.
    pub store: &'a Arc<hale_store::Store>,
    /// The one door into the audit log: the keeper's transitions are recorded through it.
    pub writer: &'a hale_store::StoreWriter,
    /// Where written records are announced (the shipper wakes on them).
    pub bus: &'a hale_core::AuditBus,
    /// `/metrics`.
    pub metrics: &'a Arc<hale_server::Metrics>,
}

/// Starts fleet mode when `--fleet` is given: a lazy connection (this host heals its own
/// containers whether Redis is up or not), the lease keeper, whose transitions become audit
/// records and metrics, and the audit shipper.
///
/// # Errors
/// [`FleetStartError`] for an unreadable password file or a malformed URL.
pub fn start(args: &FleetArgs, sinks: &FleetSinks<'_>) -> Result<Option<Fleet>, FleetStartError> {
    let Some(url) = &args.store.fleet else {
        return Ok(None);
    };
    let node = node_name(args);
    let timings = timings(args.fleet_lease_ttl.as_std())?;
    let connection =
        FleetConnection::lazy(&with_password(url, &args.store)?, timings.retry_period)?;
    let server = connection.server().to_owned();
    let shipper = crate::fleet_shipper::spawn_audit_shipper(
        FleetAudit::new(connection.clone(), &node, KEY_PREFIX),
        Arc::clone(sinks.store),
        sinks.bus,
    );
    let rails = FleetRails::new(connection.clone(), KEY_PREFIX);
    let status = FleetStatus::new(connection.clone(), KEY_PREFIX);
    // A node's circuit counts live as long as a lease: a node that died stops counting
    // when a site it held would change hands.
    let counts = FleetCounts::new(connection.clone(), &node, KEY_PREFIX, timings.ttl);
    let (local_tx, local_rx) = watch::channel(LocalCounts::default());
    let counter = spawn_counter(counts, local_rx, timings.retry_period);
    let leases = RedisLeases::new(connection, &node, KEY_PREFIX, timings);
    let (subjects_tx, subjects_rx) = watch::channel(Vec::new());
    let mut handle = spawn_keeper(leases.clone(), subjects_rx);
    sinks.metrics.start_fleet(&node);
    let transitions = {
        let (node, writer, metrics) = (
            node.clone(),
            sinks.writer.clone(),
            Arc::clone(sinks.metrics),
        );
        tokio::spawn(async move {
            while let Some(event) = handle.events.recv().await {
                let record = crate::fleet_transitions::transition_record(
                    &node,
                    &event,
                    hale_core::Timestamp::now(),
                );
                metrics.count_fleet_transition(record.kind.as_str());
                writer.record(record);
            }
        })
    };
    let gauges = {
        let (node, metrics, mut book) =
            (node.clone(), Arc::clone(sinks.metrics), handle.book.clone());
        tokio::spawn(async move {
            // The keeper publishes a book after every round: the gauges follow it.
            while book.changed().await.is_ok() {
                let (up, held) = {
                    let book = book.borrow_and_update();
                    (
                        book.store() == StoreState::Reachable,
                        book.acting(tokio::time::Instant::now()).count(),
                    )
                };
                metrics.set_fleet_state(&node, up, held);
            }
        })
    };
    tracing::info!(node = %node, redis = %server, "fleet mode: sites are healed by the holder of their lease");
    Ok(Some(Fleet {
        gate: FleetGate {
            node,
            book: handle.book,
            subjects: Arc::new(subjects_tx),
            leases,
            rails,
            counting: FleetCounting {
                local: Arc::new(local_tx),
                reading: counter.reading,
            },
        },
        tasks: vec![handle.task, shipper, transitions, gauges, counter.task],
        status,
    }))
}

/// Tells the reconciler (through `reconciler`, whichever incarnation runs) each time the
/// keeper's book shows a lease this node did not act on before: the site it stood by for
/// is its to heal now.
pub fn wake_on_lease_won(
    mut book: watch::Receiver<Arc<hale_fleet::LeaseBook>>,
    reconciler: hale_core::Mailbox<hale_reconciler::ReconcilerMsg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut acting = std::collections::BTreeSet::new();
        while book.changed().await.is_ok() {
            let now: std::collections::BTreeSet<String> = book
                .borrow_and_update()
                .acting(tokio::time::Instant::now())
                .map(|(subject, _)| subject.to_owned())
                .collect();
            if now.difference(&acting).next().is_some() {
                reconciler.cast(hale_reconciler::ReconcilerMsg::LeaseWon);
            }
            acting = now;
        }
    })
}

/// Tells the reconciler (through `reconciler`, whichever incarnation runs) each time the
/// circuit counter's reading changes: a failure that waited for the fleet's settled counts
/// is decided then, not at the next timer.
pub fn wake_on_fleet_counts(
    mut reading: watch::Receiver<Arc<hale_fleet::FleetReading>>,
    reconciler: hale_core::Mailbox<hale_reconciler::ReconcilerMsg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The counter sends only changed readings.
        while reading.changed().await.is_ok() {
            reading.borrow_and_update();
            reconciler.cast(hale_reconciler::ReconcilerMsg::FleetCounted);
        }
    })
}
