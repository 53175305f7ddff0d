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

/// hale's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
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

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Human,
    /// One JSON document for tools.
    Json,
}
