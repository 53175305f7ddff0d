//! The store's writer thread: batches writes so no actor ever waits on the disk.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use hale_core::{AuditBus, HealEvent};
use tokio::sync::oneshot;

use crate::store::{Store, Table, Write};

enum Message {
    Write(Write),
    Sync(oneshot::Sender<Result<(), SyncError>>),
}

/// A cheap, cloneable handle that sends writes to the store's writer thread.
///
/// Writes are applied in the order sent. Each batch (everything queued when the thread
/// wakes) is one durable redb transaction.
#[derive(Clone)]
pub struct StoreWriter {
    sender: mpsc::Sender<Message>,
}

impl StoreWriter {
    /// Starts the writer thread that owns `store`; each audit record, once durable (with
    /// its sequence number), is published on `audit`. The thread ends when every handle is
    /// dropped, after writing what was queued.
    pub fn start(store: impl Into<Arc<Store>>, audit: AuditBus) -> (Self, JoinHandle<()>) {
        let store: Arc<Store> = store.into();
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hale-store".into())
            .spawn(move || run(&store, &receiver, &audit))
            .expect("the store thread starts");
        (Self { sender }, thread)
    }

    fn send(&self, message: Message) {
        // The thread only stops when every handle is gone, so this cannot fail while
        // `self` exists.
        let _ = self.sender.send(message);
    }

    /// Stores a target's state (JSON) under `key`.
    pub fn put_state(&self, key: String, value: Vec<u8>) {
        self.send(Message::Write(Write::Put {
            table: Table::TargetState,
            key,
            value,
        }));
    }

    /// Forgets a target's state.
    pub fn delete_state(&self, key: String) {
        self.send(Message::Write(Write::Delete {
            table: Table::TargetState,
            key,
        }));
    }

    /// Stores what the controller remembers about a policy (JSON) under its name.
    pub fn put_policy_record(&self, name: String, value: Vec<u8>) {
        self.send(Message::Write(Write::Put {
            table: Table::PolicyRecord,
            key: name,
            value,
        }));
    }

    /// Stores an operator control (JSON) under `key`, e.g. `paused/<policy>`.
    pub fn put_control(&self, key: String, value: Vec<u8>) {
        self.send(Message::Write(Write::Put {
            table: Table::Control,
            key,
            value,
        }));
    }

    /// Forgets an operator control.
    pub fn delete_control(&self, key: String) {
        self.send(Message::Write(Write::Delete {
            table: Table::Control,
            key,
        }));
    }

    /// Forgets a removed policy.
    pub fn delete_policy_record(&self, name: String) {
        self.send(Message::Write(Write::Delete {
            table: Table::PolicyRecord,
            key: name,
        }));
    }

    /// Appends an audit record (its sequence number is assigned on write).
    pub fn append(&self, mut event: HealEvent) {
        // The one door into the audit log (and the notifier, the metrics and the event
        // stream behind it): nothing secret passes.
        event.redact(hale_core::redact::global());
        self.send(Message::Write(Write::Append(Box::new(event))));
    }

    /// Stores an audit record and logs it (target `hale::audit`), so the log and the audit
    /// trail say the same.
    pub fn record(&self, mut event: HealEvent) {
        event.redact(hale_core::redact::global());
        let target = event
            .target
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or("-");
        let action = event.action.map(hale_core::action_name);
        tracing::info!(
            target: "hale::audit",
            kind = %event.kind,
            policy = %event.policy,
            container = %target,
            action = action.as_deref().unwrap_or("-"),
            result = event.result.as_deref().unwrap_or("-"),
            dry_run = event.dry_run,
            bytes_freed = event.bytes_freed,
            reason = %event.reason,
            "{}",
            event.kind
        );
        self.append(event);
    }

    /// Waits until every write sent before this call is durable on disk.
    ///
    /// # Errors
    /// [`SyncError`]: the last transaction failed (it is being retried), or the writer's
    /// thread is gone.
    pub async fn sync(&self) -> Result<(), SyncError> {
        let (done, wait) = oneshot::channel();
        self.send(Message::Sync(done));
        wait.await.unwrap_or(Err(SyncError::Stopped))
    }
}

/// Why [`StoreWriter::sync`] could not confirm the writes are on disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The last transaction failed; the writer retries it.
    #[error("writing to the state store failed: {0}")]
    Failed(String),
    /// The writer's thread has stopped.
    #[error("the store writer has stopped")]
    Stopped,
}

/// How long to wait before retrying a batch that failed to commit.
const RETRY_FAILED_BATCH: std::time::Duration = std::time::Duration::from_secs(1);

