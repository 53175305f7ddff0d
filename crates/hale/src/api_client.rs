//! The one client of hale's API: the token, the URL of a path, and one request with errors
//! that say how to reach the controller or what it refused.

use std::time::Duration;

use std::path::{Path, PathBuf};

use crate::cli::{ServerArg, TokenArg};

/// Why a request to the controller did not work.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token to send.
    #[error(
        "this command needs the API token: pass --token-file FILE, or set HALE_API_TOKEN_FILE (the file `hale run --api-token-file` reads) or HALE_API_TOKEN"
    )]
    NoToken,
    /// The token file could not be used.
    #[error(transparent)]
    TokenFile(#[from] crate::api::SecretFileError),
    /// The client's runtime could not be set up.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The `--ca-file` could not be used.
    #[error("--ca-file {}: {reason} (expected a PEM file of one or more CA certificates)", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot start the HTTP client: {0}")]
    Http(hale_core::http_client::ClientError),
    /// Nothing answered at the server's address.
    #[error(
        "cannot reach hale at {server}: {cause}; is `hale run` running there? (pass --server or set HALE_SERVER to its --listen address)"
    )]
    Unreachable {
        /// The `--server` value.
        server: String,
        /// The error chain.
        cause: String,
    },
    /// The controller answered, but not with a 2xx.
    #[error("{message} (HTTP {status} from {url})")]
    Refused {
        /// The status.
        status: u16,
        /// What it said (its `error` field, or the body).
        message: String,
        /// The URL asked.
        url: String,
    },
}

/// How long to wait for the controller's answer.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// The API token: from --token-file / HALE_API_TOKEN_FILE, else HALE_API_TOKEN.
pub(crate) fn read_token(token: &TokenArg) -> Result<String, ApiError> {
    if let Some(path) = &token.token_file {
        return Ok(crate::api::read_token(path)?);
    }
    match std::env::var("HALE_API_TOKEN") {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => Err(ApiError::NoToken),
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The one client of a running controller: its address, one runtime and one connection
/// pool for every request a command makes, and the token reads send.
pub(crate) struct ApiClient {
    server: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    read_token: Option<String>,
}

/// The token reads send: `--read-token-file`, else the control token from the environment
/// (it reads too), else none (a hale without a read token answers reads without one).
fn reads_token(server: &ServerArg) -> Result<Option<String>, ApiError> {
    if let Some(path) = &server.read_token_file {
        return Ok(Some(crate::api::read_token(path)?));
    }
    match read_token(&TokenArg {
        token_file: std::env::var_os("HALE_API_TOKEN_FILE").map(PathBuf::from),
    }) {
        Ok(token) => Ok(Some(token)),
        Err(ApiError::NoToken) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Checks that `--ca-file` holds CA certificates, so a wrong file is named as such before
/// any request (the client builder reads it again).
fn check_ca_file(path: &Path) -> Result<(), ApiError> {
    let refuse = |reason: String| ApiError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| refuse(e.to_string()))?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| refuse(e.to_string()))?;
    if certificates.is_empty() {
        return Err(refuse("no certificate in it".to_owned()));
    }
    Ok(())
}

impl ApiClient {
    /// A client of the controller at `server.server` (`http://host:port` or `https://…`),
    /// trusting `--ca-file` besides the built-in roots.
    pub(crate) fn new(server: &ServerArg) -> Result<Self, ApiError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ApiError::Runtime)?;
        if let Some(path) = &server.ca_file {
            check_ca_file(path)?;
        }
        let settings = hale_core::http_client::ClientSettings::trusting(&hale_policy::TlsTrust {
            ca_file: server.ca_file.clone(),
            ..hale_policy::TlsTrust::default()
        });
        let http = hale_core::http_client::build_client(&settings).map_err(ApiError::Http)?;
        Ok(Self {
            server: server.server.trim_end_matches('/').to_owned(),
            runtime,
            http,
            read_token: reads_token(server)?,
        })
    }

    /// A GET of `url` with the read token, for a stream that outlives one request.
    pub(crate) fn read_request(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.read_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The URL of `path` on the controller.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// The runtime, for a stream that outlives one request.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// GETs `path` (with the read token, when there is one); errors say how to reach the
    /// controller.
    pub(crate) fn get(&self, path: &str) -> Result<String, ApiError> {
        self.send(reqwest::Method::GET, path, self.read_token.as_deref(), None)
    }

    /// POSTs `body` to a token-guarded `path`.
    pub(crate) fn post(
        &self,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> Result<String, ApiError> {
        self.send(reqwest::Method::POST, path, Some(token), body)
    }

    /// Sends one request and returns the body of a 2xx answer; errors say how to reach
    /// the controller or what it refused.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<String, ApiError> {
        let url = self.url(path);
        self.runtime.block_on(async {
            let mut request = self.http.request(method, &url).timeout(TIMEOUT);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.map_err(|e| self.unreachable(&e))?;
            let status = response.status();
            let body = response.text().await.map_err(|e| self.unreachable(&e))?;
            if status.is_success() {
                return Ok(body);
            }
            Err(ApiError::Refused {
                status: status.as_u16(),
                message: error_message(body),
                url,
            })
        })
    }

    /// Nothing answered at the server's address.
    pub(crate) fn unreachable(&self, error: &reqwest::Error) -> ApiError {
        ApiError::Unreachable {
            server: self.server.clone(),
            cause: hale_core::error_chain(error),
        }
    }
}

/// The controller's `error` field of a refusal, or the whole body.
pub(crate) fn error_message(body: String) -> String {
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or(body)
}
