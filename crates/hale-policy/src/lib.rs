//! The hale resource model: the `HealPolicy` and `Notifier` kinds, loading them from files
//! and directories with `file:line:col` diagnostics, semantic validation, defaults, and the
//! JSON Schema that editors and `hale explain` use.
//!
//! ```
//! let report = hale_policy::load_str("inline.yaml", r#"
//! apiVersion: hale.dev/v1alpha1
//! kind: HealPolicy
//! metadata: {name: web}
//! spec:
//!   selector: {matchLabels: {app: web}}
//! "#);
//! assert!(!report.has_errors());
//! assert_eq!(report.set.policies[0].resource.spec.remediation.steps.len(), 1);
//! ```

pub mod conditions;
mod diagnostic;
mod duration;
mod host;
mod load;
mod located;
mod max_unhealthy;
mod meta;
mod notifier;
mod policy;
pub mod redact;
mod reload;
pub mod schema;
mod scope;
mod secret;
mod selector;
mod tls;
mod validate;
pub mod yaml;
mod yaml_index;
pub mod yaml_value;

pub use diagnostic::{Diagnostic, Position, Severity};
pub use duration::{Duration, DurationParseError};
pub use host::{DiskProbe, FreeSpace, FreeSpaceParseError, ImagePrune, PruneAction, human_bytes};
pub use load::{LoadReport, MAX_FILE_BYTES, load_paths, load_str};
pub use located::{Located, PolicySet};
pub use max_unhealthy::{MIN_FAILURES_TO_OPEN, MaxUnhealthy};
pub use meta::{API_VERSION, ObjectMeta};
pub use notifier::{
    DiscordSink, EmailSink, Notifier, NotifierSpec, NtfySink, SlackSink, SmtpTls, TelegramSink,
    WebhookSink, is_loopback_host,
};
pub use policy::{
    Action, AlertRule, Backoff, CoolifyApplication, DEFAULT_TARGET_LABEL, DockerHealthProbe,
    EventKind, ExecProbe, ExitProbe, HeaderError, HealPolicy, HealPolicySpec, HttpGetProbe,
    HttpHeader, Mode, NotifyRoute, PERIODIC_FAILURE_THRESHOLD, Probe, ProbeMethod, Quarantine,
    Remediation, Scheme, Site, Step, TcpSocketProbe, WebhookAction, WebhookMethod,
};
pub use reload::{LastKnownGood, ReloadSummary};
pub use scope::{COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, Scope, replica_identity};
pub use secret::{SecretError, SecretRef, url_or_secret};
pub use selector::{
    ComposeSelector, LabelSelector, LabelSelectorRequirement, SelectorExclude, SelectorOperator,
    glob_matches,
};
pub use tls::TlsTrust;
pub use yaml_index::DocumentIndex;
