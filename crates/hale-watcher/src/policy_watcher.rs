//! The PolicyWatcher actor: follows the policy directory and reloads it when it changes.
//!
//! Every kind of change ends in the same full reload (the code path of `hale validate`),
//! merged with last-known-good:
//! - file events (writes, write-to-temp-then-rename, deletes, new subdirectories, the
//!   `..data` symlink swap of git-sync and ConfigMap volumes) come from a recursive
//!   inotify watch and are held until the directory has been quiet for [`SETTLE`] (at most
//!   [`MAX_SETTLE`]), so a `git checkout` of fifty files is one reload. (No separate
//!   debouncer: this actor's settling already merges bursts, and a debouncer thread that
//!   ticks every 25 ms was most of an idle hale's CPU);
//! - the directory itself being replaced, swapped through a symlink, or vanishing and
//!   coming back is noticed by re-resolving it every [`RECHECK`], which also re-creates the
//!   watch;
//! - `SIGHUP` forces a reload.
//!
//! Loading runs on a blocking thread; the mailbox only coordinates.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hale_core::Timestamp;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::policy_book::{PolicyBook, PolicyUpdate};

/// The name the policy watcher registers under.
pub const POLICY_WATCHER_NAME: &str = "hale-policy-watcher";

/// After the last change, wait until the directory has been quiet this long before
/// reloading ...
const SETTLE: Duration = Duration::from_millis(50);

/// ... but never longer than this after the first change of a burst.
const MAX_SETTLE: Duration = Duration::from_secs(1);

/// How often the directory is re-resolved, to notice it being swapped or recreated.
const RECHECK: Duration = Duration::from_secs(1);

/// What the policy watcher starts with.
#[derive(Clone)]
pub struct PolicyWatcherArgs {
    /// The policy directory (or file).
    pub root: PathBuf,
    /// Last-known-good and generations, shared across incarnations of the watcher.
    pub book: Arc<Mutex<PolicyBook>>,
    /// Where each reload's outcome goes (the supervisor subscribes).
    pub updates: hale_core::OutputPort<PolicyUpdate>,
}

/// Messages of the policy watcher.
pub enum PolicyWatcherMsg {
    /// Files changed (from the watch).
    Changed,
    /// `SETTLE` has passed since a change: reload if nothing changed since.
    Settled,
    /// Reload now; `reason` is logged (`SIGHUP`, a change, the directory reappearing).
    Reload {
        /// Why.
        reason: &'static str,
    },
    /// A load finished (`None`: it failed, and nothing changes).
    Loaded(Option<Box<hale_policy::LoadReport>>),
    /// Re-resolve the directory (timer).
    Recheck,
}

/// The PolicyWatcher actor.
pub struct PolicyWatcher;

/// The watcher's state.
pub struct PolicyWatcherState {
    args: PolicyWatcherArgs,
    /// The live watch; dropping it stops it.
    watch: Option<RecommendedWatcher>,
    /// What the directory resolved to when the watch was made, with its device and inode
    /// (`None`: it did not exist).
    resolved: Option<(PathBuf, u64, u64)>,
    /// The first and the latest change of the burst waiting to be reloaded.
    burst: Option<(std::time::Instant, std::time::Instant)>,
    /// A [`PolicyWatcherMsg::Settled`] is on its way (one timer per burst, not per event).
    settle_pending: bool,
    /// A load is running, since then.
    loading: Option<std::time::Instant>,
    /// Something changed while loading: load again afterwards.
    again: bool,
}

