//! Which Docker daemon to talk to, and how, decided the way the docker CLI decides it:
//! the `--docker` flag, then `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`),
//! then `DOCKER_CONTEXT`, then the `currentContext` of the CLI's `config.json`, then the
//! local socket. Pure apart from reading the CLI's configuration files.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::connect_error::ConnectError;

/// The socket a Docker daemon listens on by default.
pub const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

/// The context that stands for "no context": the local socket (or `DOCKER_HOST`).
const DEFAULT_CONTEXT: &str = "default";

/// The environment the docker CLI reads, captured once so resolution is testable without
/// touching the process environment or the real `~/.docker`.
#[derive(Debug, Clone, Default)]
pub struct DockerEnvironment {
    /// `DOCKER_HOST`, when set and not empty.
    pub docker_host: Option<String>,
    /// Whether `DOCKER_TLS_VERIFY` is set to anything but the empty string.
    pub tls_verify: bool,
    /// `DOCKER_CERT_PATH`, when set and not empty.
    pub cert_path: Option<PathBuf>,
    /// `DOCKER_CONTEXT`, when set and not empty.
    pub context: Option<String>,
    /// `DOCKER_CONFIG`, when set and not empty.
    pub config_dir: Option<PathBuf>,
    /// The user's home directory (for `~/.docker`).
    pub home: Option<PathBuf>,
}

impl DockerEnvironment {
    /// The environment of this process.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            docker_host: var("DOCKER_HOST"),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            context: var("DOCKER_CONTEXT"),
            config_dir: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
        }
    }

    /// The CLI's configuration directory: `$DOCKER_CONFIG`, else `~/.docker`.
    fn config_dir(&self) -> Option<PathBuf> {
        self.config_dir
            .clone()
            .or_else(|| self.home.as_ref().map(|home| home.join(".docker")))
    }
}

/// Where the endpoint's address came from, for messages that say how to change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSource {
    /// `--docker URL`.
    Flag,
    /// The `DOCKER_HOST` variable.
    DockerHost,
    /// A Docker context (named by `DOCKER_CONTEXT` or the CLI's `currentContext`).
    Context(String),
    /// Nothing was configured: the local socket.
    Default,
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => f.write_str("--docker"),
            Self::DockerHost => f.write_str("DOCKER_HOST"),
            Self::Context(name) => write!(f, "Docker context {name:?}"),
            Self::Default => f.write_str("the default socket"),
        }
    }
}

/// The client certificate, key and CA that verify a TLS daemon (`ca.pem`, `cert.pem`,
/// `key.pem` in one directory, as the docker CLI names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The directory, and what named it (for the fix in an error message).
    pub dir: PathBuf,
    /// What chose the directory: `DOCKER_CERT_PATH`, `~/.docker` or a context.
    pub origin: String,
}

impl TlsFiles {
    /// The CA certificate(s) the daemon's certificate must chain to.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// hale's client certificate.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    /// hale's client key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

/// One Docker daemon to connect to: its address, TLS material when the connection is
/// verified TLS, and where the address came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerEndpoint {
    /// `unix://…`, `tcp://host:port` or `ssh://user@host`.
    pub host: String,
    /// Present when the connection is TLS (tcp only).
    pub tls: Option<TlsFiles>,
    /// What chose the address.
    pub source: EndpointSource,
}

impl fmt::Display for DockerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)
    }
}

/// One `--docker [NAME=]URL` as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The name that prefixes the endpoint's target names (`NAME/container`).
    pub name: Option<String>,
    /// The daemon's address.
    pub url: String,
}

impl std::str::FromStr for EndpointSpec {
    type Err = ConnectError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, url) = match text.split_once('=') {
            // A URL has `://` before any `=` it may hold (a query); a name has neither.
            Some((name, url)) if !name.contains(':') && !name.contains('/') => {
                (Some(name.to_owned()), url)
            }
            _ => (None, text),
        };
        if let Some(name) = &name {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(ConnectError::BadEndpointName { name: name.clone() });
            }
        }
        if !["unix://", "tcp://", "ssh://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return Err(ConnectError::UnsupportedScheme {
                endpoint: url.to_owned(),
            });
        }
        Ok(Self {
            name,
            url: url.to_owned(),
        })
    }
}

