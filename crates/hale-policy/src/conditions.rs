//! Gatus-style conditions on probe results: `[STATUS] == 200`, `[RESPONSE_TIME] < 800`,
//! `[BODY].status == UP`, `len([BODY].items) > 0`, `[STATUS] == any(200, 204)`,
//! `[BODY].name == pat(web-*)`, `[CERTIFICATE_EXPIRATION] > 48h`, `[CONNECTED] == true`.
//!
//! Conditions are parsed when policies load, so a typo is a validation error with a
//! position, and evaluated against each probe result by the prober.

use std::fmt;
use std::time::Duration;

/// A value a probe produces, named in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// HTTP status code, or an exec probe's exit code.
    Status,
    /// Milliseconds the probe took.
    ResponseTime,
    /// The response body (HTTP) or output (exec); a JSON path may follow.
    Body,
    /// Time until the server's TLS certificate expires.
    CertificateExpiration,
    /// Whether the connection was established.
    Connected,
}

impl Placeholder {
    /// The placeholder as written, e.g. `[STATUS]`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Status => "[STATUS]",
            Self::ResponseTime => "[RESPONSE_TIME]",
            Self::Body => "[BODY]",
            Self::CertificateExpiration => "[CERTIFICATE_EXPIRATION]",
            Self::Connected => "[CONNECTED]",
        }
    }
}

/// One step of a JSON path after `[BODY]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// `.field`
    Field(String),
    /// `[3]`
    Index(usize),
}

/// The left side of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A placeholder, with a JSON path for `[BODY]`.
    Value(Placeholder, Vec<PathStep>),
    /// `len(...)`: the length of a string, array or object.
    Len(Placeholder, Vec<PathStep>),
    /// `has(...)`: whether the path exists (compared with `true`/`false`).
    Has(Placeholder, Vec<PathStep>),
}

/// The right side of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A literal: number, duration, boolean or text.
    Literal(String),
    /// `any(a, b, c)`: equal to one of them.
    Any(Vec<String>),
    /// `pat(glob)`: matches a glob with `*` and `?`.
    Pattern(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The text it was parsed from.
    pub text: String,
    /// Left side.
    pub subject: Subject,
    /// Operator.
    pub operator: Operator,
    /// Right side.
    pub expected: Expected,
}

/// A parse error, with the 0-based character offset in the condition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    /// Character offset of the problem within the condition.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

fn error(offset: usize, message: impl Into<String>) -> ConditionError {
    ConditionError {
        offset,
        message: message.into(),
    }
}

const OPERATORS: [(&str, Operator); 6] = [
    ("==", Operator::Eq),
    ("!=", Operator::Ne),
    ("<=", Operator::Le),
    (">=", Operator::Ge),
    ("<", Operator::Lt),
    (">", Operator::Gt),
];

