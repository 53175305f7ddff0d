//! The command line: every command, flag and its help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// hale watches Docker containers and HTTP sites, probes them, and heals them by the
/// HealPolicy files in a directory — with thresholds, escalation, cooldown, backoff,
/// quarantine and a circuit breaker so automation never makes an outage worse.
#[derive(Debug, Parser)]
#[command(name = "hale", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Start with `hale validate` on your policy directory, then \
`hale explain healpolicy.spec` to see what a policy can say."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// The command as typed, for the prefix of its error line: `hale validate`.
    pub fn path(&self) -> &'static str {
        match self {
            Self::Run(_) => "hale run",
            Self::Events(_) => "hale events",
            Self::Pause { .. } => "hale pause",
            Self::Resume { .. } => "hale resume",
            Self::Heal { .. } => "hale heal",
            Self::Disable { .. } => "hale disable",
            Self::Ready { .. } => "hale ready",
            Self::Man { .. } => "hale man",
            Self::Completions { .. } => "hale completions",
            Self::Enable { .. } => "hale enable",
            Self::Ack { .. } => "hale ack",
            Self::Unquarantine { .. } => "hale unquarantine",
            Self::Validate { .. } => "hale validate",
            Self::Get { .. } => "hale get",
            Self::Describe { .. } => "hale describe",
            Self::Notify(NotifyCommand::Test { .. }) => "hale notify test",
            Self::Import(ImportCommand::Willfarrell { .. }) => "hale import willfarrell",
            Self::Import(ImportCommand::AlertActions { .. }) => "hale import alert-actions",
            Self::Import(ImportCommand::CoolifyAutoheal(_)) => "hale import coolify-autoheal",
            Self::Schema => "hale schema",
            Self::Explain { .. } => "hale explain",
        }
    }
}

