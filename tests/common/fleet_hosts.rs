//! Three hosts of a fleet on this machine: a private `dockerd` each (its own socket, data
//! and network namespace) and a `hale run --fleet` node watching it, all sharing one Redis,
//! for the tests of `scope: Fleet`.

#![allow(dead_code)] // each test binary uses its own part of it

use super::dockerd::Dockerd;
use super::{Hale, Workspace};

/// The nodes' names, one per host.
pub const NODES: [&str; 3] = ["a", "b", "c"];

/// The hosts: `daemons[i]` is watched by `nodes[i]` (named `NODES[i]`).
pub struct FleetHosts {
    /// The private daemons.
    pub daemons: Vec<Dockerd>,
    /// The nodes, started on `workspace`'s policies.
    pub nodes: Vec<Hale>,
}

impl FleetHosts {
    /// Starts three daemons, then a node on each with `--fleet redis_url` and `extra`.
    pub fn start(workspace: &Workspace, redis_url: &str, extra: &[&str]) -> Self {
        Self::start_some(workspace, redis_url, extra, NODES.len())
    }

    /// Starts `count` (at most three) daemons, then a node on each, as [`FleetHosts::start`].
    pub fn start_some(
        workspace: &Workspace,
        redis_url: &str,
        extra: &[&str],
        count: usize,
    ) -> Self {
        let names = &NODES[..count];
        let daemons: Vec<Dockerd> = names.iter().map(|_| Dockerd::start(None)).collect();
        let nodes = daemons
            .iter()
            .zip(names.iter().copied())
            .map(|(daemon, name)| {
                let socket = daemon.socket();
                let mut args = vec!["--docker", &socket, "--fleet", redis_url, "--node", name];
                args.extend_from_slice(extra);
                Hale::start(
                    &workspace.policies(),
                    &workspace.root().join(format!("state-{name}")),
                    &args,
                    &[],
                )
            })
            .collect();
        Self { daemons, nodes }
    }
}

/// A `scope: Fleet` policy `name` over the containers labelled `hale.test=<id>`,
/// restarting with short timers, with `rail` (a line such as `maxConcurrent: 1`) added to
/// its remediation.
pub fn replica_policy(id: &str, name: &str, rail: &str) -> String {
    format!(
        r"apiVersion: hale.dev/v1alpha1
kind: HealPolicy
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{hale.test: '{id}'}}}}
  scope: Fleet
  remediation:
    steps:
    - {{action: restart, attempts: 3, timeout: 30s}}
    cooldown: 1s
    backoff: {{initial: 1s, max: 1s}}
    {rail}
"
    )
}
