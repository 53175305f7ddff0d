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

impl MaxUnhealthy {
    /// The number of unhealthy targets allowed out of `total`. Percentages round down, as in
    /// Cluster API, so `40%` of 4 targets allows 1.
    pub fn allowed(self, total: usize) -> usize {
        match self {
            Self::Count(count) => count as usize,
            Self::Percent(percent) => total.saturating_mul(percent as usize) / 100,
        }
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
    fn counts_and_percentages_deserialize() {
        let count: MaxUnhealthy = serde_yaml::from_str("3").unwrap();
        assert_eq!(count, MaxUnhealthy::Count(3));
        let percent: MaxUnhealthy = serde_yaml::from_str("\"40%\"").unwrap();
        assert_eq!(percent, MaxUnhealthy::Percent(40));
        let err = serde_yaml::from_str::<MaxUnhealthy>("lots").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid value \"lots\""),
            "{err}"
        );
    }
}
