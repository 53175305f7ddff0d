//! What `hale run` gives its API: control requests carried to the actors, the token, and
//! the acknowledgement settings.

use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hale_reconciler::{Alert, ControlFailure, ReconcilerMsg};
use hale_server::{AlertNotice, Control, ControlError, ControlRequest};
use ractor::ActorRef;

/// How long a control request may wait for the reconciler.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// Control requests go to the current Reconciler, through the mailbox its supervisor
/// re-hands at every start.
pub struct ActorControl(pub hale_core::Mailbox<ReconcilerMsg>);

impl ActorControl {
    fn reconciler(&self) -> Result<ActorRef<ReconcilerMsg>, ControlError> {
        self.0.get().ok_or_else(|| {
            ControlError::Unavailable(
                "the reconciler is restarting; try again in a moment".to_owned(),
            )
        })
    }
}

impl Control for ActorControl {
    fn request(&self, request: ControlRequest) -> BoxFuture<'static, Result<String, ControlError>> {
        let reconciler = self.reconciler();
        Box::pin(async move {
            let reconciler = reconciler?;
            let timeout = Some(CONTROL_TIMEOUT);
            let answer = match request {
                ControlRequest::Pause { policy, paused } => {
                    reconciler
                        .call(
                            |reply| ReconcilerMsg::Pause {
                                policy,
                                paused,
                                reply,
                            },
                            timeout,
                        )
                        .await
                }
                ControlRequest::Unquarantine { target, policy } => {
                    reconciler
                        .call(
                            |reply| ReconcilerMsg::Unquarantine {
                                target,
                                policy,
                                reply,
                            },
                            timeout,
                        )
                        .await
                }
                ControlRequest::Disable { target, disabled } => {
                    reconciler
                        .call(
                            |reply| ReconcilerMsg::Disable {
                                target,
                                disabled,
                                reply,
                            },
                            timeout,
                        )
                        .await
                }
                ControlRequest::Heal { target, policy } => {
                    reconciler
                        .call(
                            |reply| ReconcilerMsg::Heal {
                                target,
                                policy,
                                reply,
                            },
                            timeout,
                        )
                        .await
                }
            };
            match answer {
                Ok(ractor::rpc::CallResult::Success(Ok(done))) => Ok(done),
                Ok(ractor::rpc::CallResult::Success(Err(ControlFailure::NotFound(m)))) => {
                    Err(ControlError::NotFound(m))
                }
                Ok(ractor::rpc::CallResult::Success(Err(ControlFailure::Conflict(m)))) => {
                    Err(ControlError::Conflict(m))
                }
                Ok(_) | Err(_) => Err(ControlError::Unavailable(
                    "the reconciler did not answer in time".to_owned(),
                )),
            }
        })
    }

    fn alerts(&self, alerts: Vec<AlertNotice>) {
        let alerts = alerts
            .into_iter()
            .map(|a| Alert {
                firing: a.status == "firing",
                labels: a.labels,
                fingerprint: a.fingerprint,
            })
            .collect();
        match self.reconciler() {
            Ok(reconciler) => {
                let _ = reconciler.cast(ReconcilerMsg::Alerts(alerts));
            }
            Err(_) => tracing::warn!(
                "alerts received while the reconciler restarts were dropped; Alertmanager sends them again"
            ),
        }
    }
}

/// Reads the API token from `path`: the first line, trimmed.
///
/// # Errors
/// What is wrong with the file.
pub fn read_token(path: &Path) -> Result<String, SecretFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError::ReadToken {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.len() < 16 {
        return Err(SecretFileError::ShortToken {
            path: path.to_path_buf(),
        });
    }
    hale_core::redact::register(&token);
    Ok(token)
}

/// A secret file `hale run` needs (the API token, the ack signing key) that is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The token file cannot be read.
    #[error("cannot read the API token file {}: {source}", path.display())]
    ReadToken {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token is too short to be a secret.
    #[error(
        "the API token in {} is shorter than 16 characters; use a long random one (e.g. `openssl rand -hex 32`)",
        path.display()
    )]
    ShortToken {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The system gave no random bytes for a new key.
    #[error("the system has no random source for the ack key")]
    NoRandom,
    /// The key file cannot be created or written.
    #[error("cannot {verb} {}: {source}", path.display())]
    WriteKey {
        /// `create` or `write`.
        verb: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The key acknowledgement links are signed with: `ack.key` in the state directory,
/// created (random, mode 0600) on first use, so links stay valid across restarts.
///
/// # Errors
/// When the key cannot be read or created.
pub fn ack_key(state_dir: &Path) -> Result<ring::hmac::Key, SecretFileError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = state_dir.join("ack.key");
    let secret = match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => secret,
        _ => {
            let mut secret = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                .map_err(|_| SecretFileError::NoRandom)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| SecretFileError::WriteKey {
                    verb: "create",
                    path: path.clone(),
                    source,
                })?;
            file.write_all(&secret)
                .map_err(|source| SecretFileError::WriteKey {
                    verb: "write",
                    path: path.clone(),
                    source,
                })?;
            secret.to_vec()
        }
    };
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret))
}
