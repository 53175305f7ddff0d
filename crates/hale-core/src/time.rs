//! Wall-clock instants that survive a restart and serialize compactly.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
///
/// The decision logic takes the current time as an argument and never reads a clock, so
/// tests drive it with made-up instants; state persisted with these survives a restart
/// of hale (a monotonic `Instant` would not).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

/// The current wall-clock time in nanoseconds since the Unix epoch: the resolution of
/// Docker's event times.
pub fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// This instant plus `duration` (saturating).
    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration.as_millis() as u64))
    }

    /// This instant minus `duration` (saturating at the epoch).
    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration.as_millis() as u64))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Parses a `--since`/`since=` value: a duration (`1h`: that long ago) or an RFC 3339
    /// instant.
    ///
    /// # Errors
    /// [`SinceError`], quoting `text` and saying what was expected.
    pub fn parse_since(text: &str) -> Result<Self, SinceError> {
        if let Ok(ago) = text.parse::<hale_policy::Duration>() {
            return Ok(Self::now().minus(ago.as_std()));
        }
        Self::parse_instant(text).ok_or_else(|| SinceError(text.to_owned()))
    }

    /// An RFC 3339 instant with its offset (`Z`, `+02:00`, `-05:30`), or, failing that, one
    /// without an offset (`2026-11-23 10:00:00`, read as UTC). Instants before the epoch
    /// are the epoch, as with [`From<SystemTime>`].
    fn parse_instant(text: &str) -> Option<Self> {
        if let Ok(instant) =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        {
            let millis = instant.unix_timestamp_nanos() / 1_000_000;
            return Some(Self(u64::try_from(millis).unwrap_or(0)));
        }
        humantime::parse_rfc3339_weak(text).ok().map(Self::from)
    }

    /// Parses Docker's RFC 3339 timestamps (`2026-11-23T01:02:03.456789Z`, or with an
    /// offset: `2026-11-23T03:02:03.456789+02:00` is the same instant); Docker's "zero"
    /// time (`0001-01-01T00:00:00Z`) and unparsable input give `None`.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        if text.starts_with("0001-") {
            return None;
        }
        Self::parse_instant(text)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Self(
            time.duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        )
    }
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> Self {
        UNIX_EPOCH + Duration::from_millis(time.0)
    }
}

/// A `--since`/`since=` value that is neither a duration nor an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?}: expected a duration such as \"1h\" (that long ago) or a time such as 2026-11-23T10:00:00Z"
)]
pub struct SinceError(pub String);

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-23T01:02:03.456Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_rfc3339_millis(SystemTime::from(*self))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_timestamps_parse_and_the_zero_time_is_none() {
        let parsed = Timestamp::parse_rfc3339("2026-11-23T01:02:03.456789012Z").unwrap();
        assert_eq!(parsed.to_string(), "2026-11-23T01:02:03.456Z");
        assert_eq!(Timestamp::parse_rfc3339("0001-01-01T00:00:00Z"), None);
    }

    #[test]
    fn offsets_name_the_same_instant_as_utc() {
        let utc = Timestamp::parse_rfc3339("2026-11-23T01:02:03.456Z").unwrap();
        for text in [
            "2026-11-23T03:02:03.456+02:00",
            "2026-11-22T19:32:03.456-05:30",
            "2026-11-23T01:02:03.456+00:00",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(text), Some(utc), "{text}");
            assert_eq!(Timestamp::parse_since(text), Ok(utc), "{text}");
        }
    }

    #[test]
    fn since_takes_offset_free_times_as_utc_and_refuses_junk() {
        assert_eq!(
            Timestamp::parse_since("2026-11-23 01:02:03"),
            Ok(Timestamp::parse_rfc3339("2026-11-23T01:02:03Z").unwrap())
        );
        assert!(Timestamp::parse_since("yesterday").is_err());
        assert_eq!(Timestamp::parse_rfc3339("2026-11-23T01:02:03+25:00"), None);
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp(1_000);
        assert_eq!(t.minus(Duration::from_secs(5)), Timestamp(0));
        assert_eq!(
            t.plus(Duration::from_secs(1)).since(t),
            Duration::from_secs(1)
        );
        assert_eq!(t.since(Timestamp(5_000)), Duration::ZERO);
    }
}
