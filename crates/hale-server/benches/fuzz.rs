//! The fuzz run: a million generated cases (or `HALE_FUZZ_CASES`) of each parser target,
//! printing per target the cases, cases per second and panics (which must be 0). The
//! targets are the property tests' own (`tests/fuzz/targets.rs` of hale-policy, hale-core
//! and hale-server), so what `cargo test` checks at proptest's default count is what runs
//! here at scale.
//!
//! Run: `cargo bench -p hale-server --bench fuzz` (add `-- TARGET` to run one).

#![allow(missing_docs, dead_code)]

#[path = "../../hale-core/tests/fuzz/targets.rs"]
mod core_targets;
#[path = "../../hale-policy/tests/fuzz/targets.rs"]
mod policy_targets;
#[path = "../tests/fuzz/targets.rs"]
mod server_targets;

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use proptest::strategy::{Strategy, ValueTree as _};
use proptest::test_runner::{Config, TestRunner};

/// Runs `check` on `cases` inputs from `strategy`; prints the figures and returns the
/// number of panics.
fn run<S>(name: &str, cases: u64, strategy: S, check: impl Fn(S::Value)) -> u64
where
    S: Strategy,
    S::Value: Debug + Clone,
{
    let mut runner = TestRunner::new(Config::default());
    let mut panics = 0u64;
    let mut first_panic = None;
    let started = Instant::now();
    for _ in 0..cases {
        let input = strategy
            .new_tree(&mut runner)
            .expect("the generator makes inputs")
            .current();
        let kept = input.clone();
        if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
            panics += 1;
            first_panic.get_or_insert(kept);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{name:<28} {cases:>9} cases {:>11.0} cases/s {panics:>3} panics",
        cases as f64 / seconds
    );
    if let Some(input) = first_panic {
        println!("  first panicking input: {input:?}");
    }
    panics
}

fn main() {
    let cases: u64 = std::env::var("HALE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    // Panics are counted, not printed: a million backtraces would drown the figures.
    std::panic::set_hook(Box::new(|_| {}));
    let mut panics = 0;
    macro_rules! target {
        ($name:literal, $strategy:expr, $check:expr) => {
            if wanted($name) {
                panics += run($name, cases, $strategy, $check);
            }
        };
    }
    target!(
        "policy-load-hostile-yaml",
        policy_targets::hostile_yaml(),
        policy_targets::check_load_never_panics
    );
    target!(
        "policy-round-trip",
        policy_targets::valid_policy(),
        policy_targets::check_policy_round_trip
    );
    target!(
        "conditions",
        (policy_targets::condition_text(), policy_targets::observed()),
        policy_targets::check_condition
    );
    target!(
        "duration-round-trip",
        policy_targets::duration(),
        policy_targets::check_duration_round_trip
    );
    target!(
        "duration-text",
        policy_targets::duration_text(),
        policy_targets::check_duration_parse
    );
    target!(
        "template-plain",
        core_targets::template_input(),
        core_targets::check_plain_template
    );
    target!(
        "template-json",
        core_targets::template_input(),
        core_targets::check_json_template
    );
    target!(
        "time-round-trip-offsets",
        core_targets::instant_and_offset(),
        core_targets::check_time_round_trip
    );
    target!(
        "time-text",
        core_targets::time_text(),
        core_targets::check_time_parse
    );
    target!(
        "alertmanager-round-trip",
        server_targets::webhook_alerts(),
        server_targets::check_webhook_round_trip
    );
    target!(
        "alertmanager-hostile",
        server_targets::hostile_webhook(),
        server_targets::check_webhook_never_panics
    );
    target!(
        "ack-link-round-trip",
        server_targets::link_input(),
        server_targets::check_link_round_trip
    );
    let _ = std::panic::take_hook();
    println!("total panics: {panics}");
    if panics > 0 {
        std::process::exit(1);
    }
}
