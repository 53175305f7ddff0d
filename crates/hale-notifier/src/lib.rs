//! The Notifier: tells people what hale did, in the channel their team uses — once,
//! promptly, and without flooding them during a storm.
//!
//! - [`NotifierActor`] routes audit records by each policy's `notify` routes (or
//!   `--notify-default`), folds repeats about one target within a sink's `groupWindow`,
//!   reminds about lasting quarantines and open circuits every `minReminderInterval`, and
//!   tells about recoveries after trouble it reported (`sendOnResolved`).
//! - Each sink has its own bounded queue and worker ([`delivery`]): a slow or dead sink
//!   delays no other sink and never the reconciler. Workers keep to `rateLimit` (a token
//!   bucket, [`rate`]: a burst of up to `rateLimit`, then that many a minute), retry
//!   network errors, 5xx and 429 with backoff (or as the service says), then record a
//!   `notification_failed` audit event.
//! - [`sinks`] speaks each service's format: generic webhook, Slack, Discord, Telegram,
//!   ntfy, and email over SMTP (lettre, with the Notifier's `email.trust`), escaping outside text for each one's markup
//!   ([`markup`]) so a container name or an error body cannot ping a channel or disguise a
//!   link.

mod actor;
pub mod delivery;
mod email;
mod email_tls;
mod error;
pub mod markup;
mod message;
pub mod rate;
pub mod sinks;

pub use actor::{
    LinkMaker, MetricSink, NOTIFIER_NAME, NotificationMetric, NotifierActor, NotifierArgs,
    NotifierMsg,
};
pub use message::{Message, compose, event_kind, test_message};
