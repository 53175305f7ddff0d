//! How actors are wired: typed mailboxes that a supervisor re-hands when an actor is
//! restarted, and output ports for the flows that go from one actor to many.
//!
//! Nothing here finds an actor by a name string. A [`Mailbox`] is filled by whoever
//! spawns the actor and emptied when it stops; an [`OutputPort`] delivers each value to
//! every subscriber, converted to that subscriber's own message type.
//!
//! ractor has its own `OutputPort`, but it forwards through a broadcast channel of 10
//! slots and skips what a slow subscriber lagged behind on: a burst of container events
//! would lose the one that says a container is unhealthy. This port casts straight into
//! each subscriber's (unbounded) mailbox, so nothing is skipped and the order is kept.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use ractor::{ActorRef, Message};

/// The current incarnation of one supervised actor, typed by its message. Cloned into
/// every part that talks to it; its supervisor hands the new `ActorRef` in on each start,
/// so senders always reach the current one (or learn that none is running).
pub struct Mailbox<M: Message> {
    current: Arc<RwLock<Option<ActorRef<M>>>>,
}

impl<M: Message> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Self {
            current: Arc::clone(&self.current),
        }
    }
}

impl<M: Message> Default for Mailbox<M> {
    fn default() -> Self {
        Self {
            current: Arc::default(),
        }
    }
}

impl<M: Message> std::fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mailbox<{}>", std::any::type_name::<M>())
    }
}

impl<M: Message> Mailbox<M> {
    /// An empty mailbox: nothing runs behind it yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands in the actor that now answers here (at its start or restart).
    pub fn hand(&self, actor: ActorRef<M>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(actor);
    }

    /// Empties the mailbox (its actor stopped); returns what was in it.
    pub fn take(&self) -> Option<ActorRef<M>> {
        self.current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The actor that answers here now, if one runs.
    pub fn get(&self) -> Option<ActorRef<M>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends `message` to the current actor; `false` when none runs (it is being
    /// restarted: its successor starts from the store and relists).
    pub fn cast(&self, message: M) -> bool {
        self.get().is_some_and(|actor| actor.cast(message).is_ok())
    }
}

/// One subscriber: delivers a value, and says whether it is still there.
type Deliver<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

/// A one-to-many flow: each value sent reaches every subscriber in the order sent.
/// Cloning gives another handle on the same port.
pub struct OutputPort<T> {
    subscribers: Arc<Mutex<Vec<Deliver<T>>>>,
}

impl<T> Clone for OutputPort<T> {
    fn clone(&self) -> Self {
        Self {
            subscribers: Arc::clone(&self.subscribers),
        }
    }
}

impl<T> Default for OutputPort<T> {
    fn default() -> Self {
        Self {
            subscribers: Arc::default(),
        }
    }
}

impl<T> std::fmt::Debug for OutputPort<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputPort<{}>", std::any::type_name::<T>())
    }
}

impl<T: 'static> OutputPort<T> {
    /// A port nobody listens to yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivers every value to `actor`, as the message `convert` makes of it (`None`:
    /// this one is not for it). The subscription ends when the actor stops; its successor
    /// subscribes at its own start.
    pub fn subscribe<M: Message>(
        &self,
        actor: ActorRef<M>,
        convert: impl Fn(&T) -> Option<M> + Send + Sync + 'static,
    ) {
        self.push(Box::new(move |value| match convert(value) {
            Some(message) => actor.cast(message).is_ok(),
            None => true,
        }));
    }

    /// Calls `listen` with every value, for the lifetime of the port (metrics, the status
    /// board: listeners that are not actors and never stop).
    pub fn listen(&self, listen: impl Fn(&T) + Send + Sync + 'static) {
        self.push(Box::new(move |value| {
            listen(value);
            true
        }));
    }

    fn push(&self, deliver: Deliver<T>) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(deliver);
    }

    /// Sends `value` to every subscriber, and drops the subscriptions of actors that
    /// stopped.
    pub fn send(&self, value: &T) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|deliver| deliver(value));
    }

    /// How many subscribers the port has (stopped actors count until the next send).
    pub fn subscribers(&self) -> usize {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A port that also holds the last value sent, for a flow whose consumers need the
/// current value when they start (the policies in force). An actor reads
/// [`current`](Self::current) for its arguments and subscribes with the version it read:
/// a value sent in between is delivered at once, so no start misses a change.
pub struct LatestPort<T> {
    latest: Arc<Mutex<(u64, T)>>,
    port: OutputPort<T>,
}

impl<T> Clone for LatestPort<T> {
    fn clone(&self) -> Self {
        Self {
            latest: Arc::clone(&self.latest),
            port: self.port.clone(),
        }
    }
}

impl<T> std::fmt::Debug for LatestPort<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatestPort<{}>", std::any::type_name::<T>())
    }
}

