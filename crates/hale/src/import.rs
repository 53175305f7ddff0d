//! `hale import willfarrell`: turns willfarrell/autoheal's environment into HealPolicy and
//! Notifier files to review, with comments that say what maps to what and what has no
//! equivalent. Never a shell command: what autoheal ran becomes hale actions.
//!
//! The output is checked by the same loader `hale validate` and `hale run` use before it is
//! written, so an import never leaves a file hale would refuse.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// autoheal's variables and their defaults, as its Dockerfile sets them.
const DEFAULTS: [(&str, &str); 8] = [
    ("AUTOHEAL_CONTAINER_LABEL", "autoheal"),
    ("AUTOHEAL_START_PERIOD", "0"),
    ("AUTOHEAL_INTERVAL", "5"),
    ("AUTOHEAL_DEFAULT_STOP_TIMEOUT", "10"),
    ("AUTOHEAL_ONLY_MONITOR_RUNNING", "false"),
    ("WEBHOOK_URL", ""),
    ("WEBHOOK_JSON_KEY", "content"),
    ("APPRISE_URL", ""),
];

/// Variables autoheal reads that hale has no field for, and why.
const NO_EQUIVALENT: [(&str, &str); 4] = [
    (
        "POST_RESTART_SCRIPT",
        "hale runs no shell commands; route Remediated events to a webhook Notifier that triggers the script's job",
    ),
    (
        "CURL_TIMEOUT",
        "hale talks to the Docker API itself; a restart waits for the container's stop timeout",
    ),
    (
        "DOCKER_SOCK",
        "hale uses DOCKER_HOST (or /var/run/docker.sock); mount the same socket",
    ),
    (
        "TZ",
        "hale records times in UTC (RFC 3339); the dashboard shows them in the browser's zone",
    ),
];