/// A resolved endpoint and the name its targets carry (none with a single endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedEndpoint {
    /// `None` when hale watches one daemon: target names stay the container names.
    pub name: Option<String>,
    /// The daemon.
    pub endpoint: DockerEndpoint,
}

/// Resolves every `--docker` given (none: the environment decides) into the endpoints to
/// connect to. With several, each must be named, and names must differ.
///
/// # Errors
/// A [`ConnectError`] naming the flag, variable, context or file that is wrong.
pub fn resolve_all(
    specs: &[EndpointSpec],
    env: &DockerEnvironment,
) -> Result<Vec<NamedEndpoint>, ConnectError> {
    if specs.len() <= 1 {
        let spec = specs.first();
        return Ok(vec![NamedEndpoint {
            name: spec.and_then(|s| s.name.clone()),
            endpoint: resolve(spec.map(|s| s.url.as_str()), env)?,
        }]);
    }
    let mut named: Vec<NamedEndpoint> = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some(name) = &spec.name else {
            return Err(ConnectError::UnnamedEndpoint {
                endpoint: spec.url.clone(),
            });
        };
        if named.iter().any(|n| n.name.as_ref() == Some(name)) {
            return Err(ConnectError::DuplicateEndpointName { name: name.clone() });
        }
        named.push(NamedEndpoint {
            name: Some(name.clone()),
            endpoint: resolve(Some(&spec.url), env)?,
        });
    }
    Ok(named)
}

/// Resolves one endpoint: `flag` (a `--docker` URL), else `DOCKER_HOST`, else
/// `DOCKER_CONTEXT`, else the CLI's `currentContext`, else the local socket.
///
/// # Errors
/// [`ConnectError::Context`] when the named context cannot be read,
/// [`ConnectError::SkipTlsVerify`] for a context that asks not to verify the daemon,
/// [`ConnectError::UnsupportedScheme`] for an address hale cannot reach.
pub fn resolve(
    flag: Option<&str>,
    env: &DockerEnvironment,
) -> Result<DockerEndpoint, ConnectError> {
    if let Some(host) = flag {
        return from_host(host, EndpointSource::Flag, env);
    }
    if let Some(host) = &env.docker_host {
        return from_host(host, EndpointSource::DockerHost, env);
    }
    let context = match &env.context {
        Some(name) => Some(name.clone()),
        None => current_context(env)?,
    };
    match context {
        Some(name) if name != DEFAULT_CONTEXT => from_context(&name, env),
        _ => Ok(DockerEndpoint {
            host: LOCAL_SOCKET.to_owned(),
            tls: None,
            source: EndpointSource::Default,
        }),
    }
}

/// An address from the flag or `DOCKER_HOST`: tcp is TLS when `DOCKER_TLS_VERIFY` is set,
/// with the files in `DOCKER_CERT_PATH` (else the CLI's configuration directory).
fn from_host(
    host: &str,
    source: EndpointSource,
    env: &DockerEnvironment,
) -> Result<DockerEndpoint, ConnectError> {
    check_scheme(host)?;
    let tls = (host.starts_with("tcp://") && env.tls_verify).then(|| match &env.cert_path {
        Some(dir) => TlsFiles {
            dir: dir.clone(),
            origin: "DOCKER_CERT_PATH".to_owned(),
        },
        None => TlsFiles {
            dir: env.config_dir().unwrap_or_else(|| PathBuf::from(".docker")),
            origin: "the default (DOCKER_CERT_PATH is not set)".to_owned(),
        },
    });
    Ok(DockerEndpoint {
        host: host.to_owned(),
        tls,
        source,
    })
}

fn check_scheme(host: &str) -> Result<(), ConnectError> {
    if ["unix://", "tcp://", "ssh://"]
        .iter()
        .any(|scheme| host.starts_with(scheme))
    {
        Ok(())
    } else {
        Err(ConnectError::UnsupportedScheme {
            endpoint: host.to_owned(),
        })
    }
}

