//! The `Notifier` kind: where hale's events are sent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::meta::ObjectMeta;
use crate::policy::HttpHeader;
use crate::secret::SecretRef;
use crate::tls::TlsTrust;

/// A `Notifier`: one destination for hale's events (a Slack channel, a Telegram chat, an
/// ntfy topic, a mailbox, any webhook). Policies name it in their `notify` routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Notifier {
    /// Must be `hale.dev/v1alpha1`.
    #[schemars(extend("const" = "hale.dev/v1alpha1"))]
    pub api_version: String,
    /// Must be `Notifier`.
    #[schemars(extend("const" = "Notifier"))]
    pub kind: String,
    /// The notifier's name, which policies refer to.
    pub metadata: ObjectMeta,
    /// The destination. Exactly one sink is set.
    pub spec: NotifierSpec,
}

/// The destination of a [`Notifier`]: exactly one of the sinks, and how messages to it are
/// grouped, repeated and paced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotifierSpec {
    /// A generic JSON webhook. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSink>,
    /// A Slack incoming webhook. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackSink>,
    /// A Discord channel webhook. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord: Option<DiscordSink>,
    /// A Telegram chat, through a bot. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramSink>,
    /// An ntfy topic. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntfy: Option<NtfySink>,
    /// Email over SMTP. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSink>,
    /// CA certificates trusted beyond the system roots, and a client certificate, for the
    /// HTTP sinks (webhook, Slack, Discord, Telegram, ntfy). Default: the system roots only.
    #[serde(default, skip_serializing_if = "TlsTrust::is_default")]
    pub tls: TlsTrust,
    /// Events of one kind about one target within this window are folded: the first is
    /// sent at once, the others are counted and sent as one message when the window closes.
    /// Default: `5m`.
    #[serde(default = "default_group_window")]
    pub group_window: Duration,
    /// While a target stays quarantined or a circuit stays open, remind this often.
    /// Default: `4h`.
    #[serde(default = "default_reminder")]
    pub min_reminder_interval: Duration,
    /// After telling about a target's trouble, also tell when it recovers, even if the
    /// route does not list `Recovered`. Default: `true`.
    #[serde(default = "default_true")]
    pub send_on_resolved: bool,
    /// At most this many messages per minute, as a token bucket: up to this many may go at
    /// once (an incident touching five containers is five messages now), then one every
    /// `60s / rateLimit`; more wait their turn in the queue. Default: `20`.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
    /// Messages waiting for this sink at most; when full, the oldest is dropped (and the
    /// drop is logged and recorded). Default: `100`.
    #[serde(default = "default_queue_size")]
    pub queue_size: u32,
}

fn default_group_window() -> Duration {
    Duration::from_secs(300)
}
fn default_reminder() -> Duration {
    Duration::from_secs(4 * 3600)
}
fn default_true() -> bool {
    true
}
fn default_rate_limit() -> u32 {
    20
}
fn default_queue_size() -> u32 {
    100
}

impl Default for NotifierSpec {
    fn default() -> Self {
        Self {
            webhook: None,
            slack: None,
            discord: None,
            telegram: None,
            ntfy: None,
            email: None,
            tls: TlsTrust::default(),
            group_window: default_group_window(),
            min_reminder_interval: default_reminder(),
            send_on_resolved: true,
            rate_limit: default_rate_limit(),
            queue_size: default_queue_size(),
        }
    }
}

