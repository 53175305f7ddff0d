//! Sending a remediation's HTTP request with the retries every remote API expects: on
//! network errors, 5xx and 429, honouring `Retry-After`.

use std::time::Duration;

/// Longest wait honoured from a `Retry-After` header: a server asking for more is not
/// waited for inside one remediation step.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// A request that got no answer at all, after the retries: the error chain, without the
/// URL's query or credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NetworkError(pub String);

/// The final answer to a request.
pub struct Answer {
    /// Its status.
    pub status: reqwest::StatusCode,
    /// Its body, as text.
    pub body: String,
    /// How many requests were sent.
    pub attempts: u32,
}

/// The W3C `traceparent` (and `tracestate`) of `span`, for outgoing calls, so the
/// receiving service's trace joins hale's; empty when traces are not exported.
pub fn trace_headers_of(span: &tracing::Span) -> Vec<(String, String)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let mut headers = std::collections::HashMap::new();
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut headers);
    });
    headers.into_iter().collect()
}

/// Sends the request `build` makes, again up to `retries` times while the answer is a 5xx
/// or a 429 (waiting as `Retry-After` says, else as [`RetryPolicy::REMOTE`]: 1 s, 2 s,
/// 4 s ..., jittered) or the request fails outright. Any other answer is final at once.
///
/// [`RetryPolicy::REMOTE`]: hale_core::RetryPolicy::REMOTE
///
/// # Errors
/// [`NetworkError`]: the last network error, when no answer came at all.
pub async fn send(
    build: impl Fn() -> reqwest::RequestBuilder,
    retries: u32,
) -> Result<Answer, NetworkError> {
    let mut backoff = hale_core::RetryPolicy::REMOTE.delays();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut request = build();
        let (method, url) = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .map(|r| {
                let mut url = r.url().clone();
                // The query and credentials may hold secrets; the trace keeps the rest.
                url.set_query(None);
                let _ = url.set_password(None);
                let _ = url.set_username("");
                // A urlFrom's path is itself the secret: the redactor knows it.
                (
                    r.method().to_string(),
                    hale_core::redact::redact(url.as_str()).into_owned(),
                )
            })
            .unwrap_or_default();
        let span = tracing::info_span!(
            "hale.http",
            otel.name = %method,
            http.request.method = %method,
            url.full = %url,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        for (name, value) in trace_headers_of(&span) {
            request = request.header(name, value);
        }
        let sent = tracing::Instrument::instrument(request.send(), span.clone()).await;
        match &sent {
            Ok(response) => {
                let status = response.status();
                span.record("http.response.status_code", status.as_u16());
                if !status.is_success() {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", status.as_str());
                }
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", "network");
            }
        }
        let (wait, outcome) = match sent {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| hale_core::retry_after(v, std::time::SystemTime::now()))
                    .map(|wait| wait.min(RETRY_AFTER_CAP));
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
            Err(error) => (
                None,
                Err(NetworkError(hale_core::error_chain(&error.without_url()))),
            ),
        };
        if attempts > retries {
            return outcome;
        }
        let next = backoff.next().unwrap_or(RETRY_AFTER_CAP);
        let delay = wait.unwrap_or(next);
        tracing::debug!(attempts, ?delay, "request failed; retrying");
        tokio::time::sleep(delay).await;
    }
}
