//! `failureWindow`: `failureThreshold` failures within the window confirm a failure,
//! consecutive or not (the replaced site healer's "2 within 120 s").

use std::collections::BTreeMap;
use std::time::Duration;

use hale_core::Timestamp;
use hale_policy::HealPolicySpec;
use hale_reconciler::{Assessment, ProbeTrack, assess_policy_target};

const T0: Timestamp = Timestamp(1_800_000_000_000);

fn at(seconds: u64) -> Timestamp {
    T0.plus(Duration::from_secs(seconds))
}

/// A site `shop` probed every 10 s, failing at 2 failures within `window`.
fn spec(window: &str) -> HealPolicySpec {
    let text = format!(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: shop}}\nspec:\n  sites:\n  - name: shop\n    url: https://shop.example.com\n  probes:\n  - name: http\n    siteRef: shop\n    httpGet: {{}}\n    period: 10s\n    failureThreshold: 2\n{window}  remediation:\n    steps: [{{action: notify}}]\n"
    );
    let report = hale_policy::load_str("shop.yaml", &text);
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report.set.policies[0].resource.spec.clone()
}

/// The tally after `outcomes` (seconds after T0, passed?).
fn tally(spec: &HealPolicySpec, outcomes: &[(u64, bool)]) -> ProbeTrack {
    let mut track = ProbeTrack::default();
    for (second, success) in outcomes {
        track.record(
            &spec.probes[0],
            *success,
            at(*second),
            if *success { "" } else { "HTTP 503" },
        );
    }
    track
}

fn failing(spec: &HealPolicySpec, track: &ProbeTrack, now: u64) -> bool {
    let tracks = BTreeMap::from([("http".to_owned(), track.clone())]);
    matches!(
        assess_policy_target(spec, "site:shop", &tracks, None, at(now)),
        Assessment::Failing(_)
    )
}

#[test]
fn two_failures_within_the_window_confirm_a_failure_with_passes_between() {
    let windowed = spec("    failureWindow: 2m\n");
    let track = tally(
        &windowed,
        &[(0, false), (10, true), (20, true), (30, false)],
    );
    assert!(failing(&windowed, &track, 31), "{track:?}");
    // Without a window the same outcomes are never two in a row.
    let consecutive = spec("");
    let track = tally(
        &consecutive,
        &[(0, false), (10, true), (20, true), (30, false)],
    );
    assert!(!failing(&consecutive, &track, 31), "{track:?}");
}

#[test]
fn a_failure_older_than_the_window_no_longer_counts() {
    let windowed = spec("    failureWindow: 2m\n");
    let track = tally(&windowed, &[(0, false), (10, true), (130, false)]);
    assert!(!failing(&windowed, &track, 131), "{track:?}");
    assert_eq!(track.recent_failures, [at(130)]);
}

#[test]
fn a_recovery_starts_the_next_episode_with_no_failures_counted() {
    let windowed = spec("    failureWindow: 2m\n");
    let track = tally(
        &windowed,
        &[(0, false), (10, false), (20, true), (30, false)],
    );
    assert!(
        !failing(&windowed, &track, 31),
        "the pass at 20 s ended the first episode: {track:?}"
    );
}

#[test]
fn the_window_survives_a_restart_of_hale_in_the_persisted_tally() {
    let windowed = spec("    failureWindow: 2m\n");
    let before = tally(&windowed, &[(0, false), (10, true)]);
    // What the state store keeps, and what a restarted hale reads back.
    let stored = serde_json::to_vec(&before).unwrap();
    let mut after: ProbeTrack = serde_json::from_slice(&stored).unwrap();
    assert_eq!(after.recent_failures, [at(0)]);
    after.record(&windowed.probes[0], false, at(40), "HTTP 503");
    assert!(failing(&windowed, &after, 41), "{after:?}");
}

#[test]
fn a_window_is_refused_where_it_cannot_work() {
    let text = "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  probes:\n  - name: health\n    dockerHealth: {}\n    failureWindow: 2m\n  - name: http\n    httpGet: {port: 80}\n    period: 30s\n    failureWindow: 10s\n";
    let report = hale_policy::load_str("web.yaml", text);
    let messages: Vec<String> = report.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("spec.probes[0].failureWindow")
                && m.contains("only periodic probes")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(
            |m| m.contains("spec.probes[1].failureWindow") && m.contains("shorter than period")
        ),
        "{messages:?}"
    );
}