impl NotifierSpec {
    /// The sinks that are set, by their YAML field names.
    pub fn sink_names(&self) -> Vec<&'static str> {
        [
            ("webhook", self.webhook.is_some()),
            ("slack", self.slack.is_some()),
            ("discord", self.discord.is_some()),
            ("telegram", self.telegram.is_some()),
            ("ntfy", self.ntfy.is_some()),
            ("email", self.email.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// A generic webhook receiving a JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookSink {
    /// The URL, when it holds no secret. Exactly one of `url` and `urlFrom`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL, read from a secret (for URLs that embed a token). Exactly one of `url` and
    /// `urlFrom`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<SecretRef>,
    /// Request headers; values may come from secrets. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
    /// Body template; `{{event}}`, `{{target}}`, `{{policy}}`, `{{reason}}` and
    /// `{{message}}` are replaced. Default: hale's event record as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_template: Option<String>,
}

/// A Slack incoming webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackSink {
    /// The incoming-webhook URL (it is a credential, so it comes from a secret).
    pub webhook_url: SecretRef,
}

/// A Discord channel webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordSink {
    /// The webhook URL (it is a credential, so it comes from a secret).
    pub webhook_url: SecretRef,
    /// The name messages are posted under. Default: `hale`.
    #[serde(default = "default_username")]
    pub username: String,
}

fn default_username() -> String {
    "hale".into()
}

/// A Telegram chat, messaged by a bot through the Bot API's `sendMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TelegramSink {
    /// The bot token from @BotFather.
    pub bot_token: SecretRef,
    /// The chat to post to: a numeric ID (groups are negative) or `@channelname`.
    pub chat_id: String,
    /// Base URL of the Bot API. Default: `https://api.telegram.org`.
    #[serde(default = "default_telegram_api")]
    pub api_url: String,
}

fn default_telegram_api() -> String {
    "https://api.telegram.org".into()
}

/// An ntfy topic (ntfy.sh or self-hosted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NtfySink {
    /// The topic URL, e.g. `https://ntfy.sh/my-hale-alerts`, when it holds no secret.
    /// Exactly one of `url` and `urlFrom`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The topic URL, read from a secret (on a public server the topic name is the only
    /// protection). Exactly one of `url` and `urlFrom`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<SecretRef>,
    /// An access token for protected topics. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// Message priority from 1 (min) to 5 (max). Default: 3.
    #[serde(default = "default_ntfy_priority")]
    pub priority: u8,
    /// Tags (ntfy shows known ones as emoji). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

fn default_ntfy_priority() -> u8 {
    3
}

/// Email over SMTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmailSink {
    /// SMTP server host name.
    pub host: String,
    /// SMTP server port. Default: 587 for `StartTls`, 465 for `Tls`, 25 for `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Transport security; `None` encrypts nothing, so with a `username` the host must be
    /// `localhost` or a loopback address. Default: `StartTls`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// CA certificates trusted beyond the system roots, and a client certificate, for the
    /// SMTP server's TLS (`StartTls` or `Tls`; `tls: None` has no TLS to trust). A relay
    /// with a private CA needs only `caFile`. The files are read at each delivery; of
    /// `certFile`, only the first certificate is sent (no intermediates). Default: the
    /// system roots only.
    #[serde(default, skip_serializing_if = "TlsTrust::is_default")]
    pub trust: TlsTrust,
    /// SMTP user name. Default: no authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// SMTP password; required when `username` is set. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// The sender address, e.g. `hale <hale@example.com>`.
    pub from: String,
    /// Recipient addresses. Must not be empty.
    pub to: Vec<String>,
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SmtpTls {
    /// Upgrade a plain connection with STARTTLS (port 587); refuse servers without it.
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption, for a relay on this machine only: with a `username`, the host must be
    /// `localhost` or a loopback address (the login would cross the network in the clear).
    None,
}

impl EmailSink {
    /// True when the SMTP login (user name and password) would cross the network
    /// unencrypted: `tls: None` with a username, to a host that is not this machine.
    pub fn sends_credentials_in_clear(&self) -> bool {
        self.tls == SmtpTls::None && self.username.is_some() && !is_loopback_host(&self.host)
    }

    /// The port to connect to: the configured one or the usual port for the TLS mode.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

/// `localhost`, or a loopback address (`127.0.0.0/8`, `::1`, with or without brackets):
/// a host whose traffic never leaves this machine. Other names are not resolved: a name is
/// only as local as the resolver says, and the resolver can be told otherwise.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
