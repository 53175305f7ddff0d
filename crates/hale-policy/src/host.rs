//! Host targets: the `disk` probe, which watches free space on a filesystem of the host
//! rather than a container, and the `prune` action that frees it through Docker's API.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Duration;

/// Judge free space on a filesystem: the probe fails while less than `freeBelow` is free.
/// Its target is the host itself, named `host:<probe name>` in audit records and `hale get
/// targets`; the path must be visible to hale (mount it into hale's container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiskProbe {
    /// A directory on the filesystem to watch, e.g. `/var/lib/docker` (Docker's data root:
    /// where images, containers, volumes and the build cache live). Must be absolute.
    pub path: String,
    /// The probe fails while free space (available to unprivileged users, as `df` shows it)
    /// is below this: a share of the filesystem (`"10%"`) or a size (`"5GiB"`, `"500MB"`).
    pub free_below: FreeSpace,
}

/// A free-space threshold: a share of the filesystem's size, or an absolute size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FreeSpace {
    /// A percentage of the filesystem's size, above 0 and below 100.
    Percent(f64),
    /// A number of bytes.
    Bytes(u64),
}

impl Eq for FreeSpace {}

/// The reason a string is not a [`FreeSpace`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid free-space threshold {input:?} (expected a share such as \"10%\" or a size such as \"5GiB\" or \"500MB\")"
)]
pub struct FreeSpaceParseError {
    /// The text that failed to parse.
    pub input: String,
}

impl FreeSpace {
    /// The threshold in bytes on a filesystem of `total` bytes.
    pub fn bytes_of(self, total: u64) -> u64 {
        match self {
            Self::Percent(share) => (total as f64 * share / 100.0) as u64,
            Self::Bytes(bytes) => bytes,
        }
    }
}

impl FromStr for FreeSpace {
    type Err = FreeSpaceParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || FreeSpaceParseError {
            input: text.to_owned(),
        };
        let trimmed = text.trim();
        if let Some(share) = trimmed.strip_suffix('%') {
            let share: f64 = share.trim().parse().map_err(|_| error())?;
            return if share > 0.0 && share < 100.0 {
                Ok(Self::Percent(share))
            } else {
                Err(error())
            };
        }
        // A bare number is refused, as for durations: "5" could mean bytes or gigabytes.
        if trimmed.chars().last().is_none_or(|c| c.is_ascii_digit()) {
            return Err(error());
        }
        let size: bytesize::ByteSize = trimmed.parse().map_err(|_| error())?;
        Ok(Self::Bytes(size.as_u64()))
    }
}

impl fmt::Display for FreeSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent(share) => write!(f, "{share}%"),
            Self::Bytes(bytes) => write!(f, "{}", human_bytes(*bytes)),
        }
    }
}

/// `bytes` the way people read sizes: `3.2 GiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

impl Serialize for FreeSpace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Exact, unlike the display form ("476.8 MiB" for 500MB), so a round trip keeps
        // the threshold.
        match self {
            Self::Percent(_) => serializer.collect_str(self),
            Self::Bytes(bytes) => serializer.collect_str(&format_args!("{bytes}B")),
        }
    }
}

impl<'de> Deserialize<'de> for FreeSpace {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for FreeSpace {
    fn schema_name() -> Cow<'static, str> {
        "FreeSpace".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A share of the filesystem (\"10%\") or a size (\"5GiB\", \"500MB\").",
            "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*%|[0-9]+(\\.[0-9]+)?\\s*[A-Za-z]+)\\s*$",
            "examples": ["10%", "5GiB"]
        })
    }
}

/// What a `prune` step removes, through Docker's prune API. Only what is unused: Docker
/// never prunes a running container, an image a container uses, or a volume one mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PruneAction {
    /// Remove stopped containers (`docker container prune`). Default: `true`.
    #[serde(default = "yes")]
    pub containers: bool,
    /// Which images to remove: `dangling` (untagged layers, as `docker image prune`),
    /// `unused` (every image no container uses, as `docker image prune -a`) or `none`.
    /// Default: `dangling`.
    #[serde(default)]
    pub images: ImagePrune,
    /// Remove the build cache (`docker builder prune`). Default: `true`.
    #[serde(default = "yes")]
    pub build_cache: bool,
    /// Remove networks no container uses (`docker network prune`). Default: `true`.
    #[serde(default = "yes")]
    pub networks: bool,
    /// Remove volumes no container mounts (`docker volume prune`): data, so never by
    /// default. Default: `false`.
    #[serde(default)]
    pub volumes: bool,
    /// Only what was created (for the build cache: last used) longer ago than this, e.g.
    /// `24h` (Docker's `until` filter; volumes do not support it and are pruned whatever
    /// their age). Default: none (any age).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Duration>,
    /// Only what carries these labels: `key` or `key=value` (Docker's `label` filter).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Never what carries these labels: `key` or `key=value` (Docker's `label!` filter),
    /// e.g. `[keep]` for images a deploy must find in the cache. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_labels: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for PruneAction {
    fn default() -> Self {
        Self {
            containers: true,
            images: ImagePrune::default(),
            build_cache: true,
            networks: true,
            volumes: false,
            until: None,
            labels: Vec::new(),
            exclude_labels: Vec::new(),
        }
    }
}

/// Which images a prune removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ImagePrune {
    /// Untagged images (layers a newer build or pull replaced).
    #[default]
    Dangling,
    /// Every image no container uses, tagged or not.
    Unused,
    /// No images.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_a_share_or_a_size_with_its_unit() {
        assert_eq!("10%".parse(), Ok(FreeSpace::Percent(10.0)));
        assert_eq!("2.5 %".parse(), Ok(FreeSpace::Percent(2.5)));
        assert_eq!("5GiB".parse(), Ok(FreeSpace::Bytes(5 << 30)));
        assert_eq!("500MB".parse(), Ok(FreeSpace::Bytes(500_000_000)));
        for bad in ["", "5", "0%", "100%", "-1%", "lots", "5 parsecs"] {
            assert!(bad.parse::<FreeSpace>().is_err(), "{bad:?}");
        }
        assert_eq!(FreeSpace::Percent(10.0).bytes_of(1000), 100);
        assert_eq!(FreeSpace::Bytes(7).bytes_of(1000), 7);
        assert_eq!(FreeSpace::Bytes(5 << 30).to_string(), "5.0 GiB");
        assert_eq!(FreeSpace::Percent(10.0).to_string(), "10%");
    }
}
