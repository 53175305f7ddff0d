//! Fleet mode: several `hale run`s, one per Docker host, coordinating through Redis.
//!
//! This crate holds the coordination primitives, each in its own module:
//! - [`lease`]: the pure bookkeeping of one node's leases — when it may act on a lease and
//!   with which fencing token — in the manner of Kubernetes leader election (a renew
//!   deadline shorter than the lease, so a node that cannot renew stops acting before
//!   another node may take over);
//! - [`redis_leases`]: the leases in Redis, acquired, renewed, checked and released by Lua
//!   scripts so that no read-modify-write race between nodes exists;
//! - [`keeper`]: the task that keeps a node's leases renewed and publishes what it may act
//!   on, without the reconciler ever waiting on Redis;
//! - [`rails`]: the cooldown, quarantine and `maxConcurrent` that the replicas of a
//!   `scope: Fleet` service share across nodes;
//! - [`circuit_counts`] and [`counter`]: each node's counts of failing targets of
//!   `scope: Fleet` policies, summed over the live nodes for the `maxUnhealthy` circuit;
//! - [`fleet_audit`]: every node's audit records in one capped Redis stream, delivered
//!   exactly once;
//! - [`fleet_status`]: every node's targets' status in a key of its own with a TTL, the
//!   fleet's one status view;
//! - [`connection`]: the one bounded, reconnecting connection they all share.

pub mod circuit_counts;
pub mod connection;
pub mod counter;
pub mod fleet_audit;
pub mod fleet_status;
pub mod keeper;
pub mod lease;
pub mod rails;
pub mod redis_leases;
mod scripts;

pub use circuit_counts::{Counts, FleetCounts, Others};
pub use connection::{FleetConnection, FleetError};
pub use counter::{CounterHandle, FleetReading, LocalCounts, Settling, spawn_counter};
pub use fleet_audit::{FleetAudit, FleetRecord, Shipment};
pub use fleet_status::{FleetStatus, NodeStatus};
pub use keeper::{KeeperEvent, KeeperHandle, spawn_keeper};
pub use lease::{FencingToken, LeaseBook, LeaseTimings, LeaseTimingsError, StoreState};
pub use rails::{FleetRails, RailsAnswer, RemediationClaim};
pub use redis_leases::{LeaseGrant, RedisLeases};
