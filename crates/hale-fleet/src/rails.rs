//! The rails of `scope: Fleet`, shared by the replicas of one service on every node: the
//! cooldown, the quarantine, the ladder position and `maxConcurrent`, the fleet-wide number
//! of replicas being remediated at once. Heals roll across hosts; they never take every
//! replica down together, and a remedy that did not fix one replica is not tried again on
//! the next.
//!
//! All four are checked and taken in one script, right before the action, so two nodes
//! can never both pass (no read-modify-write race). A place in the budget is a member of a
//! sorted set scored by when it expires on Redis' own clock: given back when the replica is
//! seen healthy again, or freed by itself when its holder dies, and the nodes' clocks need
//! not agree.

use std::time::Duration;

use crate::connection::{FleetConnection, FleetError};
use crate::scripts::{BEGIN_REMEDIATION, GIVE_BACK};

/// What one remediation asks of the fleet's rails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediationClaim<'a> {
    /// The service the target is a replica of (e.g. `web-policy/shop/web`).
    pub identity: &'a str,
    /// The replica asking: its node and target (e.g. `node-a/shop-web-1`).
    pub holder: &'a str,
    /// `maxConcurrent`; `None`: no budget, only the cooldown and quarantine hold.
    pub max_concurrent: Option<u32>,
    /// How long a place lasts unless given back (longer than the action and the recovery
    /// it waits for, so a node that dies mid-action frees its place by itself).
    pub hold: Duration,
    /// The policy's cooldown, started for every replica by this remediation.
    pub cooldown: Duration,
    /// The rung of the ladder (0-based) this remediation is at.
    pub rung: usize,
    /// The top rung of this replica's ladder (a position above it, reached under a longer
    /// ladder of another node's policy, counts as the top).
    pub top_rung: usize,
    /// How long the service's ladder position lasts after this remediation, unless another
    /// one moves it (the place's hold and the policy's `resetAfter`).
    pub ladder_lasts: Duration,
}

/// The rails' answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RailsAnswer {
    /// Go ahead: the place (if any) is taken and the shared cooldown started.
    Go,
    /// A replica of the service is quarantined (it kept failing); `by` says which.
    Quarantined {
        /// The replica whose quarantine holds the service.
        by: String,
        /// How long until it ends by itself (`None`: until an operator releases it).
        remaining: Option<Duration>,
    },
    /// Another replica was remediated within the cooldown.
    CoolingDown {
        /// That replica.
        by: String,
        /// How long the shared cooldown still runs.
        remaining: Duration,
    },
    /// Another replica of the service got further up the ladder lately (the rungs below
    /// did not fix it): this replica starts at `rung` instead.
    Ahead {
        /// The replica that reached it.
        by: String,
        /// The rung (0-based) to start at.
        rung: usize,
    },
    /// `maxConcurrent` replicas are being remediated now.
    Busy {
        /// Who holds the places.
        holders: Vec<String>,
        /// How long until the first place expires, if none is given back before.
        remaining: Duration,
    },
}

