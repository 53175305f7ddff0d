//! Leases in Redis: one key per subject holding `"<token> <node>"` with a TTL, and a fence
//! counter per subject that hands out ever larger tokens.
//!
//! Every call is bounded by the retry period: a partition that makes Redis silent must not
//! hold the caller past the moment it has to decide whether it may still act.

use std::time::Duration;

use redis::Client;
use redis::aio::ConnectionManager;
use tokio::time::Instant;

use crate::lease::{FencingToken, LeaseBook, LeaseTimings};
use crate::scripts::{ACQUIRE_OR_RENEW, RELEASE, STILL_HOLDS};

/// What went wrong talking to Redis. Messages name the server by host and port, never by
/// its URL (which may carry a password).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The URL is not a Redis URL.
    #[error(
        "--fleet: not a Redis URL (redis://[user:password@]host:port/db or rediss://…): {source}"
    )]
    Url {
        /// What the Redis client said.
        #[source]
        source: redis::RedisError,
    },
    /// Redis did not answer within the bound.
    #[error("Redis at {server} did not answer within {after:?}")]
    Timeout {
        /// host:port of the server.
        server: String,
        /// The bound.
        after: Duration,
    },
    /// Redis answered with an error, or the connection failed.
    #[error("Redis at {server}: {source}")]
    Redis {
        /// host:port of the server.
        server: String,
        /// What the Redis client said.
        #[source]
        source: redis::RedisError,
    },
}

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
    },
}

/// One node's handle on the fleet's leases.
#[derive(Clone)]
pub struct RedisLeases {
    connection: ConnectionManager,
    server: String,
    node: String,
    prefix: String,
    timings: LeaseTimings,
}

impl RedisLeases {
    /// Connects to the Redis at `url` as `node`, keeping keys under `prefix` (e.g.
    /// `hale:`). The connection reconnects by itself after Redis comes back.
    ///
    /// # Errors
    /// [`FleetError::Url`] for a malformed URL, [`FleetError::Redis`] or
    /// [`FleetError::Timeout`] when Redis does not answer.
    pub async fn connect(
        url: &str,
        node: &str,
        prefix: &str,
        timings: LeaseTimings,
    ) -> Result<Self, FleetError> {
        let client = Client::open(url).map_err(|source| FleetError::Url { source })?;
        let server = client.get_connection_info().addr().to_string();
        let bound = timings.retry_period;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(bound))
            .set_response_timeout(Some(bound));
        let connection =
            tokio::time::timeout(bound, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| FleetError::Timeout {
                    server: server.clone(),
                    after: bound,
                })?
                .map_err(|source| FleetError::Redis {
                    server: server.clone(),
                    source,
                })?;
        Ok(Self {
            connection,
            server,
            node: node.to_owned(),
            prefix: prefix.to_owned(),
            timings,
        })
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

    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, FleetError> {
        let after = self.timings.retry_period;
        tokio::time::timeout(after, call)
            .await
            .map_err(|_| FleetError::Timeout {
                server: self.server.clone(),
                after,
            })?
            .map_err(|source| FleetError::Redis {
                server: self.server.clone(),
                source,
            })
    }

    /// Acquires the free leases among `subjects` and renews those this node holds, in one
    /// round trip, and records the outcome in `book` (with the moment the request was sent,
    /// from which the right to act is counted). On an error the book is left as it was: the
    /// deadlines run out by themselves.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time or refuses.
    pub async fn acquire_or_renew(
        &mut self,
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
        let mut connection = self.connection.clone();
        let answers: Vec<(u8, u64, String)> = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        Ok(subjects
            .iter()
            .zip(answers)
            .map(|(subject, (ours, token, node))| {
                let token = FencingToken(token);
                if ours == 1 {
                    book.granted(subject, token, sent_at);
                    LeaseGrant::Ours(token)
                } else {
                    book.lost(subject);
                    LeaseGrant::Theirs { node, token }
                }
            })
            .collect())
    }

    /// The fencing check before an action: whether `subject`'s lease is still this node's
    /// grant `token` in Redis. A node that was paused or partitioned and comes back finds
    /// `false` here once another node took the lease, however its own timers look.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the caller must then not act).
    pub async fn still_holds(
        &mut self,
        subject: &str,
        token: FencingToken,
    ) -> Result<bool, FleetError> {
        let mut invocation = STILL_HOLDS.key(self.lease_key(subject));
        invocation.arg(&self.node).arg(token.0);
        let mut connection = self.connection.clone();
        let held: u8 = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        Ok(held == 1)
    }

    /// Hands `subject`'s lease back at once if it is still this node's grant `token`.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the lease then runs out).
    pub async fn release(
        &mut self,
        subject: &str,
        token: FencingToken,
    ) -> Result<bool, FleetError> {
        let mut invocation = RELEASE.key(self.lease_key(subject));
        invocation.arg(&self.node).arg(token.0);
        let mut connection = self.connection.clone();
        let released: u8 = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        Ok(released == 1)
    }
}
