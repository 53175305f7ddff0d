//! What the reconciler's state methods ask of the outside world, instead of doing it: the
//! audit records, the state writes and the status published by one step. The actor shell performs them, in the
//! order they were asked for, after each message and before anything waits on the store
//! (an action must not touch Docker before its in-flight mark is durable).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hale_core::{HealEvent, StatusBoard, TargetStatus, UnselectedContainer};
use hale_store::StoreWriter;

use crate::persist::state_key;
use crate::target_state::TargetState;

/// One write the shell performs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Append an audit record.
    Record(Box<HealEvent>),
    /// Store a target's state (JSON) under its key.
    PutState(String, Vec<u8>),
    /// Forget a target's state.
    DeleteState(String),
    /// Store an operator control (a paused policy).
    PutControl(String, Vec<u8>),
    /// Forget an operator control.
    DeleteControl(String),
    /// Publish each policy's targets and circuit (the reason it is open), and mark the
    /// generations applied.
    PublishTargets {
        /// (policy, open circuit's reason, its targets' status).
        policies: Vec<(String, Option<String>, Vec<TargetStatus>)>,
        /// The generations in force.
        generations: Arc<BTreeMap<String, u64>>,
        /// The containers no policy selects.
        unselected: Vec<UnselectedContainer>,
        /// When the pass was made.
        at: hale_core::Timestamp,
    },
    /// Publish the set of paused policies.
    PublishPaused(BTreeSet<String>),
    /// Publish the set of targets whose healing is turned off.
    PublishDisabled(BTreeSet<String>),
}

/// The effects asked for since the shell last performed them.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pending: Vec<Effect>,
}

impl Effects {
    /// Asks for an audit record.
    pub(crate) fn record(&mut self, event: HealEvent) {
        self.pending.push(Effect::Record(Box::new(event)));
    }

    /// Asks for a target's state to be stored as it is now.
    pub(crate) fn persist(&mut self, key: &(String, String), target: &TargetState) {
        match serde_json::to_vec(target) {
            Ok(bytes) => self.pending.push(Effect::PutState(state_key(key), bytes)),
            Err(error) => tracing::error!(%error, "cannot serialize target state"),
        }
    }

    /// Asks for a target's state to be forgotten.
    pub(crate) fn forget(&mut self, key: &(String, String)) {
        self.pending.push(Effect::DeleteState(state_key(key)));
    }

    /// Asks for an operator control to be stored, or (`None`) forgotten.
    pub(crate) fn control(&mut self, key: String, value: Option<Vec<u8>>) {
        self.pending.push(match value {
            Some(value) => Effect::PutControl(key, value),
            None => Effect::DeleteControl(key),
        });
    }

    /// Asks for the status of a pass to be published.
    pub(crate) fn publish_targets(
        &mut self,
        policies: Vec<(String, Option<String>, Vec<TargetStatus>)>,
        generations: Arc<BTreeMap<String, u64>>,
        unselected: Vec<UnselectedContainer>,
        at: hale_core::Timestamp,
    ) {
        self.pending.push(Effect::PublishTargets {
            policies,
            generations,
            unselected,
            at,
        });
    }

    /// Asks for the targets whose healing is off to be published.
    pub(crate) fn publish_disabled(&mut self, disabled: BTreeSet<String>) {
        self.pending.push(Effect::PublishDisabled(disabled));
    }

    /// Asks for the paused policies to be published.
    pub(crate) fn publish_paused(&mut self, paused: BTreeSet<String>) {
        self.pending.push(Effect::PublishPaused(paused));
    }

    /// The effects asked for so far, leaving none (for tests of state methods).
    #[cfg(test)]
    pub(crate) fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.pending)
    }

    /// Performs every pending effect through `writer` and `status`, in order.
    pub(crate) fn apply(&mut self, writer: &StoreWriter, status: &StatusBoard) {
        for effect in self.pending.drain(..) {
            match effect {
                Effect::Record(event) => writer.record(*event),
                Effect::PutState(key, bytes) => writer.put_state(key, bytes),
                Effect::DeleteState(key) => writer.delete_state(key),
                Effect::PutControl(key, value) => writer.put_control(key, value),
                Effect::DeleteControl(key) => writer.delete_control(key),
                Effect::PublishTargets {
                    policies,
                    generations,
                    unselected,
                    at,
                } => status.update(|status| {
                    status.unselected = unselected;
                    status.last_reconcile = Some(at);
                    for (name, circuit, targets) in policies {
                        if let Some(policy) = status.policies.get_mut(&name) {
                            policy.circuit_open = circuit;
                            policy.targets = targets;
                            if let Some(generation) = generations.get(&name) {
                                policy.observed_generation =
                                    policy.observed_generation.max(*generation);
                            }
                        }
                    }
                }),
                Effect::PublishPaused(paused) => status.update(|status| status.paused = paused),
                Effect::PublishDisabled(disabled) => {
                    status.update(|status| status.disabled = disabled);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hale_core::{HealEventKind, Timestamp};

    fn key(name: &str) -> (String, String) {
        ("web".to_owned(), name.to_owned())
    }

    #[test]
    fn effects_are_kept_in_the_order_asked_and_taken_once() {
        let mut effects = Effects::default();
        effects.persist(&key("a"), &TargetState::default());
        effects.record(HealEvent::new(
            Timestamp(1),
            HealEventKind::Failing,
            "web",
            None,
            "probe failed",
        ));
        effects.forget(&key("b"));
        effects.control("paused/web".to_owned(), None);
        let taken = effects.take();
        assert!(matches!(&taken[0], Effect::PutState(k, _) if k == "web\0a"));
        assert!(matches!(&taken[1], Effect::Record(e) if e.kind == HealEventKind::Failing));
        assert_eq!(taken[2], Effect::DeleteState("web\0b".to_owned()));
        assert_eq!(taken[3], Effect::DeleteControl("paused/web".to_owned()));
        assert!(effects.take().is_empty());
    }

    #[tokio::test]
    async fn applied_effects_reach_the_store_and_leave_none_pending() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(hale_store::Store::open(dir.path(), 100).unwrap());
        let (writer, _thread) =
            StoreWriter::start(std::sync::Arc::clone(&store), hale_core::AuditBus::new());
        let mut effects = Effects::default();
        effects.persist(&key("a"), &TargetState::default());
        effects.control("paused/web".to_owned(), Some(b"true".to_vec()));
        effects.apply(&writer, &hale_core::StatusBoard::new(Timestamp(0), false));
        assert!(effects.take().is_empty());
        writer.sync().await.unwrap();
        assert_eq!(store.states().unwrap().len(), 1);
        assert_eq!(
            store.controls().unwrap(),
            [("paused/web".to_owned(), b"true".to_vec())]
        );
    }
}
