//! Escaping for each sink's markup. A message carries text hale does not control — a
//! container's name, a probe's response body, a remote service's error — and in Slack
//! `<!channel>` pings a whole channel, `<https://evil.example|your dashboard>` disguises a
//! link, and in Discord `[text](url)` does the same. Every piece of a message is escaped
//! for the sink it goes to, so it is shown exactly as it was written and does nothing.
//!
//! Telegram messages are sent without `parse_mode` (plain text: Telegram interprets no
//! markup) and ntfy without `Markdown: yes`, so neither needs escaping; the generic webhook
//! sends JSON.

/// Slack mrkdwn: `&`, `<` and `>` are the control characters (Slack's "Escaping text"
/// rule); escaped, `<!channel>` and `<url|label>` are plain text.
pub fn slack(text: &str) -> String {
    replace_each(text, slack_entity)
}

/// Discord markdown: a backslash before each character markdown gives a meaning to
/// (emphasis, code, spoilers, quotes, headings, masked links, mentions). Mentions are also
/// disabled for the whole message by `allowed_mentions` (see [`crate::sinks`]).
pub fn discord(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']' | '(' | ')' | '#' | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// HTML text and attribute values.
pub fn html(text: &str) -> String {
    replace_each(text, |c| match c {
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        c => slack_entity(c),
    })
}

/// Slack's three entities, which are HTML's too.
fn slack_entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// `text` with each character `entity` names replaced by what it says.
fn replace_each(text: &str, entity: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match entity(c) {
            Some(replacement) => out.push_str(replacement),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{discord, html, slack};

    const HOSTILE: &str = "<!channel> @everyone <https://evil.example|click here> [x](https://evil.example) <b>hi</b> & *bold*";

    #[test]
    fn slack_control_sequences_become_text() {
        let escaped = slack(HOSTILE);
        assert!(
            !escaped.contains('<') && !escaped.contains('>'),
            "{escaped}"
        );
        assert!(escaped.contains("&lt;!channel&gt;"), "{escaped}");
        assert!(escaped.contains("&amp; *bold*"), "{escaped}");
    }

    #[test]
    fn discord_markdown_and_mentions_become_text() {
        let escaped = discord(HOSTILE);
        assert!(
            escaped.contains(r"\[x\]\(https://evil.example\)"),
            "{escaped}"
        );
        assert!(escaped.contains(r"\@everyone"), "{escaped}");
        assert!(escaped.contains(r"\<!channel\>"), "{escaped}");
        assert!(escaped.contains(r"\*bold\*"), "{escaped}");
    }

    #[test]
    fn html_tags_become_text() {
        let escaped = html(HOSTILE);
        assert!(!escaped.contains('<'), "{escaped}");
        assert!(escaped.contains("&lt;b&gt;hi&lt;/b&gt; &amp;"), "{escaped}");
    }
}
