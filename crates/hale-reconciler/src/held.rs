//! An action the fleet held back before it ran (`scope: Fleet` rails, or fleet mode's
//! fencing check): nothing was done, so the decision that planned it is taken back — the
//! attempt, the backoff step, the "last action" a person sees — and the target is asked
//! about again when the hold may be over, not after the whole cooldown. When what held it is
//! the service's shared ladder, further up than this replica's, the replica climbs there
//! and is decided again at once.

use std::time::Duration;

use hale_core::Timestamp;
use hale_policy::Action;

use crate::target_state::TargetState;

/// The parts of a target's ladder a decision to act changes, as they were before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LadderBefore {
    backoff_ms: Option<u64>,
    last_action: Option<Action>,
    last_action_at: Option<Timestamp>,
    last_step_timeout_ms: Option<u64>,
    next_action_at: Option<Timestamp>,
    escalate_at: Option<Timestamp>,
    fresh_after: Option<Timestamp>,
    remediated: bool,
}

impl LadderBefore {
    /// What `state` holds now, before a decision to act changes it.
    pub(crate) fn of(state: &TargetState) -> Self {
        Self {
            backoff_ms: state.backoff_ms,
            last_action: state.last_action,
            last_action_at: state.last_action_at,
            last_step_timeout_ms: state.last_step_timeout_ms,
            next_action_at: state.next_action_at,
            escalate_at: state.escalate_at,
            fresh_after: state.fresh_after,
            remediated: state.remediated,
        }
    }

    /// Takes back the decision to act on `state` (its attempt included): the action was
    /// held. The target may be acted on again `retry_in` from `now`, or when the cooldown
    /// of the last action that did run allows, whichever is later.
    pub(crate) fn restore(&self, state: &mut TargetState, retry_in: Duration, now: Timestamp) {
        state.attempts_in_step = state.attempts_in_step.saturating_sub(1);
        state.action_times.pop();
        state.backoff_ms = self.backoff_ms;
        state.last_action = self.last_action;
        state.last_action_at = self.last_action_at;
        state.last_step_timeout_ms = self.last_step_timeout_ms;
        state.escalate_at = self.escalate_at;
        // No action ran, so the failure seen before the decision still says the target is
        // failing now: waiting for a newer one would only delay the action the hold allows.
        state.fresh_after = self.fresh_after;
        state.remediated = self.remediated;
        let retry_at = now.plus(retry_in);
        let next = self.next_action_at.map_or(retry_at, |n| n.max(retry_at));
        state.next_action_at = Some(next);
        // The hold was reported when it happened; the wait it causes is not a cooldown
        // to report again at every pass.
        state.reported_cooldown = Some(next);
    }
}

/// Moves `state` up to `rung` (0-based) of its ladder, with no attempt made there yet: the
/// service's ladder, which the fleet shares, is there, because the rungs below did not fix
/// another replica. A target already at or above it stays where it is.
pub(crate) fn climb_to(state: &mut TargetState, rung: usize) {
    if rung > state.step {
        state.step = rung;
        state.attempts_in_step = 0;
        // The rung's own timeout starts with its first action, not with an earlier rung's.
        state.escalate_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_action_leaves_the_ladder_as_it_was_and_asks_again_after_the_hold() {
        let earlier = Timestamp(1_000);
        let mut state = TargetState {
            attempts_in_step: 1,
            action_times: vec![earlier],
            backoff_ms: Some(10_000),
            last_action: Some(Action::Restart),
            last_action_at: Some(earlier),
            next_action_at: Some(Timestamp(2_000)),
            fresh_after: Some(earlier),
            ..TargetState::default()
        };
        let before = LadderBefore::of(&state);
        // The decision to act again, as `decide` makes it.
        let now = Timestamp(50_000);
        state.attempts_in_step += 1;
        state.action_times.push(now);
        state.backoff_ms = Some(20_000);
        state.last_action_at = Some(now);
        state.next_action_at = Some(now.plus(Duration::from_secs(30)));
        state.fresh_after = Some(now);
        state.remediated = true;

        before.restore(&mut state, Duration::from_secs(2), now);
        assert_eq!(state.attempts_in_step, 1, "the held attempt is given back");
        assert_eq!(state.action_times, vec![earlier]);
        assert_eq!(
            state.backoff_ms,
            Some(10_000),
            "the backoff did not step up"
        );
        assert_eq!(
            state.last_action_at,
            Some(earlier),
            "no action is shown that did not run"
        );
        assert!(!state.remediated);
        assert_eq!(
            state.fresh_after,
            Some(earlier),
            "the failure seen before the held decision still counts: no action made it old"
        );
        assert_eq!(
            state.next_action_at,
            Some(now.plus(Duration::from_secs(2))),
            "asked again when the hold may be over, not after the cooldown"
        );
        assert_eq!(state.reported_cooldown, state.next_action_at);

        // A cooldown of the last real action that runs longer than the hold still holds.
        let mut cooling = TargetState {
            next_action_at: Some(Timestamp(90_000)),
            ..TargetState::default()
        };
        let before = LadderBefore::of(&cooling);
        cooling.attempts_in_step = 1;
        before.restore(&mut cooling, Duration::from_secs(2), now);
        assert_eq!(cooling.next_action_at, Some(Timestamp(90_000)));
        assert_eq!(cooling.attempts_in_step, 0);
    }

    #[test]
    fn a_replica_climbs_to_the_rung_the_fleet_reached_and_never_down() {
        let mut state = TargetState {
            step: 0,
            attempts_in_step: 1,
            escalate_at: Some(Timestamp(5_000)),
            ..TargetState::default()
        };
        climb_to(&mut state, 2);
        assert_eq!((state.step, state.attempts_in_step), (2, 0));
        assert_eq!(
            state.escalate_at, None,
            "the new rung's timeout starts with its action"
        );

        let mut higher = TargetState {
            step: 3,
            attempts_in_step: 1,
            escalate_at: Some(Timestamp(5_000)),
            ..TargetState::default()
        };
        climb_to(&mut higher, 2);
        assert_eq!((higher.step, higher.attempts_in_step), (3, 1));
        assert_eq!(higher.escalate_at, Some(Timestamp(5_000)));
    }
}