impl Actor for PolicyWatcher {
    type Msg = PolicyWatcherMsg;
    type State = PolicyWatcherState;
    type Arguments = PolicyWatcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PolicyWatcherMsg>,
        args: PolicyWatcherArgs,
    ) -> Result<PolicyWatcherState, ActorProcessingErr> {
        let mut state = PolicyWatcherState {
            args,
            watch: None,
            resolved: None,
            burst: None,
            settle_pending: false,
            loading: None,
            again: false,
        };
        rewatch(&myself, &mut state);
        myself.send_interval(RECHECK, || PolicyWatcherMsg::Recheck);
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<PolicyWatcherMsg>,
        _state: &mut PolicyWatcherState,
    ) -> Result<(), ActorProcessingErr> {
        // Changes made while no watcher ran (before start, or while this one restarted).
        let _ = myself.cast(PolicyWatcherMsg::Reload { reason: "start" });
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<PolicyWatcherMsg>,
        message: PolicyWatcherMsg,
        state: &mut PolicyWatcherState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PolicyWatcherMsg::Changed => {
                let now = std::time::Instant::now();
                let first = state.burst.map_or(now, |(first, _)| first);
                state.burst = Some((first, now));
                if !std::mem::replace(&mut state.settle_pending, true) {
                    myself.send_after(SETTLE, || PolicyWatcherMsg::Settled);
                }
            }
            PolicyWatcherMsg::Settled => {
                state.settle_pending = false;
                let Some((first, latest)) = state.burst else {
                    return Ok(());
                };
                // A `git checkout` or an rsync is still writing: wait for it, within reason.
                if latest.elapsed() >= SETTLE || first.elapsed() >= MAX_SETTLE {
                    let _ = myself.cast(PolicyWatcherMsg::Reload { reason: "change" });
                } else {
                    state.settle_pending = true;
                    let quiet_in = SETTLE
                        .saturating_sub(latest.elapsed())
                        .min(MAX_SETTLE.saturating_sub(first.elapsed()));
                    myself.send_after(quiet_in, || PolicyWatcherMsg::Settled);
                }
            }
            PolicyWatcherMsg::Reload { reason } => {
                state.burst = None;
                if state.loading.is_some() {
                    state.again = true;
                    return Ok(());
                }
                state.loading = Some(std::time::Instant::now());
                tracing::debug!(reason, root = %state.args.root.display(), "reloading policies");
                let root = state.args.root.clone();
                let reply = myself.clone();
                let load = tokio::task::spawn_blocking(move || hale_policy::load_paths(&[&root]));
                tokio::spawn(async move {
                    let report = match load.await {
                        Ok(report) => Some(Box::new(report)),
                        // A panic in the loader must not stop reloads for good, nor change
                        // what is in force.
                        Err(error) => {
                            tracing::error!(%error, "loading the policy directory failed; the policies in force stay");
                            None
                        }
                    };
                    let _ = reply.cast(PolicyWatcherMsg::Loaded(report));
                });
            }
            PolicyWatcherMsg::Loaded(None) => {
                state.loading = None;
                if std::mem::take(&mut state.again) {
                    let _ = myself.cast(PolicyWatcherMsg::Reload {
                        reason: "change during load",
                    });
                }
            }
            PolicyWatcherMsg::Loaded(Some(report)) => {
                let started = state.loading.take();
                let files = report.files.len();
                let _reload =
                    tracing::info_span!(parent: None, "hale.policy_reload", files).entered();
                let update = state
                    .args
                    .book
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reload(*report, Timestamp::now());
                let errors = update.diagnostics.iter().filter(|d| d.is_error()).count();
                let took_ms = started.map_or(0, |s| s.elapsed().as_millis() as u64);
                tracing::info!(
                    files,
                    took_ms,
                    policies = update.policies.len(),
                    errors,
                    changed = update.changed,
                    "policies reloaded"
                );
                state.args.updates.send(&update);
                if state.again {
                    state.again = false;
                    let _ = myself.cast(PolicyWatcherMsg::Reload {
                        reason: "change during load",
                    });
                }
            }
            PolicyWatcherMsg::Recheck => {
                let replaced = resolve(&state.args.root) != state.resolved;
                // A watch that could not be made (inotify limits) is retried.
                let unwatched = state.watch.is_none() && state.resolved.is_some();
                if replaced || unwatched {
                    tracing::info!(root = %state.args.root.display(), "the policy directory was replaced; watching it again");
                    rewatch(&myself, state);
                    let _ = myself.cast(PolicyWatcherMsg::Reload {
                        reason: "directory replaced",
                    });
                }
            }
        }
        Ok(())
    }
}

/// Where `root` leads now, following symlinks, and the device and inode it leads to (a
/// directory replaced at the same path is a new inode, and the old watch is dead); `None`
/// when it does not exist.
fn resolve(root: &Path) -> Option<(PathBuf, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let path = std::fs::canonicalize(root).ok()?;
    let metadata = std::fs::metadata(&path).ok()?;
    Some((path, metadata.dev(), metadata.ino()))
}

/// (Re)creates the recursive watch on the directory as it resolves now.
fn rewatch(myself: &ActorRef<PolicyWatcherMsg>, state: &mut PolicyWatcherState) {
    state.watch = None;
    state.resolved = resolve(&state.args.root);
    let Some((resolved, _, _)) = state.resolved.clone() else {
        tracing::warn!(
            root = %state.args.root.display(),
            "the policy directory does not exist; the policies in force keep running, and hale watches for it to come back"
        );
        return;
    };
    let notify = myself.clone();
    let handler = move |result: notify::Result<notify::Event>| match result {
        // Reading the files (as every reload does) is an access, not a change.
        Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
            let _ = notify.cast(PolicyWatcherMsg::Changed);
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "watching the policy directory failed");
            // The directory may be gone or replaced: look again.
            let _ = notify.cast(PolicyWatcherMsg::Recheck);
        }
    };
    // A single policy file is replaced by editors' atomic saves (a new inode): watch its
    // directory instead, which sees the rename.
    let (watched, mode) = if resolved.is_dir() {
        (resolved, RecursiveMode::Recursive)
    } else {
        (
            resolved
                .parent()
                .map_or(resolved.clone(), Path::to_path_buf),
            RecursiveMode::NonRecursive,
        )
    };
    let watch = notify::recommended_watcher(handler).and_then(|mut watcher| {
        watcher.watch(&watched, mode)?;
        Ok(watcher)
    });
    match watch {
        Ok(watcher) => state.watch = Some(watcher),
        Err(error) => tracing::warn!(
            %error,
            root = %state.args.root.display(),
            "cannot watch the policy directory; changes are picked up by the periodic check and SIGHUP only"
        ),
    }
}
