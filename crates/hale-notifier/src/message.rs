//! What a notification says: what happened, to what, why, what hale did, what it will do
//! next, and where to look or acknowledge.

use hale_core::{HealEvent, HealEventKind};
use hale_policy::EventKind;

/// The kind of notification an audit record makes, if it makes one.
pub fn event_kind(event: &HealEvent) -> Option<EventKind> {
    Some(match event.kind {
        HealEventKind::ActionStarted => EventKind::Remediating,
        HealEventKind::ActionSucceeded => EventKind::Remediated,
        HealEventKind::Recovered => EventKind::Recovered,
        HealEventKind::ActionFailed => EventKind::Failed,
        HealEventKind::Escalated => EventKind::Escalated,
        HealEventKind::Quarantined => EventKind::Quarantined,
        HealEventKind::CircuitOpen => EventKind::CircuitOpen,
        HealEventKind::PolicyRejected => EventKind::PolicyRejected,
        _ => return None,
    })
}

/// One message, ready for any sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// One line: what happened to what.
    pub title: String,
    /// The details: why, what hale did, what happens next.
    pub body: String,
    /// The notification kind.
    pub kind: EventKind,
    /// The audit record behind it (the latest one, for a folded message).
    pub event: HealEvent,
    /// How many records it stands for (more than 1 when repeats were folded).
    pub count: u32,
    /// Links for people: (label, URL).
    pub links: Vec<(String, String)>,
}

impl Message {
    /// The title, body and links as plain text.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n{}", self.title, self.body);
        for (label, url) in &self.links {
            text.push_str(&format!("\n{label}: {url}"));
        }
        text
    }
}

fn target_of(event: &HealEvent) -> String {
    event
        .target
        .as_ref()
        .map_or_else(|| format!("policy {}", event.policy), |t| t.name.clone())
}

/// The message `hale notify test` sends through `notifier`: plainly a test, so nobody who
/// reads it in the channel takes it for an outage.
pub fn test_message(notifier: &str) -> Message {
    let event = HealEvent::new(
        hale_core::Timestamp::now(),
        HealEventKind::Released,
        "hale-notify-test",
        None,
        format!(
            "`hale notify test {notifier}` was run to check this notifier's address and credentials"
        ),
    );
    Message {
        title: format!("[hale] Test message through notifier {notifier}: nothing is wrong"),
        body: format!(
            "Why: {}\nNext: nothing: no target is failing and hale did nothing",
            event.reason
        ),
        // The kind only picks a sink's colour and wording; a test reads as good news.
        kind: EventKind::Recovered,
        event,
        count: 1,
        links: Vec::new(),
    }
}

/// Composes the message for `event` of `kind`, standing for `count` records (see
/// `digest` for how folded repeats are told), with `links`.
pub fn compose(
    event: &HealEvent,
    kind: EventKind,
    count: u32,
    links: Vec<(String, String)>,
) -> Message {
    let target = target_of(event);
    let action = event
        .action
        .map(hale_core::action_name)
        .unwrap_or_else(|| "-".to_owned());
    let policy = &event.policy;
    let (title, next) = match kind {
        EventKind::Remediating => (
            format!("[hale] Remediating {target}: {action} (policy {policy})"),
            "hale waits for the target to recover, then tries again or escalates".to_owned(),
        ),
        EventKind::Remediated => (
            format!("[hale] {action} of {target} done (policy {policy})"),
            "hale waits to see whether the target recovers".to_owned(),
        ),
        EventKind::Recovered => (
            format!("[hale] Recovered: {target} is healthy again (policy {policy})"),
            "nothing: the episode is closed".to_owned(),
        ),
        EventKind::Failed => (
            format!("[hale] {action} of {target} failed (policy {policy})"),
            "hale tries again or escalates when the step's wait is over".to_owned(),
        ),
        EventKind::Escalated => (
            format!("[hale] Escalating {target} (policy {policy})"),
            "hale takes the next, stronger step of the ladder".to_owned(),
        ),
        EventKind::Quarantined => (
            format!("[hale] Gave up on {target}: quarantined (policy {policy})"),
            format!(
                "hale leaves it alone until released (`hale unquarantine {}`) or releaseAfter elapses; a person must look",
                event.target.as_ref().map_or("TARGET", |t| t.name.as_str())
            ),
        ),
        EventKind::CircuitOpen => (
            format!("[hale] Holding back: too many targets of policy {policy} are failing"),
            "hale remediates nothing in this policy until fewer targets fail; look for a shared cause".to_owned(),
        ),
        EventKind::PolicyRejected => (
            format!("[hale] Policy rejected: {policy}"),
            "the previous version keeps running; fix the file (`hale validate`)".to_owned(),
        ),
    };
    let mut body = format!("Why: {}", event.reason);
    if let Some(signal) = &event.signal {
        body.push_str(&format!("\nSignal: {signal}"));
    }
    if let Some(result) = &event.result {
        body.push_str(&format!("\nResult: {result}"));
    }
    body.push_str(&format!("\nNext: {next}"));
    if event.dry_run {
        body.push_str("\n(dry-run: nothing was touched)");
    }
    Message {
        title,
        body,
        kind,
        event: event.clone(),
        count,
        links,
    }
}

/// The digest of a target's repeats within a grouping window: the message of the `latest`
/// event (what is true now), with how many more of each kind were folded (`folded`) in
/// the last `window`. A target that is remediated, recovers and fails again is flapping,
/// and one digest says so instead of a message per event.
pub fn digest(
    latest: &HealEvent,
    kind: EventKind,
    folded: &[(EventKind, u32)],
    window: std::time::Duration,
    links: Vec<(String, String)>,
) -> Message {
    let total: u32 = folded.iter().map(|(_, n)| n).sum();
    let mut message = compose(latest, kind, 1, links);
    let counts: Vec<String> = folded
        .iter()
        .map(|(kind, n)| format!("{n} more {kind:?}"))
        .collect();
    let flapping = folded.iter().any(|(k, _)| *k == EventKind::Recovered)
        && folded.iter().any(|(k, _)| *k != EventKind::Recovered);
    message.body.push_str(&format!(
        "\n(Folded within the last {}: {}{}. This message is the latest.)",
        hale_policy::Duration::from(window),
        counts.join(", "),
        if flapping {
            " — the target is flapping"
        } else {
            ""
        }
    ));
    message.count = total + 1;
    message
}
