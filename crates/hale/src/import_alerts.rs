//! `hale import alert-actions`: turns an alert-driven healer's table (alertname → the
//! command it ran, a YAML or JSON map) into HealPolicy resources to review, one per alert,
//! with comments that say what each entry became or why it has no equivalent. Never a
//! shell command: a command is read as words, and only the Docker and Compose commands
//! that have a hale action become one (see [`docker_command`]).
//!
//! Those alerts name no container, so each policy's alert rule has `targetSelected: true`:
//! while the alert fires, it marks every container the policy selects failing. The output
//! is checked by the loader `hale validate` uses before anything is written.

mod docker_command;

use std::collections::BTreeSet;
use std::path::Path;

use hale_policy::yaml_value::YamlValue;
use hale_policy::{Action, Position};
use serde::Deserialize;

use crate::import::{ImportError, ImportedFile, check, quoted};
use docker_command::{Mapped, NotImported, Selection, container_name_problem, describe};

/// The file the import writes.
const FILE_NAME: &str = "alert-actions.yaml";

/// The widest comment line the import writes.
const COMMENT_WIDTH: usize = 90;

/// hale's cooldown when an entry sets no `cooldownSec`.
const DEFAULT_COOLDOWN: &str = "30s";

/// Reads the table at `path`.
///
/// # Errors
/// [`ImportError::ReadTable`] when it cannot be read.
pub fn read_table(path: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(path).map_err(|source| ImportError::ReadTable {
        path: path.display().to_string(),
        source,
    })
}

/// The HealPolicy file an alert-actions table becomes; `file` names the table in messages
/// and comments.
///
/// # Errors
/// [`ImportError::Table`] (with the line and column) when the text is not a map of
/// alertname to a command or an entry object; [`ImportError::NothingImported`] when no
/// entry has a hale equivalent; [`ImportError::Invalid`] if the result does not validate
/// (a bug).
pub fn alert_actions(file: &str, text: &str) -> Result<Vec<ImportedFile>, ImportError> {
    let entries = read_entries(file, text)?;
    let not_imported: Vec<String> = entries
        .iter()
        .filter_map(|entry| {
            let why = entry.mapping.as_ref().err()?;
            Some(format!("  {}: {why}", entry.alertname))
        })
        .collect();
    if not_imported.len() == entries.len() {
        return Err(ImportError::NothingImported {
            file: file.to_owned(),
            reasons: not_imported.join("\n"),
        });
    }
    let files = vec![ImportedFile {
        name: FILE_NAME.to_owned(),
        text: render(file, &entries),
    }];
    check(&files)?;
    Ok(files)
}

/// One entry of the table: its alert, how it was written, and what it became.
struct Entry {
    alertname: String,
    /// The entry as the table wrote it, on one line.
    written: String,
    cooldown_sec: Option<u64>,
    mapping: Result<Mapped, NotImported>,
}

/// An entry written as an object rather than a bare command.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EntryObject {
    command: Option<String>,
    action: Option<String>,
    container: Option<String>,
    containers: Option<Vec<String>>,
    cooldown_sec: Option<u64>,
}