impl Condition {
    /// Parses `text`.
    ///
    /// # Errors
    /// A [`ConditionError`] at the offending character: unknown placeholder or function,
    /// missing operator, bad JSON path, `pat()`/`any()` on the left, and so on.
    pub fn parse(text: &str) -> Result<Self, ConditionError> {
        let (operator_at, operator, operator_len) =
            find_operator(text).ok_or_else(|| match unclosed(text) {
                Some((at, close)) => error(char_offset(text, at), format!("missing '{close}'")),
                None => error(
                    text.chars().count(),
                    "missing operator: expected one of == != < <= > >= (e.g. \"[STATUS] == 200\")",
                ),
            })?;
        let left = &text[..operator_at];
        let right = &text[operator_at + operator_len..];
        let left_start = left.len() - left.trim_start().len();
        let subject = parse_subject(left.trim(), char_offset(text, left_start))?;
        let right_start = operator_at + operator_len + (right.len() - right.trim_start().len());
        let expected = parse_expected(right.trim(), char_offset(text, right_start))?;
        if matches!(expected, Expected::Literal(ref l) if l.is_empty()) {
            return Err(error(
                char_offset(text, right_start),
                format!("nothing to compare with after {}", operator.symbol()),
            ));
        }
        if !matches!(operator, Operator::Eq | Operator::Ne)
            && !matches!(expected, Expected::Literal(_))
        {
            return Err(error(
                char_offset(text, right_start),
                "any() and pat() work only with == and !=",
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            subject,
            operator,
            expected,
        })
    }

    /// The placeholder the condition reads.
    pub fn placeholder(&self) -> Placeholder {
        match &self.subject {
            Subject::Value(p, _) | Subject::Len(p, _) | Subject::Has(p, _) => *p,
        }
    }
}

fn char_offset(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count()
}

/// The first bracket or parenthesis left open, and the character that would close it.
fn unclosed(text: &str) -> Option<(usize, char)> {
    let mut open: Vec<(usize, char)> = Vec::new();
    for (at, c) in text.char_indices() {
        match c {
            '[' => open.push((at, ']')),
            '(' => open.push((at, ')')),
            ']' | ')' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.first().copied()
}

/// Finds the operator outside brackets, parentheses and the right side's free text.
fn find_operator(text: &str) -> Option<(usize, Operator, usize)> {
    let mut depth = 0i32;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'(' => depth += 1,
            b']' | b')' => depth -= 1,
            _ if depth == 0 => {
                // Compared as bytes: `i` may sit inside a multi-byte character (slicing
                // the text there panicked), and an ASCII operator never matches there.
                for (symbol, operator) in OPERATORS {
                    if bytes[i..].starts_with(symbol.as_bytes()) {
                        return Some((i, operator, symbol.len()));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_subject(text: &str, offset: usize) -> Result<Subject, ConditionError> {
    if text.is_empty() {
        return Err(error(offset, "missing the left side (e.g. [STATUS])"));
    }
    for (name, make) in [
        (
            "len(",
            Subject::Len as fn(Placeholder, Vec<PathStep>) -> Subject,
        ),
        ("has(", Subject::Has),
    ] {
        if let Some(inner) = text.strip_prefix(name) {
            let Some(inner) = inner.strip_suffix(')') else {
                return Err(error(
                    offset + text.chars().count(),
                    format!("missing ')' to close {name}"),
                ));
            };
            let (placeholder, path) = parse_value(inner.trim(), offset + name.len())?;
            return Ok(make(placeholder, path));
        }
    }
    for name in ["pat(", "any("] {
        if text.starts_with(name) {
            return Err(error(
                offset,
                format!(
                    "{}) belongs on the right side, e.g. \"[BODY].name == {name}...)\"",
                    &name[..3]
                ),
            ));
        }
    }
    if let Some(paren) = text.find('(') {
        return Err(error(
            offset,
            format!(
                "unknown function {}(): expected len() or has() on the left",
                &text[..paren]
            ),
        ));
    }
    let (placeholder, path) = parse_value(text, offset)?;
    Ok(Subject::Value(placeholder, path))
}

fn parse_value(text: &str, offset: usize) -> Result<(Placeholder, Vec<PathStep>), ConditionError> {
    let placeholders = [
        Placeholder::Status,
        Placeholder::ResponseTime,
        Placeholder::Body,
        Placeholder::CertificateExpiration,
        Placeholder::Connected,
    ];
    let Some(placeholder) = placeholders
        .into_iter()
        .find(|p| text.starts_with(p.name()))
    else {
        let shown: String = text.chars().take_while(|c| *c != ']').collect();
        return Err(error(
            offset,
            format!(
                "unknown placeholder {shown}{}: expected [STATUS], [RESPONSE_TIME], [BODY], [CERTIFICATE_EXPIRATION] or [CONNECTED]",
                if text.contains(']') { "]" } else { "" }
            ),
        ));
    };
    let rest = &text[placeholder.name().len()..];
    let rest_offset = offset + placeholder.name().len();
    if placeholder != Placeholder::Body && !rest.is_empty() {
        return Err(error(
            rest_offset,
            format!("only [BODY] takes a JSON path, not {}", placeholder.name()),
        ));
    }
    Ok((placeholder, parse_path(rest, rest_offset)?))
}

fn parse_path(text: &str, offset: usize) -> Result<Vec<PathStep>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
                    end += 1;
                }
                if end == start {
                    return Err(error(offset + i, "empty field name in the JSON path"));
                }
                steps.push(PathStep::Field(chars[start..end].iter().collect()));
                i = end;
            }
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| error(offset + i, "missing ']' in the JSON path"))?;
                let index: String = chars[i + 1..close].iter().collect();
                let index = index.trim().parse().map_err(|_| {
                    error(
                        offset + i + 1,
                        format!("array index {index:?} is not a number"),
                    )
                })?;
                steps.push(PathStep::Index(index));
                i = close + 1;
            }
            other => {
                return Err(error(
                    offset + i,
                    format!("unexpected {other:?} in the JSON path (use .field or [index])"),
                ));
            }
        }
    }
    Ok(steps)
}