/// hale's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller: watch Docker, decide by the policies, heal, record.
    ///
    /// Loads every policy under --policies (invalid files are reported and skipped), then
    /// starts the supervised actors: a PolicyWatcher that reloads the directory when it
    /// changes (or on SIGHUP), keeping the last good version of a file that breaks, a
    /// DockerWatcher that follows the daemon's events and
    /// relists periodically, a Prober that runs the policies' httpGet, tcpSocket and exec
    /// probes, a Reconciler that decides per target and runs actions off its mailbox, and
    /// a Notifier that delivers what policies route to their Notifiers. State (attempts, cooldowns, backoff, quarantine) and the audit log
    /// live in an embedded database under --state-dir, so a restart of hale never causes
    /// an extra restart of a container. SIGINT/SIGTERM stop it cleanly: running actions
    /// finish (or are recorded as interrupted after --shutdown-grace). The API (--listen)
    /// serves status to `hale get` and `hale describe`. Traces go to an OTLP collector when
    /// OTEL_EXPORTER_OTLP_ENDPOINT is set (OTLP/HTTP, or gRPC with
    /// OTEL_EXPORTER_OTLP_PROTOCOL=grpc, over TLS to an https:// endpoint trusting
    /// OTEL_EXPORTER_OTLP_CERTIFICATE; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none
    /// turn export off, OTEL_PROPAGATORS picks what webhooks receive; the other OTEL_*
    /// variables apply).
    #[command(
        after_help = "Examples:\n  hale run\n  hale run --policies /etc/hale/policies --state-dir /var/lib/hale\n  \
hale run --dry-run --log-format json\n  RUST_LOG=hale=debug hale run"
    )]
    Run(RunArgs),
    /// Show the audit log: what hale decided and did, and why (oldest first).
    ///
    /// Reads the state store directly, so it works whether or not `hale run` is running.
    /// With --follow, streams new records from a running controller's API instead (and
    /// resumes without a gap if the connection drops).
    #[command(
        after_help = "Examples:\n  hale events\n  hale events --policy web --since 1h\n  \
hale events --kind action_started --kind action_failed -o json\n  hale events --follow --policy web"
    )]
    Events(EventsArgs),
    /// Pause a policy: its targets are still assessed and reported, but nothing is decided
    /// or done until `hale resume`. Survives restarts.
    #[command(
        after_help = "Examples:\n  hale pause web\n  HALE_API_TOKEN_FILE=/etc/hale/token hale pause web"
    )]
    Pause {
        /// The policy.
        policy: String,
        /// Which controller, and its token.
        #[command(flatten)]
        server: ServerArg,
        /// The token.
        #[command(flatten)]
        token: TokenArg,
    },
    /// Resume a paused policy.
    #[command(after_help = "Examples:\n  hale resume web")]
    Resume {
        /// The policy.
        policy: String,
        /// Which controller.
        #[command(flatten)]
        server: ServerArg,
        /// The token.
        #[command(flatten)]
        token: TokenArg,
    },
    /// Remediate a target now: the next rung of its ladder, whatever its state, cooldown
    /// or circuit (not while it is quarantined or its policy is paused).
    #[command(after_help = "Examples:\n  hale heal web-1\n  hale heal site:shop --policy shop")]
    Heal {
        /// The container name (or ID prefix), or `site:<name>`.
        target: String,
        /// Only in this policy.
        #[arg(long)]
        policy: Option<String>,
        /// Which controller.
        #[command(flatten)]
        server: ServerArg,
        /// The token.
        #[command(flatten)]
        token: TokenArg,
    },
    /// Write the manual pages (hale.1, and hale-run.1 and so on for each command) into a
    /// directory: what the Debian package installs.
    #[command(after_help = "Examples:\n  hale man /usr/local/share/man/man1 && man hale")]
    Man {
        /// Where to write them (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the completion script for a shell.
    #[command(
        after_help = "Examples:\n  hale completions bash > /etc/bash_completion.d/hale\n  \
hale completions zsh > ~/.zfunc/_hale\n  hale completions fish > ~/.config/fish/completions/hale.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Exit 0 when the `hale run` at --server is ready (policies loaded, containers listed),
    /// 1 with what it waits for otherwise. Needs no shell or curl: the container image's
    /// HEALTHCHECK runs it.
    #[command(after_help = "Examples:\n  hale ready\n  hale ready --server http://hale:9009")]
    Ready {
        /// Which controller.
        #[command(flatten)]
        server: ServerArg,
    },
    /// Turn healing of one target off, in every policy, until `hale enable`: it is still
    /// probed and shown, never remediated. Persisted: survives restarts of hale.
    #[command(after_help = "Examples:\n  hale disable db-1\n  hale disable site:shop")]
    Disable {
        /// The container name (or ID prefix), or `site:<name>`.
        target: String,
        /// Which controller.
        #[command(flatten)]
        server: ServerArg,
        /// The token.
        #[command(flatten)]
        token: TokenArg,
    },
    /// Turn healing of a target back on after `hale disable`.
    #[command(after_help = "Examples:\n  hale enable db-1")]
    Enable {
        /// The container name (or ID prefix), or `site:<name>`.
        target: String,
        /// Which controller.
        #[command(flatten)]
        server: ServerArg,
        /// The token.
        #[command(flatten)]
        token: TokenArg,
    },
    /// Acknowledge an alert: an exact-match silence in Alertmanager for a while, or a
    /// signed link that creates one once confirmed (for chat messages).
    #[command(
        after_help = "Examples:\n  hale ack -l alertname=ContainerDown -l container=db --for 2h\n  \
hale ack -l alertname=ContainerDown --for 30m --link"
    )]
    Ack {
        /// A label the silence matches exactly, `name=value`. Repeatable.
        #[arg(short, long = "label", value_name = "NAME=VALUE", required = true, value_parser = label)]
        labels: Vec<(String, String)>,
        /// How long: 30m, 2h, 24h or any duration up to 7d.
        #[arg(long = "for", default_value = "2h", value_name = "DURATION")]
        duration: hale_policy::Duration,
        /// Why (the silence's comment).
        #[arg(long)]
        comment: Option<String>,
        /// Print a signed link instead of silencing now.
        #[arg(long)]
        link: bool,
        /// Which controller.
        #[command(flatten)]
        server: ServerArg,
        /// The token.
        #[command(flatten)]
        token: TokenArg,
    },
    /// Release a quarantined container so hale remediates it again.
    ///
    /// The request is left in the state directory; a running `hale run` applies it within
    /// a second (a stopped one at its next start) and records a `released` event.
    #[command(
        after_help = "Examples:\n  hale unquarantine web-1\n  hale unquarantine web-1 --policy shop-web"
    )]
    Unquarantine {
        /// The container name.
        target: String,
        /// Only release it in this policy (default: every policy that quarantined it).
        #[arg(long)]
        policy: Option<String>,
        /// The state directory of the hale to ask.
        #[command(flatten)]
        state: StateDir,
    },
    /// Check policy files and report every problem with file:line:col.
    ///
    /// Reads each PATH (a file, or a directory searched recursively for *.yaml and *.yml;
    /// hidden files and editor backups are skipped), checks every document against the
    /// schema and hale's rules, and prints all errors and warnings at once.
    ///
    /// Exit status: 0 when everything is valid (warnings allowed unless --strict), 1 when
    /// any file is invalid, 2 on a usage error. Made for pre-commit hooks and CI jobs.
    #[command(
        after_help = "Examples:\n  hale validate\n  hale validate policies/ examples/\n  \
hale validate -o json policies/ | jq '.diagnostics[]'"
    )]
    Validate {
        /// Files or directories to check.
        #[arg(default_value = "policies", value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format: human-readable lines, or one JSON document for tools.
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
        output: OutputFormat,
        /// Treat warnings as errors (exit 1 when there are any).
        #[arg(long)]
        strict: bool,
    },
    /// List resources of a running controller, like `kubectl get`.
    ///
    /// Asks the API of `hale run` (--server). For policies: NAME, TARGETS, HEALTHY, MODE,
    /// ACCEPTED, AGE; `-o wide` adds GENERATION, READY and the file. Files rejected at the
    /// last reload are listed below the table. `targets --fleet URL` reads every node's
    /// targets from the fleet's Redis instead.
    #[command(
        after_help = "Examples:\n  hale get policies\n  hale get policies -o wide\n  \
hale get policies -o json | jq '.items[].conditions'\n  \
hale get targets --fleet redis://10.0.0.5:6379/0 --fleet-password-file /etc/hale/redis.pass"
    )]
    Get {
        /// What to list.
        #[arg(value_enum)]
        resource: GetResource,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = GetFormat::Table)]
        output: GetFormat,
        /// Which controller to ask.
        #[command(flatten)]
        server: ServerArg,
        /// `hale get targets --fleet URL`: every node's targets (a NODE column first) from
        /// the fleet's Redis instead of one controller's API, and which nodes are in the
        /// view with when each last published.
        #[command(flatten)]
        fleet: crate::fleet::FleetStoreArgs,
    },
    /// Show one resource of a running controller in detail, like `kubectl describe`.
    ///
    /// For a policy: where it comes from, its generation, a summary of its spec, its
    /// conditions (Accepted, Ready, RemediationAllowed, Paused), its targets and their
    /// states, and its recent audit records.
    #[command(
        after_help = "Examples:\n  hale describe policy web\n  HALE_SERVER=http://127.0.0.1:9010 hale describe policy web"
    )]
    Describe {
        /// What kind of resource.
        #[arg(value_enum)]
        resource: DescribeResource,
        /// Its name.
        name: String,
        /// Which controller to ask.
        #[command(flatten)]
        server: ServerArg,
    },
    /// Work with notifiers: `hale notify test NOTIFIER` sends a test message through it.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Turn another healer's configuration into HealPolicy files to review.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print the JSON Schema (draft-07) of policy documents.
    ///
    /// Point yaml-language-server at it for completion and inline errors in your editor:
    /// `# yaml-language-server: $schema=../docs/schema/healpolicy.v1alpha1.json`.
    Schema,
    /// Describe a field of a resource: its type, default and documentation.
    ///
    /// Like `kubectl explain`: start from a kind (healpolicy, notifier) and follow field
    /// names with dots. Lists are transparent: `healpolicy.spec.probes.period` is the
    /// period of every probe.
    #[command(after_help = "Examples:\n  hale explain healpolicy\n  \
