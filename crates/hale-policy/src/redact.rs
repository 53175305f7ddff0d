//! The redaction layer: every text that leaves the process (audit records, error messages,
//! log lines, trace attributes, API answers) passes through one [`Redactor`] that knows
//! every secret value in use and scrubs the credentials of any URL.
//!
//! Secrets are learnt where they are read: [`SecretRef::resolve`](crate::SecretRef::resolve)
//! registers each value it returns with the [`global`] redactor, and the callers that read
//! credentials another way (the API token file, a Coolify token) call [`register`] or
//! [`register_url`] themselves. Registering is rare (a value is added once); redacting is
//! one pass of an Aho-Corasick automaton over the text, plus a scan for `://` that costs
//! nothing on texts without URLs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not registered: a three-letter password would otherwise
/// blank out every word that contains it. hale's own credentials are all longer.
pub const MIN_SECRET_LEN: usize = 4;

/// The automaton over the known secrets and what each one becomes.
struct Automaton {
    finder: AhoCorasick,
    replacements: Vec<String>,
}

/// Knows every secret value in use and removes them, and URL credentials and query
/// strings, from texts before they leave the process.
pub struct Redactor {
    /// Secret value → its replacement, kept to rebuild the automaton when one is added.
    known: RwLock<BTreeMap<String, String>>,
    /// The automaton over `known`; `None` while no secret is known.
    automaton: RwLock<Option<Arc<Automaton>>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl Redactor {
    /// A redactor that knows no secret yet (it still scrubs URL credentials and queries).
    pub fn new() -> Self {
        Self {
            known: RwLock::new(BTreeMap::new()),
            automaton: RwLock::new(None),
        }
    }

    /// Learns a secret value (a token, a password): from now on it is replaced with
    /// [`REDACTED`]. A value that is a URL is learnt as by [`Redactor::register_url`].
    pub fn register(&self, secret: &str) {
        let secret = secret.trim();
        if url_parts(secret).is_some() {
            self.register_url(secret);
        } else {
            self.learn([(secret.to_owned(), REDACTED.to_owned())]);
        }
    }

    /// Learns a URL that is itself a secret (a Slack webhook, a `urlFrom`): it becomes
    /// `scheme://host/[redacted]`, and its path and query alone become `/[redacted]`.
    pub fn register_url(&self, url: &str) {
        let url = url.trim();
        let Some(parts) = url_parts(url) else {
            self.learn([(url.to_owned(), REDACTED.to_owned())]);
            return;
        };
        let host = parts.host(url);
        let mut learnt = vec![(
            url.to_owned(),
            format!("{}://{host}/{REDACTED}", parts.scheme(url)),
        )];
        let rest = &url[parts.authority_end..];
        if rest.len() > 1 {
            learnt.push((rest.to_owned(), format!("/{REDACTED}")));
        }
        self.learn(learnt);
    }

    fn learn(&self, values: impl IntoIterator<Item = (String, String)>) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for (value, replacement) in values {
            if value.chars().count() < MIN_SECRET_LEN || known.contains_key(&value) {
                continue;
            }
            known.insert(value, replacement);
            changed = true;
        }
        if !changed {
            return;
        }
        // Leftmost-longest: a URL secret wins over a token inside it.
        let finder = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(known.keys())
            .expect("an automaton over a few hundred literal strings builds");
        let automaton = Automaton {
            finder,
            replacements: known.values().cloned().collect(),
        };
        *self.automaton.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(automaton));
    }

    /// `text` without any known secret, and with every URL's user information and query
    /// string replaced by [`REDACTED`]. Borrowed when there was nothing to remove.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let automaton = self
            .automaton
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let without_secrets = match automaton {
            Some(automaton) if automaton.finder.is_match(text) => {
                Cow::Owned(automaton.finder.replace_all(text, &automaton.replacements))
            }
            _ => Cow::Borrowed(text),
        };
        match scrub_urls(&without_secrets) {
            Some(scrubbed) => Cow::Owned(scrubbed),
            None => without_secrets,
        }
    }

    /// Redacts every string inside a JSON value, in place (keys included).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => {
                if let Cow::Owned(clean) = self.redact(text) {
                    *text = clean;
                }
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|item| self.redact_json(item));
            }
            serde_json::Value::Object(fields) => {
                let dirty: Vec<String> = fields
                    .keys()
                    .filter(|key| matches!(self.redact(key), Cow::Owned(_)))
                    .cloned()
                    .collect();
                for key in dirty {
                    if let Some(field) = fields.remove(&key) {
                        fields.insert(self.redact(&key).into_owned(), field);
                    }
                }
                fields
                    .values_mut()
                    .for_each(|field| self.redact_json(field));
            }
            _ => {}
        }
    }
}

/// The redactor the whole process shares.
pub fn global() -> &'static Redactor {
    static GLOBAL: LazyLock<Redactor> = LazyLock::new(Redactor::new);
    &GLOBAL
}

/// Learns a secret value in the [`global`] redactor.
pub fn register(secret: &str) {
    global().register(secret);
}

