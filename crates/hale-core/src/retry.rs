//! The one retry policy of every transient loop in hale: capped exponential backoff from
//! backon, with jitter where many callers may retry against one service at once.
//!
//! The remediation ladder's backoff is not this: it is persisted per target and decided
//! by the pure decision code, so a crash or a restart of hale keeps it.

use std::time::Duration;

use backon::BackoffBuilder as _;

/// How long to wait before each retry of one transient operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait before jitter; waits double up to it.
    pub max: Duration,
    /// Add a random part of up to the current wait, so that callers that failed together
    /// (every hale of a fleet when a shared Coolify or webhook comes back) do not retry
    /// together.
    pub jitter: bool,
}

impl RetryPolicy {
    /// Requests to a remote service hale acts through (webhooks, Coolify): 1 s, 2 s, 4 s …
    /// up to 60 s, jittered.
    pub const REMOTE: Self = Self {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        jitter: true,
    };

    /// Notification delivery: 1 s, 2 s, 4 s … up to 64 s, not jittered: each sink has one
    /// worker whose token bucket already spaces its sends, and the schedule is what the
    /// operator reads in the audit.
    pub const DELIVERY: Self = Self {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(64),
        jitter: false,
    };

    /// Reaching the Docker daemon again (at start, and after it went away): 0.5 s, 1 s …
    /// up to 30 s, jittered.
    pub const DOCKER: Self = Self {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(30),
        jitter: true,
    };

    /// Starting a failed actor again: 0.2 s, 0.4 s … up to 30 s, jittered.
    pub const RESTART: Self = Self {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(30),
        jitter: true,
    };

    /// The waits, one per retry, without end (callers count their attempts).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let builder = backon::ExponentialBuilder::default()
            .with_min_delay(self.initial)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .without_max_times();
        let builder = if self.jitter {
            builder.with_jitter()
        } else {
            builder
        };
        // With jitter, backon adds up to the (capped) wait itself: at most twice the cap.
        builder.build()
    }

    /// The wait before retry number `retry` (1 for the first).
    pub fn delay(&self, retry: u32) -> Duration {
        self.delays()
            .nth(retry.saturating_sub(1) as usize)
            .unwrap_or(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let waits: Vec<u64> = RetryPolicy::DELIVERY
            .delays()
            .take(9)
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(RetryPolicy::DELIVERY.delay(3), Duration::from_secs(4));
    }

    #[test]
    fn jitter_only_adds_and_spreads() {
        let waits: Vec<Duration> = (0..50).map(|_| RetryPolicy::REMOTE.delay(1)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_secs(1) && *w <= Duration::from_secs(2))
        );
        assert!(
            waits.iter().any(|w| *w != waits[0]),
            "fifty callers must not all wait the same: {waits:?}"
        );
    }
}
