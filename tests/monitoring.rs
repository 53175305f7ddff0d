//! The monitoring kit under `monitoring/`: the Prometheus rules pass `promtool check
//! rules`, every alert tells an operator what it means and what to do, and the rules and
//! the Grafana dashboard only query metrics that a running hale really serves, and the
//! series their `increase()` alerts watch exist at 0 before the first event.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{TestDocker, Workspace, http};

/// What a freshly started hale serves on `GET /metrics` while it watches one healthy
/// container with a probe and has a notifier, before anything has gone wrong: the text,
/// once per test binary.
fn scrape() -> &'static str {
    static SCRAPED: OnceLock<String> = OnceLock::new();
    SCRAPED.get_or_init(|| {
        let docker = TestDocker::new("monitoring");
        docker.run("app", &["--init"], &["sleep", "1000000"]);
        let mut policy = docker.policy(
            "kit",
            "  probes:\n    - {name: alive, exec: {command: [\"true\"]}, period: 1s, timeout: 500ms}\n  alerts:\n    - {matchLabels: {alertname: KitDown}}\n",
        );
        // Nothing is ever sent to it: it is here for its series.
        policy.push_str(&format!(
            "---\napiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n",
            common::free_port()
        ));
        let workspace = Workspace::new(&policy);
        let hale = workspace.start(&[], &[]);
        let api = hale.api();
        // Per-target and per-probe series appear once the first probe has run.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (status, text) = http("GET", &format!("{api}/metrics"), None, None);
            assert_eq!(status, 200, "{text}");
            let complete = text.contains("hale_probe_results_total{")
                && text.contains("hale_cooldown_remaining_seconds{")
                && text.contains("hale_notification_queue_depth{");
            assert!(
                complete || std::time::Instant::now() < deadline,
                "no probe or target series after 20 s:\n{text}"
            );
            if complete {
                assert!(hale.stop().success());
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    })
}

/// The metric names `/metrics` serves, with the `_bucket`, `_sum` and `_count` series of its
/// histograms.
fn exported() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape().lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let Some((name, kind)) = rest.split_once(' ') else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

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
        // autoheal:... are the replaced healer's names, kept for its users' dashboards.
        assert!(
            name.starts_with("hale:") || name.starts_with("autoheal:"),
            "recording rule {name} is named hale:... (or autoheal:..., for migrating users)"
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
    let exported = exported();
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for (file, text) in &sources {
        for name in metric_names(text) {
            if !exported.contains(&name) {
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

/// The `increase(NAME{label="value", ...}` selectors of `text`: (name, exact matchers).
fn increase_selectors(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("increase(") {
        let rest = &text[at + "increase(".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut matchers = Vec::new();
        if let Some(inside) = rest[name.len()..]
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map(|(inside, _)| inside)
        {
            for matcher in inside.split(',') {
                if let Some((label, value)) = matcher.split_once("=\"")
                    && !label.ends_with(['!', '=', '~'])
                {
                    matchers.push((
                        label.trim().to_owned(),
                        value.trim_end_matches('"').to_owned(),
                    ));
                }
            }
        }
        found.push((name, matchers));
    }
    found
}

#[test]
fn the_alerts_fire_as_their_promtool_unit_tests_expect() {
    let output = Command::new("promtool")
        .args(["test", "rules", "hale-rules.test.yml"])
        .current_dir(repository().join("monitoring/prometheus"))
        .output()
        .expect("`promtool` is not on PATH: install it with `apt-get install prometheus` (.ci/run does)");
    assert!(
        output.status.success(),
        "promtool test rules failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_series_an_increase_alert_watches_exists_at_zero_before_the_first_event() {
    let selectors = increase_selectors(&read("monitoring/prometheus/hale-rules.yml"));
    assert!(
        selectors.len() >= 2,
        "the rules use increase(): {selectors:?}"
    );
    for (name, matchers) in selectors {
        let zero = scrape().lines().any(|line| {
            let Some(rest) = line.strip_prefix(name.as_str()) else {
                return false;
            };
            let (labels, value) = rest.rsplit_once(' ').unwrap_or(("", rest));
            matchers
                .iter()
                .all(|(label, expected)| labels.contains(&format!("{label}=\"{expected}\"")))
                && value == "0"
        });
        assert!(
            zero,
            "increase({name}{{{matchers:?}}}) watches a series a fresh hale does not serve at 0:\n{}",
            scrape()
        );
    }
}

#[test]
fn the_build_info_metric_the_kit_uses_is_served() {
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        scrape().contains(&format!("hale_build_info{{version=\"{version}\"}} 1")),
        "{}",
        scrape()
    );
}

#[test]
fn every_rule_has_a_promtool_unit_test() {
    let tests = read("monitoring/prometheus/hale-rules.test.yml");
    let rules = rules();
    let mut untested = Vec::new();
    for rule in all_rules(&rules) {
        let (name, needle) = match (rule["record"].as_str(), rule["alert"].as_str()) {
            (Some(record), _) => (record, format!("expr: {record}")),
            (_, Some(alert)) => (alert, format!("alertname: {alert}")),
            _ => continue,
        };
        if !tests.contains(&needle) {
            untested.push(name.to_owned());
        }
    }
    assert!(
        untested.is_empty(),
        "rules without a test in monitoring/prometheus/hale-rules.test.yml: {untested:?}"
    );
}