hale explain healpolicy.spec.remediation\n  hale explain healpolicy.spec --recursive\n  \
hale explain notifier.spec.slack")]
    Explain {
        /// The field, e.g. `healpolicy.spec.remediation.backoff`.
        #[arg(required_unless_present = "markdown", value_name = "KIND.FIELD...")]
        field: Option<String>,
        /// Show every nested field as a tree.
        #[arg(short, long)]
        recursive: bool,
        /// Print the whole reference as Markdown (what docs/policy-reference.md holds).
        #[arg(long, conflicts_with_all = ["field", "recursive"])]
        markdown: bool,
    },
}

/// Options of `hale run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Directory (or file) of HealPolicy and Notifier resources.
    #[arg(long, default_value = "policies", value_name = "DIR")]
    pub policies: PathBuf,
    /// Where hale keeps its state and audit log (created if missing).
    #[command(flatten)]
    pub state: StateDir,
    /// Decide and record, but touch nothing (every policy behaves as `mode: DryRun`).
    #[arg(long)]
    pub dry_run: bool,
    /// A Docker daemon to watch: unix:///path.sock, tcp://host:port or ssh://user@host.
    /// Repeat it to watch several; then name each (NAME=URL) and targets are named
    /// NAME/container. Default, as the docker CLI: $DOCKER_HOST (tcp is TLS when
    /// $DOCKER_TLS_VERIFY is set, with ca.pem, cert.pem and key.pem from $DOCKER_CERT_PATH or
    /// ~/.docker), else the context in $DOCKER_CONTEXT or config.json's currentContext, else
    /// the local socket. A --docker tcp:// URL takes TLS from the same variables.
    #[arg(long = "docker", alias = "docker-host", value_name = "[NAME=]URL")]
    pub docker: Vec<hale_docker::EndpointSpec>,
    /// Relist every container this often, even when events flow.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub resync: hale_policy::Duration,
    /// On SIGINT/SIGTERM, wait this long for running actions before recording them as
    /// interrupted.
    #[arg(long, default_value = "20s", value_name = "DURATION")]
    pub shutdown_grace: hale_policy::Duration,
    /// Audit records to keep; older ones are deleted.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub audit_retention: u64,
    /// Log format: human-readable lines or one JSON object per line. Filter with RUST_LOG.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Serve the API (status, policies, targets; what `hale get` and `hale describe`
    /// read) on this loopback address. Port 0 picks a free port (logged at start).
    #[arg(
        long,
        default_value = "127.0.0.1:9009",
        value_name = "ADDR",
        env = "HALE_LISTEN"
    )]
    pub listen: std::net::SocketAddr,
    /// A file holding the bearer token that the API's mutating routes (pause, resume,
    /// unquarantine, heal, ack, the Alertmanager webhook) require. Without it they are
    /// disabled. Listening on a non-loopback address needs it or --api-read-token-file.
    #[arg(long, value_name = "FILE", env = "HALE_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// A file holding a bearer token that the read routes (the overview, targets,
    /// policies, events and their stream, policy validation) then require; the
    /// --api-token-file token reads too. /healthz, /readyz, the OpenAPI document and the
    /// dashboard's page stay open; /metrics too, unless --metrics-require-token. Without
    /// it, whoever reaches the port may read.
    #[arg(long, value_name = "FILE", env = "HALE_API_READ_TOKEN_FILE")]
    pub api_read_token_file: Option<PathBuf>,
    /// /metrics needs the read token (or the control token) too; Prometheus sends it with
    /// `authorization: {credentials_file: …}` in its scrape config.
    #[arg(long, env = "HALE_METRICS_REQUIRE_TOKEN")]
    pub metrics_require_token: bool,
    /// Event streams (/api/v1/events/stream, the dashboard's console, `hale events -f`)
    /// open at once; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = hale_server::DEFAULT_MAX_STREAMS, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub api_max_streams: u32,
    /// Control requests (pause, heal, the Alertmanager webhook…) per second per client
    /// address once its burst is spent; more are answered 429 with Retry-After. Requests
    /// without the token are refused before they count.
    #[arg(long, default_value = "5", value_name = "N")]
    pub api_control_rate: std::num::NonZeroU32,
    /// Control requests one client address may send at once before --api-control-rate
    /// applies.
    #[arg(long, default_value = "20", value_name = "N")]
    pub api_control_burst: std::num::NonZeroU32,
    /// Serve the API over TLS with this PEM certificate (then its chain); needs --tls-key.
    /// Read once at start. Clients with a private CA pass `hale … --ca-file`.
    #[arg(long, value_name = "FILE", env = "HALE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", env = "HALE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Let the dashboard write imported and edited policies into --policies (the hot
    /// reload then applies them). Off by default: GitOps users keep it off, and the
    /// dashboard gives them the validated YAML to commit instead.
    #[arg(long, env = "HALE_UI_WRITES")]
    pub ui_writes: bool,
    /// Alertmanager's URL, for `hale ack` and acknowledgement links (silences). Behind
    /// basic auth, name the user in it (`http://hale@alertmanager:9093`) and give the
    /// password with --alertmanager-password-file.
    #[arg(long, value_name = "URL", env = "HALE_ALERTMANAGER_URL")]
    pub alertmanager_url: Option<String>,
    /// A file holding the password of --alertmanager-url's user, so that it is not in the
    /// URL (nor in `ps`). HALE_ALERTMANAGER_PASSWORD does the same from the environment.
    #[arg(long, value_name = "FILE", requires = "alertmanager_url")]
    pub alertmanager_password_file: Option<PathBuf>,
    /// The URL people reach this API at, for acknowledgement links in notifications.
    /// Default: http:// (https:// with --tls-cert) and the --listen address.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The Notifier that hears about policies that name none in `notify`.
    #[arg(long, value_name = "NOTIFIER", env = "HALE_NOTIFY_DEFAULT")]
    pub notify_default: Option<String>,
    /// Fleet mode: several hosts, one set of policies.
    #[command(flatten)]
    pub fleet: crate::fleet::FleetArgs,
}

