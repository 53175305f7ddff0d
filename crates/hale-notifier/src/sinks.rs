//! Sending one message to one sink, in each service's own format, and reading each
//! service's own way of saying no: Slack's `invalid_payload`, Telegram's `{"ok": false}`,
//! Discord's 429 with `retry_after`, ntfy's JSON errors, SMTP's transient and permanent
//! replies.
//!
//! Secrets (webhook URLs, bot tokens, passwords) never appear in a returned error: reqwest
//! errors are stripped of their URL, and sinks are described by where their secret lives.

use hale_core::http_client::{ClientCache, ClientSettings};
use std::time::Duration;

use hale_policy::{NotifierSpec, SecretRef};
use serde_json::json;

use crate::markup;
use crate::message::Message;

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

pub use crate::error::DeliveryError;

/// A wait a service asked for, in (possibly fractional) seconds: only finite, non-negative
/// values up to an hour are believed (a malformed header must not crash a worker).
fn wait_secs(value: f64) -> Option<Duration> {
    (value.is_finite() && (0.0..=3600.0).contains(&value)).then(|| Duration::from_secs_f64(value))
}

/// Scheme and host of a URL, without path, query or credentials (a URL may embed a token).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "(unparsable URL)".to_owned(),
        |u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()),
    )
}

/// Describes a sink for logs and errors without revealing a secret.
pub fn describe(spec: &NotifierSpec) -> String {
    if let Some(webhook) = &spec.webhook {
        return match (&webhook.url, &webhook.url_from) {
            (Some(url), _) => format!("webhook {}", host_of(url)),
            (None, Some(secret)) => format!("webhook (URL from {secret})"),
            _ => "webhook".to_owned(),
        };
    }
    if let Some(slack) = &spec.slack {
        return format!("slack (webhook from {})", slack.webhook_url);
    }
    if let Some(discord) = &spec.discord {
        return format!("discord (webhook from {})", discord.webhook_url);
    }
    if let Some(telegram) = &spec.telegram {
        return format!("telegram chat {}", telegram.chat_id);
    }
    if let Some(ntfy) = &spec.ntfy {
        return match (&ntfy.url, &ntfy.url_from) {
            (Some(url), _) => format!("ntfy {}", host_of(url)),
            (None, Some(secret)) => format!("ntfy (URL from {secret})"),
            _ => "ntfy".to_owned(),
        };
    }
    if let Some(email) = &spec.email {
        return format!("email via {}:{}", email.host, email.effective_port());
    }
    "no sink".to_owned()
}

fn secret(reference: &SecretRef, what: &str) -> Result<String, DeliveryError> {
    reference.resolve().map_err(|error| {
        DeliveryError::fatal(format!("cannot read the {what} ({reference}): {error}"))
    })
}

/// A failed request, described without its URL (for these services the URL is a
/// credential).
fn network(error: reqwest::Error) -> DeliveryError {
    let timed_out = error.is_timeout();
    let error = hale_core::error_chain(&error.without_url());
    let what = if timed_out {
        "timed out"
    } else {
        "cannot reach the service"
    };
    DeliveryError::transient(format!("{what}: {error}"))
}

/// Reads an HTTP answer: `Ok(detail)` for 2xx, else a [`DeliveryError`] with the
/// service's reason (`reason` extracts it from the body) and `Retry-After`.
async fn answer(
    response: reqwest::Response,
    reason: impl Fn(&str) -> Option<String>,
    retry_after_in_body: impl Fn(&str) -> Option<Duration>,
) -> Result<String, DeliveryError> {
    let status = response.status();
    let header_wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| hale_core::retry_after(v, std::time::SystemTime::now()))
        .and_then(|wait| wait_secs(wait.as_secs_f64()));
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(format!("HTTP {}", status.as_u16()));
    }
    let why = reason(&body).unwrap_or_else(|| body.trim().chars().take(200).collect());
    let retryable = status.is_server_error() || status.as_u16() == 429;
    Err(DeliveryError {
        message: format!("HTTP {}: {why}", status.as_u16()),
        retryable,
        retry_after: retry_after_in_body(&body).or(header_wait),
    })
}