fn parse_expected(text: &str, offset: usize) -> Result<Expected, ConditionError> {
    for (name, any) in [("any(", true), ("pat(", false)] {
        if let Some(inner) = text.strip_prefix(name) {
            let Some(inner) = inner.strip_suffix(')') else {
                return Err(error(
                    offset + text.chars().count(),
                    format!("missing ')' to close {name}"),
                ));
            };
            return Ok(if any {
                let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
                if values.iter().any(String::is_empty) {
                    return Err(error(
                        offset + name.len(),
                        "any() needs values separated by commas",
                    ));
                }
                Expected::Any(values)
            } else {
                Expected::Pattern(inner.trim().to_owned())
            });
        }
    }
    if text.starts_with('[') {
        return Err(error(
            offset,
            "the right side must be a value, not a placeholder",
        ));
    }
    Ok(Expected::Literal(unquote(text).to_owned()))
}

fn unquote(text: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a probe observed, for evaluating conditions.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// HTTP status or exit code.
    pub status: Option<i64>,
    /// How long the probe took.
    pub response_time: Duration,
    /// The body or output, as text.
    pub body: Option<String>,
    /// Time until the TLS certificate expires.
    pub certificate_expiration: Option<Duration>,
    /// Whether the connection was established.
    pub connected: bool,
}

/// A value a subject resolved to.
#[derive(Debug, Clone, PartialEq)]
enum Resolved {
    Number(f64),
    Text(String),
    Bool(bool),
    Duration(Duration),
    Missing(String),
}

/// A condition that did not hold, with what was seen instead: shown as
/// `[STATUS] == 200 (503)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{condition} ({seen})")]
pub struct ConditionUnmet {
    /// The condition as written.
    pub condition: String,
    /// What was observed (shortened), or why nothing could be (`no status`).
    pub seen: String,
}

impl Observed {
    /// Evaluates `condition`: `Ok(())` when it holds.
    ///
    /// # Errors
    /// [`ConditionUnmet`]: the condition and what was seen instead.
    pub fn check(&self, condition: &Condition) -> Result<(), ConditionUnmet> {
        let resolved = self.resolve(&condition.subject);
        let holds = match (&resolved, &condition.expected) {
            (Resolved::Missing(_), _) => false,
            (_, Expected::Any(values)) => {
                let found = values.iter().any(|v| compare(&resolved, Operator::Eq, v));
                found == (condition.operator == Operator::Eq)
            }
            (_, Expected::Pattern(glob)) => {
                let text = resolved_text(&resolved);
                glob_match(glob, &text) == (condition.operator == Operator::Eq)
            }
            (_, Expected::Literal(literal)) => compare(&resolved, condition.operator, literal),
        };
        if holds {
            Ok(())
        } else {
            let shown = match &resolved {
                Resolved::Missing(why) => why.clone(),
                other => shorten(&resolved_text(other)),
            };
            Err(ConditionUnmet {
                condition: condition.text.clone(),
                seen: shown,
            })
        }
    }

