//! Fuzz targets for the API's parsers: the Alertmanager webhook and signed acknowledgement
//! links. Each is a generator of inputs and a check that panics when a property fails.
//! `tests/fuzz.rs` runs them at proptest's default case count; the `fuzz` benchmark runs a
//! million cases of each.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use hale_core::Timestamp;
use hale_server::{AckConfig, AlertNotice, LinkError, open_link, parse_webhook, signed_link};
use proptest::prelude::*;

/// One generated alert: status, labels, fingerprint, start.
type Alert = (bool, BTreeMap<String, String>, String, String);

/// A version 4 webhook body holding `alerts`, with the fields hale ignores around them.
fn webhook_json(alerts: &[Alert]) -> serde_json::Value {
    serde_json::json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"x\"}",
        "status": "firing",
        "receiver": "hale",
        "groupLabels": {},
        "commonLabels": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts.iter().map(|(firing, labels, fingerprint, starts)| serde_json::json!({
            "status": if *firing { "firing" } else { "resolved" },
            "labels": labels,
            "annotations": {"summary": "s"},
            "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": fingerprint,
        })).collect::<Vec<_>>(),
    })
}

/// Label maps as Alertmanager sends them: any text, names included.
fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("\\PC{0,10}", "\\PC{0,16}", 0..5)
}

/// Valid webhook payloads.
pub fn webhook_alerts() -> impl Strategy<Value = Vec<Alert>> {
    prop::collection::vec(
        (any::<bool>(), labels(), "[0-9a-f]{0,16}", "\\PC{0,30}"),
        0..5,
    )
}

/// A valid payload parses to exactly its alerts, in order.
pub fn check_webhook_round_trip(alerts: Vec<Alert>) {
    let body = webhook_json(&alerts).to_string();
    let parsed = parse_webhook(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
    let expected: Vec<AlertNotice> = alerts
        .into_iter()
        .map(|(firing, labels, fingerprint, starts_at)| AlertNotice {
            status: if firing { "firing" } else { "resolved" }.to_owned(),
            labels,
            fingerprint,
            starts_at,
        })
        .collect();
    assert_eq!(parsed, expected);
}

/// Bodies an attacker or a broken proxy might send: valid payloads with bytes changed,
/// JSON of the wrong shape, and noise.
pub fn hostile_webhook() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            webhook_alerts(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        )
            .prop_map(|(alerts, edits)| {
                let mut body = webhook_json(&alerts).to_string().into_bytes();
                for (at, byte) in edits {
                    let at = at.index(body.len());
                    body[at] = byte;
                }
                body
            }),
        "(\\{|\\}|\\[|\\]|\"|:|,|version|alerts|status|labels|firing|\"4\"|null|[0-9]|\\PC){0,60}"
            .prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Any body is read or refused, never a panic; what is read has only known statuses.
pub fn check_webhook_never_panics(body: Vec<u8>) {
    if let Ok(alerts) = parse_webhook(&body) {
        assert!(
            alerts
                .iter()
                .all(|a| a.status == "firing" || a.status == "resolved")
        );
    }
}

/// The signing configuration every link target shares (building a key per case would
/// measure ring, not the link).
fn ack_config() -> &'static AckConfig {
    static CONFIG: OnceLock<AckConfig> = OnceLock::new();
    CONFIG.get_or_init(|| AckConfig {
        alertmanager: "http://127.0.0.1:9".to_owned(),
        key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"fuzz key"),
        public_url: "https://hale.example:8443/".to_owned(),
        http: hale_core::http_client::ClientCache::new().system(),
    })
}

/// A link's contents: labels, a duration as typed (any text), and a byte to tamper with.
pub fn link_input() -> impl Strategy<Value = (BTreeMap<String, String>, String, prop::sample::Index)>
{
    (
        labels(),
        prop_oneof!["[0-9]{1,3}(s|m|h|d)", "\\PC{0,16}"],
        any::<prop::sample::Index>(),
    )
}

/// A link, opened as the server opens it, gives back its labels and duration; changing
/// any one character of its query makes it unreadable or refused, never accepted with
/// other contents.
pub fn check_link_round_trip(
    (labels, duration, tamper): (BTreeMap<String, String>, String, prop::sample::Index),
) {
    let config = ack_config();
    let expires = Timestamp((Timestamp::now().0 / 1000 + 3600) * 1000);
    let link = signed_link(config, &labels, &duration, expires);
    let opened = open_link(config, &link).unwrap_or_else(|e| panic!("{e}: {link}"));
    assert_eq!(opened.labels, labels, "{link}");
    assert_eq!(opened.duration, duration, "{link}");
    assert_eq!(opened.expires, expires);

    let query_at = link.find('?').expect("a link has a query") + 1;
    let at = query_at + tamper.index(link.len() - query_at);
    let mut tampered = link.clone().into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("links are ASCII");
    match open_link(config, &tampered) {
        Err(LinkError::Unreadable(_) | LinkError::Refused(_) | LinkError::Labels) => {}
        // A change the query parser folds away (`%41` for `A`) opens the same link.
        Ok(same) => assert_eq!(same, opened, "{tampered}"),
    }
}
