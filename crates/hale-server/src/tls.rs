//! TLS on the API (`hale run --tls-cert FILE --tls-key FILE`): rustls with ring, the
//! certificate read once at start. Handshakes run in their own tasks, so a client that
//! opens a connection and never finishes its handshake holds up nobody else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::limits::Peer;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPTED_QUEUE: usize = 64;

/// Why the API's certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate file cannot be read or holds no PEM certificate.
    #[error("--tls-cert {path}: {source} (expected a PEM file of the certificate, then its chain)")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The key file cannot be read or holds no PEM private key.
    #[error("--tls-key {path}: {source} (expected a PEM file of a PKCS#8, PKCS#1 or SEC1 key)")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate and key do not fit together, or rustls refuses them.
    #[error("--tls-cert/--tls-key: {0}")]
    Rejected(rustls::Error),
}

/// The server side of the API's TLS: certificate chain and key, read once.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain and its private key.
    ///
    /// # Errors
    /// [`TlsSetupError`] naming the file and what is wrong with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsSetupError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsSetupError::Certificate {
                path: cert.to_owned(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsSetupError::Certificate {
                path: cert.to_owned(),
                source: rustls::pki_types::pem::Error::NoItemsFound,
            });
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsSetupError::Key {
            path: key.to_owned(),
            source,
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(TlsSetupError::Rejected)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// A listener whose connections are TLS: accepted TCP connections are handshaken in their
/// own tasks and handed over when done.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS on `listener` with `config`.
    ///
    /// # Errors
    /// The listener's address cannot be read.
    pub fn new(listener: TcpListener, config: TlsConfig) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (hand_over, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        let acceptor_task = tokio::spawn(accept_loop(listener, config.acceptor, hand_over));
        Ok(Self {
            accepted,
            local,
            acceptor_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    hand_over: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(%error, "cannot accept an API connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let hand_over = hand_over.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = hand_over.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::{TlsConfig, TlsSetupError};

    #[test]
    fn each_unusable_file_is_named_with_what_it_should_hold() {
        let dir = tempfile::tempdir().expect("a directory");
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).expect("written");
        std::fs::write(&key, certified.signing_key.serialize_pem()).expect("written");
        assert!(TlsConfig::from_pem_files(&cert, &key).is_ok());

        let missing = dir.path().join("missing.pem");
        let refused = TlsConfig::from_pem_files(&missing, &key).expect_err("no file");
        assert!(
            matches!(refused, TlsSetupError::Certificate { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("missing.pem"), "{refused}");

        // The certificate given as the key, and the key as the certificate.
        let refused = TlsConfig::from_pem_files(&cert, &cert).expect_err("not a key");
        assert!(refused.to_string().starts_with("--tls-key"), "{refused}");
        let refused = TlsConfig::from_pem_files(&key, &key).expect_err("not a certificate");
        assert!(refused.to_string().starts_with("--tls-cert"), "{refused}");

        // A key of another certificate.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let other_key = dir.path().join("other-key.pem");
        std::fs::write(&other_key, other.signing_key.serialize_pem()).expect("written");
        let refused = TlsConfig::from_pem_files(&cert, &other_key).expect_err("mismatched");
        assert!(matches!(refused, TlsSetupError::Rejected(_)), "{refused}");
    }
}