/// Why an import could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The env file could not be read.
    #[error(
        "cannot read {path}: {source} (pass the env file autoheal's container was started with)"
    )]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// AutoHEAL's config file could not be read.
    #[error(
        "cannot read {path}: {source} (pass the JSON AutoHEAL kept in Redis, e.g. from redis-cli GET infra:autoheal:config, or --redis)"
    )]
    ReadConfig {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A variable has a value autoheal itself would not accept.
    #[error("{name}={value}: {expected}")]
    BadValue {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// The alert-actions table could not be read.
    #[error(
        "cannot read {path}: {source} (pass the alert-actions table: a YAML or JSON map of alertname to action)"
    )]
    ReadTable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The alert-actions table is not a map of alertname to action.
    #[error("{file}:{}:{}: {message}", position.line, position.column)]
    Table {
        /// The file.
        file: String,
        /// Where in it.
        position: hale_policy::Position,
        /// What is wrong there.
        message: String,
    },
    /// No entry of the alert-actions table has a hale equivalent.
    #[error("nothing in {file} maps to a hale action, so nothing was written:\n{reasons}")]
    NothingImported {
        /// The file.
        file: String,
        /// Each entry and why it is not imported, one a line.
        reasons: String,
    },
    /// What was generated does not load: a bug in the importer, never written.
    #[error(
        "the generated files do not validate (a bug in hale import; nothing was written):\n{0}"
    )]
    Invalid(String),
    /// Redis could not be asked for the config.
    #[error(
        "cannot read {key} from Redis at {address}: {source} (check --redis: redis://[:password@]host:port/db)"
    )]
    Redis {
        /// Where Redis was asked, without its password.
        address: String,
        /// The key.
        key: String,
        /// What the client said.
        source: redis::RedisError,
    },
    /// Redis answered, but has no such key.
    #[error(
        "Redis at {address} has no key {key} (pass --key with the key AutoHEAL kept its config in, or --file with the JSON)"
    )]
    MissingKey {
        /// Where Redis was asked, without its password.
        address: String,
        /// The key.
        key: String,
    },
    /// The key holds a list, hash or other non-string value.
    #[error(
        "{key} in Redis at {address} is a {kind}, not a string: AutoHEAL kept its config as one JSON string (SET {key} '{{...}}'); pass --key with that key"
    )]
    NotString {
        /// Where Redis was asked, without its password.
        address: String,
        /// The key.
        key: String,
        /// The value's type, as Redis's TYPE names it.
        kind: String,
    },
    /// The config is not JSON, or not a JSON object.
    #[error(
        "{origin} is not AutoHEAL's config: {problem} (expected a JSON object such as {{\"enabled\": true, \"enabledSites\": [\"<application uuid>\"]}})"
    )]
    BadJson {
        /// Where the text came from (the file, or the Redis key and address).
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A setting of the config has a value AutoHEAL would not accept either.
    #[error("{origin}: {field} is {value}, expected {expected}")]
    BadSetting {
        /// Where the config came from.
        origin: String,
        /// The setting, e.g. `failureThreshold`.
        field: &'static str,
        /// Its value, as JSON.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// The config watches no site.
    #[error(
        "{origin}: enabledSites is empty or missing, so AutoHEAL watched no site and there is nothing to import"
    )]
    NoSites {
        /// Where the config came from.
        origin: String,
    },
    /// A `--site` names an application the config does not watch.
    #[error("--site {uuid}: not one of enabledSites ({known}); check the UUID")]
    UnknownSite {
        /// The UUID given.
        uuid: String,
        /// The config's enabledSites.
        known: String,
    },
    /// A site has no URL, and Coolify was not asked for one.
    #[error(
        "no URL for site {uuid}: pass --site {uuid}=https://... (or set COOLIFY_API_URL and COOLIFY_API_TOKEN, without --no-coolify, to take it from Coolify)"
    )]
    NoSiteUrl {
        /// The application's UUID.
        uuid: String,
    },
    /// Coolify could not tell the application's domain.
    #[error(
        "cannot ask Coolify for the domain of application {uuid}: {source} (or pass --site {uuid}=URL)"
    )]
    Coolify {
        /// The application's UUID.
        uuid: String,
        /// What went wrong, worded as what to fix.
        source: hale_reconciler::CoolifyError,
    },
    /// Coolify knows the application, but it has no http(s) domain.
    #[error(
        "Coolify has no http(s) domain for application {uuid} (its fqdn is {fqdn:?}); give it one in Coolify, or pass --site {uuid}=URL"
    )]
    NoDomain {
        /// The application's UUID.
        uuid: String,
        /// Coolify's `fqdn`, as it answered.
        fqdn: String,
    },
}

impl ImportError {
    /// True when what was asked is wrong (a file, a key, a value, a flag): exit status 2.
    /// Otherwise a service failed, or the importer has a bug: exit status 1.
    pub fn is_usage(&self) -> bool {
        !matches!(
            self,
            Self::Invalid(_) | Self::Redis { .. } | Self::Coolify { .. }
        )
    }
}

/// One file the import writes: its name and YAML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    /// The file name, e.g. `autoheal.yaml`.
    pub name: String,
    /// The YAML, with comments.
    pub text: String,
}

/// Reads `KEY=VALUE` lines as `docker run --env-file` and Compose's `.env` do: `#`
/// comments and blank lines skipped, an optional `export `, values optionally quoted.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let unquoted = [('"', '"'), ('\'', '\'')]
                .iter()
                .find_map(|(open, close)| {
                    value
                        .strip_prefix(*open)
                        .and_then(|v| v.strip_suffix(*close))
                })
                .unwrap_or(value);
            Some((key.trim().to_owned(), unquoted.to_owned()))
        })
        .collect()
}

/// Reads the env file at `path`.
///
/// # Errors
/// [`ImportError::Read`] when it cannot be read.
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>, ImportError> {
    std::fs::read_to_string(path)
        .map(|text| parse_env_file(&text))
        .map_err(|source| ImportError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// The autoheal variables (and the ones hale has no equivalent for) in the environment.
pub fn from_process_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(key, _)| {
            key.starts_with("AUTOHEAL_")
                || DEFAULTS.iter().any(|(name, _)| name == key)
                || NO_EQUIVALENT.iter().any(|(name, _)| name == key)
        })
        .collect()
}