/// Reads the table's entries, in its order.
fn read_entries(file: &str, text: &str) -> Result<Vec<Entry>, ImportError> {
    let error = |position: Position, message: String| ImportError::Table {
        file: file.to_owned(),
        position,
        message,
    };
    const EXPECTED: &str =
        "expected a map of alertname to action, e.g. `HighLatency: docker restart web`";
    let mut documents = hale_policy::yaml::parse(text).map_err(|failure| {
        error(
            failure.position,
            format!("invalid YAML: {}", failure.message),
        )
    })?;
    if let Some(second) = documents.get(1) {
        return Err(error(
            second.index.start,
            "a second document: the table is one map of alertname to action".to_owned(),
        ));
    }
    let Some(document) = documents.pop() else {
        return Err(error(
            Position { line: 1, column: 1 },
            format!("the table is empty: {EXPECTED}"),
        ));
    };
    let index = document.index;
    let YamlValue::Mapping(items) = document.value else {
        return Err(error(
            index.start,
            format!("{EXPECTED}, found {}", kind(&document.value)),
        ));
    };
    let mut entries = Vec::with_capacity(items.len());
    for (alertname, value) in items {
        let at_key = index.key_position(&alertname);
        let at_value = index.value_position(&alertname);
        if alertname.trim().is_empty() {
            return Err(error(at_key, "an empty alertname".to_owned()));
        }
        let entry = match value {
            YamlValue::Scalar(scalar) => Entry {
                written: one_line(&scalar.text),
                mapping: docker_command::map_command(&scalar.text),
                alertname,
                cooldown_sec: None,
            },
            YamlValue::Mapping(fields) => {
                let written = fields
                    .iter()
                    .map(|(key, value)| format!("{key}: {}", written_value(value)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let object: EntryObject = serde_path_to_error::deserialize(YamlValue::Mapping(
                    fields,
                ))
                .map_err(|problem| {
                    let field = problem.path().to_string();
                    let path = format!("{alertname}.{field}");
                    let position = if field == "." {
                        at_key
                    } else if problem.inner().to_string().starts_with("unknown field") {
                        index.key_position(&path)
                    } else {
                        index.value_position(&path)
                    };
                    error(position, format!("{alertname}: {}", problem.inner()))
                })?;
                let mapping = object_mapping(&object)
                    .map_err(|message| error(at_key, format!("{alertname}: {message}")))?;
                Entry {
                    written: format!("{{{written}}}"),
                    mapping,
                    alertname,
                    cooldown_sec: object.cooldown_sec,
                }
            }
            other => {
                return Err(error(
                    at_value,
                    format!(
                        "{alertname}: expected a command or {{command: ..., cooldownSec: ...}}, found {}",
                        kind(&other)
                    ),
                ));
            }
        };
        entries.push(entry);
    }
    Ok(entries)
}

/// Why an entry object's fields do not agree: the table is wrong there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum EntryConflict {
    /// Both `container` and `containers`.
    #[error("set container or containers, not both")]
    ContainerAndContainers,
    /// Both `command` and `action`.
    #[error("set command or action, not both")]
    CommandAndAction,
    /// A command with `container(s)`.
    #[error("container and containers go with action; a command names its own containers")]
    CommandWithContainers,
    /// An action without `container(s)`.
    #[error("action needs container or containers")]
    ActionWithoutContainers,
    /// Neither a command nor an action.
    #[error(
        "needs command (a docker command) or action (restart, stopStart, recreate) with container"
    )]
    Nothing,
}

/// What an entry object says, once its fields agree (`Err`: they do not, a bad table);
/// inside, `Err` is an entry with no hale equivalent.
fn object_mapping(object: &EntryObject) -> Result<Result<Mapped, NotImported>, EntryConflict> {
    let names = match (&object.container, &object.containers) {
        (Some(_), Some(_)) => return Err(EntryConflict::ContainerAndContainers),
        (Some(one), None) => Some(vec![one.clone()]),
        (None, many) => many.clone(),
    };
    match (&object.command, &object.action, names) {
        (Some(_), Some(_), _) => Err(EntryConflict::CommandAndAction),
        (Some(_), None, Some(_)) => Err(EntryConflict::CommandWithContainers),
        (Some(command), None, None) => Ok(docker_command::map_command(command)),
        (None, Some(_), None) => Err(EntryConflict::ActionWithoutContainers),
        (None, Some(action), Some(names)) => Ok(legacy_action(action, names)),
        (None, None, _) => Err(EntryConflict::Nothing),
    }
}

/// The older `{action, container(s)}` form.
fn legacy_action(action: &str, names: Vec<String>) -> Result<Mapped, NotImported> {
    let action = match action {
        "restart" => Action::Restart,
        "recreate" => Action::Recreate,
        "stopStart" | "stop-start" | "stop_start" => Action::StopStart,
        other => {
            return Err(NotImported::UnknownAction {
                action: other.to_owned(),
            });
        }
    };
    if names.is_empty() {
        return Err(NotImported::NoContainers);
    }
    if let Some(problem) = names.iter().find_map(|n| container_name_problem(n)) {
        return Err(problem);
    }
    Ok(Mapped {
        selection: Selection::Names(names),
        action,
        notes: Vec::new(),
    })
}

/// What a YAML node is, for messages.
fn kind(value: &YamlValue) -> &'static str {
    match value {
        YamlValue::Null => "nothing",
        YamlValue::Scalar(_) => "a scalar",
        YamlValue::Sequence(_) => "a list",
        YamlValue::Mapping(_) => "a map",
    }
}

