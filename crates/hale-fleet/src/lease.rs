//! One node's view of its leases: which it holds, until when it may act on each, and the
//! fencing token to present. Pure: the caller passes "now" and what Redis answered.
//!
//! The rule, as in Kubernetes leader election: a node may act on a lease only until
//! `renew_deadline` after the moment it *sent* its last successful renewal. Redis keeps the
//! lease for `ttl` after it *received* that renewal, which is later, and `renew_deadline <
//! ttl`; so a node that cannot renew (Redis down, a partition, a `SIGSTOP`) stops acting
//! before the lease can expire and pass to another node, as long as the two clocks run at
//! about the same rate over a few seconds.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// The number Redis hands out with each new grant of a lease: strictly larger than every
/// earlier grant of the same lease, so a node that lost its lease and comes back holds a
/// token that a check against Redis refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub u64);

impl std::fmt::Display for FencingToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How long leases live and how often they are renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long Redis keeps a lease after its last renewal (Kubernetes' `leaseDuration`).
    pub ttl: Duration,
    /// How long after sending its last successful renewal the holder may still act
    /// (Kubernetes' `renewDeadline`). Shorter than `ttl`.
    pub renew_deadline: Duration,
    /// How often every node tries to acquire or renew (Kubernetes' `retryPeriod`).
    pub retry_period: Duration,
}

impl Default for LeaseTimings {
    /// Kubernetes' defaults for leader election: 15 s, 10 s, 2 s.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Why a set of [`LeaseTimings`] cannot keep the one-holder promise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseTimingsError {
    /// The renew deadline is not shorter than the lease: a node that cannot renew could
    /// still act after its lease passed to another node.
    #[error(
        "the renew deadline ({deadline:?}) must be shorter than the lease TTL ({ttl:?}), or a node that cannot renew could act after another took over"
    )]
    DeadlineNotBeforeTtl {
        /// The renew deadline given.
        deadline: Duration,
        /// The TTL given.
        ttl: Duration,
    },
    /// The retry period is not shorter than the renew deadline: the holder would lose the
    /// right to act between two renewals even when Redis answers every time.
    #[error(
        "the retry period ({period:?}) must be shorter than the renew deadline ({deadline:?}), or the holder stops acting between two renewals"
    )]
    PeriodNotBeforeDeadline {
        /// The retry period given.
        period: Duration,
        /// The renew deadline given.
        deadline: Duration,
    },
}

impl LeaseTimings {
    /// Checks that the timings keep the promise: retry period < renew deadline < TTL.
    ///
    /// # Errors
    /// [`LeaseTimingsError`] naming the pair out of order.
    pub fn validated(self) -> Result<Self, LeaseTimingsError> {
        if self.renew_deadline >= self.ttl {
            return Err(LeaseTimingsError::DeadlineNotBeforeTtl {
                deadline: self.renew_deadline,
                ttl: self.ttl,
            });
        }
        if self.retry_period >= self.renew_deadline {
            return Err(LeaseTimingsError::PeriodNotBeforeDeadline {
                period: self.retry_period,
                deadline: self.renew_deadline,
            });
        }
        Ok(self)
    }
}

/// A lease this node holds: its token and the moment the right to act on it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    token: FencingToken,
    act_until: Instant,
}

/// Whether the fleet store answered the keeper's last round: what tells a node that holds
/// no lease because Redis is away ("held") from one whose lease another node holds
/// ("standby").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreState {
    /// No round has finished yet.
    #[default]
    Unknown,
    /// The last round was answered.
    Reachable,
    /// The last round was not answered (Redis down, a partition, a timeout).
    Unreachable,
}

/// The leases of one node, by subject (a site, a policy).
#[derive(Debug, Clone)]
pub struct LeaseBook {
    timings: LeaseTimings,
    held: HashMap<String, Held>,
    store: StoreState,
}

impl LeaseBook {
    /// An empty book: the node holds nothing and may act on nothing fleet-wide.
    pub fn new(timings: LeaseTimings) -> Self {
        Self {
            timings,
            held: HashMap::new(),
            store: StoreState::Unknown,
        }
    }

    /// Whether the fleet store answered the last round.
    pub fn store(&self) -> StoreState {
        self.store
    }

    /// Records whether the fleet store answered this round. Changes no lease: a node that
    /// cannot renew keeps acting until its renew deadline, as without this.
    pub fn set_store(&mut self, store: StoreState) {
        self.store = store;
    }

    /// The timings the book applies.
    pub fn timings(&self) -> LeaseTimings {
        self.timings
    }

