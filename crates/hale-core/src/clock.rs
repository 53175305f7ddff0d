//! Where "now" comes from: the system clock in production; in tests, a clock that follows
//! tokio's (pausable) time, so an actor's timers and the timestamps it decides on advance
//! together under `tokio::time::pause`.

use std::time::Duration;

use crate::time::Timestamp;

/// A source of the current time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some((at, since))`: `at` plus the tokio time elapsed
    /// since the tokio instant `since`.
    virtual_start: Option<(Timestamp, tokio::time::Instant)>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `start` now and then advances with tokio's time (paused or not).
    pub fn following_tokio(start: Timestamp) -> Self {
        Self {
            virtual_start: Some((start, tokio::time::Instant::now())),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        match self.virtual_start {
            None => Timestamp::now(),
            Some((start, since)) => {
                let elapsed: Duration = tokio::time::Instant::now().duration_since(since);
                start.plus(elapsed)
            }
        }
    }
}
