//! The one connection a node keeps to the fleet's Redis: it reconnects by itself after
//! Redis comes back, and every call through it is bounded, because a partition that makes
//! Redis silent must not hold the caller past the moment it has to decide whether it may
//! still act.

use std::time::Duration;

use redis::Client;
use redis::aio::ConnectionManager;

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

/// A node's connection to the fleet's Redis, with the bound every call gets.
#[derive(Clone)]
pub struct FleetConnection {
    manager: ConnectionManager,
    server: String,
    bound: Duration,
}

impl FleetConnection {
    /// Connects to the Redis at `url`; every call (the first connection included) gives up
    /// after `bound`.
    ///
    /// # Errors
    /// [`FleetError::Url`] for a malformed URL, [`FleetError::Redis`] or
    /// [`FleetError::Timeout`] when Redis does not answer.
    pub async fn connect(url: &str, bound: Duration) -> Result<Self, FleetError> {
        let client = Client::open(url).map_err(|source| FleetError::Url { source })?;
        let server = client.get_connection_info().addr().to_string();
        // One plain connection and a PING first: the manager retries a refused password
        // until the bound, which would report a wrong password as a timeout.
        Self::bound_call(&server, bound, async {
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        })
        .await?;
        let connecting = ConnectionManager::new_with_config(client, Self::config(bound));
        let manager = Self::bound_call(&server, bound, connecting).await?;
        Ok(Self {
            manager,
            server,
            bound,
        })
    }

    /// A connection to the Redis at `url` made on first use and remade after every loss,
    /// so a node starts (and heals its own host) while Redis is down; every call gives up
    /// after `bound`.
    ///
    /// # Errors
    /// [`FleetError::Url`] for a malformed URL.
    pub fn lazy(url: &str, bound: Duration) -> Result<Self, FleetError> {
        let client = Client::open(url).map_err(|source| FleetError::Url { source })?;
        let server = client.get_connection_info().addr().to_string();
        let manager = ConnectionManager::new_lazy_with_config(client, Self::config(bound))
            .map_err(|source| FleetError::Url { source })?;
        Ok(Self {
            manager,
            server,
            bound,
        })
    }

    fn config(bound: Duration) -> redis::aio::ConnectionManagerConfig {
        redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(bound))
            .set_response_timeout(Some(bound))
    }

    /// host:port of the server, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Runs one script invocation, bounded.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, FleetError> {
        let mut manager = self.manager.clone();
        Self::bound_call(
            &self.server,
            self.bound,
            invocation.invoke_async(&mut manager),
        )
        .await
    }

    /// Runs one command, bounded.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, FleetError> {
        let mut manager = self.manager.clone();
        Self::bound_call(&self.server, self.bound, command.query_async(&mut manager)).await
    }

    async fn bound_call<T>(
        server: &str,
        bound: Duration,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, FleetError> {
        tokio::time::timeout(bound, call)
            .await
            .map_err(|_| FleetError::Timeout {
                server: server.to_owned(),
                after: bound,
            })?
            .map_err(|source| FleetError::Redis {
                server: server.to_owned(),
                source,
            })
    }
}