fn json_field(body: &str, path: &[&str]) -> Option<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    for key in path {
        value = value.get(*key)?.clone();
    }
    Some(value)
}

/// POSTs a JSON body within the attempt's time.
async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<reqwest::Response, DeliveryError> {
    client
        .post(url)
        .timeout(ATTEMPT_TIMEOUT)
        .json(body)
        .send()
        .await
        .map_err(network)
}

/// Sends `message` to the sink of `spec`.
///
/// # Errors
/// A [`DeliveryError`] saying why, whether to retry, and after how long.
pub async fn send(
    clients: &ClientCache,
    spec: &NotifierSpec,
    message: &Message,
) -> Result<String, DeliveryError> {
    if let Some(email) = &spec.email {
        return crate::email::send(email, message).await;
    }
    // Every other sink is HTTP, with the notifier's trust.
    let client = &clients
        .get(&ClientSettings::trusting(&spec.tls))
        .map_err(|error| DeliveryError::fatal(format!("spec.{error}")))?;
    if let Some(webhook) = &spec.webhook {
        let url = match (&webhook.url, &webhook.url_from) {
            (Some(url), _) => url.clone(),
            (None, Some(reference)) => secret(reference, "webhook URL")?,
            _ => return Err(DeliveryError::fatal("the webhook sink has no URL")),
        };
        let headers = hale_policy::HttpHeader::resolve_all(&webhook.headers)
            .map_err(|e| DeliveryError::fatal(e.to_string()))?;
        let body = webhook_body(webhook.body_template.as_deref(), message);
        let content_type = if body.trim_start().starts_with(['{', '[']) {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let mut request = client
            .post(&url)
            .timeout(ATTEMPT_TIMEOUT)
            .header("content-type", content_type)
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(network)?;
        return answer(response, |_| None, |_| None).await;
    }
    if let Some(slack) = &spec.slack {
        let url = secret(&slack.webhook_url, "Slack webhook URL")?;
        // Everything from the message is escaped: a container name or an error body must
        // not ping the channel or disguise a link (see `markup`).
        let mut blocks = vec![json!({
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": format!("*{}*\n{}", markup::slack(&message.title), markup::slack(&message.body)),
            },
        })];
        if !message.links.is_empty() {
            let buttons: Vec<_> = message
                .links
                .iter()
                .map(|(label, url)| json!({"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}))
                .collect();
            blocks.push(json!({"type": "actions", "elements": buttons}));
        }
        // `text` is the notification's preview, parsed as mrkdwn too.
        let body = json!({"text": markup::slack(&message.title), "blocks": blocks});
        let response = post_json(client, &url, &body).await?;
        // Slack answers errors as plain text: `invalid_payload`, `no_service`, ...
        return answer(response, |body| Some(body.trim().to_owned()), |_| None).await;
    }
    if let Some(discord) = &spec.discord {
        let url = secret(&discord.webhook_url, "Discord webhook URL")?;
        // The message's text is escaped for Discord's markdown; hale's own links are
        // added as they are. `allowed_mentions` with nothing to parse: no @everyone, @here,
        // role or user ping, whatever the text says.
        let mut content = format!(
            "{}\n{}",
            markup::discord(&message.title),
            markup::discord(&message.body)
        );
        for (label, url) in &message.links {
            content.push_str(&format!("\n{}: {url}", markup::discord(label)));
        }
        let content: String = content.chars().take(2000).collect();
        let body = json!({
            "content": content,
            "username": discord.username,
            "allowed_mentions": {"parse": []},
        });
        let response = post_json(client, &url, &body).await?;
        return answer(
            response,
            |body| json_field(body, &["message"]).and_then(|m| m.as_str().map(str::to_owned)),
            |body| {
                json_field(body, &["retry_after"])
                    .and_then(|v| v.as_f64())
                    .and_then(wait_secs)
            },
        )
        .await;
    }
    if let Some(telegram) = &spec.telegram {
        let token = secret(&telegram.bot_token, "Telegram bot token")?;
        let url = format!(
            "{}/bot{token}/sendMessage",
            telegram.api_url.trim_end_matches('/')
        );
        // No `parse_mode`: Telegram shows plain text as it is, so nothing in it is markup.
        let body = json!({
            "chat_id": telegram.chat_id,
            "text": message.text().chars().take(4096).collect::<String>(),
            "disable_web_page_preview": true,
        });
        let response = post_json(client, &url, &body).await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        // The Bot API answers `{"ok": true, ...}` or `{"ok": false, "description": ...}`.
        if status.is_success() && json_field(&text, &["ok"]) == Some(json!(true)) {
            return Ok(format!("HTTP {}", status.as_u16()));
        }
        let description = json_field(&text, &["description"])
            .and_then(|d| d.as_str().map(str::to_owned))
            .unwrap_or_else(|| text.trim().chars().take(200).collect());
        return Err(DeliveryError {
            message: format!("Telegram: {description} (HTTP {})", status.as_u16()),
            retryable: status.is_server_error() || status.as_u16() == 429,
            retry_after: json_field(&text, &["parameters", "retry_after"])
                .and_then(|v| v.as_f64())
                .and_then(wait_secs),
        });
    }
    if let Some(ntfy) = &spec.ntfy {
        let url = match (&ntfy.url, &ntfy.url_from) {
            (Some(url), _) => url.clone(),
            (None, Some(reference)) => secret(reference, "ntfy topic URL")?,
            _ => return Err(DeliveryError::fatal("the ntfy sink has no URL")),
        };
        let mut request = client
            .post(&url)
            .timeout(ATTEMPT_TIMEOUT)
            .header("Title", ascii(&message.title))
            .header("Priority", ntfy.priority.to_string())
            .body(message.body.clone());
        if !ntfy.tags.is_empty() {
            request = request.header("Tags", ntfy.tags.join(","));
        }
        if let Some(token) = &ntfy.token {
            request = request.bearer_auth(secret(token, "ntfy token")?);
        }
        let actions: Vec<String> = message
            .links
            .iter()
            .map(|(label, url)| format!("view, {label}, {url}"))
            .collect();
        if !actions.is_empty() {
            request = request.header("Actions", actions.join("; "));
        }
        let response = request.send().await.map_err(network)?;
        return answer(
            response,
            |body| json_field(body, &["error"]).and_then(|e| e.as_str().map(str::to_owned)),
            |_| None,
        )
        .await;
    }
    Err(DeliveryError::fatal("the notifier has no sink"))
}

/// HTTP header values must be visible ASCII; others are replaced.
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The generic webhook's body: the template with `{{event}}`, `{{target}}`, `{{policy}}`,
/// `{{reason}}` and `{{message}}` filled in (JSON-escaped inside a JSON template), or a
/// JSON document with the message and the audit record.
pub fn webhook_body(template: Option<&str>, message: &Message) -> String {
    let event = serde_json::to_string(&message.event).unwrap_or_default();
    let target = message
        .event
        .target
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let Some(template) = template else {
        return json!({
            "kind": format!("{:?}", message.kind),
            "title": message.title,
            "message": message.body,
            "count": message.count,
            "links": message.links.iter().map(|(label, url)| json!({"label": label, "url": url})).collect::<Vec<_>>(),
            "event": message.event,
        })
        .to_string();
    };
    // The record itself goes in as JSON, unescaped: `{{event}}` stands for a value. One
    // pass, so a reason quoting `{{event}}` (a probe body) stays text.
    hale_core::fill_template_with(
        template,
        &[
            ("target", &target),
            ("policy", &message.event.policy),
            ("reason", &message.event.reason),
            ("message", &message.text()),
        ],
        &[("event", &event)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_quoting_the_event_placeholder_stays_text_in_a_json_body() {
        let mut message = crate::test_message("hook");
        message.event.reason = "probe body: {{event}}".to_owned();
        let body = webhook_body(
            Some(r#"{"why": "{{reason}}", "record": {{event}}}"#),
            &message,
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(parsed["why"], "probe body: {{event}}");
        assert_eq!(parsed["record"]["reason"], "probe body: {{event}}");
    }
}
