//! The `webhook` remediation: an HTTP request, retried on network errors, 5xx and 429.

use hale_core::http_client::{ClientCache, ClientError, ClientSettings};
use hale_policy::{HeaderError, SecretError, WebhookAction, WebhookMethod};

use crate::retry::NetworkError;

/// Why a webhook remediation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A header's secret could not be read; nothing was sent.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The `urlFrom` secret could not be read; nothing was sent.
    #[error("webhook.urlFrom: {0}")]
    Url(#[from] SecretError),
    /// The `tls` files could not be read or are not valid PEM; nothing was sent.
    #[error("webhook.{0}")]
    Client(#[from] ClientError),
    /// No answer came, after the retries.
    #[error("{url} failed: {source}")]
    Unreachable {
        /// The webhook's URL, redacted (`scheme://host/[redacted]` for a `urlFrom`).
        url: String,
        /// The last network error.
        source: NetworkError,
    },
    /// The service answered, but not with a 2xx.
    #[error("HTTP {status} from {url}: {body}")]
    Refused {
        /// The status it answered.
        status: u16,
        /// The webhook's URL, redacted (`scheme://host/[redacted]` for a `urlFrom`).
        url: String,
        /// The start of its answer.
        body: String,
    },
}

/// What the request is about, for the body template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookContext {
    /// The policy that decided.
    pub policy: String,
    /// The target's name.
    pub target: String,
    /// The target's ID (container ID).
    pub target_id: String,
    /// Why hale acts.
    pub reason: String,
}

/// Sends the webhook, retrying up to `retries` times on network errors, 5xx and 429
/// (waiting as `Retry-After` says, else 1 s, 2 s, 4 s ...). Other 4xx answers are final.
///
/// # Errors
/// [`WebhookError`], the last failure, e.g. `HTTP 404 from https://ci.example/hook: not
/// found`.
pub async fn send(
    clients: &ClientCache,
    webhook: &WebhookAction,
    context: &WebhookContext,
) -> Result<String, WebhookError> {
    let url = hale_policy::url_or_secret(webhook.url.as_deref(), webhook.url_from.as_ref())?;
    // What errors show: a urlFrom's value was registered as a secret URL when it was read.
    let shown = hale_core::redact::redact(&url).into_owned();
    let client = clients.get(&ClientSettings::trusting(&webhook.tls))?;
    let body = render(webhook.body.as_deref(), context);
    let headers = hale_policy::HttpHeader::resolve_all(&webhook.headers)?;
    let method = match webhook.method {
        WebhookMethod::Post => reqwest::Method::POST,
        WebhookMethod::Put => reqwest::Method::PUT,
        WebhookMethod::Patch => reqwest::Method::PATCH,
        WebhookMethod::Get => reqwest::Method::GET,
    };
    let build = || {
        let mut request = client
            .request(method.clone(), &url)
            .timeout(webhook.timeout.as_std())
            .header("content-type", content_type(&body))
            .body(body.clone());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        request
    };
    let answer = crate::retry::send(build, webhook.retries)
        .await
        .map_err(|source| WebhookError::Unreachable {
            url: shown.clone(),
            source,
        })?;
    if answer.status.is_success() {
        return Ok(format!("HTTP {}", answer.status.as_u16()));
    }
    let snippet: String = answer.body.chars().take(200).collect();
    Err(WebhookError::Refused {
        status: answer.status.as_u16(),
        url: shown,
        body: hale_core::redact::redact(snippet.trim()).into_owned(),
    })
}

fn content_type(body: &str) -> &'static str {
    if body.trim_start().starts_with(['{', '[']) {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Fills `{{target}}`, `{{target_id}}`, `{{policy}}` and `{{reason}}` into the template;
/// inside a JSON template the values are JSON-escaped, so a quote in a reason cannot break
/// the document. Without a template, the body is a JSON object with those fields.
pub fn render(template: Option<&str>, context: &WebhookContext) -> String {
    let Some(template) = template else {
        return serde_json::json!({
            "policy": context.policy,
            "target": context.target,
            "target_id": context.target_id,
            "reason": context.reason,
        })
        .to_string();
    };
    hale_core::fill_template(
        template,
        &[
            ("target_id", &context.target_id),
            ("target", &context.target),
            ("policy", &context.policy),
            ("reason", &context.reason),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> WebhookContext {
        WebhookContext {
            policy: "web".into(),
            target: "shop-1".into(),
            target_id: "abc".into(),
            reason: "probe \"http\" failed".into(),
        }
    }

    #[test]
    fn json_templates_get_escaped_values() {
        let body = render(Some(r#"{"text": "{{target}}: {{reason}}"}"#), &context());
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["text"], "shop-1: probe \"http\" failed");
    }

    #[test]
    fn plain_templates_are_filled_as_is_and_the_default_is_json() {
        assert_eq!(
            render(Some("redeploy {{policy}}/{{target}}"), &context()),
            "redeploy web/shop-1"
        );
        let parsed: serde_json::Value = serde_json::from_str(&render(None, &context())).unwrap();
        assert_eq!(parsed["target_id"], "abc");
    }
}
