//! Operator requests to a running (or not yet running) controller, as files.
//!
//! `hale unquarantine` drops a small JSON file into `<state-dir>/requests/`; the controller
//! picks it up within a second and deletes it once applied. A request survives a
//! controller that is down: it is applied at the next start.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// Release a quarantined target.
    Unquarantine {
        /// The container name.
        target: String,
        /// Only in this policy (default: every policy that quarantined it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<String>,
    },
}

/// The request directory of a state directory.
#[derive(Debug, Clone)]
pub struct RequestQueue {
    dir: PathBuf,
}

impl RequestQueue {
    /// The queue under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("requests"),
        }
    }

    /// Submits a request atomically (written aside, then renamed into place).
    ///
    /// # Errors
    /// The I/O error when the directory cannot be written.
    pub fn submit(&self, request: &Request) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("{stamp}-{}.json", std::process::id());
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(name);
        std::fs::write(&temporary, serde_json::to_vec(request)?)?;
        std::fs::rename(&temporary, &path)?;
        Ok(path)
    }

    /// Pending requests in submission order. Unreadable files are returned as errors so
    /// the caller can report and remove them.
    pub fn pending(&self) -> Vec<(PathBuf, Result<Request, RequestFileError>)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let request = std::fs::read(&path)
                    .map_err(RequestFileError::Read)
                    .and_then(|bytes| {
                        serde_json::from_slice(&bytes).map_err(RequestFileError::Parse)
                    });
                (path, request)
            })
            .collect()
    }

    /// Removes a handled request.
    pub fn done(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
    }
}

/// A request file that cannot be handled (it is reported and removed).
#[derive(Debug, thiserror::Error)]
pub enum RequestFileError {
    /// It could not be read.
    #[error(transparent)]
    Read(std::io::Error),
    /// It is not a request.
    #[error(transparent)]
    Parse(serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_come_back_in_order_and_go_away_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let queue = RequestQueue::new(dir.path());
        let first = Request::Unquarantine {
            target: "web-1".into(),
            policy: None,
        };
        let second = Request::Unquarantine {
            target: "db".into(),
            policy: Some("databases".into()),
        };
        queue.submit(&first).unwrap();
        queue.submit(&second).unwrap();
        std::fs::write(dir.path().join("requests/broken.json"), "{").unwrap();
        let pending = queue.pending();
        assert_eq!(pending.len(), 3);
        let good: Vec<_> = pending
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().cloned())
            .collect();
        assert_eq!(good, [first, second]);
        for (path, _) in &pending {
            queue.done(path);
        }
        assert!(queue.pending().is_empty());
    }
}
