//! The Notifier actor: routes audit records to the notifiers policies name, folds repeats,
//! reminds about lasting trouble, and hands messages to each sink's own queue (so its
//! mailbox never waits on a network).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hale_core::{HealEvent, HealEventKind, Timestamp};
use hale_policy::{EventKind, HealPolicy, Notifier, NotifierSpec};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use crate::delivery::{Deliver, Outbox, Report, spawn_worker};
use crate::error::DeliveryError;
use crate::message::{Message, compose, event_kind};

/// The name the notifier registers under.
pub const NOTIFIER_NAME: &str = "hale-notifier";

/// How often groups are closed and reminders checked, while there are any (an idle
/// notifier sets no timer).
const TICK: Duration = Duration::from_secs(1);

/// Makes the links of a message (audit record, acknowledgement) for an event.
pub type LinkMaker = Arc<dyn Fn(&HealEvent) -> Vec<(String, String)> + Send + Sync>;

/// What the notifier tells the metrics, per notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationMetric {
    /// A message was delivered.
    Delivered,
    /// A message was given up on after its retries.
    Failed,
    /// A message was dropped from a full queue.
    Dropped,
    /// Messages now waiting in the notifier's queue.
    QueueDepth(usize),
}

/// Where [`NotificationMetric`]s go: (notifier name, metric).
pub type MetricSink = Arc<dyn Fn(&str, NotificationMetric) + Send + Sync>;

/// What the notifier starts with.
#[derive(Clone)]
pub struct NotifierArgs {
    /// The policies in force (their `notify` routes).
    pub policies: Arc<Vec<HealPolicy>>,
    /// The notifiers in force.
    pub notifiers: Arc<Vec<Notifier>>,
    /// The notifier for policies that name none (`--notify-default`).
    pub default_route: Option<String>,
    /// Links for messages.
    pub links: LinkMaker,
    /// Where `notification_failed` and `notification_dropped` records go.
    pub record: Arc<dyn Fn(HealEvent) + Send + Sync>,
    /// The HTTP clients sinks share, one per notifier trust (`spec.tls`).
    pub http: hale_core::http_client::ClientCache,
    /// Deliveries, failures, drops and queue depths, for the metrics.
    pub metrics: MetricSink,
    /// Where "now" comes from (grouping windows, reminders, failure records).
    pub clock: hale_core::Clock,
}

/// Messages of the notifier.
pub enum NotifierMsg {
    /// An audit record was written.
    Event(Box<HealEvent>),
    /// The policies or notifiers changed (a reload).
    Config {
        /// Policies in force.
        policies: Arc<Vec<HealPolicy>>,
        /// Notifiers in force.
        notifiers: Arc<Vec<Notifier>>,
    },
    /// Timer.
    Tick,
}

/// A real sink.
struct Sink {
    http: hale_core::http_client::ClientCache,
    spec: NotifierSpec,
}

impl Deliver for Sink {
    fn deliver<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<String, DeliveryError>> {
        Box::pin(crate::sinks::send(&self.http, &self.spec, message))
    }
}

