//! The `maxUnhealthy` circuit breaker over 1, 2, 3, 4 and 10 targets and every kind of
//! limit: when does it open, and does a pending failure ever count?

use hale_core::Timestamp;
use hale_policy::MaxUnhealthy;
use hale_reconciler::{Assessment, CircuitReading, FailureSignal};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn failure() -> FailureSignal {
    FailureSignal {
        probe: "docker-health".into(),
        signal: "docker health: unhealthy".into(),
        since: NOW,
        observed_at: NOW,
    }
}

/// `total` targets of which the first `failing` are confirmed failing and the next
/// `pending` are failing but not yet past their threshold.
fn targets(total: usize, failing: usize, pending: usize) -> Vec<Assessment> {
    (0..total)
        .map(|i| {
            if i < failing {
                Assessment::Failing(failure())
            } else if i < failing + pending {
                Assessment::Pending {
                    failure: failure(),
                    until: NOW.plus(std::time::Duration::from_secs(10)),
                }
            } else {
                Assessment::Healthy
            }
        })
        .collect()
}

fn limit(text: &str) -> MaxUnhealthy {
    serde_json::from_str(text).unwrap()
}

/// The smallest number of confirmed failures that opens the circuit, if any does.
fn first_opening(max: MaxUnhealthy, total: usize) -> Option<usize> {
    (0..=total)
        .find(|&failing| CircuitReading::of(Some(max), &targets(total, failing, 0)).is_open())
}

#[test]
fn the_circuit_opens_only_past_the_allowance_and_never_for_one_failure() {
    // (maxUnhealthy, [first opening count for 1, 2, 3, 4 and 10 targets]).
    let table: [(&str, [Option<usize>; 5]); 5] = [
        ("0", [None, Some(2), Some(2), Some(2), Some(2)]),
        ("1", [None, Some(2), Some(2), Some(2), Some(2)]),
        ("\"40%\"", [None, Some(2), Some(2), Some(2), Some(5)]),
        ("\"50%\"", [None, Some(2), Some(2), Some(3), Some(6)]),
        ("\"100%\"", [None, None, None, None, None]),
    ];
    for (text, expected) in table {
        for (total, expected) in [1, 2, 3, 4, 10].into_iter().zip(expected) {
            assert_eq!(
                first_opening(limit(text), total),
                expected,
                "maxUnhealthy {text} over {total} targets"
            );
        }
    }
}

#[test]
fn pending_failures_never_open_the_circuit() {
    for text in ["0", "1", "\"40%\"", "\"50%\""] {
        for total in [1, 2, 3, 4, 10] {
            // Every target failing, but only one confirmed: still closed.
            let reading = CircuitReading::of(Some(limit(text)), &targets(total, 1, total - 1));
            assert!(!reading.is_open(), "maxUnhealthy {text} over {total}");
            assert_eq!(reading.failing, 1);
        }
    }
}

#[test]
fn a_lone_failing_target_under_the_shipped_fifty_percent_is_healed() {
    let reading = CircuitReading::of(Some(limit("\"50%\"")), &targets(1, 1, 0));
    assert!(!reading.is_open());
    assert_eq!(reading.open_reason(), None);
    assert_eq!(reading.change("autoheal", false, NOW), None);
}

#[test]
fn opening_and_closing_are_recorded_once_with_the_counts() {
    let max = Some(limit("\"50%\""));
    let open = CircuitReading::of(max, &targets(4, 3, 0));
    let event = open.change("web", false, NOW).expect("opens");
    assert_eq!(event.kind, hale_core::HealEventKind::CircuitOpen);
    assert!(
        event
            .reason
            .starts_with("3 of 4 targets are unhealthy, more than maxUnhealthy 50% allows (2)"),
        "{}",
        event.reason
    );
    assert_eq!(open.change("web", true, NOW), None);
    let closed = CircuitReading::of(max, &targets(4, 2, 1));
    let event = closed.change("web", true, NOW).expect("closes");
    assert_eq!(event.kind, hale_core::HealEventKind::CircuitClosed);
    assert_eq!(
        event.reason,
        "2 of 4 targets unhealthy; remediation resumes"
    );
}

#[test]
fn without_max_unhealthy_the_circuit_never_opens() {
    assert!(!CircuitReading::of(None, &targets(10, 10, 0)).is_open());
}
