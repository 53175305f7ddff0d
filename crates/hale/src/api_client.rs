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
    #[error("{0}")]
    TokenFile(String),
    /// The HTTP client or its runtime could not be set up.
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
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
        return crate::api::read_token(path).map_err(ApiError::TokenFile);
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

/// GETs `path` from the controller; errors say how to reach it.
pub(crate) fn fetch(server: &str, path: &str) -> Result<String, ApiError> {
    send(server, reqwest::Method::GET, path, None, None)
}

/// Sends one request to the controller and returns the body of a 2xx answer; errors say
/// how to reach it or what it refused.
pub(crate) fn send(
    server: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<String, ApiError> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| ApiError::Client(error.to_string()))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|error| ApiError::Client(error.to_string()))?;
        let mut request = client.request(method, &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let unreachable = |error: reqwest::Error| ApiError::Unreachable {
            server: server.to_owned(),
            cause: hale_core::error_chain(&error),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(body);
        }
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
            .unwrap_or(body);
        Err(ApiError::Refused {
            status: status.as_u16(),
            message,
            url,
        })
    })
}