fn run(store: &Store, receiver: &mpsc::Receiver<Message>, audit: &AuditBus) {
    // Writes that failed to commit are kept and retried, never dropped; until they are
    // committed, every sync reports the failure, so no action proceeds on state that is
    // not on disk.
    let mut unwritten: Vec<Write> = Vec::new();
    let mut last_error: Option<String> = None;
    let mut disconnected = false;
    loop {
        let first = if unwritten.is_empty() {
            match receiver.recv() {
                Ok(message) => Some(message),
                Err(_) => return,
            }
        } else {
            match receiver.recv_timeout(RETRY_FAILED_BATCH) {
                Ok(message) => Some(message),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    disconnected = true;
                    None
                }
            }
        };
        let mut writes = std::mem::take(&mut unwritten);
        let mut waiting = Vec::new();
        let mut next = first;
        while let Some(message) = next {
            match message {
                Message::Write(write) => writes.push(write),
                Message::Sync(done) => waiting.push(done),
            }
            next = receiver.try_recv().ok();
        }
        if !writes.is_empty() {
            match store.apply(&writes) {
                Ok(appended) => {
                    last_error = None;
                    for event in &appended {
                        audit.publish(event);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "writing to the state store failed; retrying");
                    last_error = Some(error.to_string());
                    unwritten = writes;
                }
            }
        }
        let result = match &last_error {
            None => Ok(()),
            Some(error) => Err(SyncError::Failed(error.clone())),
        };
        for done in waiting {
            let _ = done.send(result.clone());
        }
        if disconnected && !unwritten.is_empty() {
            // Every handle is gone and the disk still refuses: nothing more can be done.
            tracing::error!(
                lost = unwritten.len(),
                "the state store refused the last writes"
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use hale_core::{AuditBus, HealEventKind, TargetRef, Timestamp};

    use super::*;
    use crate::store::AuditQuery;

    fn event(n: u64, kind: HealEventKind) -> HealEvent {
        let target = TargetRef {
            id: format!("{n:064}"),
            name: format!("c{n}"),
        };
        HealEvent::new(Timestamp(n * 1000), kind, "web", Some(&target), "test")
    }

    #[tokio::test]
    async fn written_state_and_events_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (writer, thread) =
                StoreWriter::start(Store::open(dir.path(), 100).unwrap(), AuditBus::new());
            writer.put_state("web\0c1".into(), b"{\"step\":1}".to_vec());
            writer.append(event(1, HealEventKind::ActionStarted));
            writer.append(event(2, HealEventKind::Recovered));
            writer.sync().await.unwrap();
            drop(writer);
            thread.join().unwrap();
        }
        let store = Store::open(dir.path(), 100).unwrap();
        assert_eq!(
            store.states().unwrap(),
            [("web\0c1".to_owned(), b"{\"step\":1}".to_vec())]
        );
        let events = store.events(&AuditQuery::default()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].seq, events[0].kind),
            (2, HealEventKind::Recovered)
        );
        assert_eq!(
            (events[1].seq, events[1].kind),
            (1, HealEventKind::ActionStarted)
        );
    }

    #[tokio::test]
    async fn retention_drops_the_oldest_records() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _thread) =
            StoreWriter::start(Store::open(dir.path(), 3).unwrap(), AuditBus::new());
        for n in 1..=5 {
            writer.append(event(n, HealEventKind::Failing));
            writer.sync().await.unwrap();
        }
        let reader = Store::open_read_only(dir.path()).unwrap();
        let seqs: Vec<u64> = reader
            .events(&AuditQuery::default())
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [5, 4, 3]);
    }

    #[tokio::test]
    async fn a_reader_in_another_handle_sees_the_writers_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _thread) =
            StoreWriter::start(Store::open(dir.path(), 100).unwrap(), AuditBus::new());
        writer.append(event(1, HealEventKind::ActionStarted));
        writer.sync().await.unwrap();
        let reader = Store::open_read_only(dir.path()).unwrap();
        let query = AuditQuery {
            kinds: vec!["action_started".into()],
            target: Some("c1".into()),
            ..AuditQuery::default()
        };
        assert_eq!(reader.events(&query).unwrap().len(), 1);
        let other = AuditQuery {
            policy: Some("db".into()),
            ..AuditQuery::default()
        };
        assert!(reader.events(&other).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_second_writer_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 100).unwrap();
        let error = Store::open(dir.path(), 100).err().unwrap();
        assert!(
            error
                .to_string()
                .contains("is in use by another hale process"),
            "{error}"
        );
    }
}