    fn resolve(&self, subject: &Subject) -> Resolved {
        let (placeholder, path) = match subject {
            Subject::Value(p, path) | Subject::Len(p, path) | Subject::Has(p, path) => (*p, path),
        };
        let base = match placeholder {
            Placeholder::Status => self.status.map_or_else(
                || Resolved::Missing("no status".into()),
                |s| Resolved::Number(s as f64),
            ),
            Placeholder::ResponseTime => {
                Resolved::Number(self.response_time.as_secs_f64() * 1000.0)
            }
            Placeholder::Connected => Resolved::Bool(self.connected),
            Placeholder::CertificateExpiration => self.certificate_expiration.map_or_else(
                || Resolved::Missing("no TLS certificate".into()),
                Resolved::Duration,
            ),
            Placeholder::Body => match &self.body {
                None => Resolved::Missing("no body".into()),
                Some(body) if path.is_empty() => Resolved::Text(body.clone()),
                Some(body) => match serde_json::from_str::<serde_json::Value>(body) {
                    Ok(json) => walk(&json, path),
                    Err(_) => Resolved::Missing("body is not JSON".into()),
                },
            },
        };
        match subject {
            Subject::Value(..) => base,
            Subject::Has(..) => Resolved::Bool(!matches!(base, Resolved::Missing(_))),
            Subject::Len(..) => match (&base, placeholder, &self.body) {
                (Resolved::Missing(_), ..) => base,
                (_, Placeholder::Body, Some(body)) if !path.is_empty() => {
                    let json = serde_json::from_str::<serde_json::Value>(body).ok();
                    let target = json.as_ref().and_then(|j| walk_json(j, path));
                    match target {
                        Some(serde_json::Value::Array(a)) => Resolved::Number(a.len() as f64),
                        Some(serde_json::Value::Object(o)) => Resolved::Number(o.len() as f64),
                        Some(serde_json::Value::String(s)) => {
                            Resolved::Number(s.chars().count() as f64)
                        }
                        _ => Resolved::Number(resolved_text(&base).chars().count() as f64),
                    }
                }
                _ => Resolved::Number(resolved_text(&base).chars().count() as f64),
            },
        }
    }
}

fn walk_json<'a>(json: &'a serde_json::Value, path: &[PathStep]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(json, |value, step| match step {
        PathStep::Field(name) => value.get(name),
        PathStep::Index(index) => value.get(*index),
    })
}

fn walk(json: &serde_json::Value, path: &[PathStep]) -> Resolved {
    match walk_json(json, path) {
        None => Resolved::Missing("path not found in the body".into()),
        Some(serde_json::Value::Number(n)) => Resolved::Number(n.as_f64().unwrap_or(f64::NAN)),
        Some(serde_json::Value::Bool(b)) => Resolved::Bool(*b),
        Some(serde_json::Value::String(s)) => Resolved::Text(s.clone()),
        Some(serde_json::Value::Null) => Resolved::Text("null".into()),
        Some(other) => Resolved::Text(other.to_string()),
    }
}

