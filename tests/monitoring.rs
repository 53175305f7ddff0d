//! The monitoring kit under `monitoring/`: the Prometheus rules pass `promtool check
//! rules`, every alert tells an operator what it means and what to do, and the rules and
//! the Grafana dashboard only query metrics that hale exports.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// The metrics hale serves on `GET /metrics`.
const EXPORTED: &[&str] = &[
    "hale_actions_total",
    "hale_targets",
    "hale_cooldown_remaining_seconds",
    "hale_probe_duration_seconds",
    "hale_probe_results_total",
    "hale_reaction_seconds",
    "hale_enabled",
    "hale_dry_run",
    "hale_last_event_timestamp_seconds",
    "hale_policy_reload_total",
    "hale_docker_connected",
    "hale_build_info",
];

/// The exported metrics that are histograms (and so also have `_bucket`, `_sum` and
/// `_count` series).
const HISTOGRAMS: &[&str] = &["hale_probe_duration_seconds", "hale_reaction_seconds"];

/// The root of the repository, where `monitoring/` lives.
fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of a file under the repository root.
fn read(relative: &str) -> String {
    let path = repository().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The rules file, parsed.
fn rules() -> serde_json::Value {
    serde_saphyr::from_str(&read("monitoring/prometheus/hale-rules.yml"))
        .expect("hale-rules.yml is YAML")
}

/// The dashboard, parsed.
fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read("monitoring/grafana/hale-dashboard.json"))
        .expect("hale-dashboard.json is JSON")
}

/// Every rule of every group in the rules file.
fn all_rules(rules: &serde_json::Value) -> Vec<&serde_json::Value> {
    let groups = rules["groups"]
        .as_array()
        .expect("the rules file has groups");
    groups
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("every group has rules"))
        .collect()
}

/// The names of the recording rules the rules file defines (`hale:...`).
fn recorded_names(rules: &serde_json::Value) -> BTreeSet<String> {
    all_rules(rules)
        .into_iter()
        .filter_map(|rule| rule["record"].as_str().map(str::to_owned))
        .collect()
}

/// Whether a byte can be part of a Prometheus metric name.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b':'
}

/// Every whole word of `text` that starts with `prefix` and continues with bytes
/// accepted by `continues` (so `hale_[a-z_]+` is `words(text, "hale_", ...)`).
fn words(text: &str, prefix: &str, continues: fn(u8) -> bool) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut found = BTreeSet::new();
    let mut start = 0;
    while let Some(offset) = text[start..].find(prefix) {
        let at = start + offset;
        let mut end = at + prefix.len();
        while end < bytes.len() && continues(bytes[end]) {
            end += 1;
        }
        let whole_word = at == 0 || !is_name_byte(bytes[at - 1]);
        if whole_word && end > at + prefix.len() {
            found.insert(text[at..end].to_owned());
        }
        start = end;
    }
    found
}

/// The `hale_[a-z_]+` metric names used in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    words(text, "hale_", |byte| {
        byte.is_ascii_lowercase() || byte == b'_'
    })
}

/// The `hale:...` recording-rule names used in `text`.
fn recording_names(text: &str) -> BTreeSet<String> {
    words(text, "hale:", |byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b':'
    })
}

/// Whether `name` is an exported metric or a series of an exported histogram.
fn is_exported(name: &str) -> bool {
    EXPORTED.contains(&name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| HISTOGRAMS.contains(&base))
        })
}

/// The query strings of the dashboard: panel targets' `expr`, and the templating
/// variables' `query` and `definition`.
fn dashboard_queries(value: &serde_json::Value, queries: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("expr" | "query" | "definition", serde_json::Value::String(text)) => {
                        queries.push(text.clone());
                    }
                    _ => dashboard_queries(item, queries),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                dashboard_queries(item, queries);
            }
        }
        _ => {}
    }
}

#[test]
fn promtool_accepts_the_rules() {
    let root = repository();
    let output = match Command::new("promtool")
        .args(["check", "rules", "monitoring/prometheus/hale-rules.yml"])
        .current_dir(&root)
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "`promtool` is not on PATH, so the Prometheus rules cannot be checked; \
             install it with `apt-get install prometheus` (it ships promtool) and run again"
        ),
        Err(error) => panic!("cannot run promtool: {error}"),
    };
    assert!(
        output.status.success(),
        "promtool check rules failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_rules_and_the_dashboard_only_use_exported_metrics() {
    let rules_text = read("monitoring/prometheus/hale-rules.yml");
    let recorded = recorded_names(&rules());
    assert!(
        !recorded.is_empty(),
        "the rules file defines recording rules"
    );
    for name in &recorded {
        assert!(
            name.starts_with("hale:"),
            "recording rule {name} is named hale:..."
        );
    }

    let mut queries = Vec::new();
    dashboard_queries(&dashboard(), &mut queries);
    assert!(!queries.is_empty(), "the dashboard has queries");

    let mut sources = vec![("hale-rules.yml", rules_text)];
    sources.extend(
        queries
            .into_iter()
            .map(|query| ("hale-dashboard.json", query)),
    );
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for (file, text) in &sources {
        for name in metric_names(text) {
            if !is_exported(&name) {
                unknown.push(format!("{file}: {name}"));
            }
            used.insert(name);
        }
        for name in recording_names(text) {
            if !recorded.contains(&name) {
                unknown.push(format!(
                    "{file}: {name} (not a recording rule of hale-rules.yml)"
                ));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "unknown metric names:\n{}",
        unknown.join("\n")
    );
    assert!(
        used.contains("hale_reaction_seconds_bucket") && used.contains("hale_targets"),
        "the kit queries hale's metrics: {used:?}"
    );
}

#[test]
fn every_alert_has_a_severity_a_summary_and_a_description() {
    let rules = rules();
    let alerts: Vec<_> = all_rules(&rules)
        .into_iter()
        .filter(|rule| rule["alert"].is_string())
        .collect();
    assert!(!alerts.is_empty(), "the rules file has alerts");
    for alert in alerts {
        let name = alert["alert"].as_str().unwrap_or_default();
        let severity = alert["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{name}: labels.severity is critical, warning or info, not {severity:?}"
        );
        for annotation in ["summary", "description"] {
            let text = alert["annotations"][annotation]
                .as_str()
                .unwrap_or_default();
            assert!(
                !text.trim().is_empty(),
                "{name}: annotations.{annotation} is set"
            );
        }
    }
}

#[test]
fn the_dashboard_has_a_datasource_input_and_a_policy_variable() {
    let dashboard = dashboard();
    assert_eq!(dashboard["schemaVersion"], 39);
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    let policy = variables
        .iter()
        .find(|variable| variable["name"] == "policy")
        .expect("a `policy` variable");
    assert_eq!(policy["definition"], "label_values(hale_targets, policy)");
}
