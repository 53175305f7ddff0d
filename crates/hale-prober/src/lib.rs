//! The Prober: runs each policy's periodic probes (`httpGet`, `tcpSocket`, `exec`) against
//! the containers the policy selects and the sites it names, evaluates their conditions, and reports every
//! outcome to the reconciler, which counts them against the thresholds.
//!
//! One schedule (a lightweight task) per (policy, target, probe): started at a spread
//! offset within the period so that a thousand probes do not fire at once, never running
//! two probes of one schedule at a time (a slow probe delays the next instead of piling
//! up), stopped the moment its container, site or policy goes away. HTTP probes share clients,
//! so connections are reused.

mod actor;
mod disk;
mod error;
mod run;

pub use actor::{PROBER_NAME, Prober, ProberArgs, ProberMsg};
pub use disk::{DiskError, FsSpace, judge_space, probe_disk, read_space};
pub use run::{HttpClients, ProbeResult, probe_site, run_probe};