fn resolved_text(resolved: &Resolved) -> String {
    match resolved {
        Resolved::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Resolved::Number(n) => n.to_string(),
        Resolved::Text(t) => t.clone(),
        Resolved::Bool(b) => b.to_string(),
        Resolved::Duration(d) => {
            humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
        }
        Resolved::Missing(why) => why.clone(),
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// Compares a resolved value with a literal: as numbers, durations or booleans when both
/// sides are, else as text (only `==` and `!=` for text).
fn compare(resolved: &Resolved, operator: Operator, literal: &str) -> bool {
    let ordering = match resolved {
        Resolved::Number(n) => literal.parse::<f64>().ok().and_then(|l| n.partial_cmp(&l)),
        Resolved::Duration(d) => crate::Duration::from_str_lossy(literal).map(|l| d.cmp(&l)),
        Resolved::Bool(b) => literal.parse::<bool>().ok().map(|l| b.cmp(&l)),
        Resolved::Text(t) => Some(t.as_str().cmp(literal)),
        Resolved::Missing(_) => None,
    };
    let text_only = matches!(resolved, Resolved::Text(_));
    match (ordering, operator) {
        (None, Operator::Ne) => true,
        (None, _) => false,
        (Some(o), Operator::Eq) => o.is_eq(),
        (Some(o), Operator::Ne) => o.is_ne(),
        (Some(_), _) if text_only => false,
        (Some(o), Operator::Lt) => o.is_lt(),
        (Some(o), Operator::Le) => o.is_le(),
        (Some(o), Operator::Gt) => o.is_gt(),
        (Some(o), Operator::Ge) => o.is_ge(),
    }
}

/// `*` matches any run of characters, `?` one character.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_before_the_operator_is_an_error_not_a_panic() {
        // Found by the fuzz targets: the operator search sliced inside `¥`.
        let problem = Condition::parse("¥.*{:L½8 >=any(h98w)").unwrap_err();
        assert!(problem.message.contains("placeholder"), "{problem}");
        let parsed = Condition::parse("[BODY].näme == ½").unwrap();
        assert_eq!(parsed.operator, Operator::Eq);
    }

    fn holds(condition: &str, observed: &Observed) -> Result<(), String> {
        observed
            .check(&Condition::parse(condition).unwrap())
            .map_err(|unmet| unmet.to_string())
    }

    fn http(status: i64, ms: u64, body: &str) -> Observed {
        Observed {
            status: Some(status),
            response_time: Duration::from_millis(ms),
            body: Some(body.to_owned()),
            certificate_expiration: Some(Duration::from_secs(72 * 3600)),
            connected: true,
        }
    }

    #[test]
    fn status_and_response_time_compare_as_numbers() {
        let ok = http(200, 120, "");
        assert_eq!(holds("[STATUS] == 200", &ok), Ok(()));
        assert_eq!(holds("[STATUS] < 300", &ok), Ok(()));
        assert_eq!(holds("[RESPONSE_TIME] <= 800", &ok), Ok(()));
        assert_eq!(holds("[STATUS]==200", &ok), Ok(()));
        let slow = http(503, 950, "");
        assert_eq!(
            holds("[STATUS] == 200", &slow),
            Err("[STATUS] == 200 (503)".into())
        );
        assert_eq!(
            holds("[RESPONSE_TIME] < 800", &slow),
            Err("[RESPONSE_TIME] < 800 (950)".into())
        );
        assert_eq!(holds("[STATUS] != 200", &slow), Ok(()));
        assert_eq!(holds("[STATUS] >= 500", &slow), Ok(()));
        assert_eq!(
            holds("[STATUS] > 503", &slow),
            Err("[STATUS] > 503 (503)".into())
        );
    }

    #[test]
    fn body_json_paths_reach_fields_and_array_items() {
        let body = r#"{"status":"UP","items":[{"id":7},{"id":8}],"checks":{"db":true},"load":0.5}"#;
        let observed = http(200, 5, body);
        assert_eq!(holds("[BODY].status == UP", &observed), Ok(()));
        assert_eq!(holds("[BODY].items[0].id == 7", &observed), Ok(()));
        assert_eq!(holds("[BODY].items[1].id > 7", &observed), Ok(()));
        assert_eq!(holds("[BODY].checks.db == true", &observed), Ok(()));
        assert_eq!(holds("[BODY].load < 0.8", &observed), Ok(()));
        assert_eq!(
            holds("[BODY].missing == x", &observed),
            Err("[BODY].missing == x (path not found in the body)".into())
        );
        assert_eq!(holds("[BODY] == pat(*UP*)", &observed), Ok(()));
        let text = http(200, 5, "pong");
        assert_eq!(holds("[BODY] == pong", &text), Ok(()));
        assert_eq!(
            holds("[BODY].status == UP", &text),
            Err("[BODY].status == UP (body is not JSON)".into())
        );
    }

    #[test]
    fn functions_len_has_pat_any() {
        let observed = http(201, 5, r#"{"items":[1,2,3],"name":"web-7","errors":null}"#);
        assert_eq!(holds("len([BODY].items) == 3", &observed), Ok(()));
        assert_eq!(holds("len([BODY].name) > 3", &observed), Ok(()));
        assert_eq!(holds("has([BODY].errors) == true", &observed), Ok(()));
        assert_eq!(holds("has([BODY].warnings) == false", &observed), Ok(()));
        assert_eq!(holds("[BODY].name == pat(web-*)", &observed), Ok(()));
        assert_eq!(holds("[BODY].name == pat(web-?)", &observed), Ok(()));
        assert_eq!(holds("[BODY].name != pat(db-*)", &observed), Ok(()));
        assert_eq!(holds("[STATUS] == any(200, 201, 204)", &observed), Ok(()));
        assert_eq!(
            holds("[STATUS] == any(200, 204)", &observed),
            Err("[STATUS] == any(200, 204) (201)".into())
        );
        assert_eq!(holds("[STATUS] != any(500, 502)", &observed), Ok(()));
        assert_eq!(holds("len([BODY]) > 10", &observed), Ok(()));
    }

    #[test]
    fn certificate_expiration_compares_with_durations_and_connected_with_booleans() {
        let observed = http(200, 5, "");
        assert_eq!(holds("[CERTIFICATE_EXPIRATION] > 48h", &observed), Ok(()));
        assert_eq!(
            holds("[CERTIFICATE_EXPIRATION] > 7d", &observed),
            Err("[CERTIFICATE_EXPIRATION] > 7d (3days)".into())
        );
        assert_eq!(holds("[CONNECTED] == true", &observed), Ok(()));
        let refused = Observed::default();
        assert_eq!(
            holds("[CONNECTED] == true", &refused),
            Err("[CONNECTED] == true (false)".into())
        );
        assert_eq!(
            holds("[CERTIFICATE_EXPIRATION] > 48h", &refused),
            Err("[CERTIFICATE_EXPIRATION] > 48h (no TLS certificate)".into())
        );
    }

    #[test]
    fn parse_errors_point_at_the_offending_character() {
        let cases = [
            ("[STATUS] 200", 12, "missing operator"),
            ("[STAUTS] == 200", 0, "unknown placeholder [STAUTS]"),
            ("[STATUS].code == 200", 8, "only [BODY] takes a JSON path"),
            (
                "[BODY].items[x] == 1",
                13,
                "array index \"x\" is not a number",
            ),
            ("[BODY]..a == 1", 6, "empty field name"),
            ("[BODY].items[0 == 1", 12, "missing ']'"),
            ("len([BODY] > 1", 3, "missing ')'"),
            ("size([BODY]) > 1", 0, "unknown function size()"),
            ("pat([BODY]) == x", 0, "pat) belongs on the right side"),
            (
                "[STATUS] < any(1, 2)",
                11,
                "any() and pat() work only with == and !=",
            ),
            ("[STATUS] == ", 12, "nothing to compare with after =="),
            ("[STATUS] == [BODY]", 12, "the right side must be a value"),
            (" == 200", 1, "missing the left side"),
            ("[STATUS] == any(1,,2)", 16, "any() needs values"),
        ];
        for (text, offset, message) in cases {
            let error = Condition::parse(text).unwrap_err();
            assert!(
                error.message.starts_with(message) || error.message.contains(message),
                "{text}: {error:?}"
            );
            assert_eq!(error.offset, offset, "{text}: {error:?}");
        }
    }

    #[test]
    fn every_operator_parses() {
        for (symbol, operator) in OPERATORS {
            let condition = Condition::parse(&format!("[STATUS] {symbol} 200")).unwrap();
            assert_eq!(condition.operator, operator);
        }
    }

    #[test]
    fn globs_match_like_shells() {
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("a*d", "abc"));
    }
}