/// Learns a secret URL in the [`global`] redactor.
pub fn register_url(url: &str) {
    global().register_url(url);
}

/// `text` through the [`global`] redactor.
pub fn redact(text: &str) -> Cow<'_, str> {
    global().redact(text)
}

/// Where the pieces of an absolute URL are, as byte offsets into it.
struct UrlParts {
    /// End of the scheme (the position of `://`).
    scheme_end: usize,
    /// Start of the host (after `://` and any user information).
    host_start: usize,
    /// End of the authority: the first `/`, `?` or `#` after the host, or the URL's end.
    authority_end: usize,
}

impl UrlParts {
    fn scheme<'a>(&self, url: &'a str) -> &'a str {
        &url[..self.scheme_end]
    }

    fn host<'a>(&self, url: &'a str) -> &'a str {
        &url[self.host_start..self.authority_end]
    }
}

/// The parts of `url` when it is one absolute URL and nothing else.
fn url_parts(url: &str) -> Option<UrlParts> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || url.chars().any(ends_url) {
        return None;
    }
    let after = scheme_end + 3;
    let authority_end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| after + at);
    let host_start = url[after..authority_end]
        .rfind('@')
        .map_or(after, |at| after + at + 1);
    Some(UrlParts {
        scheme_end,
        host_start,
        authority_end,
    })
}

/// Characters that end a URL found inside running text.
fn ends_url(c: char) -> bool {
    // `)`: errors write "for url (https://...)".
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '<' | '>' | '`' | '\\' | '{' | '}' | '|' | ')'
        )
}

/// `text` with the user information and query (and fragment) of every URL in it replaced,
/// or `None` when no URL in it has any.
fn scrub_urls(text: &str) -> Option<String> {
    if !text.contains("://") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    let mut changed = false;
    while let Some(found) = text[search..].find("://") {
        let marker = search + found;
        let start = text[..marker]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(marker, |(at, _)| at);
        let end = text[marker..]
            .find(ends_url)
            .map_or(text.len(), |at| marker + at);
        search = end.max(marker + 3);
        if start == marker {
            continue;
        }
        let url = &text[start..end];
        let Some(parts) = url_parts(url) else {
            continue;
        };
        let has_userinfo = parts.host_start > parts.scheme_end + 3;
        let query = url[parts.authority_end..].find(['?', '#']);
        if !has_userinfo && query.is_none() {
            continue;
        }
        changed = true;
        out.push_str(&text[copied..start]);
        out.push_str(parts.scheme(url));
        out.push_str("://");
        if has_userinfo {
            out.push_str(REDACTED);
            out.push('@');
        }
        out.push_str(parts.host(url));
        match query {
            Some(at) => {
                out.push_str(&url[parts.authority_end..parts.authority_end + at]);
                out.push('?');
                out.push_str(REDACTED);
            }
            None => out.push_str(&url[parts.authority_end..]),
        }
        copied = end;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_token_is_replaced_wherever_it_appears() {
        let redactor = Redactor::new();
        redactor.register("PLANTED-token-1");
        assert_eq!(
            redactor.redact("Authorization: Bearer PLANTED-token-1 (PLANTED-token-1)"),
            "Authorization: Bearer [redacted] ([redacted])"
        );
    }

    #[test]
    fn a_secret_url_keeps_scheme_and_host_only() {
        let redactor = Redactor::new();
        redactor.register_url("https://hooks.example/services/T1/B2/secretpart");
        assert_eq!(
            redactor.redact("POST https://hooks.example/services/T1/B2/secretpart failed"),
            "POST https://hooks.example/[redacted] failed"
        );
        assert_eq!(
            redactor.redact("path /services/T1/B2/secretpart"),
            "path /[redacted]"
        );
    }

    #[test]
    fn any_url_loses_its_credentials_and_query() {
        let redactor = Redactor::new();
        assert_eq!(
            redactor.redact("GET (https://user:pw@ci.example/hook/run?token=abc#x): 500"),
            "GET (https://[redacted]@ci.example/hook/run?[redacted]): 500"
        );
        assert_eq!(
            redactor.redact(r#"{"url":"http://h:8080/a?b=c"}"#),
            r#"{"url":"http://h:8080/a?[redacted]"}"#
        );
    }

    #[test]
    fn texts_without_secrets_are_borrowed() {
        let redactor = Redactor::new();
        redactor.register("some-secret");
        assert!(matches!(
            redactor.redact("http://plain.example/path and words"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn short_values_are_not_learnt() {
        let redactor = Redactor::new();
        redactor.register("abc");
        assert_eq!(redactor.redact("abcdef"), "abcdef");
    }

    #[test]
    fn json_strings_and_keys_are_redacted() {
        let redactor = Redactor::new();
        redactor.register("PLANTED-json");
        let mut value = serde_json::json!({"a": ["x PLANTED-json"], "PLANTED-json": 1});
        redactor.redact_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": ["x [redacted]"], "[redacted]": 1})
        );
    }
}
