//! Fuzz targets for templates and timestamps: each is a generator of inputs and a check
//! that panics when a property fails. `tests/fuzz.rs` runs them at proptest's default case
//! count; the `fuzz` benchmark of hale-server runs a million cases of each.

use hale_core::{Timestamp, fill_template, fill_template_with};
use proptest::prelude::*;

/// The names hale's templates use.
const NAMES: [&str; 6] = [
    "target",
    "target_id",
    "policy",
    "reason",
    "message",
    "event",
];

/// One piece of a template: text without braces, or a placeholder by index into `NAMES`.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// `{{NAMES[i]}}`.
    Placeholder(usize),
}

/// A plain template (pieces) and values for every name, which may themselves hold
/// placeholders, braces and JSON syntax.
pub fn template_input() -> impl Strategy<Value = (Vec<Piece>, Vec<String>)> {
    let piece = prop_oneof![
        "[^{}]{0,12}".prop_map(Piece::Text),
        (0..NAMES.len()).prop_map(Piece::Placeholder),
    ];
    let value = prop_oneof![
        "\\PC{0,16}",
        "(\\{\\{(target|target_id|policy|reason|message|event)\\}\\}|[\"\\\\{}\\n]|[a-z]{1,4}){0,6}",
    ];
    (
        prop::collection::vec(piece, 0..12),
        prop::collection::vec(value, NAMES.len()),
    )
}

/// A plain template fills each placeholder with its value exactly once: the result is
/// the pieces with the values put in, whatever the values hold.
pub fn check_plain_template((pieces, values): (Vec<Piece>, Vec<String>)) {
    let template: String = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.clone(),
            Piece::Placeholder(i) => format!("{{{{{}}}}}", NAMES[*i]),
        })
        .collect();
    // A template that starts with `{` or `[` is a JSON one; start with text instead.
    let template = format!("x{template}");
    let expected: String = std::iter::once("x".to_owned())
        .chain(pieces.iter().map(|piece| match piece {
            Piece::Text(text) => text.clone(),
            Piece::Placeholder(i) => values[*i].clone(),
        }))
        .collect();
    let pairs: Vec<(&str, &str)> = NAMES
        .iter()
        .zip(&values)
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    assert_eq!(fill_template(&template, &pairs), expected);
}

/// A JSON template stays valid JSON, each string field holds exactly its value, and
/// `{{event}}` (a verbatim JSON document) comes out as that document.
pub fn check_json_template((_, values): (Vec<Piece>, Vec<String>)) {
    let template = r#"{"target": "{{target}}", "id": "{{target_id}}", "policy": "{{policy}}", "reason": "{{reason}}", "message": "{{message}}", "event": {{event}}}"#;
    let event = serde_json::json!({ "reason": values[5] }).to_string();
    let pairs: Vec<(&str, &str)> = NAMES[..5]
        .iter()
        .zip(&values)
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    let filled = fill_template_with(template, &pairs, &[("event", &event)]);
    let parsed: serde_json::Value =
        serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{e}: {filled}"));
    for (field, value) in ["target", "id", "policy", "reason", "message"]
        .iter()
        .zip(&values)
    {
        assert_eq!(parsed[field], value.as_str(), "{filled}");
    }
    assert_eq!(parsed["event"]["reason"], values[5].as_str());
}

/// An instant from 1970 to 9999 in milliseconds, and an offset within a day in minutes.
pub fn instant_and_offset() -> impl Strategy<Value = (u64, i32)> {
    (0..253_402_300_799_999u64, -(23 * 60 + 59)..=(23 * 60 + 59))
}

/// An instant written in RFC 3339 at any offset, with or without fractions, reads back
/// as the same instant; hale's own form reads back too.
pub fn check_time_round_trip((millis, offset_minutes): (u64, i32)) {
    let stamp = Timestamp(millis);
    assert_eq!(
        Timestamp::parse_rfc3339(&stamp.to_string()),
        Some(stamp),
        "{stamp}"
    );
    let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).expect("in range");
    let local = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .expect("in range")
        .to_offset(offset);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let written = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.millisecond(),
        offset_minutes.abs() / 60,
        offset_minutes.abs() % 60,
    );
    // Docker's zero time stands for "never"; it is the only instant left out.
    if written.starts_with("0001-") {
        return;
    }
    assert_eq!(Timestamp::parse_rfc3339(&written), Some(stamp), "{written}");
    assert_eq!(Timestamp::parse_since(&written), Ok(stamp), "{written}");
}

/// Timestamp-like text: digits, separators, offsets and noise.
pub fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{1,2}:?[0-9]{0,2})?",
        "[0-9TZ:+.\\- ]{0,30}",
        "\\PC{0,30}",
    ]
}

/// Parsing any text as a timestamp or a `--since` never panics.
pub fn check_time_parse(text: String) {
    if let Some(stamp) = Timestamp::parse_rfc3339(&text) {
        assert_eq!(Timestamp::parse_rfc3339(&stamp.to_string()), Some(stamp));
    }
    let _ = Timestamp::parse_since(&text);
}
