//! Every HTTP client hale uses is built here, so TLS trust is decided in one place: the
//! system's trusted roots (through the platform verifier; the bundled Mozilla roots only on
//! a system that has none, like the FROM-scratch image), plus the policy's `tls.caFile`,
//! and its client certificate when a service asks for one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hale_policy::TlsTrust;

/// The `User-Agent` of every request hale sends.
pub const USER_AGENT: &str = concat!("hale/", env!("CARGO_PKG_VERSION"));

/// How one client behaves: its trust, and the few switches that differ between callers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientSettings {
    /// Extra CA certificates and a client certificate.
    pub trust: TlsTrust,
    /// Accept any server certificate (`insecureSkipVerify`).
    pub accept_invalid_certs: bool,
    /// Follow up to ten redirects; otherwise a 3xx is the answer.
    pub follow_redirects: bool,
    /// Keep the server's certificate with each response (for certificate conditions).
    pub tls_info: bool,
}

impl ClientSettings {
    /// Settings with `trust` and the defaults for the rest (verify, no redirects).
    pub fn trusting(trust: &TlsTrust) -> Self {
        Self {
            trust: trust.clone(),
            ..Self::default()
        }
    }
}

/// Why a client could not be built. The message names the policy field and the file.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A certificate or key file could not be read.
    #[error("cannot read tls.{field} {path}: {source}")]
    Read {
        /// The policy field (`caFile`, `certFile`, `keyFile`).
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but holds no valid PEM of the expected kind.
    #[error("tls.{field} {path} is not a valid PEM {expected}: {source}")]
    Pem {
        /// The policy field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file should hold.
        expected: &'static str,
        /// What the TLS library said.
        #[source]
        source: reqwest::Error,
    },
    /// `tls.caFile` holds no certificate at all.
    #[error("tls.caFile {path} holds no PEM certificate (no BEGIN CERTIFICATE block)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The TLS backend refused the settings.
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Makes ring the process's rustls provider (the one the whole tree uses) before the first
/// client is built; reqwest, built without its own provider, takes the installed one (and
/// panics building a client when none is). [`build_client`] calls it; code that builds a
/// reqwest client of its own (a benchmark's load generator) calls it first.
pub fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Err means another part of the process installed one first: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// True when the system has trusted roots (`/etc/ssl/certs` and the like), checked once.
/// Clients that are not reqwest's (the email sink's lettre) use it to fall back to the
/// Mozilla roots the same way [`build_client`] does.
pub fn system_has_roots() -> bool {
    static HAS_ROOTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS_ROOTS.get_or_init(|| !rustls_native_certs::load_native_certs().certs.is_empty())
}

/// The Mozilla roots, for a system without any of its own: the FROM-scratch image has no
/// certificate store, and HTTPS to public services must still work there.
fn bundled_roots() -> Vec<reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read {
        field,
        path: path.to_owned(),
        source,
    })
}

/// Builds a client with `settings`: the system roots, plus `trust.caFile`, presenting
/// `trust.certFile`/`keyFile` when set.
///
/// # Errors
/// [`ClientError`] when a file cannot be read or is not valid PEM, naming both.
pub fn build_client(settings: &ClientSettings) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(if settings.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .tls_danger_accept_invalid_certs(settings.accept_invalid_certs)
        .tls_info(settings.tls_info)
        .pool_idle_timeout(Duration::from_secs(90));
    if !system_has_roots() {
        builder = builder.tls_certs_merge(bundled_roots());
    }
    if let Some(path) = &settings.trust.ca_file {
        let pem = read("caFile", path)?;
        let roots =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ClientError::Pem {
                field: "caFile",
                path: path.clone(),
                expected: "certificate bundle",
                source,
            })?;
        if roots.is_empty() {
            return Err(ClientError::NoCertificate { path: path.clone() });
        }
        builder = builder.tls_certs_merge(roots);
    }
    if let (Some(cert), Some(key)) = (&settings.trust.cert_file, &settings.trust.key_file) {
        let mut pem = read("certFile", cert)?;
        pem.push(b'\n');
        pem.extend(read("keyFile", key)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|source| ClientError::Pem {
            field: "certFile",
            path: cert.clone(),
            expected: "certificate and key (with tls.keyFile)",
            source,
        })?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(ClientError::Build)
}

/// Clients built once per distinct [`ClientSettings`] and shared, so connections are pooled
/// across every probe, action or notifier with the same trust. Cheap to clone.
#[derive(Clone, Default)]
pub struct ClientCache {
    clients: Arc<Mutex<HashMap<ClientSettings, reqwest::Client>>>,
}

impl ClientCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client for `settings`, built on first use.
    ///
    /// # Errors
    /// [`ClientError`] from [`build_client`]; a failed build is not cached, so a fixed file
    /// is picked up by the next call.
    pub fn get(&self, settings: &ClientSettings) -> Result<reqwest::Client, ClientError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(settings) {
            return Ok(client.clone());
        }
        let client = build_client(settings)?;
        clients.insert(settings.clone(), client.clone());
        Ok(client)
    }

    /// The client that trusts the system roots only.
    ///
    /// # Panics
    /// When the TLS backend cannot initialise without any file (a broken build, not a
    /// runtime condition).
    pub fn system(&self) -> reqwest::Client {
        self.get(&ClientSettings::default())
            .expect("an HTTP client without extra trust builds")
    }
}
