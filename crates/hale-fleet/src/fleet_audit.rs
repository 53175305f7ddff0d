//! One audit trail for the fleet: every node appends its records to one capped Redis
//! stream, tagged with its node name.
//!
//! Delivery is exactly once without a set of ids that grows forever: a node's records
//! carry its local sequence numbers, and Redis keeps each node's high-water mark, checked
//! and moved in the same script that appends. A retry after a lost answer, or the replay of
//! what was recorded while Redis was away, appends only what is new; a Redis that lost the
//! stream (restarted without persistence) gets everything again, one that lost only the
//! mark finds it again in the stream (see [`FleetAudit::ship`]).

use crate::connection::{FleetConnection, FleetError};
use crate::scripts::SHIP_AUDIT;

/// How many records the stream keeps (approximately: Redis trims whole nodes of its radix
/// tree, which is far cheaper than an exact cap).
pub const STREAM_CAP: u64 = 100_000;

/// One record of the fleet's audit stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRecord {
    /// The stream entry's id (`<ms>-<n>`), for reading on after it.
    pub stream_id: String,
    /// The node that recorded it.
    pub node: String,
    /// Its sequence number in that node's own audit log.
    pub seq: u64,
    /// The record, as JSON.
    pub record: String,
}

/// What a [`FleetAudit::ship`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shipment {
    /// The records above the mark were appended: `count` of them; the stream has the node
    /// through `mark` now.
    Appended {
        /// How many records were appended.
        count: u64,
        /// The node's high-water mark now.
        mark: u64,
    },
    /// The stream has the node through `mark`, not through what the caller believed:
    /// nothing was appended; ship the records above `mark`. Lower than the caller's belief
    /// when Redis lost the stream (everything is shipped again, since the stream lost it
    /// too); higher when an earlier answer was lost on the way.
    Resume {
        /// Where to ship from.
        mark: u64,
    },
}

/// A node's handle on the fleet's audit stream.
#[derive(Clone)]
pub struct FleetAudit {
    connection: FleetConnection,
    node: String,
    stream: String,
    marks: String,
}

impl FleetAudit {
    /// The stream under `prefix` (e.g. `hale:`), for `node`, through `connection`.
    pub fn new(connection: FleetConnection, node: &str, prefix: &str) -> Self {
        Self {
            connection,
            node: node.to_owned(),
            stream: format!("{prefix}audit"),
            marks: format!("{prefix}audit:delivered"),
        }
    }

    /// The highest sequence number of this node that the stream has (0: none), where a
    /// shipper resumes from.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn delivered_through(&self) -> Result<u64, FleetError> {
        let mut command = redis::cmd("HGET");
        command.arg(&self.marks).arg(&self.node);
        let mark: Option<u64> = self.connection.query(&command).await?;
        Ok(mark.unwrap_or(0))
    }

    /// Appends `records` (sequence number and JSON, in ascending order) above `after`, the
    /// sequence number the caller believes the stream has this node through — if Redis
    /// agrees. When it does not (Redis lost the stream, or an earlier call's answer was
    /// lost), nothing is appended and [`Shipment::Resume`] says where to ship from. An
    /// empty `records` only asks, which is how a shipper with nothing new notices a Redis
    /// that came back empty.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (ship them again later: nothing is
    /// doubled).
    pub async fn ship(
        &self,
        after: u64,
        records: &[(u64, String)],
    ) -> Result<Shipment, FleetError> {
        let mut invocation = SHIP_AUDIT.key(&self.stream);
        invocation
            .key(&self.marks)
            .arg(&self.node)
            .arg(STREAM_CAP)
            .arg(after);
        for (seq, record) in records {
            invocation.arg(seq).arg(record);
        }
        let (appended, count, mark): (u8, u64, u64) = self.connection.invoke(&invocation).await?;
        Ok(if appended == 1 {
            Shipment::Appended { count, mark }
        } else {
            Shipment::Resume { mark }
        })
    }

    /// Up to `count` records after the stream id `after` (from the start when `None`), oldest
    /// first, from every node.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn read(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<FleetRecord>, FleetError> {
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let mut command = redis::cmd("XRANGE");
        command
            .arg(&self.stream)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count);
        let entries: Vec<(String, Vec<(String, String)>)> = self.connection.query(&command).await?;
        Ok(entries.into_iter().filter_map(parse_entry).collect())
    }
}

/// A stream entry as a [`FleetRecord`]; entries some other writer made without the three
/// fields are skipped.
fn parse_entry((stream_id, fields): (String, Vec<(String, String)>)) -> Option<FleetRecord> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    Some(FleetRecord {
        stream_id,
        node: field("node")?,
        seq: field("seq")?.parse().ok()?,
        record: field("record")?,
    })
}
