//! Why hale could not connect to a Docker endpoint: each says what is wrong, where (the
//! endpoint, the file) and how to fix it.

use std::path::PathBuf;

/// Why connecting to a Docker endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not `unix://`, `tcp://` or `ssh://`.
    #[error(
        "unsupported Docker address {endpoint:?}: use unix:///path/docker.sock, tcp://host:port or ssh://user@host"
    )]
    UnsupportedScheme {
        /// The address as given.
        endpoint: String,
    },
    /// An `ssh://` address with a port: the SSH transport (bollard's, through the `ssh`
    /// client) would hand `host:port` to ssh as the host name, so it cannot be reached.
    #[error(
        "Docker address {endpoint:?}: the SSH transport cannot take a port in the address; give the port in your SSH configuration instead (~/.ssh/config: `Host {host}` then `Port {port}`) and use ssh://USER@{host}"
    )]
    SshPort {
        /// The address as given.
        endpoint: String,
        /// Its host.
        host: String,
        /// The port it names.
        port: u16,
    },
    /// A `--docker NAME=URL` name hale cannot use in target names.
    #[error(
        "bad endpoint name {name:?} in --docker NAME=URL: use letters, digits, '-', '_' and '.'"
    )]
    BadEndpointName {
        /// The name as given.
        name: String,
    },
    /// Several `--docker` were given and one has no name.
    #[error(
        "--docker {endpoint} has no name: with several endpoints, name each one (--docker NAME=URL), since the name prefixes its target names"
    )]
    UnnamedEndpoint {
        /// The unnamed endpoint.
        endpoint: String,
    },
    /// Two `--docker` share a name.
    #[error("two --docker endpoints are named {name:?}: each needs its own name")]
    DuplicateEndpointName {
        /// The name given twice.
        name: String,
    },
    /// A Docker context (or the CLI configuration naming it) cannot be read.
    #[error(
        "cannot use Docker context {context:?} ({}): {reason}; fix the file, or choose another context with DOCKER_CONTEXT or an address with --docker/DOCKER_HOST",
        path.display()
    )]
    Context {
        /// The context's name.
        context: String,
        /// The file that was read.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A tcp context that asks not to verify the daemon's certificate.
    #[error(
        "Docker context {context:?} ({}) sets SkipTLSVerify: hale always verifies the daemon's certificate; put the CA that signed it in the context (docker context update --docker \"host=…,ca=ca.pem,cert=cert.pem,key=key.pem\")",
        path.display()
    )]
    SkipTlsVerify {
        /// The context's name.
        context: String,
        /// Its `meta.json`.
        path: PathBuf,
    },
    /// A TLS file that must exist does not, or cannot be read.
    #[error(
        "TLS to the Docker daemon at {endpoint}: the {what} {} {reason} (the directory comes from {origin}); put ca.pem, cert.pem and key.pem there, or set DOCKER_CERT_PATH to the directory that holds them",
        path.display()
    )]
    TlsFileMissing {
        /// The endpoint.
        endpoint: String,
        /// Which file: "CA certificate", "client certificate", "client key".
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// "does not exist", or the read error.
        reason: String,
        /// What chose the directory.
        origin: String,
    },
    /// A TLS file exists but holds no usable PEM certificate or key.
    #[error(
        "TLS to the Docker daemon at {endpoint}: the {what} {} is not usable ({reason}); it must be PEM, as `docker` writes it",
        path.display()
    )]
    TlsFileInvalid {
        /// The endpoint.
        endpoint: String,
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The daemon's certificate does not chain to the configured CA (or not for this host).
    #[error(
        "the Docker daemon at {endpoint} presented a certificate that {} does not vouch for ({reason}); use the CA that signed the daemon's certificate, and a certificate valid for the address hale dials",
        ca.display()
    )]
    UntrustedDaemon {
        /// The endpoint.
        endpoint: String,
        /// The CA file used.
        ca: PathBuf,
        /// What rustls found wrong.
        reason: String,
    },
    /// The TLS handshake failed for another reason (the daemon refused hale's client
    /// certificate, no common protocol).
    #[error(
        "the TLS handshake with the Docker daemon at {endpoint} failed ({reason}); check that {} is signed by the CA the daemon trusts (its --tlscacert)",
        cert.display()
    )]
    Handshake {
        /// The endpoint.
        endpoint: String,
        /// The client certificate offered.
        cert: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// hale spoke plaintext HTTP to a daemon that expects TLS.
    #[error(
        "the Docker daemon at {endpoint} expects TLS, but hale connected in plaintext (from {source_name}): set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the directory with ca.pem, cert.pem and key.pem"
    )]
    PlaintextToTlsDaemon {
        /// The endpoint.
        endpoint: String,
        /// What chose the endpoint.
        source_name: String,
    },
    /// hale spoke TLS to a daemon that answers in plaintext.
    #[error(
        "the Docker daemon at {endpoint} does not speak TLS, but DOCKER_TLS_VERIFY asks for it: point hale at the daemon's TLS port (by convention 2376), or unset DOCKER_TLS_VERIFY to talk plaintext to a daemon only reachable from a trusted network"
    )]
    TlsToPlaintextDaemon {
        /// The endpoint.
        endpoint: String,
    },
    /// bollard refused to build a client for the address (a malformed address, or the
    /// system's trusted certificates could not be read).
    #[error("cannot set up a Docker client for {endpoint}: {message}")]
    Client {
        /// The endpoint.
        endpoint: String,
        /// What bollard said.
        message: String,
    },
    /// The daemon did not answer (yet): worth retrying.
    #[error(transparent)]
    Unreachable(#[from] hale_core::DockerError),
}

impl ConnectError {
    /// True when waiting may help (the daemon is down or starting); false when the
    /// configuration is wrong and only the operator can fix it.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}
