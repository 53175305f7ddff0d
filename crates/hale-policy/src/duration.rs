//! Durations written as strings ("30s", "5m", "1h30m").

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of time written the way operators write it: `"500ms"`, `"10s"`, `"5m"`, `"1h30m"`,
/// `"2d"`.
///
/// A bare number is refused on purpose: `timeout: 30` is ambiguous (seconds? milliseconds?),
/// and Kubernetes users expect the unit to be spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

/// The reason a string is not a [`Duration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?} (expected e.g. \"10s\", \"5m\", \"1h30m\")")]
pub struct DurationParseError {
    /// The text that failed to parse.
    pub input: String,
}

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self(std::time::Duration::from_millis(millis))
    }

    /// The standard-library duration this wraps.
    pub const fn as_std(self) -> std::time::Duration {
        self.0
    }

    /// Parses like [`FromStr`] into a standard duration, `None` when invalid.
    pub fn from_str_lossy(text: &str) -> Option<std::time::Duration> {
        text.parse::<Self>().ok().map(Self::as_std)
    }

    /// True for a zero-length duration.
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(value: std::time::Duration) -> Self {
        Self(value)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(value: Duration) -> Self {
        value.0
    }
}

impl FromStr for Duration {
    type Err = DurationParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = || DurationParseError {
            input: input.to_owned(),
        };
        let trimmed = input.trim();
        // humantime accepts "5" as an error already, but also accepts things like "1 year";
        // we only refuse what has no unit at all, which is the common mistake.
        if trimmed.is_empty() || trimmed.chars().all(|c| c.is_ascii_digit()) {
            return Err(error());
        }
        humantime::parse_duration(trimmed)
            .map(Self)
            .map_err(|_| error())
    }
}

impl fmt::Display for Duration {
    /// Formats in the compact form the parser accepts, e.g. `1h 30m`, `250ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"10s\" or \"5m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {v} (a unit is required, e.g. \"{v}s\")"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {v} (a unit is required, e.g. \"{v}s\")"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {v} (a unit is required, e.g. \"{v}s\")"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration with a unit: ms, s, m, h, d (e.g. \"500ms\", \"10s\", \"5m\", \"1h30m\").",
            "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*(ns|us|ms|s|m|h|d|w|sec|min|hr|hours?|minutes?|seconds?|days?)\\s*)+$",
            "examples": ["10s", "5m", "1h30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_forms_parse() {
        assert_eq!("10s".parse::<Duration>(), Ok(Duration::from_secs(10)));
        assert_eq!("5m".parse::<Duration>(), Ok(Duration::from_secs(300)));
        assert_eq!("1h30m".parse::<Duration>(), Ok(Duration::from_secs(5400)));
        assert_eq!("500ms".parse::<Duration>(), Ok(Duration::from_millis(500)));
        assert_eq!("2d".parse::<Duration>(), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn a_bare_number_or_unknown_unit_is_refused_with_an_example() {
        for bad in ["10x", "30", "", "fast"] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid duration {bad:?} (expected e.g. \"10s\", \"5m\", \"1h30m\")")
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["10s", "5m", "1h 30m", "250ms", "0s"] {
            let parsed: Duration = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }
}