    /// Redis granted or renewed `subject`'s lease with `token`, for a request sent at
    /// `sent_at` (not when the answer came: the deadline counts from the earlier moment,
    /// which is the safe side).
    pub fn granted(&mut self, subject: &str, token: FencingToken, sent_at: Instant) {
        let act_until = sent_at + self.timings.renew_deadline;
        match self.held.get_mut(subject) {
            // A late answer to an older renewal never shortens nor lengthens a newer one
            // wrongly: keep the later deadline of the same grant.
            Some(held) if held.token == token => held.act_until = held.act_until.max(act_until),
            _ => {
                self.held
                    .insert(subject.to_owned(), Held { token, act_until });
            }
        }
    }

    /// Redis said another node holds `subject`'s lease (or ours is gone): stop acting on it
    /// now.
    pub fn lost(&mut self, subject: &str) {
        self.held.remove(subject);
    }

    /// The token to act on `subject` with at `now`, if this node may act on it: it holds
    /// the lease and its renew deadline has not passed. A failed renewal changes nothing
    /// here: the deadline runs out by itself.
    pub fn may_act(&self, subject: &str, now: Instant) -> Option<FencingToken> {
        self.held
            .get(subject)
            .filter(|held| now < held.act_until)
            .map(|held| held.token)
    }

    /// Every subject this node may act on at `now`, with its token.
    pub fn acting(&self, now: Instant) -> impl Iterator<Item = (&str, FencingToken)> {
        self.held
            .iter()
            .filter(move |(_, held)| now < held.act_until)
            .map(|(subject, held)| (subject.as_str(), held.token))
    }

    /// Forgets the leases whose deadline passed before `now` (they may already belong to
    /// another node), returning their subjects so the caller can report the hand-over.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let expired: Vec<String> = self
            .held
            .iter()
            .filter(|(_, held)| now >= held.act_until)
            .map(|(subject, _)| subject.clone())
            .collect();
        for subject in &expired {
            self.held.remove(subject);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings() -> LeaseTimings {
        LeaseTimings::default()
    }

    #[test]
    fn timings_out_of_order_are_refused_with_the_pair_named() {
        let bad = LeaseTimings {
            renew_deadline: Duration::from_secs(15),
            ..timings()
        };
        assert!(matches!(
            bad.validated(),
            Err(LeaseTimingsError::DeadlineNotBeforeTtl { .. })
        ));
        let bad = LeaseTimings {
            retry_period: Duration::from_secs(10),
            ..timings()
        };
        let error = bad.validated().unwrap_err();
        assert!(error.to_string().contains("retry period (10s)"), "{error}");
        assert_eq!(timings().validated(), Ok(timings()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_stops_acting_at_the_renew_deadline_counted_from_sending() {
        let mut book = LeaseBook::new(timings());
        let sent = Instant::now();
        tokio::time::advance(Duration::from_millis(300)).await; // the answer's round trip
        book.granted("site/shop", FencingToken(7), sent);
        assert_eq!(
            book.may_act("site/shop", Instant::now()),
            Some(FencingToken(7))
        );
        assert_eq!(book.may_act("site/other", Instant::now()), None);

        // Renewals fail from here on: the right ends 10 s after the last *sent* renewal,
        // 5 s before Redis could hand the lease to another node.
        tokio::time::advance(Duration::from_millis(9_600)).await;
        assert_eq!(
            book.may_act("site/shop", Instant::now()),
            Some(FencingToken(7))
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(book.may_act("site/shop", Instant::now()), None);
        assert_eq!(book.expire(Instant::now()), vec!["site/shop".to_owned()]);
        assert_eq!(book.acting(Instant::now()).count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn renewals_extend_and_a_new_grant_replaces_the_old_token() {
        let mut book = LeaseBook::new(timings());
        book.granted("p", FencingToken(1), Instant::now());
        let early = Instant::now();
        tokio::time::advance(Duration::from_secs(2)).await;
        book.granted("p", FencingToken(1), Instant::now());
        // A late answer to the earlier renewal does not shorten the newer deadline.
        book.granted("p", FencingToken(1), early);
        tokio::time::advance(Duration::from_millis(9_900)).await;
        assert_eq!(book.may_act("p", Instant::now()), Some(FencingToken(1)));

        book.lost("p");
        assert_eq!(book.may_act("p", Instant::now()), None);
        book.granted("p", FencingToken(4), Instant::now());
        assert_eq!(book.may_act("p", Instant::now()), Some(FencingToken(4)));
    }
}
