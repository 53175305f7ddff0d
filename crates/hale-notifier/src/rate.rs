//! A sink's `rateLimit` as a token bucket: up to `rateLimit` messages may go at once (an
//! outage that touches five containers is five messages now, not one every three seconds),
//! and over any longer stretch no more than `rateLimit` a minute.

use std::time::Duration;

use tokio::time::Instant;

/// Tokens for `per_minute` messages a minute, full at the start.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket of `per_minute` tokens (at least 1) at `now`, refilled at
    /// `per_minute / 60` a second.
    pub fn new(per_minute: u32, now: Instant) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            tokens: capacity,
            per_second: capacity / 60.0,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
    }

    /// Takes a token at `now` if there is one (`None`), or says how long until there is
    /// (nothing taken).
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        Some(Duration::from_secs_f64(
            (1.0 - self.tokens) / self.per_second,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(20, start);
        for _ in 0..20 {
            assert_eq!(bucket.take(start), None, "20 a minute may go at once");
        }
        let wait = bucket.take(start).expect("the 21st waits");
        assert_eq!(wait.as_millis(), 3000, "one token every 3 s");
        assert_eq!(bucket.take(start + Duration::from_secs(3)), None);
        // A quiet minute fills it again, and no further.
        let later = start + Duration::from_secs(600);
        for _ in 0..20 {
            assert_eq!(bucket.take(later), None);
        }
        assert!(bucket.take(later).is_some());
    }
}
