//! One status view for the fleet: every node publishes its targets' status to a hash of its
//! own (`<prefix>status:<node>`) with a TTL, so a node that dies drops out of the view when
//! its key expires; readers (`hale get targets --fleet`, the API) list every node's.
//!
//! The view itself is opaque JSON here (hale's status types live elsewhere); this module
//! only moves it. Times are Redis' own clock, so "when did this node last publish" needs
//! no agreement between the nodes' clocks and the reader's.

use std::time::Duration;

use crate::connection::{FleetConnection, FleetError};
use crate::scripts::{PUBLISH_STATUS, READ_STATUS};

/// How many keys one `SCAN` round asks for; the listing stops after this many rounds, so a
/// Redis full of other data cannot hold a reader for long.
const SCAN_COUNT: usize = 1_000;

/// The most `SCAN` rounds one read makes.
const SCAN_ROUNDS: usize = 1_000;

/// One node's published status, as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's name.
    pub node: String,
    /// How long ago (Redis' clock) the node last published or refreshed its view.
    pub age: Duration,
    /// How often the node said it publishes.
    pub period: Duration,
    /// The view, as the node published it (JSON).
    pub view: String,
}

impl NodeStatus {
    /// The node has not published for over two periods: it is likely gone or cut off from
    /// Redis, and its view may be out of date (its key has not expired yet).
    pub fn stale(&self) -> bool {
        self.age > self.period * 2
    }
}

/// A handle on the fleet's status keys.
#[derive(Clone)]
pub struct FleetStatus {
    connection: FleetConnection,
    prefix: String,
}

impl FleetStatus {
    /// The status keys under `prefix` (e.g. `hale:`), through `connection`.
    pub fn new(connection: FleetConnection, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, node: &str) -> String {
        format!("{}status:{node}", self.prefix)
    }

    /// host:port of the server, for messages.
    pub fn server(&self) -> &str {
        self.connection.server()
    }

    /// Publishes `node`'s view (`Some`), or refreshes the one Redis has (`None`), which
    /// then lives for `ttl` more; `period` tells readers when to call it stale. Answers
    /// `false` when a refresh found no view (it expired, or Redis restarted empty): send
    /// the whole view then.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn publish(
        &self,
        node: &str,
        view: Option<&str>,
        period: Duration,
        ttl: Duration,
    ) -> Result<bool, FleetError> {
        let mut invocation = PUBLISH_STATUS.key(self.key(node));
        invocation
            .arg(millis(period))
            .arg(millis(ttl))
            .arg(view.unwrap_or(""));
        let published: u8 = self.connection.invoke(&invocation).await?;
        Ok(published == 1)
    }

    /// Takes `node`'s view out at once (a node shutting down leaves the view without
    /// waiting for its TTL).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the key then expires by itself).
    pub async fn withdraw(&self, node: &str) -> Result<(), FleetError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.key(node));
        let _: u64 = self.connection.query(&command).await?;
        Ok(())
    }

    /// Every node's published view, sorted by node name.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time or refuses (a wrong password).
    pub async fn read(&self) -> Result<Vec<NodeStatus>, FleetError> {
        let pattern = format!("{}*", self.key(""));
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        for _ in 0..SCAN_ROUNDS {
            let mut command = redis::cmd("SCAN");
            command
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, found): (u64, Vec<String>) = self.connection.query(&command).await?;
            keys.extend(found);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        // SCAN may return a key twice.
        keys.sort();
        keys.dedup();
        let mut invocation = READ_STATUS.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        let answer: Vec<String> = self.connection.invoke(&invocation).await?;
        Ok(parse_snapshot(
            &pattern[..pattern.len() - 1],
            &keys,
            &answer,
        ))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The nodes of a [`READ_STATUS`] answer for `keys` (all starting with `prefix`); keys that
/// expired between the listing and the read, or that some other writer made, are left out.
fn parse_snapshot(prefix: &str, keys: &[String], answer: &[String]) -> Vec<NodeStatus> {
    let Some(now) = answer.first().and_then(|now| now.parse::<u64>().ok()) else {
        return Vec::new();
    };
    keys.iter()
        .zip(answer[1..].chunks_exact(3))
        .filter_map(|(key, fields)| {
            let at: u64 = fields[0].parse().ok()?;
            let period: u64 = fields[1].parse().ok()?;
            if fields[2].is_empty() {
                return None;
            }
            Some(NodeStatus {
                node: key.strip_prefix(prefix)?.to_owned(),
                age: Duration::from_millis(now.saturating_sub(at)),
                period: Duration::from_millis(period),
                view: fields[2].clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn a_snapshot_names_each_node_with_its_age_and_skips_expired_keys() {
        let keys = strings(&["hale:status:a", "hale:status:b", "hale:status:c"]);
        let answer = strings(&[
            "10000",
            "9000",
            "5000",
            "{\"a\":1}",
            "",
            "",
            "",
            "1000",
            "4000",
            "{}",
        ]);
        let nodes = parse_snapshot("hale:status:", &keys, &answer);
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        assert_eq!(nodes[0].node, "a");
        assert_eq!(nodes[0].age, Duration::from_secs(1));
        assert!(!nodes[0].stale());
        assert_eq!(nodes[1].node, "c");
        assert_eq!(nodes[1].age, Duration::from_secs(9));
        assert!(nodes[1].stale(), "9 s without a publish at a 4 s period");
    }

    #[test]
    fn an_unreadable_snapshot_is_empty_not_a_panic() {
        assert!(parse_snapshot("p:", &strings(&["p:a"]), &[]).is_empty());
        assert!(parse_snapshot("p:", &strings(&["p:a"]), &strings(&["x"])).is_empty());
    }
}