/// The CLI's `config.json` as far as hale reads it.
#[derive(Deserialize)]
struct CliConfig {
    #[serde(rename = "currentContext", default)]
    current_context: Option<String>,
}

/// `currentContext` of `$DOCKER_CONFIG/config.json`; none when the file does not exist.
fn current_context(env: &DockerEnvironment) -> Result<Option<String>, ConnectError> {
    let Some(dir) = env.config_dir() else {
        return Ok(None);
    };
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ConnectError::Context {
                context: "currentContext".to_owned(),
                path,
                reason: error.to_string(),
            });
        }
    };
    let config: CliConfig = serde_json::from_str(&text).map_err(|error| ConnectError::Context {
        context: "currentContext".to_owned(),
        path: path.clone(),
        reason: error.to_string(),
    })?;
    Ok(config.current_context.filter(|name| !name.is_empty()))
}

/// A context's `meta.json`: its Docker endpoint.
#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Endpoints", default)]
    endpoints: ContextEndpoints,
}

#[derive(Deserialize, Default)]
struct ContextEndpoints {
    docker: Option<ContextDockerEndpoint>,
}

#[derive(Deserialize)]
struct ContextDockerEndpoint {
    #[serde(rename = "Host")]
    host: String,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The directory name the CLI stores a context under: the SHA-256 of its name, in hex.
pub fn context_digest(name: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, name.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The endpoint of context `name`: `contexts/meta/<sha256>/meta.json` for the address,
/// `contexts/tls/<sha256>/docker/` for TLS material (TLS when its `ca.pem` exists).
fn from_context(name: &str, env: &DockerEnvironment) -> Result<DockerEndpoint, ConnectError> {
    let contexts = env
        .config_dir()
        .unwrap_or_else(|| PathBuf::from(".docker"))
        .join("contexts");
    let digest = context_digest(name);
    let meta_path = contexts.join("meta").join(&digest).join("meta.json");
    let context_error = |path: &Path, reason: String| ConnectError::Context {
        context: name.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(&meta_path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            context_error(
                &meta_path,
                "no such context (see `docker context ls`)".to_owned(),
            )
        } else {
            context_error(&meta_path, error.to_string())
        }
    })?;
    let meta: ContextMeta = serde_json::from_str(&text)
        .map_err(|error| context_error(&meta_path, error.to_string()))?;
    let docker = meta
        .endpoints
        .docker
        .ok_or_else(|| context_error(&meta_path, "it has no Endpoints.docker".to_owned()))?;
    check_scheme(&docker.host)?;
    let tls_dir = contexts.join("tls").join(&digest).join("docker");
    let has_tls = tls_dir.join("ca.pem").exists();
    let tcp = docker.host.starts_with("tcp://");
    if tcp && docker.skip_tls_verify {
        return Err(ConnectError::SkipTlsVerify {
            context: name.to_owned(),
            path: meta_path,
        });
    }
    Ok(DockerEndpoint {
        tls: (tcp && has_tls).then(|| TlsFiles {
            dir: tls_dir,
            origin: format!("Docker context {name:?}"),
        }),
        host: docker.host,
        source: EndpointSource::Context(name.to_owned()),
    })
}

/// The host of a remote daemon's address (`tcp://HOST:PORT`, `ssh://[USER@]HOST[:PORT]`);
/// none for a unix socket, or a loopback host, whose ports are hale's own.
pub(crate) fn remote_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("ssh://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
        None => authority.split(':').next().unwrap_or(authority),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!host.is_empty() && !loopback).then_some(host)
}

/// Rewrites published ports that Docker bound on all addresses (which the snapshot records
/// as loopback) to `host`, the remote daemon's address.
pub(crate) fn publish_on(
    host: &str,
    published: &mut std::collections::BTreeMap<String, (String, u16)>,
) {
    for (address, _) in published.values_mut() {
        let all_addresses = address
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        if all_addresses {
            host.clone_into(address);
        }
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
