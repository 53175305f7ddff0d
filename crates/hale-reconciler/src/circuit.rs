//! The `maxUnhealthy` circuit breaker of one policy, as a pure reading of its targets'
//! assessments.
//!
//! # The rule
//! Confirmed failures count ([`Assessment::Failing`]; a failure still below its threshold
//! is not evidence yet), and so do targets being remediated or not yet proven healthy
//! after hale's action ([`Assessment::Verifying`]). The circuit opens when at least
//! [`hale_policy::MIN_FAILURES_TO_OPEN`] targets are failing and their number exceeds
//! [`MaxUnhealthy::allowance`] (percentages round down); it closes when that no longer
//! holds. So a lone failing target is always healed.

use hale_core::{HealEvent, HealEventKind, Timestamp};
use hale_policy::MaxUnhealthy;

use crate::assess::Assessment;

/// The breaker's verdict over one policy's targets at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitReading {
    /// The policy's `maxUnhealthy`, if it has one.
    pub max_unhealthy: Option<MaxUnhealthy>,
    /// How many targets the policy has.
    pub total: usize,
    /// How many of them are confirmed failing.
    pub failing: usize,
}

impl CircuitReading {
    /// Reads the breaker from every target's assessment.
    pub fn of<'a>(
        max_unhealthy: Option<MaxUnhealthy>,
        assessments: impl IntoIterator<Item = &'a Assessment>,
    ) -> Self {
        let mut reading = Self {
            max_unhealthy,
            total: 0,
            failing: 0,
        };
        for assessment in assessments {
            reading.total += 1;
            if counts_as_failing(assessment) {
                reading.failing += 1;
            }
        }
        reading
    }

    /// Whether the circuit is open: remediate none of the policy's targets.
    pub fn is_open(&self) -> bool {
        self.max_unhealthy
            .is_some_and(|max| max.opens(self.failing, self.total))
    }

    /// Why the circuit is open, in words; `None` while it is closed.
    pub fn open_reason(&self) -> Option<String> {
        let max = self.max_unhealthy.filter(|_| self.is_open())?;
        Some(format!(
            "{} of {} targets are unhealthy, more than maxUnhealthy {max} allows ({})",
            self.failing,
            self.total,
            max.allowance(self.total)
        ))
    }

    /// The audit record of a change of state from `was_open`, if the state changed.
    pub fn change(&self, policy: &str, was_open: bool, now: Timestamp) -> Option<HealEvent> {
        let (kind, reason) = match (was_open, self.open_reason()) {
            (false, Some(why)) => (
                HealEventKind::CircuitOpen,
                format!("{why}; remediating none (a shared dependency is the likely cause)"),
            ),
            (true, None) => (
                HealEventKind::CircuitClosed,
                format!(
                    "{} of {} targets unhealthy; remediation resumes",
                    self.failing, self.total
                ),
            ),
            _ => return None,
        };
        Some(HealEvent::new(now, kind, policy, None, reason))
    }
}

/// Whether a target's assessment counts against `maxUnhealthy`: a confirmed failure, or a
/// target hale acted on that has not yet proven healthy ([`Assessment::Verifying`]): one
/// being remediated is not healthy, and letting it stop counting would let the circuit
/// close under a shared outage and a second target be restarted. (The reconciler also
/// counts a target whose action is still running, or done but not yet proven, whatever
/// it is assessed as meanwhile.) A quarantined target counts while it
/// still fails, not after it recovered on its own.
pub fn counts_as_failing(assessment: &Assessment) -> bool {
    matches!(
        assessment,
        Assessment::Failing(_) | Assessment::Verifying { .. }
    )
}
