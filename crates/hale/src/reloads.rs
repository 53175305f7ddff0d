//! Where a policy reload lands: it is logged (each diagnostic once), its audit records
//! are written and its generations persisted, the status board shows it, and a snapshot
//! that changed goes out on the policy port to the actors that need it. The start-up load
//! takes the same path before any actor starts; later ones arrive from the PolicyWatcher
//! on its updates port.

use std::sync::{Arc, Mutex, PoisonError};

use hale_core::{LatestPort, PolicyStatus, StatusBoard, Timestamp};
use hale_store::StoreWriter;
use hale_watcher::{PolicySnapshot, PolicyUpdate};

/// Takes in reloads. Cloning gives another handle on the same one.
#[derive(Clone)]
pub struct Reloads {
    /// Where reloads are recorded and generations persisted.
    pub writer: StoreWriter,
    /// Where the controller's status is published.
    pub status: StatusBoard,
    /// Where reloads are counted.
    pub metrics: Arc<hale_server::Metrics>,
    /// Where a changed snapshot goes.
    pub policies: LatestPort<PolicySnapshot>,
    /// The diagnostics logged at the last reload, so unchanged ones are not logged again.
    pub logged: Arc<Mutex<Vec<String>>>,
}

impl Reloads {
    /// Takes in one reload.
    pub fn apply(&self, update: &PolicyUpdate) {
        let lines: Vec<String> = update.diagnostics.iter().map(ToString::to_string).collect();
        {
            let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
            if lines != *logged {
                for diagnostic in &update.diagnostics {
                    if diagnostic.is_error() {
                        tracing::error!(%diagnostic, "policy rejected");
                    } else {
                        tracing::warn!(%diagnostic, "policy warning");
                    }
                }
                *logged = lines;
            }
        }
        for event in &update.events {
            self.writer.record(event.clone());
        }
        for (name, record) in &update.records {
            match serde_json::to_vec(record) {
                Ok(bytes) => self.writer.put_policy_record(name.clone(), bytes),
                Err(error) => tracing::error!(%error, "cannot serialize a policy record"),
            }
        }
        for name in &update.forgotten {
            self.writer.delete_policy_record(name.clone());
        }
        publish(&self.status, update);
        let rejected = update
            .diagnostics
            .iter()
            .any(hale_policy::Diagnostic::is_error);
        self.metrics.observe_reload(rejected);
        let (_, current) = self.policies.current();
        if update.changed || *update.notifiers != *current.notifiers {
            self.policies.send(update.snapshot());
        }
    }
}

/// Writes a reload's facts into the status board: the policies in force with their
/// generations and acceptance, and the rejected files.
fn publish(status: &StatusBoard, update: &PolicyUpdate) {
    status.update(|status| {
        status
            .policies
            .retain(|name, _| update.facts.iter().any(|f| f.name == *name));
        for facts in &update.facts {
            let entry = status
                .policies
                .entry(facts.name.clone())
                .or_insert_with(|| {
                    PolicyStatus::new(
                        &facts.name,
                        facts.file.display().to_string(),
                        facts.generation,
                        facts.created_at,
                        facts.spec.clone(),
                    )
                });
            entry.file = facts.file.display().to_string();
            entry.line = facts.line;
            entry.generation = facts.generation;
            entry.spec = facts.spec.clone();
            entry.rejected = facts.rejected.clone();
        }
        status.rejected_files = update.rejected_files.clone();
        status.last_reload = Some(Timestamp::now());
    });
}
