//! Property tests for the policy loader, the conditions language and durations, at
//! proptest's default case count (the `fuzz` benchmark of hale-server runs a million
//! cases of each target).

#[path = "fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;
use targets::*;

proptest! {
    #[test]
    fn valid_policies_round_trip(parts in valid_policy()) {
        check_policy_round_trip(parts);
    }

    #[test]
    fn loading_any_text_never_panics(text in hostile_yaml()) {
        check_load_never_panics(text);
    }

    #[test]
    fn conditions_parse_and_check_without_panicking(input in (condition_text(), observed())) {
        check_condition(input);
    }

    #[test]
    fn durations_round_trip(value in duration()) {
        check_duration_round_trip(value);
    }

    #[test]
    fn duration_text_never_panics(text in duration_text()) {
        check_duration_parse(text);
    }
}