/// The `--server` option of the commands that ask a running `hale run`.
#[derive(Debug, clap::Args)]
pub struct ServerArg {
    /// The API of the `hale run` to ask: its --listen address (`127.0.0.1:9009`) or a URL
    /// (`http://hale.internal:9009`, `https://…` behind a proxy).
    #[arg(
        long,
        default_value = "http://127.0.0.1:9009",
        value_name = "URL",
        env = "HALE_SERVER",
        value_parser = server_url
    )]
    pub server: String,
    /// A PEM file of the certificate authority that signed the API's certificate (`hale
    /// run --tls-cert`), trusted besides the built-in web roots: for an https:// --server
    /// with a private CA or a self-signed certificate.
    #[arg(long, value_name = "FILE", env = "HALE_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// A file holding the read token (`hale run --api-read-token-file`), sent with every
    /// read. Without it, reads send the control token when HALE_API_TOKEN_FILE or
    /// HALE_API_TOKEN is set.
    #[arg(long, value_name = "FILE", env = "HALE_API_READ_TOKEN_FILE")]
    pub read_token_file: Option<PathBuf>,
}

/// A `--label` that is not `NAME=VALUE`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}: expected NAME=VALUE, e.g. alertname=ContainerDown")]
pub struct LabelError(String);

/// Reads `--label NAME=VALUE` (spaces around either side are trimmed).
pub fn label(text: &str) -> Result<(String, String), LabelError> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(LabelError(text.to_owned())),
    }
}