/// Quotes `value` as a YAML double-quoted scalar (JSON's string syntax is YAML's).
pub(crate) fn quoted(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The files willfarrell/autoheal's `env` becomes: the policy, and a Notifier for each of
/// `WEBHOOK_URL` and `APPRISE_URL` that is set.
///
/// # Errors
/// [`ImportError::BadValue`] for a value autoheal would not accept either;
/// [`ImportError::Invalid`] if the result does not validate (a bug).
pub fn willfarrell(env: &BTreeMap<String, String>) -> Result<Vec<ImportedFile>, ImportError> {
    let get = |name: &str| {
        env.get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .or_else(|| DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d))
            .unwrap_or("")
    };
    let seconds = |name: &str| -> Result<u64, ImportError> {
        get(name).parse().map_err(|_| ImportError::BadValue {
            name: name.to_owned(),
            value: get(name).to_owned(),
            expected: "a whole number of seconds",
        })
    };
    let label = get("AUTOHEAL_CONTAINER_LABEL");
    let interval = seconds("AUTOHEAL_INTERVAL")?;
    let start_period = seconds("AUTOHEAL_START_PERIOD")?;
    let stop_timeout = seconds("AUTOHEAL_DEFAULT_STOP_TIMEOUT")?;
    let only_running = get("AUTOHEAL_ONLY_MONITOR_RUNNING");
    if !["true", "false"].contains(&only_running) {
        return Err(ImportError::BadValue {
            name: "AUTOHEAL_ONLY_MONITOR_RUNNING".into(),
            value: only_running.into(),
            expected: "true or false",
        });
    }

    let mut notifiers = Vec::new();
    let mut files = Vec::new();
    if !get("WEBHOOK_URL").is_empty() {
        let key = get("WEBHOOK_JSON_KEY");
        let body = format!("{{{}: \"{{{{message}}}}\"}}", quoted(key));
        files.push(notifier_file(
            "autoheal-webhook",
            "WEBHOOK_URL",
            &format!("WEBHOOK_URL with WEBHOOK_JSON_KEY={key}: the message goes in that key"),
            &body,
        ));
        notifiers.push(("WEBHOOK_URL", "autoheal-webhook"));
    }
    if !get("APPRISE_URL").is_empty() {
        files.push(notifier_file(
            "autoheal-apprise",
            "APPRISE_URL",
            "APPRISE_URL: Apprise's API takes a title and a body, as autoheal sent them",
            "{\"title\": \"Autoheal\", \"body\": \"{{message}}\"}",
        ));
        notifiers.push(("APPRISE_URL", "autoheal-apprise"));
    }

    let mut text = String::new();
    let mut line = |s: &str| {
        text.push_str(s);
        text.push('\n');
    };
    line("# Imported from willfarrell/autoheal by `hale import willfarrell`. Review, then put it");
    line("# in hale's policy directory (hale validate checks it). What each setting became:");
    line("#");
    if label == "all" {
        line("#   AUTOHEAL_CONTAINER_LABEL=all -> selector.all: true. autoheal skipped containers");
        line(
            "#     labelled autoheal=false, and so does the exclude below; hale never selects its",
        );
        line("#     own container. List your databases in exclude.names too.");
    } else {
        line(&format!(
            "#   AUTOHEAL_CONTAINER_LABEL={label} -> selector.matchLabels {{{label}: \"true\"}}"
        ));
    }
    line(&format!(
        "#   AUTOHEAL_INTERVAL={interval} -> nothing to set: hale acts on Docker's health_status event"
    ));
    line("#     at once instead of polling, and relists every --resync (60s) as a safety net.");
    if start_period == 0 {
        line("#   AUTOHEAL_START_PERIOD=0 -> nothing to set.");
    } else {
        line(&format!(
            "#   AUTOHEAL_START_PERIOD={start_period} -> probes[].startPeriod: {start_period}s. autoheal waited once,"
        ));
        line("#     at its own start; hale gives every container this grace after it starts.");
    }
    if stop_timeout == 10 {
        line("#   AUTOHEAL_DEFAULT_STOP_TIMEOUT=10 -> hale's default as well.");
    } else {
        line(&format!(
            "#   AUTOHEAL_DEFAULT_STOP_TIMEOUT={stop_timeout} -> no host-wide setting in hale: it uses the label"
        ));
        line("#     autoheal.stop.timeout (or hale.dev/stop-timeout), then the container's own");
        line(&format!(
            "#     --stop-timeout, then 10s. Label the containers that need {stop_timeout}s."
        ));
    }
    line("#   autoheal.stop.timeout (per-container label) -> read by hale as it is.");
    line(&format!(
        "#   AUTOHEAL_ONLY_MONITOR_RUNNING={only_running} -> nothing to set: hale never revives a container an"
    ));
    line("#     operator stopped (docker stop is intent), and judges health only while it runs.");
    for (variable, notifier) in &notifiers {
        line(&format!(
            "#   {variable} -> the Notifier {notifier} (its file), told of each restart, failure and quarantine."
        ));
    }
    for (name, why) in NO_EQUIVALENT {
        if let Some(value) = env.get(name).filter(|v| !v.is_empty()) {
            line(&format!("#   {name}={value} -> not imported: {why}."));
        }
    }
    for name in env.keys().filter(|key| {
        key.starts_with("AUTOHEAL_") && !DEFAULTS.iter().any(|(known, _)| known == *key)
    }) {
        line(&format!(
            "#   {name} -> not imported: not one of willfarrell/autoheal's settings."
        ));
    }
    line(
        "#   restart forever, every interval -> the limits autoheal lacks: CrashLoopBackOff pacing",
    );
    line("#     (10s doubling to 5m), quarantine after 5 restarts within 1h, and no restarts when");
    line("#     more than half of the selected containers are unhealthy at once.");
    line("apiVersion: hale.dev/v1alpha1");
    line("kind: HealPolicy");
    line("metadata:");
    line("  name: autoheal");
    line("  annotations:");
    line("    hale.dev/description: Imported from willfarrell/autoheal");
    line("spec:");
    line("  selector:");
    if label == "all" {
        line("    all: true");
        line("    exclude:");
        line("      names: [\"autoheal\"]");
        line("      matchLabels:");
        line("        autoheal: \"false\"");
    } else {
        line("    matchLabels:");
        line(&format!("      {}: \"true\"", quoted(label)));
    }
    line("  probes:");
    line("    - name: docker-health");
    line("      dockerHealth: {}");
    if start_period > 0 {
        line(&format!("      startPeriod: {start_period}s"));
    }
    line("  remediation:");
    line("    steps:");
    line("      - action: restart");
    line("        attempts: 5");
    line("        timeout: 1m");
    line("    cooldown: 10s");
    line("    backoff:");
    line("      initial: 10s");
    line("      max: 5m");
    line("      resetAfter: 10m");
    line("    maxUnhealthy: 50%");
    line("    quarantine:");
    line("      after: 5");
    line("      within: 1h");
    line("  mode: Enforce");
    if !notifiers.is_empty() {
        line("  notify:");
        for (_, notifier) in &notifiers {
            line(&format!("    - notifier: {notifier}"));
            line("      on: [Remediated, Failed, Quarantined]");
        }
    }
    files.insert(
        0,
        ImportedFile {
            name: "autoheal.yaml".into(),
            text,
        },
    );
    check(&files)?;
    Ok(files)
}

