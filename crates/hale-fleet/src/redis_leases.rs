//! Leases in Redis: one key per subject holding `"<token> <node>"` with a TTL, and a fence
//! counter per subject that hands out ever larger tokens.
//!
//! Calls go through the node's [`FleetConnection`], bounded by the retry period.

use std::time::Duration;

use tokio::time::Instant;

use crate::connection::{FleetConnection, FleetError};
use crate::lease::{FencingToken, LeaseBook, LeaseTimings};
use crate::scripts::{ACQUIRE_OR_RENEW, RELEASE, RELEASE_ALL, STILL_HOLDS};

/// Who holds a subject's lease after an acquire-or-renew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrant {
    /// This node, with this token.
    Ours(FencingToken),
    /// Another node, with its token.
    Theirs {
        /// The holder's node name.
        node: String,
        /// The holder's token.
        token: FencingToken,
        /// How long the holder's lease lasts unless it renews it (on Redis' clock, as a
        /// duration, so the nodes' clocks need not agree).
        expires_in: Duration,
    },
}

/// One node's handle on the fleet's leases.
#[derive(Clone)]
pub struct RedisLeases {
    connection: FleetConnection,
    node: String,
    prefix: String,
    timings: LeaseTimings,
}

impl RedisLeases {
    /// The leases of `node`, with keys under `prefix` (e.g. `hale:`), through `connection`
    /// (whose bound should be the retry period).
    pub fn new(
        connection: FleetConnection,
        node: &str,
        prefix: &str,
        timings: LeaseTimings,
    ) -> Self {
        Self {
            connection,
            node: node.to_owned(),
            prefix: prefix.to_owned(),
            timings,
        }
    }

    /// The timings the leases are kept with.
    pub fn timings(&self) -> LeaseTimings {
        self.timings
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn lease_key(&self, subject: &str) -> String {
        format!("{}lease:{subject}", self.prefix)
    }

    fn fence_key(&self, subject: &str) -> String {
        format!("{}fence:{subject}", self.prefix)
    }

    /// Acquires the free leases among `subjects` and renews those this node holds, in one
    /// round trip, and records the outcome in `book` (with the moment the request was sent,
    /// from which the right to act is counted). On an error the book is left as it was: the
    /// deadlines run out by themselves.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time or refuses.
    pub async fn acquire_or_renew(
        &self,
        subjects: &[String],
        book: &mut LeaseBook,
    ) -> Result<Vec<LeaseGrant>, FleetError> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = ACQUIRE_OR_RENEW.prepare_invoke();
        for subject in subjects {
            invocation
                .key(self.lease_key(subject))
                .key(self.fence_key(subject));
        }
        let ttl_ms = u64::try_from(self.timings.ttl.as_millis()).unwrap_or(u64::MAX);
        invocation.arg(&self.node).arg(ttl_ms);
        let sent_at = Instant::now();
        let answers: Vec<(u8, u64, String, i64)> = self.connection.invoke(&invocation).await?;
        Ok(subjects
            .iter()
            .zip(answers)
            .map(|(subject, (ours, token, node, left_ms))| {
                let token = FencingToken(token);
                if ours == 1 {
                    book.granted(subject, token, sent_at);
                    LeaseGrant::Ours(token)
                } else {
                    book.lost(subject);
                    LeaseGrant::Theirs {
                        node,
                        token,
                        // A lease with no expiry (-1, set by hand) lasts: ask at the pace.
                        expires_in: u64::try_from(left_ms)
                            .map_or(self.timings.ttl, Duration::from_millis),
                    }
                }
            })
            .collect())
    }

    /// Asks Redis whether it answers (a round of the keeper with no subject to cover).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time or refuses.
    pub async fn ping(&self) -> Result<(), FleetError> {
        let _pong: String = self.connection.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// The fencing check before an action: whether `subject`'s lease is still this node's
    /// grant `token` in Redis. A node that was paused or partitioned and comes back finds
    /// `false` here once another node took the lease, however its own timers look.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the caller must then not act).
    pub async fn still_holds(
        &self,
        subject: &str,
        token: FencingToken,
    ) -> Result<bool, FleetError> {
        let mut invocation = STILL_HOLDS.key(self.lease_key(subject));
        invocation.arg(&self.node).arg(token.0);
        let held: u8 = self.connection.invoke(&invocation).await?;
        Ok(held == 1)
    }

    /// Hands `subject`'s lease back at once if it is still this node's grant `token`.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the lease then runs out).
    pub async fn release(&self, subject: &str, token: FencingToken) -> Result<bool, FleetError> {
        let mut invocation = RELEASE.key(self.lease_key(subject));
        invocation.arg(&self.node).arg(token.0);
        let released: u8 = self.connection.invoke(&invocation).await?;
        Ok(released == 1)
    }

    /// Hands every lease in `held` (subject and this node's token) back at once, in one
    /// round trip: what a node stopping gracefully does, so another node takes each over at
    /// its next retry instead of after the TTL. A lease that is no longer this grant (it
    /// passed to another node meanwhile) is left alone. Answers the subjects released, in
    /// `held`'s order.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the leases then run out).
    pub async fn release_all(
        &self,
        held: &[(String, FencingToken)],
    ) -> Result<Vec<String>, FleetError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = RELEASE_ALL.prepare_invoke();
        invocation.arg(&self.node);
        for (subject, token) in held {
            invocation.key(self.lease_key(subject)).arg(token.0);
        }
        let positions: Vec<usize> = self.connection.invoke(&invocation).await?;
        Ok(positions
            .into_iter()
            .filter_map(|position| held.get(position.checked_sub(1)?))
            .map(|(subject, _)| subject.clone())
            .collect())
    }
}