/// One notifier's worker and settings.
struct Channel {
    spec: NotifierSpec,
    outbox: Outbox,
    worker: JoinHandle<()>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

/// Repeats of one kind about one target, within the grouping window.
struct Group {
    opened: Timestamp,
    folded: u32,
    latest: HealEvent,
}

/// A lasting state (quarantine, open circuit) to remind about.
struct Lasting {
    last_sent: Timestamp,
    event: HealEvent,
}

/// (notifier, policy, target name or `-`).
type Subject = (String, String, String);

/// The notifier's state.
pub struct NotifierState {
    args: NotifierArgs,
    channels: HashMap<String, Channel>,
    groups: HashMap<(Subject, HealEventKind), Group>,
    lasting: HashMap<(Subject, HealEventKind), Lasting>,
    /// Subjects each notifier was told about, for `sendOnResolved`.
    told: HashSet<Subject>,
    /// A [`NotifierMsg::Tick`] is on its way.
    tick_pending: bool,
}

/// The Notifier actor.
pub struct NotifierActor;

fn target_name(event: &HealEvent) -> String {
    event
        .target
        .as_ref()
        .map_or_else(|| "-".to_owned(), |t| t.name.clone())
}

impl NotifierState {
    /// (Re)creates the workers of notifiers whose spec changed; drops those gone.
    fn configure(&mut self) {
        let wanted: BTreeMap<&str, &Notifier> = self
            .args
            .notifiers
            .iter()
            .map(|n| (n.metadata.name.as_str(), n))
            .collect();
        self.channels.retain(|name, channel| {
            wanted
                .get(name.as_str())
                .is_some_and(|n| n.spec == channel.spec)
        });
        for (name, notifier) in wanted {
            if self.channels.contains_key(name) {
                continue;
            }
            let record = Arc::clone(&self.args.record);
            let notifier_name = name.to_owned();
            let describe = crate::sinks::describe(&notifier.spec);
            let metrics = Arc::clone(&self.args.metrics);
            let clock = self.args.clock;
            let report = Arc::new(move |report: Report| match report {
                Report::Delivered { title, attempts } => {
                    metrics(&notifier_name, NotificationMetric::Delivered);
                    tracing::debug!(notifier = %notifier_name, %title, attempts, "notification delivered");
                }
                Report::QueueDepth(depth) => {
                    metrics(&notifier_name, NotificationMetric::QueueDepth(depth));
                }
                Report::Failed {
                    message,
                    error,
                    attempts,
                } => {
                    metrics(&notifier_name, NotificationMetric::Failed);
                    tracing::warn!(notifier = %notifier_name, sink = %describe, %error, attempts, "notification failed");
                    let mut event = HealEvent::new(
                        clock.now(),
                        HealEventKind::NotificationFailed,
                        &message.event.policy,
                        message.event.target.as_ref(),
                        format!(
                            "notifier {notifier_name} ({describe}) could not deliver \"{}\" after {attempts} attempts: {error}",
                            message.title
                        ),
                    );
                    event.result = Some(error);
                    record(event);
                }
                Report::Dropped { title } => {
                    metrics(&notifier_name, NotificationMetric::Dropped);
                    tracing::warn!(notifier = %notifier_name, %title, "notification queue full: dropped the oldest message");
                    record(HealEvent::new(
                        clock.now(),
                        HealEventKind::NotificationFailed,
                        "-",
                        None,
                        format!(
                            "notifier {notifier_name}'s queue was full: dropped \"{title}\" (the oldest waiting message)"
                        ),
                    ));
                }
            });
            let sink = Arc::new(Sink {
                http: self.args.http.clone(),
                spec: notifier.spec.clone(),
            });
            let (outbox, worker) = spawn_worker(
                sink,
                notifier.spec.rate_limit,
                notifier.spec.queue_size as usize,
                report,
            );
            self.channels.insert(
                name.to_owned(),
                Channel {
                    spec: notifier.spec.clone(),
                    outbox,
                    worker,
                },
            );
        }
    }

