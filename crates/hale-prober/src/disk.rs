//! The disk probe: free space on a filesystem of the host, judged against `freeBelow`,
//! with Docker's own accounting (`/system/df`) in the reason when it fails.

use std::time::Duration;

use hale_core::DockerPort;
use hale_policy::{DiskProbe, human_bytes};

/// Space on one filesystem, as `df` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsSpace {
    /// The filesystem's size in bytes.
    pub total: u64,
    /// Bytes available to unprivileged users (what `df` calls Avail).
    pub available: u64,
}

/// Why the free space could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// `statvfs` failed (no such path, no permission).
    #[error(
        "cannot read free space on {path}: {source} (is the directory mounted into hale's container?)"
    )]
    Stat {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `statvfs` did not answer in time (a hung network filesystem).
    #[error("reading free space on {path} did not finish within {}ms", timeout.as_millis())]
    TimedOut {
        /// The path.
        path: String,
        /// How long hale waited.
        timeout: Duration,
    },
}

/// Reads the free space on the filesystem holding `path`, off the async threads (a hung
/// NFS mount must not stall other probes).
pub async fn read_space(path: &str, timeout: Duration) -> Result<FsSpace, DiskError> {
    let owned = path.to_owned();
    let stat = tokio::task::spawn_blocking(move || rustix::fs::statvfs(owned.as_str()));
    match tokio::time::timeout(timeout, stat).await {
        Err(_) => Err(DiskError::TimedOut {
            path: path.to_owned(),
            timeout,
        }),
        Ok(Err(join)) => Err(DiskError::Stat {
            path: path.to_owned(),
            source: std::io::Error::other(join),
        }),
        Ok(Ok(Err(errno))) => Err(DiskError::Stat {
            path: path.to_owned(),
            source: errno.into(),
        }),
        Ok(Ok(Ok(stat))) => Ok(FsSpace {
            total: stat.f_blocks.saturating_mul(stat.f_frsize),
            available: stat.f_bavail.saturating_mul(stat.f_frsize),
        }),
    }
}

/// The verdict on `space` (passed, and what was seen): it fails while less than
/// `freeBelow` is available.
pub fn judge_space(disk: &DiskProbe, space: FsSpace) -> (bool, String) {
    let threshold = disk.free_below.bytes_of(space.total);
    let share = if space.total == 0 {
        0.0
    } else {
        space.available as f64 * 100.0 / space.total as f64
    };
    let seen = format!(
        "free {} of {} ({share:.1}%) on {}",
        human_bytes(space.available),
        human_bytes(space.total),
        disk.path
    );
    if space.available < threshold {
        (false, format!("{seen}, below {}", disk.free_below))
    } else {
        (true, seen)
    }
}

/// Runs a disk probe: reads the free space, judges it (passed, and what was seen), and on
/// a failure adds Docker's own account of its usage, so the audit record says what a
/// prune could reclaim.
pub async fn probe_disk(
    docker: &dyn DockerPort,
    disk: &DiskProbe,
    timeout: Duration,
) -> (bool, String) {
    match read_space(&disk.path, timeout).await {
        Err(error) => (false, error.to_string()),
        Ok(space) => {
            let (passed, seen) = judge_space(disk, space);
            if passed {
                (true, seen)
            } else {
                let docker_usage = match docker.disk_usage().await {
                    Ok(usage) => usage.summary(),
                    Err(error) => format!("Docker's usage unknown: {error}"),
                };
                (false, format!("{seen}; {docker_usage}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(free_below: &str) -> DiskProbe {
        DiskProbe {
            path: "/data".into(),
            free_below: free_below.parse().unwrap(),
        }
    }

    #[test]
    fn below_the_threshold_fails_and_says_by_how_much() {
        let space = FsSpace {
            total: 1 << 30,
            available: 50 << 20,
        };
        let (passed, seen) = judge_space(&disk("10%"), space);
        assert!(!passed);
        assert_eq!(seen, "free 50.0 MiB of 1.0 GiB (4.9%) on /data, below 10%");
        assert!(judge_space(&disk("40MiB"), space).0);
        assert!(!judge_space(&disk("60MiB"), space).0);
    }

    #[tokio::test]
    async fn a_real_filesystem_is_read_and_a_missing_path_is_an_error() {
        let space = read_space("/", Duration::from_secs(5)).await.unwrap();
        assert!(space.total > 0 && space.available <= space.total);
        let missing = read_space("/no/such/dir", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(missing.to_string().contains("/no/such/dir"), "{missing}");
    }
}