/// Checks a `--since` value (a duration or an RFC 3339 time) when the command line is
/// read, so a bad one is a usage error like any other; the text is kept, since "1h" means
/// an hour before each use.
pub fn since(text: &str) -> Result<String, hale_core::SinceError> {
    hale_core::Timestamp::parse_since(text).map(|_| text.to_owned())
}

/// Why a `--server` value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerUrlError {
    /// Not a URL, nor `host:port`.
    #[error(
        "{0:?} is not an address: give the --listen address (127.0.0.1:9009) or a URL (http://host:9009)"
    )]
    Unparsable(String),
    /// A URL of another scheme.
    #[error("{0:?}: hale's API speaks http:// or https://, not {1}://")]
    Scheme(String, String),
}

/// Reads `--server`: a bare `host:port` (the form `--listen` takes) gets `http://`; the
/// result is a URL without a trailing slash.
pub fn server_url(text: &str) -> Result<String, ServerUrlError> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let url = reqwest::Url::parse(&with_scheme)
        .ok()
        .filter(|url| url.host_str().is_some_and(|h| !h.is_empty()))
        .ok_or_else(|| ServerUrlError::Unparsable(text.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ServerUrlError::Scheme(
            text.to_owned(),
            url.scheme().to_owned(),
        ));
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

/// `hale notify` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message through a Notifier, to check its token or URL before an outage.
    ///
    /// Reads the Notifier from the policy directory (the same files `hale run` reads),
    /// sends one message, and prints what the service answered. Exit status 0 when it was
    /// delivered, 1 when not.
    #[command(
        after_help = "Examples:\n  hale notify test team-slack\n  hale notify test oncall-email --policies /etc/hale/policies"
    )]
    Test {
        /// The Notifier's name.
        notifier: String,
        /// The policy directory (or file).
        #[arg(long, default_value = "policies", value_name = "DIR")]
        policies: PathBuf,
    },
}