impl<T: Clone + 'static> LatestPort<T> {
    /// A port whose current value is `initial` (version 0).
    pub fn new(initial: T) -> Self {
        Self {
            latest: Arc::new(Mutex::new((0, initial))),
            port: OutputPort::new(),
        }
    }

    /// The current value and its version.
    pub fn current(&self) -> (u64, T) {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `value` current and sends it to every subscriber.
    pub fn send(&self, value: T) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        self.port.send(&value);
        *latest = (latest.0 + 1, value);
    }

    /// Subscribes `actor`, which started with version `seen`: if a newer value was sent
    /// since, it is delivered now.
    pub fn subscribe<M: Message>(
        &self,
        seen: u64,
        actor: ActorRef<M>,
        convert: impl Fn(&T) -> Option<M> + Send + Sync + 'static,
    ) {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if latest.0 > seen
            && let Some(message) = convert(&latest.1)
        {
            let _ = actor.cast(message);
        }
        self.port.subscribe(actor, convert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::{Actor, ActorProcessingErr};

    /// An actor that forwards what it receives to a channel.
    struct Echo;

    impl Actor for Echo {
        type Msg = u32;
        type State = tokio::sync::mpsc::UnboundedSender<u32>;
        type Arguments = tokio::sync::mpsc::UnboundedSender<u32>;

        async fn pre_start(
            &self,
            _: ActorRef<u32>,
            out: Self::Arguments,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(out)
        }

        async fn handle(
            &self,
            _: ActorRef<u32>,
            message: u32,
            out: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            let _ = out.send(message);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_port_delivers_every_value_in_order_and_forgets_stopped_actors() {
        let (out, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (echo, handle) = Actor::spawn(None, Echo, out).await.unwrap();
        let port = OutputPort::<u32>::new();
        port.subscribe(echo.clone(), |n| (n % 2 == 0).then_some(*n));
        // Far more than ractor's own port would hold for a slow subscriber.
        for n in 0..1000 {
            port.send(&n);
        }
        for n in (0..1000).step_by(2) {
            assert_eq!(seen.recv().await, Some(n));
        }
        echo.stop(None);
        handle.await.unwrap();
        port.send(&2);
        assert_eq!(
            port.subscribers(),
            0,
            "the stopped actor's subscription is gone"
        );
    }

    #[tokio::test]
    async fn a_start_between_reading_and_subscribing_misses_no_change() {
        let (out, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let (echo, _handle) = Actor::spawn(None, Echo, out).await.unwrap();
        let port = LatestPort::new(1u32);
        let (version, value) = port.current();
        assert_eq!(value, 1);
        // A change lands after the actor read its arguments, before it subscribed.
        port.send(2);
        port.subscribe(version, echo.clone(), |n| Some(*n));
        assert_eq!(seen.recv().await, Some(2));
        port.send(3);
        assert_eq!(seen.recv().await, Some(3));
        // Subscribing with the current version delivers nothing old.
        let (out, mut fresh) = tokio::sync::mpsc::unbounded_channel();
        let (other, _handle) = Actor::spawn(None, Echo, out).await.unwrap();
        port.subscribe(port.current().0, other, |n| Some(*n));
        port.send(4);
        assert_eq!(fresh.recv().await, Some(4));
    }

    #[tokio::test]
    async fn a_mailbox_reaches_the_incarnation_handed_in_last() {
        let mailbox = Mailbox::<u32>::new();
        assert!(!mailbox.cast(1), "nothing runs yet");
        let (first_out, mut first) = tokio::sync::mpsc::unbounded_channel();
        let (one, one_handle) = Actor::spawn(None, Echo, first_out).await.unwrap();
        mailbox.hand(one.clone());
        assert!(mailbox.cast(1));
        assert_eq!(first.recv().await, Some(1));
        one.stop(None);
        one_handle.await.unwrap();
        let (second_out, mut second) = tokio::sync::mpsc::unbounded_channel();
        let (two, _handle) = Actor::spawn(None, Echo, second_out).await.unwrap();
        mailbox.hand(two);
        assert!(mailbox.cast(2));
        assert_eq!(second.recv().await, Some(2));
    }
}
