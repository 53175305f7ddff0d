//! The rules of `Notifier` documents: exactly one sink, its URL or secret, its pacing.

use super::Checker;
use crate::notifier::Notifier;

/// Checks one notifier.
pub(super) fn check_notifier(c: &mut Checker<'_, Notifier>, notifier: &Notifier) {
    c.metadata(&notifier.metadata);
    let spec = &notifier.spec;
    if spec.rate_limit == 0 {
        c.error("spec.rateLimit", "must be at least 1 message per minute");
    }
    if spec.queue_size == 0 {
        c.error("spec.queueSize", "must be at least 1");
    }
    if spec.min_reminder_interval.is_zero() {
        c.error(
            "spec.minReminderInterval",
            "must be longer than 0s (reminders would never stop)",
        );
    }
    let sinks = spec.sink_names();
    match sinks.as_slice() {
        [] => c.error(
            "spec",
            "a Notifier needs exactly one sink: webhook, slack, discord, telegram, ntfy or email",
        ),
        [_] => {}
        several => c.error(
            "spec",
            format!(
                "a Notifier has exactly one sink, but this one has {}: {}",
                several.len(),
                several.join(", ")
            ),
        ),
    }
    if let Some(webhook) = &spec.webhook {
        c.url_or_from(
            "spec.webhook",
            webhook.url.as_deref(),
            webhook.url_from.as_ref(),
        );
        c.headers("spec.webhook.headers", &webhook.headers);
    }
    c.tls("spec.tls", &spec.tls);
    if let Some(slack) = &spec.slack {
        c.secret("spec.slack.webhookUrl", &slack.webhook_url);
    }
    if let Some(discord) = &spec.discord {
        c.secret("spec.discord.webhookUrl", &discord.webhook_url);
    }
    if let Some(telegram) = &spec.telegram {
        c.secret("spec.telegram.botToken", &telegram.bot_token);
        if telegram.chat_id.trim().is_empty() {
            c.error("spec.telegram.chatId", "must not be empty");
        }
        c.url("spec.telegram.apiUrl", &telegram.api_url);
    }
    if let Some(ntfy) = &spec.ntfy {
        c.url_or_from("spec.ntfy", ntfy.url.as_deref(), ntfy.url_from.as_ref());
        if !(1..=5).contains(&ntfy.priority) {
            c.error(
                "spec.ntfy.priority",
                format!("priority {} is not between 1 and 5", ntfy.priority),
            );
        }
        if let Some(token) = &ntfy.token {
            c.secret("spec.ntfy.token", token);
        }
    }
    if let Some(email) = &spec.email {
        super::email::check_email(c, email);
    }
}