/// The token of the API's mutating routes, for the commands that use them.
#[derive(Debug, clap::Args)]
pub struct TokenArg {
    /// A file holding the API token (the one `hale run --api-token-file` reads). Without
    /// it, the token is read from the HALE_API_TOKEN environment variable.
    #[arg(long, value_name = "FILE", env = "HALE_API_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// What `hale get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetResource {
    /// The policies in force (alias: policy, hp).
    #[value(alias = "policy", alias = "hp")]
    Policies,
    /// Every target of every policy (alias: target).
    #[value(alias = "target")]
    Targets,
    /// The newest audit records (alias: event).
    #[value(alias = "event")]
    Events,
}

/// What `hale describe` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DescribeResource {
    /// A policy (alias: policies, hp).
    #[value(alias = "policies", alias = "hp")]
    Policy,
    /// A target: its state in each policy and its recent records (alias: targets).
    #[value(alias = "targets")]
    Target,
}

/// How `hale get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GetFormat {
    /// A table.
    Table,
    /// A table with more columns.
    Wide,
    /// The API's JSON.
    Json,
    /// The API's answer as YAML.
    Yaml,
}

/// Options of `hale events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// The state directory of the hale whose audit log to read.
    #[command(flatten)]
    pub state: StateDir,
    /// Only this policy.
    #[arg(long)]
    pub policy: Option<String>,
    /// Only this target (container name or ID prefix).
    #[arg(long)]
    pub target: Option<String>,
    /// Only these kinds (failing, action_started, action_succeeded, action_failed, dry_run,
    /// recovered, cooldown_skip, circuit_open, quarantined, skipped, ...) or actions
    /// (restart, recreate, ...). Repeatable, or comma-separated: `--kind a,b`. A name
    /// that is neither is an error, not an empty answer.
    #[arg(long)]
    pub kind: Vec<String>,
    /// Only records newer than this: a duration ("1h") or an RFC 3339 time, with its
    /// offset ("2026-11-23T10:00:00Z", "2026-11-23T12:00:00+02:00"). With --follow, those
    /// are printed first.
    #[arg(long, value_name = "WHEN", value_parser = since)]
    pub since: Option<String>,
    /// At most this many (the newest); default 50. With --follow, the last N are printed
    /// before the new ones (default: none, only new records); 0 prints none.
    #[arg(short = 'n', long, value_name = "N")]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Stream new records from the running controller (--server) as they happen.
    #[arg(short, long)]
    pub follow: bool,
    /// With --follow: the controller to follow.
    #[command(flatten)]
    pub server: ServerArg,
    /// Read the whole fleet's audit trail (every node's records, each with its node) from
    /// the fleet's Redis instead of this host's state directory.
    #[command(flatten)]
    pub fleet: crate::fleet::FleetStoreArgs,
}