/// Adds to the policy file (the first) which of `containers` it selects now, as hale will
/// select them, with their `autoheal.stop.timeout` labels and those that have no
/// HEALTHCHECK (never unhealthy, for autoheal and hale alike).
pub fn describe_containers(
    files: &mut [ImportedFile],
    containers: &[hale_core::ContainerSnapshot],
) {
    let Some(policy) = files.first_mut() else {
        return;
    };
    let report = hale_policy::load_str("imported.yaml", &policy.text);
    let Some(selector) = report
        .set
        .policies
        .first()
        .and_then(|p| p.resource.spec.selector.clone())
    else {
        return;
    };
    let mut selected: Vec<&hale_core::ContainerSnapshot> = containers
        .iter()
        .filter(|c| selector.matches(&c.name, &c.labels))
        .collect();
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    let mut block = format!(
        "#\n# On this host now, it selects {} of {} containers:\n",
        selected.len(),
        containers.len()
    );
    for container in &selected {
        let timeout = container
            .labels
            .get("autoheal.stop.timeout")
            .map(|t| format!(", autoheal.stop.timeout={t}"))
            .unwrap_or_default();
        let health = if container.health.is_some() {
            ""
        } else {
            " (no HEALTHCHECK: never unhealthy, so never restarted; add one)"
        };
        let _ = writeln!(block, "#   {}{timeout}{health}", container.name);
    }
    if let Some(at) = policy
        .text
        .find("apiVersion: hale.dev/v1alpha1\nkind: HealPolicy")
    {
        policy.text.insert_str(at, &block);
    }
}

