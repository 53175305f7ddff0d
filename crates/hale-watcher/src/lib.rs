//! Watchers: the [`DockerWatcher`] actor follows the Docker daemon and tells the reconciler
//! what every container looks like now; the [`PolicyWatcher`] follows the policy directory
//! and reloads it, keeping the last known good version of every file.
//!
//! Level-triggered: events make updates happen sooner, a periodic relist (or re-resolve)
//! makes them happen anyway, and every reconnect relists everything and replays the events
//! missed meanwhile.

mod annotations;
mod docker_watcher;
mod policy_book;
mod policy_watcher;

pub use annotations::Annotations;
pub use docker_watcher::{DockerWatcher, DockerWatcherArgs, Observation, WATCHER_NAME, WatcherMsg};
pub use policy_book::{PolicyBook, PolicyFacts, PolicyRecord, PolicySnapshot, PolicyUpdate};
pub use policy_watcher::{POLICY_WATCHER_NAME, PolicyWatcher, PolicyWatcherArgs, PolicyWatcherMsg};