/// The `--state-dir` option, shared by every command that reads or writes hale's state.
#[derive(Debug, clap::Args)]
pub struct StateDir {
    /// hale's state directory: remediation state, audit log, operator requests.
    #[arg(
        long = "state-dir",
        default_value = "state",
        value_name = "DIR",
        env = "HALE_STATE_DIR"
    )]
    pub path: PathBuf,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// JSON objects, one per line.
    Json,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Human,
    /// One JSON document for tools.
    Json,
}

/// `hale import`: another healer's configuration, as hale resources.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// willfarrell/autoheal: its environment (AUTOHEAL_CONTAINER_LABEL, AUTOHEAL_INTERVAL,
    /// AUTOHEAL_START_PERIOD, AUTOHEAL_DEFAULT_STOP_TIMEOUT, AUTOHEAL_ONLY_MONITOR_RUNNING,
    /// WEBHOOK_URL, WEBHOOK_JSON_KEY, APPRISE_URL) becomes a HealPolicy and a Notifier per
    /// URL, each commented with what the setting became or why it has no equivalent.
    ///
    /// Reads --env-file, or else this process's environment. Lists the containers it selects now. Prints the files, or writes
    /// them into --out (never over an existing file unless --force). Every file is checked
    /// as `hale validate` would before anything is written.
    #[command(
        after_help = "Examples:\n  hale import willfarrell --env-file autoheal.env\n  \
hale import willfarrell --env-file autoheal.env --out policies/\n  \
docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' autoheal > autoheal.env"
    )]
    Willfarrell {
        /// The env file autoheal was started with (`docker run --env-file`, Compose's
        /// `env_file`). Default: the environment of this command.
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// Write the files into this directory (created if missing) instead of printing them.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Overwrite files that exist in --out.
        #[arg(long)]
        force: bool,
        /// Do not ask Docker (found as `hale run` finds it: DOCKER_HOST, the Docker context,
        /// or the local socket) which running containers
        /// the policy selects; by default the policy file lists them, with their
        /// `autoheal.stop.timeout` labels and those without a HEALTHCHECK.
        #[arg(long)]
        no_docker: bool,
    },
    /// An alert-driven healer's table (alertname → the command it ran on that alert)
    /// becomes one HealPolicy per alert, each commented with what its entry became.
    ///
    /// The table is a YAML or JSON map; an entry is a command, or an object with
    /// `command` and `cooldownSec` (→ remediation.cooldown), or the older `action` with
    /// `container`/`containers`. Commands are read as words, never run:
    /// `docker restart X Y` → restart the containers named X and Y;
    /// `docker compose -p P restart A B` → restart those services of Compose project P;
    /// `docker compose -p P up -d --force-recreate A` → recreate; `docker stop X && docker
    /// start X` → stopStart. Anything else (a script, a pipeline, a compose command without
    /// -p, whose project the table does not say) is listed as not imported, with the reason.
    ///
    /// The alerts name no container, so each policy's rule has `targetSelected: true`: while
    /// it fires, every container the policy selects is failing. Prints the file, or writes
    /// it into --out (never over an existing file unless --force), checked as `hale
    /// validate` would before anything is written.
    #[command(after_help = "Example table (alert-actions.yaml):\n  \