    /// The notifiers a policy routes `kind` to, and whether the route lists it.
    fn routes(&self, policy: &str) -> Vec<(String, Vec<EventKind>)> {
        let routes = self
            .args
            .policies
            .iter()
            .find(|p| p.metadata.name == policy)
            .map(|p| {
                p.spec
                    .notify
                    .iter()
                    .map(|r| (r.notifier.clone(), r.on.clone()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if routes.is_empty() {
            return self
                .args
                .default_route
                .iter()
                .map(|n| (n.clone(), Vec::new()))
                .collect();
        }
        // Two routes to one notifier are one route with both lists (an empty list means
        // every kind), so nothing is sent twice.
        let mut merged: Vec<(String, Vec<EventKind>)> = Vec::new();
        for (notifier, on) in routes {
            match merged.iter_mut().find(|(n, _)| *n == notifier) {
                Some((_, kinds)) if kinds.is_empty() || on.is_empty() => kinds.clear(),
                Some((_, kinds)) => kinds.extend(on),
                None => merged.push((notifier, on)),
            }
        }
        merged
    }

    fn send(&mut self, notifier: &str, event: &HealEvent, kind: EventKind, count: u32) {
        let Some(channel) = self.channels.get(notifier) else {
            tracing::warn!(%notifier, "a route names a notifier that is not in force");
            return;
        };
        let links = (self.args.links)(event);
        channel.outbox.push(compose(event, kind, count, links));
        if kind != EventKind::Recovered {
            self.told.insert((
                notifier.to_owned(),
                event.policy.clone(),
                target_name(event),
            ));
        }
    }

    fn on_event(&mut self, event: &HealEvent, now: Timestamp) {
        // Lasting states end.
        let ended = match event.kind {
            HealEventKind::Released | HealEventKind::Recovered => Some(HealEventKind::Quarantined),
            HealEventKind::CircuitClosed => Some(HealEventKind::CircuitOpen),
            _ => None,
        };
        if let Some(ended) = ended {
            let target = target_name(event);
            self.lasting.retain(|((_, policy, name), kind), _| {
                !(*kind == ended && *policy == event.policy && *name == target)
            });
        }
        // A quarantine, a release and a circuit closing end the story: repeats still being
        // folded belong to it, and a summary sent afterwards ("3 such events ... hale
        // tries again") would contradict the message that ended it. A recovery does not
        // drop them: a target that recovers and fails again within the window is flapping,
        // and its repeats (recoveries included) fold into one digest that ends on the
        // latest state (see `on_tick`).
        if matches!(
            event.kind,
            HealEventKind::Released | HealEventKind::Quarantined | HealEventKind::CircuitClosed
        ) {
            let target = target_name(event);
            self.groups.retain(|((_, policy, name), kind), _| {
                !(*policy == event.policy && *name == target && *kind != event.kind)
            });
        }
        let Some(kind) = event_kind(event) else {
            return;
        };
        for (notifier, on) in self.routes(&event.policy) {
            let subject = (notifier.clone(), event.policy.clone(), target_name(event));
            let listed = on.is_empty() || on.contains(&kind);
            let spec = self.channels.get(&notifier).map(|c| c.spec.clone());
            let send_on_resolved = spec.as_ref().is_none_or(|s| s.send_on_resolved);
            if kind == EventKind::Recovered {
                let told = self.told.remove(&subject);
                let folding = self.groups.keys().any(|(s, _)| *s == subject);
                if !(listed || (send_on_resolved && (told || folding))) {
                    continue;
                }
            } else if !listed {
                continue;
            }
            if matches!(
                event.kind,
                HealEventKind::Quarantined | HealEventKind::CircuitOpen
            ) {
                self.lasting.insert(
                    (subject.clone(), event.kind),
                    Lasting {
                        last_sent: now,
                        event: event.clone(),
                    },
                );
            }
            let window = spec.map_or(Duration::ZERO, |s| s.group_window.as_std());
            self.fold_or_send(subject, event, kind, window, now);
        }
    }

    /// Sends `event` now if it opens a group for (subject, kind), or counts it into the
    /// open one (told later, in the subject's digest).
    fn fold_or_send(
        &mut self,
        subject: Subject,
        event: &HealEvent,
        kind: EventKind,
        window: Duration,
        now: Timestamp,
    ) {
        let notifier = subject.0.clone();
        let key = (subject, event.kind);
        match self.groups.get_mut(&key) {
            Some(group) if now.since(group.opened) < window => {
                group.folded += 1;
                group.latest = event.clone();
            }
            _ => {
                self.groups.insert(
                    key,
                    Group {
                        opened: now,
                        folded: 0,
                        latest: event.clone(),
                    },
                );
                self.send(&notifier, event, kind, 1);
            }
        }
    }

    fn on_tick(&mut self, now: Timestamp) {
        // Reminders about policies no longer in force, or no longer routed here, stop.
        let routes: HashSet<(String, String)> = self
            .args
            .policies
            .iter()
            .flat_map(|p| {
                let name = p.metadata.name.clone();
                self.routes(&name)
                    .into_iter()
                    .map(move |(notifier, _)| (notifier, name.clone()))
            })
            .collect();
        self.lasting.retain(|((notifier, policy, _), _), _| {
            routes.contains(&(notifier.clone(), policy.clone()))
        });
        let windows: HashMap<String, (Duration, Duration)> = self
            .channels
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    (
                        c.spec.group_window.as_std(),
                        c.spec.min_reminder_interval.as_std(),
                    ),
                )
            })
            .collect();
        // A subject's groups close together, once its oldest has been open a window: one
        // digest per target, not one per kind.
        let mut oldest: HashMap<&Subject, Timestamp> = HashMap::new();
        for ((subject, _), group) in &self.groups {
            let opened = oldest.entry(subject).or_insert(group.opened);
            *opened = (*opened).min(group.opened);
        }
        let closing: HashSet<Subject> = oldest
            .into_iter()
            .filter(|(subject, opened)| {
                let window = windows.get(&subject.0).map_or(Duration::ZERO, |w| w.0);
                now.since(*opened) >= window
            })
            .map(|(subject, _)| subject.clone())
            .collect();
        for subject in closing {
            let mut groups: Vec<Group> = Vec::new();
            self.groups.retain(|(s, _), group| {
                if *s == subject {
                    groups.push(Group {
                        opened: group.opened,
                        folded: group.folded,
                        latest: group.latest.clone(),
                    });
                    false
                } else {
                    true
                }
            });
            // In the order the kinds first happened: "2 more Remediating, 2 more Recovered".
            groups.sort_by_key(|g| g.opened);
            let folded: Vec<(EventKind, u32)> = groups
                .iter()
                .filter(|g| g.folded > 0)
                .filter_map(|g| event_kind(&g.latest).map(|k| (k, g.folded)))
                .collect();
            if folded.is_empty() {
                continue;
            }
            // The digest speaks from the latest event of all: what is true now.
            let Some(latest) = groups
                .iter()
                .map(|g| &g.latest)
                .max_by_key(|e| (e.time, e.seq))
                .cloned()
            else {
                continue;
            };
            let Some(kind) = event_kind(&latest) else {
                continue;
            };
            let window = windows.get(&subject.0).map_or(Duration::ZERO, |w| w.0);
            let Some(channel) = self.channels.get(&subject.0) else {
                continue;
            };
            let links = (self.args.links)(&latest);
            channel.outbox.push(crate::message::digest(
                &latest, kind, &folded, window, links,
            ));
        }
        let due: Vec<_> = self
            .lasting
            .iter()
            .filter(|((subject, _), lasting)| {
                windows
                    .get(&subject.0)
                    .is_some_and(|w| now.since(lasting.last_sent) >= w.1)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let Some(lasting) = self.lasting.get_mut(&key) else {
                continue;
            };
            lasting.last_sent = now;
            let mut event = lasting.event.clone();
            event.reason = format!("still the case (reminder): {}", event.reason);
            if let Some(kind) = event_kind(&event) {
                let links = (self.args.links)(&event);
                if let Some(channel) = self.channels.get(&key.0.0) {
                    channel.outbox.push(compose(&event, kind, 1, links));
                }
            }
        }
    }
}

impl Actor for NotifierActor {
    type Msg = NotifierMsg;
    type State = NotifierState;
    type Arguments = NotifierArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<NotifierMsg>,
        args: NotifierArgs,
    ) -> Result<NotifierState, ActorProcessingErr> {
        let mut state = NotifierState {
            args,
            channels: HashMap::new(),
            groups: HashMap::new(),
            lasting: HashMap::new(),
            told: HashSet::new(),
            tick_pending: false,
        };
        state.configure();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<NotifierMsg>,
        message: NotifierMsg,
        state: &mut NotifierState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NotifierMsg::Event(event) => {
                let now = state.args.clock.now();
                state.on_event(&event, now);
            }
            NotifierMsg::Config {
                policies,
                notifiers,
            } => {
                state.args.policies = policies;
                state.args.notifiers = notifiers;
                state.configure();
            }
            NotifierMsg::Tick => {
                state.tick_pending = false;
                let now = state.args.clock.now();
                state.on_tick(now);
            }
        }
        // Folded groups close and lasting states are reminded on a timer; with neither,
        // nothing is due and the notifier sleeps.
        let due = !state.groups.is_empty() || !state.lasting.is_empty();
        if due && !std::mem::replace(&mut state.tick_pending, true) {
            myself.send_after(TICK, || NotifierMsg::Tick);
        }
        Ok(())
    }
}
