//! The one client of hale's API: the token, the URL of a path, and one request with errors
//! that say how to reach the controller or what it refused.

use std::time::Duration;

use crate::cli::TokenArg;

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
/// pool for every request a command makes.
pub(crate) struct ApiClient {
    server: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the controller at `server` (`http://host:port`).
    pub(crate) fn new(server: &str) -> Result<Self, ApiError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ApiError::Runtime)?;
        let http =
            hale_core::http_client::build_client(&Default::default()).map_err(ApiError::Http)?;
        Ok(Self {
            server: server.trim_end_matches('/').to_owned(),
            runtime,
            http,
        })
    }

    /// The URL of `path` on the controller.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// The runtime and connection pool, for a stream that outlives one request.
    pub(crate) fn parts(&self) -> (&tokio::runtime::Runtime, &reqwest::Client) {
        (&self.runtime, &self.http)
    }

    /// GETs `path`; errors say how to reach the controller.
    pub(crate) fn get(&self, path: &str) -> Result<String, ApiError> {
        self.send(reqwest::Method::GET, path, None, None)
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
