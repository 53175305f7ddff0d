//! Connecting to one resolved [`DockerEndpoint`]: unix socket, plaintext or verified TLS
//! over tcp (bollard's rustls transport, with ring), or SSH (bollard's transport over the
//! system `ssh` client); then negotiating the API version.

use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::connect_error::ConnectError;
use crate::endpoint::{DockerEndpoint, DockerEnvironment, TlsFiles, resolve};
use crate::{BollardDocker, QUICK_CALL};

/// Restarts wait for the stop timeout and the event stream is long-lived; short calls get
/// their own bound (QUICK_CALL) instead.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl BollardDocker {
    /// Connects to `host` (a `--docker` URL), or to what the environment names when
    /// `None` (`DOCKER_HOST`, a Docker context, the local socket), and negotiates the API
    /// version.
    ///
    /// # Errors
    /// A [`ConnectError`]: [`ConnectError::Unreachable`] when the daemon does not answer,
    /// the others when the configuration is wrong.
    pub async fn connect(host: Option<&str>) -> Result<Self, ConnectError> {
        let endpoint = resolve(host, &DockerEnvironment::from_process())?;
        Self::connect_to(&endpoint).await
    }

    /// Connects to a resolved endpoint and negotiates the API version.
    ///
    /// # Errors
    /// As [`BollardDocker::connect`].
    pub async fn connect_to(endpoint: &DockerEndpoint) -> Result<Self, ConnectError> {
        let host = endpoint.host.as_str();
        let unreachable = |message: String| {
            ConnectError::Unreachable(hale_core::DockerError::Unreachable {
                endpoint: host.to_owned(),
                message,
            })
        };
        let secs = CLIENT_TIMEOUT.as_secs();
        let client = if let Some(tls) = &endpoint.tls {
            check_tls_files(host, tls)?;
            // bollard's `ssl` feature brings ring; naming it here keeps a second provider
            // elsewhere in the tree from making rustls' choice ambiguous. Installing twice
            // is refused harmlessly.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Docker::connect_with_ssl(
                host,
                &tls.key(),
                &tls.cert(),
                &tls.ca(),
                secs,
                bollard::API_DEFAULT_VERSION,
            )
        } else if host.starts_with("tcp://") {
            Docker::connect_with_http(host, secs, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("ssh://") {
            refuse_ssh_port(host)?;
            Docker::connect_with_ssh(host, secs, bollard::API_DEFAULT_VERSION, None)
        } else if host.starts_with("unix://") {
            Docker::connect_with_unix(host, secs, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(ConnectError::UnsupportedScheme {
                endpoint: host.to_owned(),
            });
        }
        .map_err(|e| ConnectError::Client {
            endpoint: host.to_owned(),
            message: e.to_string(),
        })?;
        let client = tokio::time::timeout(QUICK_CALL, client.negotiate_version())
            .await
            .map_err(|_| unreachable("timed out negotiating the API version".into()))?
            .map_err(|error| classify(endpoint, error))?;
        let tls = match &endpoint.tls {
            Some(files) => Some(std::sync::Arc::new(client_config(host, files)?)),
            None => None,
        };
        Ok(Self {
            client,
            endpoint: host.to_owned(),
            tls,
        })
    }
}

/// The rustls configuration of hale's own requests to a TLS endpoint: the daemon must
/// chain to `ca.pem` alone, and hale presents `cert.pem` with `key.pem`.
fn client_config(endpoint: &str, tls: &TlsFiles) -> Result<rustls::ClientConfig, ConnectError> {
    let invalid = |what: &'static str, path: std::path::PathBuf, reason: String| {
        ConnectError::TlsFileInvalid {
            endpoint: endpoint.to_owned(),
            what,
            path,
            reason,
        }
    };
    let certificates = |what: &'static str, path: std::path::PathBuf| {
        CertificateDer::pem_file_iter(&path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| invalid(what, path.clone(), e.to_string()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates("CA certificate", tls.ca())? {
        roots
            .add(ca)
            .map_err(|e| invalid("CA certificate", tls.ca(), e.to_string()))?;
    }
    let chain = certificates("client certificate", tls.cert())?;
    let key = PrivateKeyDer::from_pem_file(tls.key())
        .map_err(|e| invalid("client key", tls.key(), e.to_string()))?;
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|builder| {
        builder
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
    })
    .map_err(|e| invalid("client key", tls.key(), e.to_string()))
}

/// Fails early, naming the file, when TLS material is missing or is not PEM: bollard would
/// otherwise send no client certificate and leave the daemon to refuse the handshake.
fn check_tls_files(endpoint: &str, tls: &TlsFiles) -> Result<(), ConnectError> {
    let read = |what: &'static str, path: &Path| {
        std::fs::read(path).map_err(|error| ConnectError::TlsFileMissing {
            endpoint: endpoint.to_owned(),
            what,
            path: path.to_owned(),
            reason: if error.kind() == std::io::ErrorKind::NotFound {
                "does not exist".to_owned()
            } else {
                format!("cannot be read: {error}")
            },
            origin: tls.origin.clone(),
        })
    };
    let invalid = |what: &'static str, path: &Path, reason: String| ConnectError::TlsFileInvalid {
        endpoint: endpoint.to_owned(),
        what,
        path: path.to_owned(),
        reason,
    };
    for (what, path) in [
        ("CA certificate", tls.ca()),
        ("client certificate", tls.cert()),
    ] {
        let pem = read(what, &path)?;
        let certificates: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(what, &path, e.to_string()))?;
        if certificates.is_empty() {
            return Err(invalid(what, &path, "no CERTIFICATE block".to_owned()));
        }
    }
    let key_path = tls.key();
    let pem = read("client key", &key_path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| invalid("client key", &key_path, e.to_string()))?;
    Ok(())
}

