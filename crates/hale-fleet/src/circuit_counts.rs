//! The fleet-wide counts behind the `maxUnhealthy` circuit of `scope: Fleet` policies: each
//! node publishes, per policy, how many of its targets count as failing and how many it
//! has, and reads the sums of the other live nodes — in one script, so two nodes never
//! race on a read-modify-write.
//!
//! Keys, per policy: `<prefix>unhealthy:<policy>`, a hash of node to `"<failing> <total>"`,
//! and `<prefix>unhealthy-until:<policy>`, a sorted set of node to when its entry expires
//! on Redis' own clock (the nodes' clocks need not agree). A node that stops publishing
//! stops counting once its entry expires.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::connection::{FleetConnection, FleetError};
use crate::scripts::PUBLISH_COUNTS;

/// How many targets of one policy count as failing, out of how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Targets that count against `maxUnhealthy` (confirmed failing, or being remediated).
    pub failing: usize,
    /// All the policy's targets.
    pub total: usize,
}

impl Counts {
    /// The sum of two counts (this node's and the others').
    pub fn plus(self, other: Self) -> Self {
        Self {
            failing: self.failing + other.failing,
            total: self.total + other.total,
        }
    }
}

/// The counts of the other live nodes for one policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Others {
    /// Their summed counts.
    pub counts: Counts,
    /// How many nodes they are (for messages).
    pub nodes: usize,
}

/// One node's entries in the fleet's circuit counts.
#[derive(Clone)]
pub struct FleetCounts {
    connection: FleetConnection,
    node: String,
    prefix: String,
    ttl: Duration,
}

impl FleetCounts {
    /// `node`'s counts under `prefix` (e.g. `hale:`), each entry living `ttl` after it was
    /// last written (a few publish periods, so one slow round does not drop it).
    pub fn new(connection: FleetConnection, node: &str, prefix: &str, ttl: Duration) -> Self {
        Self {
            connection,
            node: node.to_owned(),
            prefix: prefix.to_owned(),
            ttl,
        }
    }

    /// The hash of each node's counts of `policy`.
    pub fn counts_key(&self, policy: &str) -> String {
        format!("{}unhealthy:{policy}", self.prefix)
    }

    /// The sorted set of each node's entry expiry for `policy`.
    pub fn expiries_key(&self, policy: &str) -> String {
        format!("{}unhealthy-until:{policy}", self.prefix)
    }

    /// Writes this node's `local` counts (one entry per policy, with its expiry) and
    /// answers the other live nodes' sums per policy, in one round trip. No policies: no
    /// round trip.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn publish(
        &self,
        local: &BTreeMap<String, Counts>,
    ) -> Result<BTreeMap<String, Others>, FleetError> {
        if local.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut invocation = PUBLISH_COUNTS.prepare_invoke();
        invocation.arg(&self.node).arg(
            u64::try_from(self.ttl.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        for (policy, counts) in local {
            invocation
                .key(self.counts_key(policy))
                .key(self.expiries_key(policy))
                .arg(counts.failing)
                .arg(counts.total);
        }
        let answers: Vec<(usize, usize, usize)> = self.connection.invoke(&invocation).await?;
        Ok(local
            .keys()
            .cloned()
            .zip(answers.into_iter().map(|(failing, total, nodes)| Others {
                counts: Counts { failing, total },
                nodes,
            }))
            .collect())
    }
}
