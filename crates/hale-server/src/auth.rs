//! Who may use the API: the control token (`--api-token-file`) for mutating routes, the
//! optional read token (`--api-read-token-file`) for the read routes, and the refusal of
//! requests a browser sends from another site.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::{ApiState, error, ui};

/// What a request's token is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// It may read and control.
    Control,
    /// It may read only.
    Read,
    /// It is missing or matches no configured token.
    Nothing,
}

/// The tokens one API accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokens<'a> {
    /// The control token; `None` turns the mutating routes off.
    pub control: Option<&'a str>,
    /// The read token; `None` leaves the read routes open.
    pub read: Option<&'a str>,
}

impl<'a> Tokens<'a> {
    fn of(state: &'a ApiState) -> Self {
        Self {
            control: state.token.as_deref(),
            read: state.read_token.as_deref(),
        }
    }

    /// What `presented` grants. Each configured token is compared, in constant time, whatever
    /// the other's result, so timing tells nothing about which one nearly matched.
    pub fn grant(&self, presented: Option<&str>) -> Grant {
        let Some(presented) = presented else {
            return Grant::Nothing;
        };
        let control = self
            .control
            .is_some_and(|token| tokens_match(presented, token));
        let read = self
            .read
            .is_some_and(|token| tokens_match(presented, token));
        if control {
            Grant::Control
        } else if read {
            Grant::Read
        } else {
            Grant::Nothing
        }
    }
}

/// Compares a presented token with the expected one in time that does not depend on how
/// much of it matched (`subtle`); only a difference of length shows.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` are accepted, as every HTTP client may send
/// them; spaces around the token are not part of it.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
}

fn unauthorized(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, message.to_owned());
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Requires the control token on the routes it wraps: 403 when none is configured (the
/// control API is off) or the token only reads, 401 when the header is missing or wrong.
pub async fn require_token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let tokens = Tokens::of(&state);
    if tokens.control.is_none() {
        return error(
            StatusCode::FORBIDDEN,
            "the control API is disabled: start `hale run` with --api-token-file to enable it"
                .to_owned(),
        );
    }
    match tokens.grant(presented(&headers)) {
        Grant::Control => {}
        Grant::Read => {
            return error(
                StatusCode::FORBIDDEN,
                "this is the read token (--api-read-token-file): controls need the --api-token-file token"
                    .to_owned(),
            );
        }
        Grant::Nothing => {
            return unauthorized(
                "missing or wrong bearer token (Authorization: Bearer <the --api-token-file token>)",
            );
        }
    }
    if let Some(refusal) = cross_origin(&headers) {
        return error(StatusCode::FORBIDDEN, refusal);
    }
    next.run(request).await
}

/// Requires the read or the control token on the read routes when `--api-read-token-file`
/// is set. The dashboard's page itself (HTML and scripts, no data) stays open: it asks for
/// the token and sends it with every read.
pub async fn require_read(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let tokens = Tokens::of(&state);
    if tokens.read.is_none() || (request.uri().path() == "/" && ui::wants_html(&headers)) {
        return next.run(request).await;
    }
    match tokens.grant(presented(&headers)) {
        Grant::Control | Grant::Read => next.run(request).await,
        Grant::Nothing => unauthorized(
            "this hale needs a token to read: Authorization: Bearer <the --api-read-token-file or --api-token-file token>",
        ),
    }
}

/// Requires the read or the control token on `/metrics` when `--metrics-require-token`
/// is set (Prometheus sends one with `authorization: {credentials_file: …}`).
pub async fn require_metrics_token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if !state.metrics_need_token {
        return next.run(request).await;
    }
    match Tokens::of(&state).grant(presented(&headers)) {
        Grant::Control | Grant::Read => next.run(request).await,
        Grant::Nothing => unauthorized(
            "/metrics needs a token (hale run --metrics-require-token): Authorization: Bearer <the --api-read-token-file or --api-token-file token>",
        ),
    }
}

/// Refuses a request a browser sent from another site. The token already travels only in
/// the `Authorization` header (never a cookie, never a URL), which a page elsewhere cannot
/// make a browser add; this is defence in depth against CSRF should a token ever be kept
/// by a browser. Clients that are not browsers (the CLI, Alertmanager) send neither header.
fn cross_origin(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|site| site == "cross-site") {
        return Some("cross-site request refused (Sec-Fetch-Site: cross-site)".to_owned());
    }
    let origin = text("origin")?;
    let host = text("host").unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    (origin_host != host).then(|| {
        format!("cross-origin request refused: Origin {origin} is not this server ({host})")
    })
}

#[cfg(test)]
mod tests {
    use super::{Grant, Tokens, bearer_token, cross_origin, tokens_match};
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_browser_request_from_another_site_is_refused() {
        // The CLI and Alertmanager send neither Origin nor Sec-Fetch-Site.
        assert_eq!(cross_origin(&headers(&[("host", "127.0.0.1:9009")])), None);
        // The dashboard itself.
        assert_eq!(
            cross_origin(&headers(&[
                ("host", "127.0.0.1:9009"),
                ("origin", "http://127.0.0.1:9009"),
                ("sec-fetch-site", "same-origin"),
            ])),
            None
        );
        assert!(
            cross_origin(&headers(&[
                ("host", "127.0.0.1:9009"),
                ("origin", "https://evil.example"),
            ]))
            .is_some_and(|m| m.contains("evil.example"))
        );
        assert!(
            cross_origin(&headers(&[
                ("host", "127.0.0.1:9009"),
                ("sec-fetch-site", "cross-site"),
            ]))
            .is_some()
        );
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_is_not() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER   abc "), Some("abc"));
        assert_eq!(bearer_token("  bEaReR\tabc"), Some("abc"));
        assert_eq!(bearer_token("Bearer ABC"), Some("ABC"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer    "), None);
        assert_eq!(bearer_token(""), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("s3cret-token", "s3cret-token"));
        assert!(!tokens_match("s3cret-tokeN", "s3cret-token"));
        assert!(!tokens_match("s3cret", "s3cret-token"));
        assert!(!tokens_match("", "s3cret-token"));
        assert!(!tokens_match("S3CRET-TOKEN", "s3cret-token"));
    }

    #[test]
    fn the_control_token_reads_and_the_read_token_only_reads() {
        let both = Tokens {
            control: Some("control-token"),
            read: Some("read-token"),
        };
        assert_eq!(both.grant(Some("control-token")), Grant::Control);
        assert_eq!(both.grant(Some("read-token")), Grant::Read);
        assert_eq!(both.grant(Some("wrong")), Grant::Nothing);
        assert_eq!(both.grant(Some("")), Grant::Nothing);
        assert_eq!(both.grant(None), Grant::Nothing);
        let read_only = Tokens {
            control: None,
            read: Some("read-token"),
        };
        assert_eq!(read_only.grant(Some("read-token")), Grant::Read);
        let none = Tokens {
            control: None,
            read: None,
        };
        // Nothing configured matches nothing, not even an empty token.
        assert_eq!(none.grant(Some("")), Grant::Nothing);
    }
}
