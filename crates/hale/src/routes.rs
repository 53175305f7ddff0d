//! The routes between hale's actors, in one place: the typed mailboxes each actor is
//! reached through, and what each one subscribes to when it starts. The supervisor calls
//! [`Routes::connect`] after every start or restart, so a new incarnation is reachable
//! and hears every flow it needs; nothing finds an actor by a name string.
//!
//! ```text
//! PolicyWatcher ─updates─▶ reloads (record, persist, publish) ─policies─▶ Reconciler,
//!                                                                   Prober, Notifier
//! DockerWatcher ─observations─▶ Reconciler, Prober (and the status board)
//! Prober ─outcomes─▶ Reconciler (and the metrics)
//! Reconciler ─▶ StoreWriter ─audit bus─▶ Notifier (and the metrics, the API stream)
//! API ─control requests─▶ Reconciler (its mailbox)
//! ```

use hale_core::{AuditBus, LatestPort, Mailbox, OutputPort, ProbeOutcome};
use hale_notifier::{NOTIFIER_NAME, NotifierMsg};
use hale_prober::{PROBER_NAME, ProberMsg};
use hale_reconciler::{RECONCILER_NAME, ReconcilerMsg};
use hale_watcher::{
    Observation, POLICY_WATCHER_NAME, PolicySnapshot, PolicyWatcherMsg, WATCHER_NAME, WatcherMsg,
};
use ractor::{ActorCell, ActorRef};

/// The supervised children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Child {
    /// The Reconciler.
    Reconciler,
    /// The DockerWatcher.
    Watcher,
    /// The Prober.
    Prober,
    /// The PolicyWatcher.
    PolicyWatcher,
    /// The Notifier.
    Notifier,
}

impl Child {
    /// Every child, in the order they are stopped: first what feeds the others.
    pub const ALL: [Self; 5] = [
        Self::PolicyWatcher,
        Self::Watcher,
        Self::Prober,
        Self::Reconciler,
        Self::Notifier,
    ];

    /// The name it runs under, for logs (nothing looks an actor up by it).
    pub fn name(self) -> &'static str {
        match self {
            Self::Reconciler => RECONCILER_NAME,
            Self::Watcher => WATCHER_NAME,
            Self::Prober => PROBER_NAME,
            Self::PolicyWatcher => POLICY_WATCHER_NAME,
            Self::Notifier => NOTIFIER_NAME,
        }
    }
}

/// The typed mailboxes of the supervised actors: each holds the current incarnation,
/// handed in by the supervisor at every start.
#[derive(Clone, Default)]
pub struct Mailboxes {
    /// The Reconciler (control requests, alerts, action results).
    pub reconciler: Mailbox<ReconcilerMsg>,
    /// The Prober.
    pub prober: Mailbox<ProberMsg>,
    /// The DockerWatcher (relist requests).
    pub watcher: Mailbox<WatcherMsg>,
    /// The PolicyWatcher (reload requests).
    pub policy_watcher: Mailbox<PolicyWatcherMsg>,
    /// The Notifier.
    pub notifier: Mailbox<NotifierMsg>,
}

/// The one-to-many flows.
#[derive(Clone)]
pub struct Routes {
    /// The mailboxes.
    pub mailboxes: Mailboxes,
    /// What the DockerWatcher sees.
    pub observations: OutputPort<Observation>,
    /// What the Prober's probes found.
    pub outcomes: OutputPort<ProbeOutcome>,
    /// The policies in force: the current snapshot, and each reload that changes them.
    pub policies: LatestPort<PolicySnapshot>,
    /// Every audit record once it is written.
    pub audit: AuditBus,
}

/// An actor that just started.
pub enum Started {
    /// The Reconciler.
    Reconciler(ActorRef<ReconcilerMsg>),
    /// The Prober.
    Prober(ActorRef<ProberMsg>),
    /// The DockerWatcher.
    Watcher(ActorRef<WatcherMsg>),
    /// The PolicyWatcher.
    PolicyWatcher(ActorRef<PolicyWatcherMsg>),
    /// The Notifier.
    Notifier(ActorRef<NotifierMsg>),
}

