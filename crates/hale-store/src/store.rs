//! The redb database: tables, reads, and batched writes.

use std::path::{Path, PathBuf};

use hale_core::{HealEvent, Timestamp};
use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};

/// Target state by key (`policy` + NUL + target name), as JSON.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("target_state");

/// What the controller remembers about each policy (generation, first seen, spec in force).
const POLICY: TableDefinition<&str, &[u8]> = TableDefinition::new("policy_record");

/// Operator controls that outlive a restart (paused policies), by key.
const CONTROL: TableDefinition<&str, &[u8]> = TableDefinition::new("control");
/// Audit records by sequence number, as JSON.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// Audit records kept by default; older ones are deleted as new ones arrive.
pub const DEFAULT_RETENTION: u64 = 100_000;

/// The file name of the database inside the state directory.
const FILE_NAME: &str = "hale.redb";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory could not be created.
    #[error("cannot create state directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the database for writing.
    #[error(
        "the state store {path} is in use by another hale process; stop it or pass a different --state-dir"
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The database does not exist (yet).
    #[error("no state store at {path} (has `hale run` been started with this --state-dir?)")]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// redb failed.
    #[error("state store {path}: {message}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        message: String,
    },
}

/// Filters for reading the audit log. Empty filters match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// At most this many records (newest first); 0 means no limit.
    pub limit: usize,
    /// Only this policy.
    pub policy: Option<String>,
    /// Only targets whose name or ID (prefix) matches.
    pub target: Option<String>,
    /// Only these kinds (`action_started`, `recovered`, ...) or actions (`restart`, ...).
    pub kinds: Vec<String>,
    /// Only records at or after this instant.
    pub since: Option<Timestamp>,
    /// Only records whose reason, signal or target name contains this text
    /// (case-insensitive).
    pub contains: Option<String>,
    /// Only records after this sequence number (an event stream resuming).
    pub after_seq: Option<u64>,
}

/// A `kind` filter that names no record kind and no action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {kind:?}: expected one of {}", known.join(", "))]
pub struct UnknownKind {
    /// What was asked for.
    pub kind: String,
    /// What would have matched something.
    pub known: Vec<String>,
}

impl AuditQuery {
    /// The kinds of `values`, each a name or a comma-separated list (`--kind a,b` and
    /// `--kind a --kind b` mean the same); a name that matches nothing is an error rather
    /// than a silently empty answer.
    ///
    /// # Errors
    /// [`UnknownKind`] for the first name that is neither a record kind nor an action.
    pub fn parse_kinds<S: AsRef<str>>(values: &[S]) -> Result<Vec<String>, UnknownKind> {
        let known = hale_core::kind_filter_names();
        let mut kinds = Vec::new();
        for kind in values
            .iter()
            .flat_map(|v| v.as_ref().split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            if !known.iter().any(|k| k == kind) {
                return Err(UnknownKind {
                    kind: kind.to_owned(),
                    known,
                });
            }
            if !kinds.iter().any(|k| k == kind) {
                kinds.push(kind.to_owned());
            }
        }
        Ok(kinds)
    }

    /// True when `event` passes every filter.
    pub fn matches(&self, event: &HealEvent) -> bool {
        let policy_ok = self.policy.as_ref().is_none_or(|p| *p == event.policy);
        let target_ok = self.target.as_ref().is_none_or(|t| {
            event
                .target
                .as_ref()
                .is_some_and(|target| target.name == *t || target.id.starts_with(t.as_str()))
        });
        let kind_ok = self.kinds.is_empty()
            || self.kinds.iter().any(|k| {
                k == event.kind.as_str()
                    || event
                        .action
                        .is_some_and(|a| hale_core::action_name(a) == *k)
            });
        let since_ok = self.since.is_none_or(|since| event.time >= since);
        let seq_ok = self.after_seq.is_none_or(|after| event.seq > after);
        let contains_ok = self.contains.as_ref().is_none_or(|needle| {
            let needle = needle.to_lowercase();
            let hit = |text: &str| text.to_lowercase().contains(&needle);
            hit(&event.reason)
                || event.signal.as_deref().is_some_and(hit)
                || event.target.as_ref().is_some_and(|t| hit(&t.name))
        });
        policy_ok && target_ok && kind_ok && since_ok && seq_ok && contains_ok
    }
}

