//! Property tests for the Alertmanager webhook parser and signed acknowledgement links, at
//! proptest's default case count (the `fuzz` benchmark runs a million cases of each).

#[path = "fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;
use targets::*;

proptest! {
    #[test]
    fn webhook_payloads_round_trip(alerts in webhook_alerts()) {
        check_webhook_round_trip(alerts);
    }

    #[test]
    fn any_webhook_body_is_read_or_refused(body in hostile_webhook()) {
        check_webhook_never_panics(body);
    }

    #[test]
    fn ack_links_round_trip_and_refuse_tampering(input in link_input()) {
        check_link_round_trip(input);
    }
}
