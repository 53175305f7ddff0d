//! The one reader of HTTP's `Retry-After` (RFC 9110 §10.2.3), for every client hale has
//! (remediation webhooks, Coolify, notification sinks): either a number of seconds
//! (whole, as the RFC says, or fractional, as Discord and others send) or an HTTP-date.

use std::time::{Duration, SystemTime};

/// How long a `Retry-After` value asks to wait, read at `now`: `None` for a value that is
/// neither a non-negative number of seconds nor an HTTP-date (a date in the past is no
/// wait). Callers cap it to what they are prepared to wait.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::retry_after;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn seconds_fractions_and_http_dates_are_read_and_nonsense_is_not() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0.5 ", now), Some(Duration::from_millis(500)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        for bad in ["", "-1", "soon", "NaN", "inf"] {
            assert_eq!(retry_after(bad, SystemTime::now()), None, "{bad:?}");
        }
    }
}