/// A cheap test on a stored record's JSON bytes: `false` only when the record cannot
/// match the query's policy, target or kind filters (each filter's value must appear, in
/// the form serde_json writes it). `since` is not checked here: the scan stops at the
/// first older record anyway.
struct Prefilter {
    /// Each group must have at least one needle present.
    groups: Vec<Vec<memchr::memmem::Finder<'static>>>,
}

impl Prefilter {
    fn new(query: &AuditQuery) -> Self {
        // The JSON string literal of `value`, without its closing quote when `open`.
        let quoted = |value: &str, open: bool| {
            let mut text = serde_json::to_string(value).unwrap_or_default();
            if open {
                text.pop();
            }
            text
        };
        let finder = |needle: String| memchr::memmem::Finder::new(needle.as_bytes()).into_owned();
        let mut groups = Vec::new();
        if let Some(policy) = &query.policy {
            groups.push(vec![finder(format!(
                "\"policy\":{}",
                quoted(policy, false)
            ))]);
        }
        if let Some(target) = &query.target {
            groups.push(vec![
                finder(format!("\"name\":{}", quoted(target, false))),
                finder(format!("\"id\":{}", quoted(target, true))),
            ]);
        }
        if !query.kinds.is_empty() {
            groups.push(
                query
                    .kinds
                    .iter()
                    .flat_map(|kind| {
                        [
                            finder(format!("\"kind\":{}", quoted(kind, false))),
                            finder(format!("\"action\":{}", quoted(kind, false))),
                        ]
                    })
                    .collect(),
            );
        }
        Self { groups }
    }

    fn could_match(&self, raw: &[u8]) -> bool {
        self.groups
            .iter()
            .all(|group| group.iter().any(|needle| needle.find(raw).is_some()))
    }
}

/// A key-value table of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// Target states, by `policy\0target`.
    TargetState,
    /// Policy records, by policy name.
    PolicyRecord,
    /// Operator controls, e.g. `paused/<policy>`.
    Control,
}

impl Table {
    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Self::TargetState => STATE,
            Self::PolicyRecord => POLICY,
            Self::Control => CONTROL,
        }
    }
}

/// One write in a batch.
#[derive(Debug)]
pub(crate) enum Write {
    Put {
        table: Table,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        table: Table,
        key: String,
    },
    Append(Box<HealEvent>),
}

/// The open database.
pub struct Store {
    path: PathBuf,
    access: Access,
    retention: u64,
}

enum Access {
    Writer(Database),
    Reader(ReadOnlyDatabase),
}

impl Store {
    /// Opens (creating if needed) the store in `dir` for writing. One process at a time.
    ///
    /// # Errors
    /// [`StoreError::InUse`] when another hale writes to it; [`StoreError::Database`] when
    /// the file is damaged beyond redb's repair.
    pub fn open(dir: &Path, retention: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let database = redb::Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .create(&path)
            .map_err(|e| open_error(&path, e))?;
        let store = Self {
            path,
            access: Access::Writer(database),
            retention: retention.max(1),
        };
        store.ensure_tables()?;
        Ok(store)
    }

