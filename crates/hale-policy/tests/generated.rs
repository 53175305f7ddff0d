//! The committed JSON Schema and policy reference match what the code generates.
//!
//! After changing the model, regenerate both with `HALE_BLESS=1 cargo test -p hale-policy
//! --test generated` and commit the result.

use std::path::PathBuf;

fn repository_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn check_current(relative: &str, generated: &str) {
    let path = repository_file(relative);
    if std::env::var_os("HALE_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        committed == generated,
        "{relative} is out of date with the code; regenerate it with \
         `HALE_BLESS=1 cargo test -p hale-policy --test generated` and commit it"
    );
}

#[test]
fn the_committed_json_schema_is_current() {
    check_current(
        "docs/schema/healpolicy.v1alpha1.json",
        &hale_policy::schema::json_schema_text(),
    );
}

#[test]
fn the_committed_policy_reference_is_current() {
    check_current(
        "docs/policy-reference.md",
        &hale_policy::schema::reference_markdown(),
    );
}

#[test]
fn the_schema_is_draft_07_and_covers_both_kinds() {
    let schema = hale_policy::schema::json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let definitions = schema["definitions"].as_object().unwrap();
    for kind in [
        "HealPolicy",
        "Notifier",
        "Probe",
        "Remediation",
        "SecretRef",
    ] {
        assert!(definitions.contains_key(kind), "missing definition {kind}");
    }
    assert_eq!(
        definitions["HealPolicy"]["properties"]["kind"]["const"],
        "HealPolicy"
    );
    assert_eq!(
        definitions["HealPolicy"]["additionalProperties"],
        serde_json::Value::Bool(false)
    );
}

#[test]
fn every_field_in_the_schema_is_documented() {
    let schema = hale_policy::schema::json_schema();
    let mut undocumented = Vec::new();
    for (name, definition) in schema["definitions"].as_object().unwrap() {
        if let Some(properties) = definition["properties"].as_object() {
            for (field, property) in properties {
                let described = property.get("description").is_some()
                    || property
                        .get("$ref")
                        .is_some_and(|r| r.as_str().is_some_and(|r| r.contains("definitions")));
                if !described {
                    undocumented.push(format!("{name}.{field}"));
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented fields: {undocumented:?}"
    );
}

#[test]
fn explain_finds_nested_fields_through_lists_and_reports_unknown_ones() {
    let explanation = hale_policy::schema::explain("healpolicy.spec.probes.period").unwrap();
    assert_eq!(explanation.type_name, "Duration");
    assert_eq!(explanation.default.as_deref(), Some("10s"));
    let mode = hale_policy::schema::explain("HealPolicy.spec.mode").unwrap();
    assert_eq!(mode.allowed, ["Enforce", "DryRun"]);
    let error = hale_policy::schema::explain("healpolicy.spec.remedation").unwrap_err();
    assert_eq!(
        error.to_string(),
        "field \"remedation\" does not exist in spec (fields: selector, sites, probes, alerts, remediation, mode, notify, scope, identityLabel)"
    );
}
