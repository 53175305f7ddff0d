//! Property tests for body templates and timestamps, at proptest's default case count
//! (the `fuzz` benchmark of hale-server runs a million cases of each target).

#[path = "fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;
use targets::*;

proptest! {
    #[test]
    fn a_plain_template_never_expands_a_value(input in template_input()) {
        check_plain_template(input);
    }

    #[test]
    fn a_json_template_stays_json(input in template_input()) {
        check_json_template(input);
    }

    #[test]
    fn instants_round_trip_at_any_offset(input in instant_and_offset()) {
        check_time_round_trip(input);
    }

    #[test]
    fn timestamp_text_never_panics(text in time_text()) {
        check_time_parse(text);
    }
}
