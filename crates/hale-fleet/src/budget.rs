//! `maxConcurrent`: how many replicas of one service the whole fleet remediates at once.
//! Heals roll across hosts; they never take every replica down together.
//!
//! A place is a member of a sorted set scored by when it expires on Redis' own clock, so a
//! node that dies mid-action frees its place by itself and the nodes' clocks need not
//! agree.

use std::time::Duration;

use crate::connection::{FleetConnection, FleetError};
use crate::scripts::TAKE_PLACE;

/// The remediation budget of the services of one fleet.
#[derive(Clone)]
pub struct RemediationBudget {
    connection: FleetConnection,
    prefix: String,
}

impl RemediationBudget {
    /// The budgets under `prefix` (e.g. `hale:`), through `connection`.
    pub fn new(connection: FleetConnection, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, identity: &str) -> String {
        format!("{}inflight:{identity}", self.prefix)
    }

    /// Takes (or renews) `holder`'s place among the at most `max` remediations of the
    /// service `identity`, for `hold` (longer than the action's timeout). `false` when the
    /// budget is spent: another replica is being remediated, wait and ask again.
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the caller must then not act on
    /// a fleet-scoped target).
    pub async fn take(
        &self,
        identity: &str,
        holder: &str,
        max: u32,
        hold: Duration,
    ) -> Result<bool, FleetError> {
        let mut invocation = TAKE_PLACE.key(self.key(identity));
        let hold_ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
        invocation.arg(holder).arg(max).arg(hold_ms);
        let taken: u8 = self.connection.invoke(&invocation).await?;
        Ok(taken == 1)
    }

    /// Gives `holder`'s place back (the action ended).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time (the place then expires).
    pub async fn give_back(&self, identity: &str, holder: &str) -> Result<(), FleetError> {
        let mut command = redis::cmd("ZREM");
        command.arg(self.key(identity)).arg(holder);
        let _removed: u32 = self.connection.query(&command).await?;
        Ok(())
    }

    /// The holders of places in `identity`'s budget now (expired ones included until the
    /// next take drops them).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in time.
    pub async fn holders(&self, identity: &str) -> Result<Vec<String>, FleetError> {
        let mut command = redis::cmd("ZRANGE");
        command.arg(self.key(identity)).arg(0).arg(-1);
        self.connection.query(&command).await
    }
}
