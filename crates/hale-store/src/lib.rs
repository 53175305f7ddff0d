//! hale's persistence: per-target remediation state and the append-only audit log, in one
//! embedded redb database (`<state-dir>/hale.redb`).
//!
//! The controller writes through a [`StoreWriter`]: a dedicated thread that batches writes
//! into transactions, so no actor waits on disk. [`StoreWriter::sync`] waits until
//! everything sent so far is durable — the reconciler awaits it before running an action,
//! so a crash can never forget that an action was started. Other processes (`hale events`)
//! read the same file concurrently with [`Store::open_read_only`].

mod requests;
mod store;
mod writer;

pub use requests::{Request, RequestFileError, RequestQueue};
pub use store::{AuditQuery, DEFAULT_RETENTION, Store, StoreError, UnknownKind};
pub use writer::{StoreWriter, SyncError};