    /// Opens the store in `dir` for reading while a controller may be writing to it.
    ///
    /// # Errors
    /// [`StoreError::Missing`] when there is no store yet.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Err(StoreError::Missing { path });
        }
        let database = redb::Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .open_read_only(&path)
            .map_err(|e| open_error(&path, e))?;
        Ok(Self {
            path,
            access: Access::Reader(database),
            retention: DEFAULT_RETENTION,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            message: error.to_string(),
        }
    }

    fn writer(&self) -> Result<&Database, StoreError> {
        match &self.access {
            Access::Writer(database) => Ok(database),
            Access::Reader(_) => Err(self.error("opened read-only")),
        }
    }

    fn ensure_tables(&self) -> Result<(), StoreError> {
        let database = self.writer()?;
        let txn = database.begin_write().map_err(|e| self.error(e))?;
        txn.open_table(STATE).map_err(|e| self.error(e))?;
        txn.open_table(POLICY).map_err(|e| self.error(e))?;
        txn.open_table(CONTROL).map_err(|e| self.error(e))?;
        txn.open_table(AUDIT).map_err(|e| self.error(e))?;
        txn.commit().map_err(|e| self.error(e))
    }

    fn read_txn(&self) -> Result<redb::ReadTransaction, StoreError> {
        match &self.access {
            Access::Writer(database) => database.begin_read(),
            Access::Reader(database) => database.begin_read(),
        }
        .map_err(|e| self.error(e))
    }

    /// Every stored target state, as (key, JSON).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the read fails.
    pub fn states(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.entries(Table::TargetState)
    }

    /// Every stored policy record, as (policy name, JSON).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the read fails.
    pub fn policy_records(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.entries(Table::PolicyRecord)
    }

    /// Every stored operator control, as (key, JSON).
    ///
    /// # Errors
    /// [`StoreError::Database`] when the read fails.
    pub fn controls(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.entries(Table::Control)
    }

    fn entries(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.read_txn()?;
        let table = match txn.open_table(table.definition()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(self.error(error)),
        };
        let mut states = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            states.push((key.value().to_owned(), value.value().to_vec()));
        }
        Ok(states)
    }

    /// Audit records matching `query`, newest first.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the read fails.
    pub fn events(&self, query: &AuditQuery) -> Result<Vec<HealEvent>, StoreError> {
        let txn = self.read_txn()?;
        let table = match txn.open_table(AUDIT) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(self.error(error)),
        };
        let mut events = Vec::new();
        let prefilter = Prefilter::new(query);
        for entry in table.iter().map_err(|e| self.error(e))?.rev() {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            // Newest first: everything from here on was already delivered.
            if query.after_seq.is_some_and(|after| key.value() <= after) {
                break;
            }
            // Most records of a selective query are rejected here, on their bytes, without
            // being parsed: what keeps a query over 100,000 records fast.
            if !prefilter.could_match(value.value()) {
                continue;
            }
            let Ok(event) = serde_json::from_slice::<HealEvent>(value.value()) else {
                continue;
            };
            if query.since.is_some_and(|since| event.time < since) {
                break;
            }
            if query.matches(&event) {
                events.push(event);
                if query.limit != 0 && events.len() >= query.limit {
                    break;
                }
            }
        }
        Ok(events)
    }

    /// Applies a batch of writes in one durable transaction; assigns sequence numbers to
    /// appended events and returns them; prunes the audit log to the retention.
    pub(crate) fn apply(&self, writes: &[Write]) -> Result<Vec<HealEvent>, StoreError> {
        let database = self.writer()?;
        let txn = database.begin_write().map_err(|e| self.error(e))?;
        let mut appended = Vec::new();
        {
            let mut state = txn.open_table(STATE).map_err(|e| self.error(e))?;
            let mut policy = txn.open_table(POLICY).map_err(|e| self.error(e))?;
            let mut control = txn.open_table(CONTROL).map_err(|e| self.error(e))?;
            let mut audit = txn.open_table(AUDIT).map_err(|e| self.error(e))?;
            let mut next = audit
                .last()
                .map_err(|e| self.error(e))?
                .map_or(1, |(key, _)| key.value() + 1);
            for write in writes {
                match write {
                    Write::Put { table, key, value } => {
                        let table = match table {
                            Table::TargetState => &mut state,
                            Table::PolicyRecord => &mut policy,
                            Table::Control => &mut control,
                        };
                        table
                            .insert(key.as_str(), value.as_slice())
                            .map_err(|e| self.error(e))?;
                    }
                    Write::Delete { table, key } => {
                        let table = match table {
                            Table::TargetState => &mut state,
                            Table::PolicyRecord => &mut policy,
                            Table::Control => &mut control,
                        };
                        table.remove(key.as_str()).map_err(|e| self.error(e))?;
                    }
                    Write::Append(event) => {
                        let mut event = (**event).clone();
                        event.seq = next;
                        let bytes = serde_json::to_vec(&event).map_err(|e| self.error(e))?;
                        audit
                            .insert(next, bytes.as_slice())
                            .map_err(|e| self.error(e))?;
                        next += 1;
                        appended.push(event);
                    }
                }
            }
            let stored = audit.len().map_err(|e| self.error(e))?;
            if stored > self.retention {
                let cutoff = next.saturating_sub(self.retention);
                audit
                    .retain_in(..cutoff, |_, _| false)
                    .map_err(|e| self.error(e))?;
            }
        }
        txn.commit().map_err(|e| self.error(e))?;
        Ok(appended)
    }
}

fn open_error(path: &Path, error: redb::DatabaseError) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.to_path_buf(),
        },
        other => StoreError::Database {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}
