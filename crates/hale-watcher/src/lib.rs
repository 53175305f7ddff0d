//! Watchers: the [`DockerWatcher`] actor follows the Docker daemon and tells the reconciler
//! what every container looks like now.
//!
//! Level-triggered: events make updates happen sooner, a periodic relist makes them happen
//! anyway, and every reconnect relists everything and replays the events missed meanwhile.

mod annotations;
mod docker_watcher;

pub use annotations::Annotations;
pub use docker_watcher::{DockerWatcher, DockerWatcherArgs, Observation, WATCHER_NAME, WatcherMsg};
