//! Sending a remediation's HTTP request with the retries every remote API expects: on
//! network errors, 5xx and 429, honouring `Retry-After`.

use std::time::Duration;

/// Longest wait honoured from a `Retry-After` header, and longest backoff: a server asking
/// for more is not waited for inside one remediation step.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// The final answer to a request.
pub struct Answer {
    /// Its status.
    pub status: reqwest::StatusCode,
    /// Its body, as text.
    pub body: String,
    /// How many requests were sent.
    pub attempts: u32,
}

/// Sends the request `build` makes, again up to `retries` times while the answer is a 5xx
/// or a 429 (waiting as `Retry-After` says, else 1 s, 2 s, 4 s ...) or the request fails
/// outright. Any other answer is final at once.
///
/// # Errors
/// The last network error, when no answer came at all.
pub async fn send(
    build: impl Fn() -> reqwest::RequestBuilder,
    retries: u32,
) -> Result<Answer, String> {
    let mut backoff = Duration::from_secs(1);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (wait, outcome) = match build().send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s).min(RETRY_AFTER_CAP));
                let body = response.text().await.unwrap_or_default();
                let retryable = status.is_server_error() || status.as_u16() == 429;
                let answer = Answer {
                    status,
                    body,
                    attempts,
                };
                if !retryable {
                    return Ok(answer);
                }
                (retry_after, Ok(answer))
            }
            Err(error) => (None, Err(hale_core::error_chain(&error))),
        };
        if attempts > retries {
            return outcome;
        }
        let delay = wait.unwrap_or(backoff);
        tracing::debug!(attempts, ?delay, "request failed; retrying");
        tokio::time::sleep(delay).await;
        backoff = (backoff * 2).min(RETRY_AFTER_CAP);
    }
}