HighLatency: docker restart web api\n  \
ShopDown: {command: \"docker compose -p shop restart web worker\", cooldownSec: 300}\n  \
StaleCache: {command: \"docker compose -p shop up -d --force-recreate cache\"}\n  \
DiskFull: {command: /usr/local/bin/cleanup.sh}     # not imported: hale runs no scripts\n  \
Legacy: {action: restart, container: legacy-app}\n\n\
Examples:\n  hale import alert-actions alert-actions.yaml\n  \
hale import alert-actions alert-actions.yaml --out policies/ && hale validate policies/")]
    AlertActions {
        /// The table: a YAML or JSON map of alertname to command or entry object.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Write the file into this directory (created if missing) instead of printing it.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Overwrite a file that exists in --out.
        #[arg(long)]
        force: bool,
    },
    /// AutoHEAL, the Coolify site healer: its JSON config (enabled, failureThreshold,
    /// failureWindowSec, skipWhenDeploying, cooldownSec, redeployDelaySec,
    /// redeployAfterRestart, enabledSites) becomes one HealPolicy with a site, a Coolify
    /// application and an HTTP HEAD probe per enabled site, commented with what each
    /// setting became and where hale differs.
    ///
    /// Reads --file, or the key in --redis. Each site's URL is its application's domain in
    /// Coolify (GET /api/v1/applications/{uuid} with COOLIFY_API_TOKEN, the https one
    /// first), or --site UUID=URL. Prints the file, or writes it into --out (never over an
    /// existing file unless --force). It is checked as `hale validate --strict` would
    /// before anything is written.
    #[command(after_help = "Examples:
  hale import coolify-autoheal --redis redis://:PASSWORD@127.0.0.1:6379/0 --out policies/
  hale import coolify-autoheal --file autoheal.json --no-coolify --site k4w8ockgs0co4c88s4wkcgsc=https://shop.example.com
  redis-cli GET infra:autoheal:config > autoheal.json")]
    CoolifyAutoheal(CoolifyAutohealArgs),
}

/// Options of `hale import coolify-autoheal`.
#[derive(Debug, clap::Args)]
pub struct CoolifyAutohealArgs {
    /// AutoHEAL's config as a JSON file.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "redis",
        required_unless_present = "redis"
    )]
    pub file: Option<PathBuf>,
    /// The Redis AutoHEAL kept its config in: redis://[:password@]host:port/db.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// The key of the config in --redis.
    #[arg(long, value_name = "KEY", default_value = crate::import_coolify::DEFAULT_KEY, requires = "redis")]
    pub key: String,
    /// A site's URL, instead of its domain in Coolify (repeatable).
    #[arg(long = "site", value_name = "UUID=URL", value_parser = crate::import_coolify::site_arg)]
    pub sites: Vec<(String, String)>,
    /// Do not ask Coolify for the sites' domains: every site then needs a --site.
    #[arg(long)]
    pub no_coolify: bool,
    /// Coolify's API as AutoHEAL had it, `/api/v1` included; the sites' `coolify.url` is
    /// it without `/api/v1`. The token is read from COOLIFY_API_TOKEN.
    #[arg(long, value_name = "URL", env = "COOLIFY_API_URL")]
    pub coolify_api_url: Option<String>,
    /// Write the file into this directory (created if missing) instead of printing it.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite a file that exists in --out.
    #[arg(long)]
    pub force: bool,
}
