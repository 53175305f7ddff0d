//! Fuzz targets for the policy crate: each is a generator of inputs and a check that
//! panics when a property fails. `tests/fuzz.rs` runs them at proptest's default case
//! count; the `fuzz` benchmark of hale-server runs a million cases of each.

use hale_policy::conditions::{Condition, Observed};
use hale_policy::{Duration, HealPolicy, load_str};
use proptest::prelude::*;

/// A policy that validates, the fields filled from the generator.
const POLICY: &str = "apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata:
  name: @NAME@
spec:
  selector:
    matchLabels:
      @LABELS@
  probes:
    - name: http
      httpGet:
        path: @PATH@
        port: @PORT@
      period: @PERIOD@
      timeout: 1s
      failureThreshold: @FAILURES@
      conditions:
        - \"[STATUS] == @STATUS@\"
  remediation:
    steps:
      - action: restart
        attempts: @ATTEMPTS@
    cooldown: @COOLDOWN@
    maxUnhealthy: @PERCENT@%
  mode: @MODE@
";

/// The parts of a generated policy.
#[derive(Debug, Clone)]
pub struct PolicyParts {
    name: String,
    labels: Vec<(String, String)>,
    path: String,
    port: u16,
    period_secs: u64,
    failures: u32,
    status: u16,
    attempts: u32,
    cooldown_secs: u64,
    percent: u8,
    dry_run: bool,
}

impl PolicyParts {
    /// The policy as YAML text.
    pub fn yaml(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}: \"{v}\""))
            .collect();
        POLICY
            .replace("@NAME@", &self.name)
            .replace("@LABELS@", &labels.join("\n      "))
            .replace("@PATH@", &self.path)
            .replace("@PORT@", &self.port.to_string())
            .replace("@PERIOD@", &format!("{}s", self.period_secs))
            .replace("@FAILURES@", &self.failures.to_string())
            .replace("@STATUS@", &self.status.to_string())
            .replace("@ATTEMPTS@", &self.attempts.to_string())
            .replace("@COOLDOWN@", &format!("{}s", self.cooldown_secs))
            .replace("@PERCENT@", &self.percent.to_string())
            .replace("@MODE@", if self.dry_run { "DryRun" } else { "Enforce" })
    }
}

/// Valid policies: DNS-label names, label maps, probe and remediation numbers in range.
pub fn valid_policy() -> impl Strategy<Value = PolicyParts> {
    (
        "[a-z][a-z0-9-]{0,20}[a-z0-9]",
        prop::collection::btree_map("[a-z][a-z0-9.]{0,10}", "[a-zA-Z0-9_.-]{0,12}", 1..4),
        "/[a-z0-9/_-]{0,20}",
        1..=65535u16,
        2..3600u64,
        1..10u32,
        (100..600u16, 1..10u32, 0..3600u64, 1..=100u8, any::<bool>()),
    )
        .prop_map(|(name, labels, path, port, period_secs, failures, rest)| {
            let (status, attempts, cooldown_secs, percent, dry_run) = rest;
            PolicyParts {
                name,
                labels: labels.into_iter().collect(),
                path,
                port,
                period_secs,
                failures,
                status,
                attempts,
                cooldown_secs,
                percent,
                dry_run,
            }
        })
}

/// A valid policy loads without errors, and what it loads to, written back as YAML,
/// loads to the same policy.
pub fn check_policy_round_trip(parts: PolicyParts) {
    let text = parts.yaml();
    let first = only_policy(&text);
    assert_eq!(first.metadata.name, parts.name);
    let written = serde_saphyr::to_string(&first).expect("a loaded policy serializes");
    let second = only_policy(&written);
    assert_eq!(first, second, "round trip changed the policy:\n{written}");
}

fn only_policy(text: &str) -> HealPolicy {
    let report = load_str("fuzz.yaml", text);
    assert!(
        !report.has_errors(),
        "a valid policy was refused: {:?}\n{text}",
        report.diagnostics
    );
    assert_eq!(report.set.policies.len(), 1, "{text}");
    report.set.policies[0].resource.clone()
}

/// Text that is mostly YAML: a valid policy with bytes replaced, inserted and deleted,
/// or YAML-ish noise from the characters that matter to a YAML parser.
pub fn hostile_yaml() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0..3u8,
        "[\\PC\n:\\-\\[\\]{}&*!|>'\"%@`#,?]",
    );
    prop_oneof![
        (valid_policy(), prop::collection::vec(edit, 1..8)).prop_map(|(parts, edits)| {
            let mut text: Vec<char> = parts.yaml().chars().collect();
            for (at, kind, with) in edits {
                let at = at.index(text.len().max(1)).min(text.len());
                match kind {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 => text.splice(at..at, with.chars()).for_each(drop),
                    _ if at < text.len() => {
                        text.splice(at..=at, with.chars()).for_each(drop);
                    }
                    _ => text.extend(with.chars()),
                }
            }
            text.into_iter().collect()
        }),
        "([a-zA-Z0-9 :\\-\\[\\]{}&*!|>'\"%@`#,?\n]|apiVersion|kind|HealPolicy|spec|metadata|  ){0,200}",
    ]
}