/// A webhook Notifier whose URL comes from the environment variable autoheal read it from
/// (URLs of chat webhooks hold tokens: they stay out of the files).
fn notifier_file(name: &str, variable: &str, what: &str, body: &str) -> ImportedFile {
    let text = format!(
        "# Imported from willfarrell/autoheal's {what}.\n\
# The URL is read from the environment of hale run, as autoheal read it: set {variable}\n\
# there (it often holds a token, so it stays out of this file).\n\
apiVersion: hale.dev/v1alpha1\n\
kind: Notifier\n\
metadata:\n  name: {name}\n\
spec:\n  webhook:\n    urlFrom:\n      fromEnv: {variable}\n    bodyTemplate: '{}'\n",
        body.replace('\'', "''")
    );
    ImportedFile {
        name: format!("{name}.yaml"),
        text,
    }
}

/// The files as one multi-document YAML stream: what the import prints without `--out`,
/// and what it checks.
pub fn joined(files: &[ImportedFile]) -> String {
    let texts: Vec<&str> = files.iter().map(|f| f.text.as_str()).collect();
    texts.join("---\n")
}

/// Loads the files together, as `hale validate DIR` would: errors refuse them.
pub(crate) fn check(files: &[ImportedFile]) -> Result<(), ImportError> {
    check_as(files, false)
}

/// Loads the files together, as `hale validate --strict DIR` would: warnings refuse them
/// too.
pub(crate) fn check_strict(files: &[ImportedFile]) -> Result<(), ImportError> {
    check_as(files, true)
}

