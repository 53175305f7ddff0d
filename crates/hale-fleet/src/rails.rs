//! The rails of `scope: Fleet`, shared by the replicas of one service on every node: the
//! cooldown, the quarantine and `maxConcurrent`, the fleet-wide number of replicas being
//! remediated at once. Heals roll across hosts; they never take every replica down
//! together.
//!
//! All three are checked and taken in one script, right before the action, so two nodes
//! can never both pass (no read-modify-write race). A place in the budget is a member of a
//! sorted set scored by when it expires on Redis' own clock: given back when the replica is
//! seen healthy again, or freed by itself when its holder dies, and the nodes' clocks need
//! not agree.

use std::time::Duration;

use crate::connection::{FleetConnection, FleetError};
use crate::scripts::BEGIN_REMEDIATION;

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

    /// Checks the quarantine, the cooldown and the budget of `claim.identity`, and when all
    /// let the remediation go, takes (or renews) the holder's place and starts the shared
    /// cooldown, atomically. A holder that has a place keeps it; the cooldown another
    /// replica started holds this one, the holder's own does not (its local cooldown rules).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time: the caller must then not act (a
    /// fleet-scoped remediation is held until Redis is back).
    pub async fn begin(&self, claim: &RemediationClaim<'_>) -> Result<RailsAnswer, FleetError> {
        let mut invocation = BEGIN_REMEDIATION.key(self.key("inflight", claim.identity));
        invocation
            .key(self.key("cooldown", claim.identity))
            .key(self.key("quarantine", claim.identity))
            .arg(claim.holder)
            .arg(claim.max_concurrent.unwrap_or(0))
            .arg(millis(claim.hold).max(1))
            .arg(millis(claim.cooldown));
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
            "busy" => RailsAnswer::Busy {
                holders: who.split(' ').map(str::to_owned).collect(),
                remaining: remaining(ms),
            },
            _ => RailsAnswer::Go,
        })
    }

    /// Gives `holder`'s place back: its replica is healthy again (or its remediation ended
    /// for good), so the next replica may be remediated.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the place then expires).
    pub async fn give_back(&self, identity: &str, holder: &str) -> Result<(), FleetError> {
        let mut command = redis::cmd("ZREM");
        command.arg(self.key("inflight", identity)).arg(holder);
        let _removed: u32 = self.connection.query(&command).await?;
        Ok(())
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

    /// Ends the service's quarantine (an operator released it, or `releaseAfter` passed).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn release(&self, identity: &str) -> Result<(), FleetError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.key("quarantine", identity));
        let _deleted: u32 = self.connection.query(&command).await?;
        Ok(())
    }
}