/// Turns bollard's error from the first call into what went wrong for the operator: TLS
/// trust, a plaintext/TLS mismatch, or (worth retrying) a daemon that does not answer.
fn classify(endpoint: &DockerEndpoint, error: BollardError) -> ConnectError {
    let host = endpoint.host.clone();
    if let BollardError::DockerResponseServerError {
        status_code: 400,
        message,
    } = &error
        && message.contains("HTTPS")
    {
        return ConnectError::PlaintextToTlsDaemon {
            endpoint: host,
            source_name: endpoint.source.to_string(),
        };
    }
    if let (Some(tls), Some(tls_error)) = (&endpoint.tls, rustls_cause(&error)) {
        return match tls_error {
            rustls::Error::InvalidCertificate(reason) => ConnectError::UntrustedDaemon {
                endpoint: host,
                ca: tls.ca(),
                reason: format!("{reason:?}"),
            },
            rustls::Error::InvalidMessage(_) => {
                ConnectError::TlsToPlaintextDaemon { endpoint: host }
            }
            other => ConnectError::Handshake {
                endpoint: host,
                cert: tls.cert(),
                reason: other.to_string(),
            },
        };
    }
    // The whole chain: what the SSH client said (a refused host key, a denied login) is
    // several causes below bollard's "client error (Connect)".
    ConnectError::Unreachable(hale_core::DockerError::Unreachable {
        endpoint: host,
        message: hale_core::error_chain(&error),
    })
}

/// The rustls error somewhere in `error`'s causes. An `io::Error` hides what it wraps from
/// `source()`, so each one is opened with `get_ref`.
fn rustls_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = rustls_cause(inner)
        {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// Refuses an `ssh://` address that names a port: bollard hands `USER@HOST:PORT` to the
/// `ssh` client as the destination (its port parsing only reads `ssh://` forms), and ssh
/// takes `HOST:PORT` for a host name, so the connection could only fail, and vaguely.
fn refuse_ssh_port(address: &str) -> Result<(), ConnectError> {
    let authority = address
        .trim_start_matches("ssh://")
        .split('/')
        .next()
        .unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, rest)| rest);
    // `[::1]` has colons but no port: its last part does not parse as one.
    match host_port
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
    {
        Some((host, port)) => Err(ConnectError::SshPort {
            endpoint: address.to_owned(),
            host: host.to_owned(),
            port,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod ssh_port_tests {
    use super::*;

    #[test]
    fn an_ssh_address_with_a_port_is_refused_with_the_config_that_works() {
        let error = refuse_ssh_port("ssh://deploy@docker-1:2222").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`Host docker-1` then `Port 2222`"),
            "{message}"
        );
        assert!(message.contains("ssh://USER@docker-1"), "{message}");
        assert!(refuse_ssh_port("ssh://deploy@docker-1").is_ok());
        assert!(refuse_ssh_port("ssh://docker-1").is_ok());
        assert!(refuse_ssh_port("ssh://docker-1:22").is_err());
        assert!(refuse_ssh_port("ssh://root@[::1]").is_ok());
    }
}