/// A field's value as the table wrote it, for the comments.
fn written_value(value: &YamlValue) -> String {
    match value {
        YamlValue::Null => String::new(),
        YamlValue::Scalar(scalar) => one_line(&scalar.text),
        YamlValue::Sequence(items) => format!(
            "[{}]",
            items
                .iter()
                .map(written_value)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        YamlValue::Mapping(_) => "{...}".to_owned(),
    }
}

/// `text` on one line, so it stays inside a comment.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A valid, unique `metadata.name` for the policy of `alertname`: `HighLatency` becomes
/// `high-latency`, `HTTPDown` `http-down`.
fn policy_name(alertname: &str, taken: &mut BTreeSet<String>) -> String {
    let chars: Vec<char> = alertname.chars().collect();
    let mut name = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            let previous = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let word_starts = c.is_ascii_uppercase()
                && previous.is_some_and(|p| {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
                });
            if word_starts && !name.ends_with('-') {
                name.push('-');
            }
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut base: String = name.trim_matches('-').chars().take(240).collect();
    base = base.trim_end_matches('-').to_owned();
    if base.is_empty() {
        base = "alert".to_owned();
    }
    let mut candidate = base.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

/// The file: a header that lists every entry, then one policy per imported entry.
fn render(file: &str, entries: &[Entry]) -> String {
    let mut taken = BTreeSet::new();
    let named: Vec<(&Entry, Option<String>)> = entries
        .iter()
        .map(|entry| {
            let name = entry
                .mapping
                .is_ok()
                .then(|| policy_name(&entry.alertname, &mut taken));
            (entry, name)
        })
        .collect();
    let mut header = vec![
        format!("# Imported from the alert-actions table {file} by `hale import alert-actions`."),
        "# Review, then put it in hale's policy directory (hale validate checks it). Route the"
            .to_owned(),
        "# alerts to hale's Alertmanager webhook (/api/v1/alertmanager, with send_resolved: true;"
            .to_owned(),
        "# hale run needs --api-token-file for it). What each entry became:".to_owned(),
        "#".to_owned(),
    ];
    for (entry, name) in &named {
        header.extend(wrapped(&match &entry.mapping {
            Ok(mapped) => format!(
                "{} -> policy {}: {} {}",
                entry.alertname,
                name.as_deref().unwrap_or_default(),
                action_verb(mapped.action),
                describe(&mapped.selection)
            ),
            Err(why) => format!("{} -> not imported: {why}.", entry.alertname),
        }));
    }
    header.extend(
        [
            "#",
            "# These alerts name no container, so each policy's rule has targetSelected: true: while",
            "# its alert fires, every container the policy selects is failing. hale heals them as any",
            "# failing target, within the limits the table lacked: a retry only on a notification",
            "# after the last action, backoff (10s doubling to 5m), and quarantine after 5 actions",
            "# within 1h.",
        ]
        .map(str::to_owned),
    );
    let policies: Vec<String> = named
        .iter()
        .filter_map(|(entry, name)| {
            let mapped = entry.mapping.as_ref().ok()?;
            Some(policy(entry, mapped, name.as_deref()?))
        })
        .collect();
    format!("{}\n\n{}", header.join("\n"), policies.join("---\n"))
}

/// `text` as comment lines of at most [`COMMENT_WIDTH`] characters (a longer word stays
/// whole), indented under the entry they are about.
fn wrapped(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = "#  ".to_owned();
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > COMMENT_WIDTH && line.trim_end().len() > 5 {
            lines.push(line);
            line = "#    ".to_owned();
        }
        line.push(' ');
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// How the header says an action.
fn action_verb(action: Action) -> &'static str {
    match action {
        Action::Restart => "restart",
        Action::StopStart => "stop then start",
        Action::Recreate => "recreate",
        _ => "act on",
    }
}

/// One policy, with comments that say what its entry became.
fn policy(entry: &Entry, mapped: &Mapped, name: &str) -> String {
    let mut lines = vec![format!("# {}: {}", entry.alertname, entry.written)];
    lines.extend(wrapped(&format!(
        "-> {} {}, when {} fires (selector, alerts[].targetSelected).",
        action_verb(mapped.action),
        describe(&mapped.selection),
        entry.alertname
    )));
    for note in &mapped.notes {
        lines.extend(wrapped(&format!("{note}.")));
    }
    lines.extend(wrapped(&match entry.cooldown_sec {
        Some(seconds) => format!("cooldownSec: {seconds} -> remediation.cooldown: {seconds}s."),
        None => format!("no cooldownSec -> hale's default cooldown, {DEFAULT_COOLDOWN}."),
    }));
    lines.extend([
        "apiVersion: hale.dev/v1alpha1".to_owned(),
        "kind: HealPolicy".to_owned(),
        "metadata:".to_owned(),
        format!("  name: {name}"),
        "  annotations:".to_owned(),
        format!(
            "    hale.dev/description: {}",
            quoted(&format!(
                "{}: imported from an alert-actions table",
                entry.alertname
            ))
        ),
        "spec:".to_owned(),
        "  selector:".to_owned(),
    ]);
    let list = |items: &[String]| {
        items
            .iter()
            .map(|item| quoted(item))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &mapped.selection {
        Selection::Names(names) => lines.push(format!("    names: [{}]", list(names))),
        Selection::Compose { project, services } => {
            lines.push("    compose:".to_owned());
            lines.push(format!("      project: {}", quoted(project)));
            match services.as_slice() {
                [] => {}
                [service] => lines.push(format!("      service: {}", quoted(service))),
                several => {
                    lines.push("    matchExpressions:".to_owned());
                    lines.push("      - key: com.docker.compose.service".to_owned());
                    lines.push("        operator: In".to_owned());
                    lines.push(format!("        values: [{}]", list(several)));
                }
            }
        }
    }
    let action = match mapped.action {
        Action::StopStart => "stopStart",
        Action::Recreate => "recreate",
        _ => "restart",
    };
    let cooldown = entry
        .cooldown_sec
        .map_or_else(|| DEFAULT_COOLDOWN.to_owned(), |s| format!("{s}s"));
    lines.extend([
        "  alerts:".to_owned(),
        "    - matchLabels:".to_owned(),
        format!("        alertname: {}", quoted(&entry.alertname)),
        "      targetSelected: true".to_owned(),
        "  probes:".to_owned(),
        "    # Only the alert decides, as in the table: with no probes, hale would also judge these"
            .to_owned(),
        "    # containers by their HEALTHCHECK and unexpected exits. Remove this probe for that."
            .to_owned(),
        "    - name: alert-only".to_owned(),
        "      exit: {nonZero: false, oomKilled: false}".to_owned(),
        "  remediation:".to_owned(),
        "    steps:".to_owned(),
        format!("      - action: {action}"),
        "        attempts: 3".to_owned(),
        format!("    cooldown: {cooldown}"),
        "  mode: Enforce".to_owned(),
    ]);
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file for `text`, its wrapped comments joined back into one line each.
    fn import(text: &str) -> String {
        let files = alert_actions("table.yaml", text).expect("imports");
        assert_eq!(files.len(), 1);
        let long: Vec<&str> = files[0]
            .text
            .lines()
            .filter(|line| line.trim_start().starts_with('#') && line.len() > COMMENT_WIDTH)
            .collect();
        assert!(long.is_empty(), "comments are wrapped: {long:#?}");
        files[0].text.replace("\n#     ", " ")
    }

    fn policies(text: &str) -> Vec<hale_policy::HealPolicy> {
        let report = hale_policy::load_str("out.yaml", text);
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        report
            .set
            .policies
            .into_iter()
            .map(|p| p.resource)
            .collect()
    }

    fn refused(text: &str) -> String {
        alert_actions("table.yaml", text)
            .expect_err("refused")
            .to_string()
    }

    const TABLE: &str = r#"HighLatency: docker restart web api
ShopDown: {command: "docker compose -p shop restart web worker", cooldownSec: 300}
StaleCache: {command: "docker compose -p shop up -d --force-recreate cache"}
DiskFull: {command: "/usr/local/bin/cleanup.sh"}
Legacy: {action: restart, container: legacy-app}
"#;

    #[test]
    fn each_entry_becomes_a_policy_of_its_alert_or_a_comment_saying_why_not() {
        let text = import(TABLE);
        let policies = policies(&text);
        let names: Vec<&str> = policies.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(
            names,
            ["high-latency", "shop-down", "stale-cache", "legacy"]
        );
        for policy in &policies {
            assert_eq!(policy.spec.mode, hale_policy::Mode::Enforce);
            let rule = &policy.spec.alerts[0];
            assert!(rule.target_selected && rule.target_label.is_none());
            assert_eq!(rule.match_labels.len(), 1);
        }
        let [latency, shop, cache, legacy] = policies.as_slice() else {
            unreachable!()
        };
        assert_eq!(
            latency.spec.alerts[0].match_labels["alertname"],
            "HighLatency"
        );
        let selector = latency.spec.selector.as_ref().unwrap();
        assert_eq!(selector.names, ["web", "api"]);
        assert_eq!(latency.spec.remediation.steps[0].action, Action::Restart);

        let selector = shop.spec.selector.as_ref().unwrap();
        assert_eq!(selector.compose.as_ref().unwrap().project, "shop");
        assert_eq!(selector.compose.as_ref().unwrap().service, None);
        assert_eq!(
            selector.match_expressions[0].key,
            "com.docker.compose.service"
        );
        assert_eq!(selector.match_expressions[0].values, ["web", "worker"]);
        assert_eq!(shop.spec.remediation.cooldown.to_string(), "5m");

        let selector = cache.spec.selector.as_ref().unwrap();
        assert_eq!(
            selector.compose.as_ref().unwrap().service.as_deref(),
            Some("cache")
        );
        assert_eq!(cache.spec.remediation.steps[0].action, Action::Recreate);
        assert_eq!(cache.spec.remediation.cooldown.to_string(), "30s");

        assert_eq!(legacy.spec.selector.as_ref().unwrap().names, ["legacy-app"]);

        assert!(
            text.contains("#   DiskFull -> not imported: `/usr/local/bin/cleanup.sh` is not a Docker command: hale runs no shell commands; serve it behind an HTTP endpoint and call that from an `action: webhook` step."),
            "{text}"
        );
        assert!(text.contains("#   cooldownSec: 300 -> remediation.cooldown: 300s."));
        assert!(text.contains("#   no cooldownSec -> hale's default cooldown, 30s."));
        assert!(
            text.contains(
                "#   HighLatency -> policy high-latency: restart the containers web, api\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_json_table_reads_as_the_yaml_one() {
        let json = r#"{"HighLatency": "docker restart -t 20 web", "Legacy": {"action": "stopStart", "containers": ["a", "b"]}}"#;
        let text = import(json);
        let policies = policies(&text);
        assert_eq!(policies[0].spec.selector.as_ref().unwrap().names, ["web"]);
        assert!(text.contains("hale.dev/stop-timeout=20"), "{text}");
        assert_eq!(
            policies[1].spec.remediation.steps[0].action,
            Action::StopStart
        );
        assert_eq!(
            policies[1].spec.selector.as_ref().unwrap().names,
            ["a", "b"]
        );
    }

    #[test]
    fn policy_names_are_valid_and_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(policy_name("HighLatency", &mut taken), "high-latency");
        assert_eq!(policy_name("HTTPDown", &mut taken), "http-down");
        assert_eq!(policy_name("high_latency", &mut taken), "high-latency-2");
        assert_eq!(policy_name("Disk Full!", &mut taken), "disk-full");
        assert_eq!(policy_name("Node5xxRate", &mut taken), "node5xx-rate");
        assert_eq!(policy_name("!!!", &mut taken), "alert");
    }

    #[test]
    fn a_bad_table_is_refused_with_where() {
        for (text, expected) in [
            ("", "table.yaml:1:1: the table is empty"),
            (
                "- docker restart web\n",
                "table.yaml:1:1: expected a map of alertname to action",
            ),
            (
                "A: docker restart web\nA: docker restart api\n",
                "table.yaml:2:1: invalid YAML",
            ),
            (
                "Ok: docker restart web\nNone:\n",
                "table.yaml:2:5: None: expected a command",
            ),
            (
                "Ok: docker restart web\nBad: {command: docker restart web, cooldown: 5}\n",
                "table.yaml:2:36: Bad: unknown field `cooldown`",
            ),
            (
                "Bad:\n  command: docker restart web\n  cooldownSec: soon\n",
                "table.yaml:3:16: Bad: invalid type: string \"soon\"",
            ),
            (
                "Bad: {command: docker restart web, action: restart}\n",
                "table.yaml:1:1: Bad: set command or action, not both",
            ),
            (
                "Bad: {action: restart}\n",
                "table.yaml:1:1: Bad: action needs container or containers",
            ),
            ("A: x\n---\nB: y\n", "table.yaml:3:1: a second document"),
        ] {
            let error = refused(text);
            assert!(error.starts_with(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_table_with_nothing_hale_can_do_writes_nothing_and_says_why() {
        let error = refused("DiskFull: /usr/local/bin/cleanup.sh\nStop: docker stop web\n");
        assert!(
            error.starts_with("nothing in table.yaml maps to a hale action"),
            "{error}"
        );
        assert!(
            error.contains("  Stop: it stops the container web"),
            "{error}"
        );
    }

    #[test]
    fn unknown_legacy_actions_and_names_are_not_imported() {
        let text = import(
            "Ok: docker restart web\nOdd: {action: prune, container: x}\nBadName: {action: restart, container: \"a b\"}\n",
        );
        assert!(text.contains("#   Odd -> not imported: action \"prune\" has no hale equivalent"));
        assert!(text.contains("#   BadName -> not imported: \"a b\" is not a container name."));
        assert_eq!(policies(&text).len(), 1);
    }
}
