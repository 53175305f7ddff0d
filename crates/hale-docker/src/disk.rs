//! Docker's disk usage (`/system/df`) and its prune endpoints.
//!
//! `/system/df` changed shape in API 1.52 (totals instead of per-object lists), and
//! bollard types only the new one, which a daemon answering with an older version fills
//! with nothing. hale asks for the per-object form every daemon since API 1.25 answers,
//! at the negotiated version capped to 1.51, with one plain HTTP/1.0 request on the same
//! endpoint, and reads it with its own types.

use std::collections::HashMap;

use bollard::query_parameters::{
    PruneBuildOptionsBuilder, PruneContainersOptionsBuilder, PruneImagesOptionsBuilder,
    PruneNetworksOptionsBuilder, PruneVolumesOptionsBuilder,
};
use hale_core::{DockerDiskUsage, DockerError, PruneReport, UsageItem};
use hale_policy::{ImagePrune, PruneAction};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::BollardDocker;

/// The newest API version whose `/system/df` lists every object.
const LAST_PER_OBJECT_DF: usize = 51;

/// Bound on `/system/df`, which walks every layer and volume and can take a while on a
/// large host.
const DF_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How often `/system/df` is asked again while another walk runs, and how long apart.
const DF_TRIES: u32 = 20;
const DF_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Bound on one prune call: Docker deletes layers synchronously before it answers.
const PRUNE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Df {
    images: Option<Vec<DfImage>>,
    containers: Option<Vec<DfContainer>>,
    volumes: Option<Vec<DfVolume>>,
    build_cache: Option<Vec<DfCache>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DfImage {
    repo_tags: Option<Vec<String>>,
    created: i64,
    size: i64,
    shared_size: i64,
    labels: Option<HashMap<String, String>>,
    containers: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DfContainer {
    created: i64,
    state: String,
    size_rw: Option<i64>,
    labels: Option<HashMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DfVolume {
    labels: Option<HashMap<String, String>>,
    usage_data: Option<DfVolumeUsage>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DfVolumeUsage {
    size: i64,
    ref_count: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DfCache {
    size: i64,
    in_use: bool,
    last_used_at: Option<String>,
    created_at: Option<String>,
}

fn bytes(size: i64) -> u64 {
    u64::try_from(size).unwrap_or(0)
}

impl From<Df> for DockerDiskUsage {
    fn from(df: Df) -> Self {
        let images = df.images.unwrap_or_default().into_iter().map(|image| {
            let tags = image.repo_tags.unwrap_or_default();
            UsageItem {
                // SharedSize is -1 when Docker did not compute it.
                size: bytes(image.size - image.shared_size.max(0)),
                created: image.created,
                labels: image.labels.unwrap_or_default(),
                unused: image.containers <= 0,
                dangling: tags.iter().all(|t| t == "<none>:<none>"),
            }
        });
        let containers = df
            .containers
            .unwrap_or_default()
            .into_iter()
            .map(|c| UsageItem {
                size: bytes(c.size_rw.unwrap_or(0)),
                created: c.created,
                labels: c.labels.unwrap_or_default(),
                unused: !matches!(c.state.as_str(), "running" | "paused" | "restarting"),
                dangling: false,
            });
        let volumes = df.volumes.unwrap_or_default().into_iter().map(|v| {
            let usage = v.usage_data.unwrap_or_default();
            UsageItem {
                size: bytes(usage.size),
                created: 0,
                labels: v.labels.unwrap_or_default(),
                unused: usage.ref_count == 0,
                dangling: false,
            }
        });
        let build_cache = df.build_cache.unwrap_or_default().into_iter().map(|c| {
            let used = c.last_used_at.or(c.created_at).unwrap_or_default();
            UsageItem {
                size: bytes(c.size),
                created: hale_core::Timestamp::parse_rfc3339(&used)
                    .map_or(0, |t| (t.0 / 1000) as i64),
                labels: HashMap::new(),
                unused: !c.in_use,
                dangling: false,
            }
        });
        Self {
            images: images.collect(),
            containers: containers.collect(),
            volumes: volumes.collect(),
            build_cache: build_cache.collect(),
        }
    }
}

/// Sends one `GET path` over `stream` as HTTP/1.0 (the daemon closes the connection after
/// the answer, with no chunking) and returns the status and body.
async fn get(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    path: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: hale\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let split = memchr::memmem::find(&answer, b"\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "no end of HTTP headers")
    })?;
    let status = std::str::from_utf8(&answer[..split])
        .ok()
        .and_then(|head| head.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, answer[split + 4..].to_vec()))
}

/// `stream` to `address` (`host:port`) wrapped in TLS as `config` says, verified for the
/// host part of the address, as bollard's own transport verifies it.
async fn tls_stream(
    config: &std::sync::Arc<rustls::ClientConfig>,
    address: &str,
    stream: tokio::net::TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    tokio_rustls::TlsConnector::from(std::sync::Arc::clone(config))
        .connect(name, stream)
        .await
}

impl BollardDocker {
    /// `/system/df` in its per-object form. Docker runs one disk usage walk at a time and
    /// refuses a second meanwhile (HTTP 409 "a disk usage operation is already running"):
    /// hale asks again a few times, since the walk under way (a disk probe's, a dry-run
    /// estimate's, or another client's) is usually short.
    pub(crate) async fn disk_usage_raw(&self) -> Result<DockerDiskUsage, DockerError> {
        let mut tries = 0;
        loop {
            match self.disk_usage_once().await {
                Err(DockerError::Api { message, .. })
                    if message.contains("already running") && tries < DF_TRIES =>
                {
                    tries += 1;
                    tokio::time::sleep(DF_RETRY_DELAY).await;
                }
                other => return other,
            }
        }
    }

    async fn disk_usage_once(&self) -> Result<DockerDiskUsage, DockerError> {
        let version = self.client.client_version();
        let minor = version.minor_version.min(LAST_PER_OBJECT_DF);
        let path = format!("/v{}.{minor}/system/df", version.major_version);
        let unreachable = |message: String| DockerError::Unreachable {
            endpoint: self.endpoint.clone(),
            message,
        };
        let call = async {
            if let Some(socket) = self.endpoint.strip_prefix("unix://") {
                let mut stream = tokio::net::UnixStream::connect(socket).await?;
                get(&mut stream, &path).await
            } else if let Some(address) = self
                .endpoint
                .strip_prefix("tcp://")
                .or_else(|| self.endpoint.strip_prefix("http://"))
            {
                let address = address.trim_end_matches('/');
                let stream = tokio::net::TcpStream::connect(address).await?;
                match &self.tls {
                    Some(config) => {
                        let mut stream = tls_stream(config, address, stream).await?;
                        get(&mut stream, &path).await
                    }
                    None => {
                        let mut stream = stream;
                        get(&mut stream, &path).await
                    }
                }
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    format!(
                        "hale reads disk usage over unix:// and tcp:// (plain or TLS) endpoints only, not {}",
                        self.endpoint
                    ),
                ))
            }
        };
        let (status, body) = tokio::time::timeout(DF_TIMEOUT, call)
            .await
            .map_err(|_| DockerError::TimedOut {
                operation: "system df",
                seconds: DF_TIMEOUT.as_secs(),
            })?
            .map_err(|e| unreachable(e.to_string()))?;
        if status != 200 {
            return Err(DockerError::Api {
                operation: "system df",
                message: format!("HTTP {status}: {}", String::from_utf8_lossy(&body).trim()),
            });
        }
        let df: Df = serde_json::from_slice(&body).map_err(|e| DockerError::Api {
            operation: "system df",
            message: format!("unexpected answer: {e}"),
        })?;
        Ok(df.into())
    }

    /// Prunes each kind `what` names, in the order `docker system prune` does (containers
    /// first, so the images and networks they held become unused), and adds up what
    /// Docker reports.
    pub(crate) async fn prune_raw(&self, what: &PruneAction) -> Result<PruneReport, DockerError> {
        let mut filters: HashMap<&str, Vec<String>> = HashMap::new();
        if let Some(until) = what.until {
            filters.insert("until", vec![format!("{}s", until.as_std().as_secs())]);
        }
        if !what.labels.is_empty() {
            filters.insert("label", what.labels.clone());
        }
        if !what.exclude_labels.is_empty() {
            filters.insert("label!", what.exclude_labels.clone());
        }
        let mut report = PruneReport::default();
        let freed = |space: Option<i64>| bytes(space.unwrap_or(0));
        if what.containers {
            let options = PruneContainersOptionsBuilder::new()
                .filters(&filters)
                .build();
            let done = self
                .slow(
                    "container prune",
                    self.client.prune_containers(Some(options)),
                )
                .await?;
            report.containers = done.containers_deleted.map_or(0, |d| d.len());
            report.bytes_freed += freed(done.space_reclaimed);
        }
        if what.images != ImagePrune::None {
            let mut image_filters = filters.clone();
            let dangling = what.images == ImagePrune::Dangling;
            image_filters.insert("dangling", vec![dangling.to_string()]);
            let options = PruneImagesOptionsBuilder::new()
                .filters(&image_filters)
                .build();
            let done = self
                .slow("image prune", self.client.prune_images(Some(options)))
                .await?;
            report.images = done.images_deleted.map_or(0, |d| {
                d.iter().filter(|item| item.deleted.is_some()).count()
            });
            report.bytes_freed += freed(done.space_reclaimed);
        }
        // The build cache has no labels: a policy that prunes only labelled objects leaves
        // it alone, and Docker refuses label filters on it.
        if what.build_cache && what.labels.is_empty() {
            let mut cache_filters: HashMap<&str, Vec<String>> = HashMap::new();
            if let Some(until) = filters.get("until") {
                cache_filters.insert("until", until.clone());
            }
            let options = PruneBuildOptionsBuilder::new()
                .filters(&cache_filters)
                .build();
            let done = self
                .slow("builder prune", self.client.prune_build(Some(options)))
                .await?;
            report.build_cache = done.caches_deleted.map_or(0, |d| d.len());
            report.bytes_freed += freed(done.space_reclaimed);
        }
        if what.networks {
            let options = PruneNetworksOptionsBuilder::new().filters(&filters).build();
            let done = self
                .slow("network prune", self.client.prune_networks(Some(options)))
                .await?;
            report.networks = done.networks_deleted.map_or(0, |d| d.len());
        }
        if what.volumes {
            // Docker's volume prune has no `until` filter.
            let mut volume_filters = filters.clone();
            volume_filters.remove("until");
            let options = PruneVolumesOptionsBuilder::new()
                .filters(&volume_filters)
                .build();
            let done = self
                .slow("volume prune", self.client.prune_volumes(Some(options)))
                .await?;
            report.volumes = done.volumes_deleted.map_or(0, |d| d.len());
            report.bytes_freed += freed(done.space_reclaimed);
        }
        Ok(report)
    }

    async fn slow<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, DockerError> {
        match tokio::time::timeout(PRUNE_TIMEOUT, call).await {
            Ok(result) => result.map_err(|e| self.map_error(operation, "", e)),
            Err(_) => Err(DockerError::TimedOut {
                operation,
                seconds: PRUNE_TIMEOUT.as_secs(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_object_df_of_api_1_41_is_read() {
        // As Docker 20.10 answers /v1.41/system/df (trimmed).
        let body = r#"{"LayersSize":1000,
          "Images":[{"Id":"sha256:a","RepoTags":["<none>:<none>"],"Created":100,"Size":500,"SharedSize":100,"Labels":null,"Containers":0},
                    {"Id":"sha256:b","RepoTags":["web:1"],"Created":100,"Size":900,"SharedSize":-1,"Labels":{"keep":"true"},"Containers":1}],
          "Containers":[{"Id":"c1","Created":50,"State":"exited","SizeRw":40,"Labels":{}},
                        {"Id":"c2","Created":50,"State":"running","SizeRw":7}],
          "Volumes":[{"Name":"v","Labels":null,"UsageData":{"Size":300,"RefCount":0}}],
          "BuildCache":[{"ID":"x","Size":70,"InUse":false,"LastUsedAt":"2026-12-01T00:00:00Z"}]}"#;
        let df: Df = serde_json::from_str(body).unwrap();
        let usage = DockerDiskUsage::from(df);
        assert_eq!(usage.images[0].size, 400);
        assert!(usage.images[0].dangling && usage.images[0].unused);
        assert!(!usage.images[1].dangling && !usage.images[1].unused);
        assert_eq!(
            usage.images[1].labels.get("keep").map(String::as_str),
            Some("true")
        );
        assert!(usage.containers[0].unused && !usage.containers[1].unused);
        assert_eq!(usage.volumes[0].size, 300);
        assert!(usage.build_cache[0].unused && usage.build_cache[0].created > 0);
        let report = hale_core::estimate_prune(&usage, &PruneAction::default(), i64::MAX / 2);
        assert_eq!(report.bytes_freed, 400 + 40 + 70);
    }
}
