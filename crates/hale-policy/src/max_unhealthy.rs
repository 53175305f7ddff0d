//! `maxUnhealthy`: a count or a percentage, like Kubernetes' `IntOrString`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How many of a policy's targets may be unhealthy at once before hale stops remediating
/// any of them (the circuit breaker of Cluster API's MachineHealthCheck).
///
/// Written as a count (`2`) or a percentage of the policy's targets (`"40%"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUnhealthy {
    /// At most this many targets.
    Count(u32),
    /// At most this percentage of targets (0–100; checked by validation).
    Percent(u32),
}

/// The circuit never opens for fewer confirmed failures than this. One failing target is
/// no evidence of a shared cause, so a lone failure is always healed, whatever
/// `maxUnhealthy` says (half of one container rounds down to none).
pub const MIN_FAILURES_TO_OPEN: usize = 2;

impl MaxUnhealthy {
    /// The number of unhealthy targets `maxUnhealthy` allows out of `total`, as written.
    /// Percentages round down, as in Cluster API, so `40%` of 4 targets allows 1.
    pub fn allowed(self, total: usize) -> usize {
        match self {
            Self::Count(count) => count as usize,
            Self::Percent(percent) => total.saturating_mul(percent as usize) / 100,
        }
    }

    /// How many of `total` targets may be failing at once before the circuit opens:
    /// [`Self::allowed`], but never fewer than `MIN_FAILURES_TO_OPEN - 1` (one).
    pub fn allowance(self, total: usize) -> usize {
        self.allowed(total).max(MIN_FAILURES_TO_OPEN - 1)
    }

    /// Whether `failing` confirmed failures among `total` targets open the circuit: at
    /// least [`MIN_FAILURES_TO_OPEN`] of them, and more than the allowance.
    pub fn opens(self, failing: usize, total: usize) -> bool {
        failing >= MIN_FAILURES_TO_OPEN && failing > self.allowance(total)
    }

    /// The allowance in words, for `hale describe policy`: `2 of 5 may fail`.
    pub fn describe_allowance(self, total: usize) -> String {
        let allowance = self.allowance(total).min(total.max(1));
        format!("{allowance} of {total} may fail at once (maxUnhealthy {self})")
    }
}

impl fmt::Display for MaxUnhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(count) => write!(f, "{count}"),
            Self::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

impl Serialize for MaxUnhealthy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(count) => serializer.serialize_u32(*count),
            Self::Percent(_) => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for MaxUnhealthy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = MaxUnhealthy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count such as 2 or a percentage such as \"40%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MaxUnhealthy, E> {
                u32::try_from(v)
                    .map(MaxUnhealthy::Count)
                    .map_err(|_| E::custom(format!("count {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MaxUnhealthy, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("invalid count {v} (must be 0 or more)")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MaxUnhealthy, E> {
                let invalid = || {
                    E::custom(format!(
                        "invalid value {v:?} (expected a count such as 2 or a percentage such as \"40%\")"
                    ))
                };
                match v.trim().strip_suffix('%') {
                    Some(number) => number
                        .trim()
                        .parse::<u32>()
                        .map(MaxUnhealthy::Percent)
                        .map_err(|_| invalid()),
                    None => v
                        .trim()
                        .parse::<u32>()
                        .map(MaxUnhealthy::Count)
                        .map_err(|_| invalid()),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for MaxUnhealthy {
    fn schema_name() -> Cow<'static, str> {
        "MaxUnhealthy".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A count of targets (e.g. 2) or a percentage of them (e.g. \"40%\").",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^\\s*[0-9]+\\s*%\\s*$"}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_like_cluster_api() {
        assert_eq!(MaxUnhealthy::Percent(40).allowed(4), 1);
        assert_eq!(MaxUnhealthy::Percent(50).allowed(4), 2);
        assert_eq!(MaxUnhealthy::Percent(100).allowed(3), 3);
        assert_eq!(MaxUnhealthy::Count(2).allowed(10), 2);
    }

    #[test]
    fn one_failure_never_opens_the_circuit() {
        for max in [
            MaxUnhealthy::Count(0),
            MaxUnhealthy::Percent(0),
            MaxUnhealthy::Percent(50),
        ] {
            for total in [1, 2, 3, 10] {
                assert!(!max.opens(1, total), "{max} of {total}");
            }
        }
        assert!(MaxUnhealthy::Count(0).opens(2, 2));
        assert_eq!(
            MaxUnhealthy::Percent(50).describe_allowance(1),
            "1 of 1 may fail at once (maxUnhealthy 50%)"
        );
        assert_eq!(
            MaxUnhealthy::Percent(40).describe_allowance(5),
            "2 of 5 may fail at once (maxUnhealthy 40%)"
        );
    }

    #[test]
    fn counts_and_percentages_deserialize() {
        let count: MaxUnhealthy = serde_saphyr::from_str("3").unwrap();
        assert_eq!(count, MaxUnhealthy::Count(3));
        let percent: MaxUnhealthy = serde_saphyr::from_str("\"40%\"").unwrap();
        assert_eq!(percent, MaxUnhealthy::Percent(40));
        let err = serde_saphyr::from_str::<MaxUnhealthy>("lots").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid value \"lots\""),
            "{err}"
        );
    }
}