/// The shared rails of the fleet's services.
#[derive(Clone)]
pub struct FleetRails {
    connection: FleetConnection,
    prefix: String,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn remaining(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl FleetRails {
    /// The rails under `prefix` (e.g. `hale:`), through `connection`.
    pub fn new(connection: FleetConnection, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, kind: &str, identity: &str) -> String {
        format!("{}{kind}:{identity}", self.prefix)
    }

    /// Checks the quarantine, the cooldown, the budget and the ladder position of
    /// `claim.identity`, and when all let the remediation go, takes (or renews) the
    /// holder's place, starts the shared cooldown and moves the ladder position to the
    /// claim's rung, atomically. A holder that has a place keeps it; the cooldown another
    /// replica started holds this one, the holder's own does not (its local cooldown rules).
    /// A position above the claim's rung sends the replica there instead
    /// ([`RailsAnswer::Ahead`]): nothing is taken.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time: the caller must then not act (a
    /// fleet-scoped remediation is held until Redis is back).
    pub async fn begin(&self, claim: &RemediationClaim<'_>) -> Result<RailsAnswer, FleetError> {
        let mut invocation = BEGIN_REMEDIATION.key(self.key("inflight", claim.identity));
        invocation
            .key(self.key("cooldown", claim.identity))
            .key(self.key("quarantine", claim.identity))
            .key(self.key("ladder", claim.identity))
            .arg(claim.holder)
            .arg(claim.max_concurrent.unwrap_or(0))
            .arg(millis(claim.hold).max(1))
            .arg(millis(claim.cooldown))
            .arg(claim.rung)
            .arg(claim.top_rung)
            .arg(millis(claim.ladder_lasts).max(1));
        let (verdict, who, ms): (String, String, i64) = self.connection.invoke(&invocation).await?;
        Ok(match verdict.as_str() {
            "quarantined" => RailsAnswer::Quarantined {
                by: who,
                remaining: (ms >= 0).then(|| remaining(ms)),
            },
            "cooling" => RailsAnswer::CoolingDown {
                by: who,
                remaining: remaining(ms),
            },
            "ahead" => RailsAnswer::Ahead {
                by: who,
                rung: usize::try_from(ms).unwrap_or(0),
            },
            "busy" => RailsAnswer::Busy {
                holders: who.split(' ').map(str::to_owned).collect(),
                remaining: remaining(ms),
            },
            _ => RailsAnswer::Go,
        })
    }

    /// Gives `holder`'s place back: its replica is healthy again (or its remediation ended
    /// for good), so the next replica may be remediated. The service's ladder position
    /// lasts at least `ladder_lasts` more (the policy's `resetAfter`): it starts over only
    /// once the service has been left alone that long.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the place then expires).
    pub async fn give_back(
        &self,
        identity: &str,
        holder: &str,
        ladder_lasts: Duration,
    ) -> Result<(), FleetError> {
        let mut invocation = GIVE_BACK.key(self.key("inflight", identity));
        invocation
            .key(self.key("ladder", identity))
            .arg(holder)
            .arg(millis(ladder_lasts).max(1));
        let _done: u32 = self.connection.invoke(&invocation).await?;
        Ok(())
    }

    /// The service's ladder position: the highest rung (0-based) a replica acted on lately
    /// and which replica that was; `None` when no position lasts.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn ladder(&self, identity: &str) -> Result<Option<(usize, String)>, FleetError> {
        let mut command = redis::cmd("GET");
        command.arg(self.key("ladder", identity));
        let position: Option<String> = self.connection.query(&command).await?;
        Ok(position.and_then(|position| {
            let (rung, by) = position.split_once(' ')?;
            Some((rung.parse().ok()?, by.to_owned()))
        }))
    }

    /// The holders of places in `identity`'s budget now (expired ones included until the
    /// next claim drops them).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn holders(&self, identity: &str) -> Result<Vec<String>, FleetError> {
        let mut command = redis::cmd("ZRANGE");
        command.arg(self.key("inflight", identity)).arg(0).arg(-1);
        self.connection.query(&command).await
    }

    /// Quarantines the service: `holder` kept failing. `lasts`: until the quarantine ends
    /// by itself (`releaseAfter`); `None` until [`FleetRails::release`].
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn quarantine(
        &self,
        identity: &str,
        holder: &str,
        lasts: Option<Duration>,
    ) -> Result<(), FleetError> {
        let mut command = redis::cmd("SET");
        command.arg(self.key("quarantine", identity)).arg(holder);
        if let Some(lasts) = lasts {
            command.arg("PX").arg(millis(lasts).max(1));
        }
        let _: () = self.connection.query(&command).await?;
        Ok(())
    }

    /// Ends the service's quarantine (an operator released it, or `releaseAfter` passed),
    /// and its ladder position with it: as a released replica's own ladder does, the
    /// service's starts over from the first rung.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn release(&self, identity: &str) -> Result<(), FleetError> {
        let mut command = redis::cmd("DEL");
        command
            .arg(self.key("quarantine", identity))
            .arg(self.key("ladder", identity));
        let _deleted: u32 = self.connection.query(&command).await?;
        Ok(())
    }
}