fn check_as(files: &[ImportedFile], strict: bool) -> Result<(), ImportError> {
    let report = hale_policy::load_str("imported.yaml", &joined(files));
    let problems: Vec<String> = report
        .diagnostics
        .iter()
        .filter(|d| strict || d.is_error())
        .map(ToString::to_string)
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Invalid(problems.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn spec_of(text: &str) -> hale_policy::HealPolicySpec {
        let report = hale_policy::load_str("x.yaml", text);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        report.set.policies[0].resource.spec.clone()
    }

    #[test]
    fn autoheals_defaults_become_the_shipped_policy() {
        let files = willfarrell(&BTreeMap::new()).expect("imports");
        assert_eq!(
            files.len(),
            1,
            "no notifier without WEBHOOK_URL or APPRISE_URL"
        );
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/autoheal.yaml"
        ))
        .expect("shipped policy");
        assert_eq!(spec_of(&files[0].text), spec_of(&shipped));
    }

    #[test]
    fn the_label_all_and_the_notifiers_are_mapped_and_secrets_stay_in_the_environment() {
        let files = willfarrell(&env(&[
            ("AUTOHEAL_CONTAINER_LABEL", "all"),
            ("AUTOHEAL_START_PERIOD", "30"),
            ("WEBHOOK_URL", "https://hooks.example/T0K3N"),
            ("APPRISE_URL", "http://apprise:8000/notify"),
            ("POST_RESTART_SCRIPT", "/bin/notify.sh"),
        ]))
        .expect("imports");
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "autoheal.yaml",
                "autoheal-webhook.yaml",
                "autoheal-apprise.yaml"
            ]
        );
        let all = joined(&files);
        let spec = spec_of(&all);
        let selector = spec.selector.expect("selector");
        assert!(selector.all);
        let exclude = selector.exclude.expect("exclude");
        assert_eq!(
            exclude.match_labels.get("autoheal").map(String::as_str),
            Some("false")
        );
        assert_eq!(spec.probes[0].start_period.as_std().as_secs(), 30);
        assert_eq!(spec.notify.len(), 2);
        assert!(
            files[0]
                .text
                .contains("POST_RESTART_SCRIPT=/bin/notify.sh -> not imported")
        );
        assert!(
            !files.iter().any(|f| f.text.contains("T0K3N")),
            "the URL's token is not written"
        );
        assert!(files[1].text.contains("{\"content\": \"{{message}}\"}"));
    }

    #[test]
    fn a_custom_label_and_a_bad_value() {
        let files = willfarrell(&env(&[("AUTOHEAL_CONTAINER_LABEL", "heal-me")])).expect("imports");
        let selector = spec_of(&files[0].text).selector.expect("selector");
        assert_eq!(
            selector.match_labels.get("heal-me").map(String::as_str),
            Some("true")
        );
        let error = willfarrell(&env(&[("AUTOHEAL_INTERVAL", "soon")])).expect_err("refused");
        assert!(
            error.to_string().contains("AUTOHEAL_INTERVAL=soon"),
            "{error}"
        );
    }

    #[test]
    fn the_containers_it_selects_now_are_listed_with_their_stop_timeouts() {
        let container = |name: &str, labels: &[(&str, &str)], health: bool| {
            let mut c =
                hale_core::ContainerSnapshot::new(name, name, hale_core::ContainerStatus::Running);
            c.labels = labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            c.health = health.then_some(hale_core::HealthStatus::Healthy);
            c
        };
        let mut files = willfarrell(&BTreeMap::new()).expect("imports");
        describe_containers(
            &mut files,
            &[
                container(
                    "web",
                    &[("autoheal", "true"), ("autoheal.stop.timeout", "20")],
                    true,
                ),
                container("cron", &[("autoheal", "true")], false),
                container("db", &[], true),
            ],
        );
        let text = &files[0].text;
        assert!(text.contains("it selects 2 of 3 containers"), "{text}");
        assert!(
            text.contains("#   web, autoheal.stop.timeout=20\n"),
            "{text}"
        );
        assert!(text.contains("#   cron (no HEALTHCHECK"), "{text}");
        assert!(!text.contains("#   db"), "{text}");
        check(&files).expect("still valid");
    }

    #[test]
    fn env_files_are_read_as_docker_reads_them() {
        let env = parse_env_file(
            "# autoheal\nexport AUTOHEAL_INTERVAL=10\nWEBHOOK_URL=\"https://x/y\"\n\nAUTOHEAL_CONTAINER_LABEL='all'\n",
        );
        assert_eq!(env.get("AUTOHEAL_INTERVAL").map(String::as_str), Some("10"));
        assert_eq!(
            env.get("WEBHOOK_URL").map(String::as_str),
            Some("https://x/y")
        );
        assert_eq!(
            env.get("AUTOHEAL_CONTAINER_LABEL").map(String::as_str),
            Some("all")
        );
    }
}
