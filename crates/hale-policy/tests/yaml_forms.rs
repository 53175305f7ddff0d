//! YAML as people write it loads; YAML that must not load is refused with `file:line:col`.

use hale_policy::load_str;

const HEADER: &str = "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\n";

fn loads(text: &str) -> hale_policy::PolicySet {
    let report = load_str("policies/web.yaml", text);
    let messages: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
    assert!(!report.has_errors(), "{messages:?}");
    report.set
}

fn refused(text: &str) -> Vec<String> {
    let report = load_str("policies/web.yaml", text);
    assert!(report.has_errors(), "accepted: {text:?}");
    assert!(report.set.policies.is_empty());
    report.diagnostics.iter().map(ToString::to_string).collect()
}

#[test]
fn merge_keys_and_aliases_share_a_probe_definition() {
    let set = loads(&format!(
        "{HEADER}spec:\n  selector: {{matchLabels: {{app: web}}}}\n  probes:\n    - &http\n      name: http\n      httpGet: {{path: /healthz, port: 8080}}\n      period: 10s\n    - <<: *http\n      name: slow-http\n      period: 30s\n"
    ));
    let probes = &set.policies[0].resource.spec.probes;
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[1].name, "slow-http");
    assert_eq!(probes[1].period.to_string(), "30s");
    assert_eq!(probes[1].http_get.as_ref().unwrap().port, Some(8080));
    // A field that came through the merge is found where the merge is.
    assert_eq!(set.policies[0].position("spec.probes[1].httpGet").line, 11);
}

#[test]
fn a_byte_order_mark_and_crlf_line_ends_are_read() {
    let text = format!("\u{feff}{HEADER}spec:\n  selector: {{matchLabels: {{app: web}}}}\n")
        .replace('\n', "\r\n");
    assert_eq!(loads(&text).policies[0].resource.metadata.name, "web");
}

#[test]
fn json_written_as_yaml_is_read() {
    let text = r#"{"apiVersion": "hale.dev/v1alpha1", "kind": "HealPolicy", "metadata": {"name": "web"},
      "spec": {"selector": {"matchLabels": {"app": "web"}}, "remediation": {"maxUnhealthy": "40%"}}}"#;
    let set = loads(text);
    assert_eq!(
        set.policies[0]
            .resource
            .spec
            .remediation
            .max_unhealthy
            .map(|m| m.to_string()),
        Some("40%".to_owned())
    );
}

#[test]
fn empty_documents_and_comment_only_files_are_nothing() {
    let set = loads(&format!(
        "# header comment\n---\n---\n{HEADER}spec:\n  selector: {{matchLabels: {{app: web}}}}\n---\n# trailing\n"
    ));
    assert_eq!(set.policies.len(), 1);
    assert!(loads("").policies.is_empty());
    assert!(loads("# nothing yet\n").policies.is_empty());
}

#[test]
fn unquoted_label_values_are_the_text_written() {
    let set = loads(&format!(
        "{HEADER}spec:\n  selector: {{matchLabels: {{autoheal: true, version: 1.10, zone: 007}}}}\n"
    ));
    let labels = &set.policies[0]
        .resource
        .spec
        .selector
        .as_ref()
        .unwrap()
        .match_labels;
    assert_eq!(labels["autoheal"], "true");
    assert_eq!(labels["version"], "1.10");
    assert_eq!(labels["zone"], "007");
}

#[test]
fn what_was_refused_before_is_still_refused_with_a_position() {
    let spec = "spec:\n  selector: {matchLabels: {app: web}}\n";
    assert_eq!(
        refused(&format!("{HEADER}{spec}  mode: Enforce\n  mode: DryRun\n")),
        [
            "policies/web.yaml:7:3: invalid YAML: duplicate key \"mode\" (each key may appear once in a mapping)"
        ]
    );
    assert_eq!(
        refused(&format!("{HEADER}{spec}  moed: DryRun\n")),
        [
            "policies/web.yaml:6:3: spec.moed: unknown field `moed`, expected one of `selector`, `sites`, `probes`, `alerts`, `remediation`, `mode`, `notify`, `scope`, `identityLabel` (fields are case-sensitive; see `hale explain`)"
        ]
    );
    let tab = refused(&format!("{HEADER}spec:\n\tselector: {{}}\n"));
    assert!(
        tab[0].starts_with("policies/web.yaml:5:") && tab[0].ends_with("indent YAML with spaces"),
        "{tab:?}"
    );
    let garbage = refused("\u{0}\u{1}\u{2}\u{7f}ELF");
    assert!(
        garbage[0].starts_with("policies/web.yaml:1:1: invalid YAML: "),
        "{garbage:?}"
    );
    let deep = refused(&format!(
        "{HEADER}spec: {}{}\n",
        "[".repeat(40),
        "]".repeat(40)
    ));
    assert!(
        deep[0].starts_with("policies/web.yaml:4:")
            && deep[0].ends_with("nested more than 32 levels deep; policies never need that"),
        "{deep:?}"
    );
}