/// Loading and validating any text never panics, says the same thing twice, and every
/// diagnostic has something to say.
pub fn check_load_never_panics(text: String) {
    let said = |report: &hale_policy::LoadReport| -> Vec<String> {
        report.diagnostics.iter().map(ToString::to_string).collect()
    };
    let first = load_str("fuzz.yaml", &text);
    let again = load_str("fuzz.yaml", &text);
    assert_eq!(said(&first), said(&again), "{text:?}");
    assert_eq!(first.set.policies.len(), again.set.policies.len());
    assert!(
        first.diagnostics.iter().all(|d| !d.message.is_empty()),
        "{text:?}"
    );
}

/// Conditions, mostly well formed: placeholders, functions, paths and operators put
/// together at random, with noise.
pub fn condition_text() -> impl Strategy<Value = String> {
    let subject = prop_oneof![
        Just("[STATUS]".to_owned()),
        Just("[RESPONSE_TIME]".to_owned()),
        Just("[CONNECTED]".to_owned()),
        Just("[CERTIFICATE_EXPIRATION]".to_owned()),
        "\\[BODY\\](\\.[a-z]{1,5}|\\[[0-9]{1,3}\\]){0,3}",
        "len\\(\\[BODY\\](\\.[a-z]{1,5}){0,2}\\)",
        "has\\(\\[BODY\\](\\.[a-z]{1,5}){0,2}\\)",
        "\\PC{0,12}",
    ];
    let operator = prop_oneof![
        Just("=="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">="),
        Just("="),
        Just(""),
    ];
    let expected = prop_oneof![
        "-?[0-9]{1,6}(\\.[0-9]{1,3})?",
        "[0-9]{1,4}(ms|s|m|h|d)",
        Just("true".to_owned()),
        Just("false".to_owned()),
        "any\\(([0-9a-z]{1,4}, ?){0,3}[0-9a-z]{1,4}\\)",
        "pat\\([a-z*?-]{0,8}\\)",
        "\\PC{0,12}",
    ];
    (subject, " {0,2}", operator, " {0,2}", expected)
        .prop_map(|(s, a, o, b, e)| format!("{s}{a}{o}{b}{e}"))
}

/// What a probe might have seen.
pub fn observed() -> impl Strategy<Value = Observed> {
    (
        prop::option::of(-1..1000i64),
        0..100_000u64,
        prop::option::of(prop_oneof![
            "\\PC{0,40}",
            "\\{\"[a-z]{1,5}\": (\"[a-z]{0,5}\"|[0-9]{1,4}|true|\\[1, 2\\]|\\{\"[a-z]\": 1\\})\\}",
        ]),
        prop::option::of(0..10_000_000u64),
        any::<bool>(),
    )
        .prop_map(|(status, millis, body, expiry, connected)| Observed {
            status,
            response_time: std::time::Duration::from_millis(millis),
            body,
            certificate_expiration: expiry.map(std::time::Duration::from_secs),
            connected,
        })
}

/// Parsing any condition never panics; one that parses keeps its text, and checking it
/// against anything a probe saw never panics and explains a miss with that text.
pub fn check_condition((text, seen): (String, Observed)) {
    let Ok(condition) = Condition::parse(&text) else {
        return;
    };
    assert_eq!(condition.text, text);
    if let Err(unmet) = seen.check(&condition) {
        assert_eq!(unmet.condition, text);
    }
}

/// Durations from nothing to about 30 years, at millisecond steps or finer.
pub fn duration() -> impl Strategy<Value = std::time::Duration> {
    prop_oneof![
        (0..1_000_000_000_000u64).prop_map(std::time::Duration::from_millis),
        (0..u64::MAX / 4, 0..1_000_000_000u32)
            .prop_map(|(s, n)| std::time::Duration::new(s % 1_000_000_000, n)),
    ]
}

/// A duration written the way hale writes it reads back as itself.
pub fn check_duration_round_trip(value: std::time::Duration) {
    let written = Duration::from(value).to_string();
    let read: Duration = written
        .parse()
        .unwrap_or_else(|e| panic!("{written:?} does not read back: {e}"));
    assert_eq!(read.as_std(), value, "{written}");
}

/// Duration-like text: numbers, units, spaces and noise.
pub fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "([0-9]{1,25} ?(ns|us|ms|s|m|h|d|w|M|y|min|sec|hours?|days?)? ?){0,4}",
        "\\PC{0,20}",
    ]
}

/// Parsing any duration text never panics, and what parses writes back to text that
/// parses to the same duration.
pub fn check_duration_parse(text: String) {
    if let Ok(parsed) = text.parse::<Duration>() {
        check_duration_round_trip(parsed.as_std());
    }
}