impl Routes {
    /// Makes a new incarnation reachable and subscribes it to what it consumes; it started
    /// with the policy snapshot of `policy_version`. A new Reconciler or Prober knows no
    /// container yet: the watcher relists for it.
    pub fn connect(&self, started: Started, policy_version: u64) {
        let boxes = &self.mailboxes;
        match started {
            Started::Reconciler(actor) => {
                boxes.reconciler.hand(actor.clone());
                self.observations
                    .subscribe(actor.clone(), |observation| match observation {
                        Observation::Container(snapshot) => {
                            Some(ReconcilerMsg::Observed((**snapshot).clone()))
                        }
                        Observation::Removed(id) => Some(ReconcilerMsg::Removed { id: id.clone() }),
                        Observation::All(list) => Some(ReconcilerMsg::Relisted(list.clone())),
                        Observation::Connected(_) => None,
                    });
                self.outcomes.subscribe(actor.clone(), |outcome| {
                    Some(ReconcilerMsg::Probed(outcome.clone()))
                });
                self.policies.subscribe(policy_version, actor, |snapshot| {
                    snapshot.policies_changed.then(|| ReconcilerMsg::Policies {
                        policies: snapshot.policies.clone(),
                        generations: snapshot.generations.clone(),
                    })
                });
                boxes.watcher.cast(WatcherMsg::Resync);
            }
            Started::Prober(actor) => {
                boxes.prober.hand(actor.clone());
                self.observations
                    .subscribe(actor.clone(), |observation| match observation {
                        Observation::Container(snapshot) => {
                            Some(ProberMsg::Observed(snapshot.clone()))
                        }
                        Observation::Removed(id) => Some(ProberMsg::Removed(id.clone())),
                        Observation::All(list) => Some(ProberMsg::All(list.clone())),
                        Observation::Connected(_) => None,
                    });
                self.policies.subscribe(policy_version, actor, |snapshot| {
                    snapshot
                        .policies_changed
                        .then(|| ProberMsg::Policies(snapshot.policies.clone()))
                });
                boxes.watcher.cast(WatcherMsg::Resync);
            }
            Started::Notifier(actor) => {
                boxes.notifier.hand(actor.clone());
                self.audit.port().subscribe(actor.clone(), |event| {
                    Some(NotifierMsg::Event(Box::new(event.clone())))
                });
                self.policies.subscribe(policy_version, actor, |snapshot| {
                    Some(NotifierMsg::Config {
                        policies: snapshot.policies.clone(),
                        notifiers: snapshot.notifiers.clone(),
                    })
                });
            }
            Started::Watcher(actor) => boxes.watcher.hand(actor),
            Started::PolicyWatcher(actor) => boxes.policy_watcher.hand(actor),
        }
    }
}

impl Mailboxes {
    /// Which child `cell` is, if it is the current incarnation of one (a supervision event
    /// about an older one is stale).
    pub fn child_of(&self, cell: &ActorCell) -> Option<Child> {
        let id = cell.get_id();
        Child::ALL
            .into_iter()
            .find(|child| self.cell(*child).is_some_and(|c| c.get_id() == id))
    }

    /// Empties `child`'s mailbox: it stopped, and its successor is not there yet.
    pub fn clear(&self, child: Child) {
        match child {
            Child::Reconciler => drop(self.reconciler.take()),
            Child::Prober => drop(self.prober.take()),
            Child::Watcher => drop(self.watcher.take()),
            Child::PolicyWatcher => drop(self.policy_watcher.take()),
            Child::Notifier => drop(self.notifier.take()),
        }
    }

    /// The current incarnation of `child`, as a cell (to stop or unlink it).
    pub fn cell(&self, child: Child) -> Option<ActorCell> {
        match child {
            Child::Reconciler => self.reconciler.get().map(|a| a.get_cell()),
            Child::Prober => self.prober.get().map(|a| a.get_cell()),
            Child::Watcher => self.watcher.get().map(|a| a.get_cell()),
            Child::PolicyWatcher => self.policy_watcher.get().map(|a| a.get_cell()),
            Child::Notifier => self.notifier.get().map(|a| a.get_cell()),
        }
    }
}
