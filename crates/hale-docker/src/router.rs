//! One [`DockerPort`] over several named Docker daemons, so the watcher, the prober and the
//! reconciler stay as they are when hale watches more than one endpoint: container names
//! come back as `NAME/container`, and every call about a container goes to the daemon it
//! lives on (learned from lists, inspects and events by container ID; IDs are random
//! 256-bit values, so two daemons do not share one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, try_join_all};
use futures_util::{FutureExt, StreamExt, stream};

use hale_core::{
    ContainerSnapshot, DockerDiskUsage, DockerError, DockerPort, EventStream, ExecOutput,
    PruneReport,
};

/// The daemons, by name, and which one holds each container hale has seen.
pub struct DockerRouter {
    endpoints: Vec<(String, Arc<dyn DockerPort>)>,
    owners: Arc<Mutex<HashMap<String, usize>>>,
}

/// The target name of container `container` on endpoint `endpoint`.
pub fn qualified_name(endpoint: &str, container: &str) -> String {
    format!("{endpoint}/{container}")
}

impl DockerRouter {
    /// A router over `endpoints` (name, port); the names prefix the container names.
    pub fn new(endpoints: Vec<(String, Arc<dyn DockerPort>)>) -> Self {
        Self {
            endpoints,
            owners: Arc::default(),
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `snapshot` as it came from endpoint `index`: remembered and renamed.
    fn adopt(&self, index: usize, mut snapshot: ContainerSnapshot) -> ContainerSnapshot {
        self.owners().insert(snapshot.id.clone(), index);
        snapshot.name = qualified_name(&self.endpoints[index].0, &snapshot.name);
        snapshot
    }

    /// The endpoint that holds container `id`: the remembered one, else the first that
    /// knows it (a container created since the last list).
    async fn owner(&self, id: &str) -> Result<usize, DockerError> {
        if let Some(index) = self.owners().get(id).copied() {
            return Ok(index);
        }
        for (index, (_, port)) in self.endpoints.iter().enumerate() {
            match port.inspect(id).await {
                Ok(_) => {
                    self.owners().insert(id.to_owned(), index);
                    return Ok(index);
                }
                Err(DockerError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Err(DockerError::NotFound(id.to_owned()))
    }

    async fn port_of(&self, id: &str) -> Result<&Arc<dyn DockerPort>, DockerError> {
        Ok(&self.endpoints[self.owner(id).await?].1)
    }

    /// Every endpoint's containers; fails when one endpoint fails, since a partial list
    /// would make the other endpoint's targets look removed.
    async fn gather(&self, full: bool) -> Result<Vec<ContainerSnapshot>, DockerError> {
        let lists = try_join_all(self.endpoints.iter().map(|(_, port)| async move {
            if full {
                port.list().await
            } else {
                port.summaries().await
            }
        }))
        .await?;
        let mut all = Vec::new();
        for (index, list) in lists.into_iter().enumerate() {
            all.extend(list.into_iter().map(|s| self.adopt(index, s)));
        }
        Ok(all)
    }
}

impl DockerPort for DockerRouter {
    fn endpoint(&self) -> String {
        self.endpoints
            .iter()
            .map(|(name, port)| format!("{name}={}", port.endpoint()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), DockerError>> {
        async move {
            try_join_all(self.endpoints.iter().map(|(_, port)| port.ping())).await?;
            Ok(())
        }
        .boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        self.gather(true).boxed()
    }

    fn summaries(&self) -> BoxFuture<'_, Result<Vec<ContainerSnapshot>, DockerError>> {
        self.gather(false).boxed()
    }

    fn inspect(&self, id: &str) -> BoxFuture<'_, Result<ContainerSnapshot, DockerError>> {
        let id = id.to_owned();
        async move {
            let index = self.owner(&id).await?;
            let snapshot = self.endpoints[index].1.inspect(&id).await?;
            Ok(self.adopt(index, snapshot))
        }
        .boxed()
    }

    fn events(&self, since_nanos: Option<i64>) -> EventStream {
        let streams = self.endpoints.iter().enumerate().map(|(index, (_, port))| {
            let owners = Arc::clone(&self.owners);
            port.events(since_nanos)
                .map(move |item| {
                    if let Ok(event) = &item {
                        owners
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(event.id.clone(), index);
                    }
                    item
                })
                .boxed()
        });
        stream::select_all(streams).boxed()
    }

    fn kills_between(
        &self,
        id: &str,
        since_nanos: i64,
        until_nanos: i64,
    ) -> BoxFuture<'_, Result<Vec<(i64, String)>, DockerError>> {
        let id = id.to_owned();
        async move {
            self.port_of(&id)
                .await?
                .kills_between(&id, since_nanos, until_nanos)
                .await
        }
        .boxed()
    }

    fn restart(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        async move { self.port_of(&id).await?.restart(&id, timeout).await }.boxed()
    }

    fn stop(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        async move { self.port_of(&id).await?.stop(&id, timeout).await }.boxed()
    }

    fn start(&self, id: &str) -> BoxFuture<'_, Result<(), DockerError>> {
        let id = id.to_owned();
        async move { self.port_of(&id).await?.start(&id).await }.boxed()
    }

    fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: std::time::Duration,
    ) -> BoxFuture<'_, Result<ExecOutput, DockerError>> {
        let id = id.to_owned();
        let command = command.to_vec();
        async move { self.port_of(&id).await?.exec(&id, &command, timeout).await }.boxed()
    }

    fn recreate(&self, id: &str, timeout: u32) -> BoxFuture<'_, Result<String, DockerError>> {
        let id = id.to_owned();
        async move {
            let index = self.owner(&id).await?;
            let new_id = self.endpoints[index].1.recreate(&id, timeout).await?;
            self.owners().insert(new_id.clone(), index);
            Ok(new_id)
        }
        .boxed()
    }

    /// Every endpoint's usage, item lists joined: a disk policy sees the whole fleet.
    fn disk_usage(&self) -> BoxFuture<'_, Result<DockerDiskUsage, DockerError>> {
        async move {
            let usages =
                try_join_all(self.endpoints.iter().map(|(_, port)| port.disk_usage())).await?;
            let mut all = DockerDiskUsage::default();
            for usage in usages {
                all.images.extend(usage.images);
                all.containers.extend(usage.containers);
                all.volumes.extend(usage.volumes);
                all.build_cache.extend(usage.build_cache);
            }
            Ok(all)
        }
        .boxed()
    }

    /// Prunes every endpoint, one after another, and adds up what was removed.
    fn prune<'a>(
        &'a self,
        what: &'a hale_policy::PruneAction,
    ) -> BoxFuture<'a, Result<PruneReport, DockerError>> {
        async move {
            let mut total = PruneReport::default();
            for (_, port) in &self.endpoints {
                let report = port.prune(what).await?;
                total.containers += report.containers;
                total.images += report.images;
                total.build_cache += report.build_cache;
                total.networks += report.networks;
                total.volumes += report.volumes;
                total.bytes_freed += report.bytes_freed;
            }
            Ok(total)
        }
        .boxed()
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
