//! Acknowledging: an exact-match silence in Alertmanager, created by an operator (`POST
//! /api/v1/ack`, bearer token) or by confirming a signed link from a notification (`GET
//! /api/v1/ack/link?...` asks, `POST /api/v1/ack/confirm?...` silences). Links carry an HMAC-SHA256 signature over what they silence, for
//! how long, and until when the link is valid, so a link in a chat message can be neither
//! forged nor used after it expires.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hale_core::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::{ApiError, ApiState, error};

/// How long an acknowledgement lasts when none is given.
const DEFAULT_ACK: Duration = Duration::from_secs(2 * 3600);

/// The longest acknowledgement hale creates.
const MAX_ACK: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a signed link stays valid when none is given.
const DEFAULT_LINK_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// What acknowledging needs.
#[derive(Clone)]
pub struct AckConfig {
    /// Alertmanager's base URL, e.g. `http://127.0.0.1:9093`.
    pub alertmanager: String,
    /// The key links are signed with.
    pub key: ring::hmac::Key,
    /// The base URL people reach this API at, for the links.
    pub public_url: String,
    /// The client for Alertmanager.
    pub http: reqwest::Client,
}

/// `POST /api/v1/ack` and `POST /api/v1/ack/link` bodies.
#[derive(Debug, Deserialize)]
pub struct AckRequest {
    /// The alert labels to match exactly, e.g. `{alertname: ContainerDown, container: db}`.
    labels: BTreeMap<String, String>,
    /// How long: `30m`, `2h`, `24h`, ... Default: 2h.
    #[serde(default)]
    duration: Option<String>,
    /// Why, for the silence's comment.
    #[serde(default)]
    comment: Option<String>,
    /// Who, for the silence's `createdBy`.
    #[serde(default)]
    by: Option<String>,
    /// For links: how long the link stays valid. Default: 24h.
    #[serde(default)]
    valid_for: Option<String>,
}

/// A silence or link duration that cannot be used.
#[derive(Debug, thiserror::Error)]
enum AckDurationError {
    /// Not a duration at all.
    #[error("duration {text:?}: {source}")]
    Unreadable {
        /// The duration as sent.
        text: String,
        /// Why it does not parse.
        source: hale_policy::DurationParseError,
    },
    /// Zero, or longer than a silence hale will set.
    #[error("duration {text:?} must be between 1s and 7d")]
    OutOfRange {
        /// The duration as sent.
        text: String,
    },
}

fn parse_duration(text: Option<&str>, default: Duration) -> Result<Duration, AckDurationError> {
    let Some(text) = text else {
        return Ok(default);
    };
    let duration: hale_policy::Duration =
        text.parse()
            .map_err(|source| AckDurationError::Unreadable {
                text: text.to_owned(),
                source,
            })?;
    let duration = duration.as_std();
    if duration.is_zero() || duration > MAX_ACK {
        return Err(AckDurationError::OutOfRange {
            text: text.to_owned(),
        });
    }
    Ok(duration)
}

fn config(state: &ApiState) -> Result<&AckConfig, ApiError> {
    state.ack.as_ref().ok_or_else(|| {
        ApiError(
            StatusCode::FORBIDDEN,
            "acknowledging is disabled: start `hale run` with --alertmanager-url".to_owned(),
        )
    })
}

/// Creates the silence; returns its ID.
async fn silence(
    config: &AckConfig,
    labels: &BTreeMap<String, String>,
    duration: Duration,
    by: &str,
    comment: &str,
) -> Result<String, ApiError> {
    if labels.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "an acknowledgement needs at least one label to match".to_owned(),
        ));
    }
    let now = Timestamp::now();
    let matchers: Vec<_> = labels
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value, "isRegex": false, "isEqual": true}))
        .collect();
    let body = json!({
        "matchers": matchers,
        "startsAt": now.to_string(),
        "endsAt": now.plus(duration).to_string(),
        "createdBy": by,
        "comment": comment,
    });
    let url = format!(
        "{}/api/v2/silences",
        config.alertmanager.trim_end_matches('/')
    );
    let response = config
        .http
        .post(&url)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::BAD_GATEWAY,
                format!(
                    "cannot reach Alertmanager at {url}: {}",
                    hale_core::error_chain(&e)
                ),
            )
        })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(ApiError(
            StatusCode::BAD_GATEWAY,
            format!(
                "Alertmanager refused the silence (HTTP {}): {}",
                status.as_u16(),
                text.trim()
            ),
        ));
    }
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("silenceID")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            ApiError(
                StatusCode::BAD_GATEWAY,
                format!("Alertmanager's answer has no silenceID: {}", text.trim()),
            )
        })
}

/// `POST /api/v1/ack` (bearer token): silence now.
#[utoipa::path(post, path = "/api/v1/ack", tag = "alerts", security(("bearer" = [])), request_body(content_type = "application/json", description = "{labels, duration (30m, 2h, 24h), comment, by}"), responses((status = 200, description = "Silenced in Alertmanager; the silence ID"), (status = 401, description = "Missing or wrong token"), (status = 502, description = "Alertmanager refused or is unreachable"), (status = 503, description = "No Alertmanager configured")))]
pub async fn ack(
    State(state): State<ApiState>,
    crate::body::JsonBody(request): crate::body::JsonBody<AckRequest>,
) -> Response {
    let config = match config(&state) {
        Ok(config) => config,
        Err(response) => return response.into_response(),
    };
    let duration = match parse_duration(request.duration.as_deref(), DEFAULT_ACK) {
        Ok(duration) => duration,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem.to_string()),
    };
    let by = request.by.as_deref().unwrap_or("hale ack");
    let comment = request
        .comment
        .as_deref()
        .unwrap_or("acknowledged through hale");
    match silence(config, &request.labels, duration, by, comment).await {
        Ok(id) => {
            let ends_at = Timestamp::now().plus(duration).to_string();
            Json(json!({
                "result": format!("silenced in Alertmanager until {ends_at} (silence {id})"),
                "silenceID": id,
                "endsAt": ends_at,
            }))
            .into_response()
        }
        Err(response) => response.into_response(),
    }
}

/// The signed part of a link.
fn payload(labels: &str, duration: &str, expires: u64) -> String {
    format!("{labels}|{duration}|{expires}")
}

fn sign(key: &ring::hmac::Key, payload: &str) -> String {
    let tag = ring::hmac::sign(key, payload.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// A signed link that silences `labels` for `duration` when opened before `expires`.
pub fn signed_link(
    config: &AckConfig,
    labels: &BTreeMap<String, String>,
    duration: &str,
    expires: Timestamp,
) -> String {
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(labels).unwrap_or_default());
    let expires = expires.0 / 1000;
    let signature = sign(&config.key, &payload(&encoded, duration, expires));
    let link = LinkQuery {
        l: encoded,
        d: duration.to_owned(),
        e: expires,
        s: signature,
    };
    format!(
        "{}/api/v1/ack/link?{}",
        config.public_url.trim_end_matches('/'),
        query_string(&link)
    )
}

/// `POST /api/v1/ack/link` (bearer token): mint a signed link.
#[utoipa::path(post, path = "/api/v1/ack/link", tag = "alerts", security(("bearer" = [])), request_body(content_type = "application/json", description = "{labels, duration, validFor}"), responses((status = 200, description = "A signed acknowledgement link"), (status = 401, description = "Missing or wrong token")))]
pub async fn mint(
    State(state): State<ApiState>,
    crate::body::JsonBody(request): crate::body::JsonBody<AckRequest>,
) -> Response {
    let config = match config(&state) {
        Ok(config) => config,
        Err(response) => return response.into_response(),
    };
    let duration = request.duration.unwrap_or_else(|| "2h".to_owned());
    if let Err(problem) = parse_duration(Some(&duration), DEFAULT_ACK) {
        return error(StatusCode::BAD_REQUEST, problem.to_string());
    }
    let validity = match parse_duration(request.valid_for.as_deref(), DEFAULT_LINK_VALIDITY) {
        Ok(validity) => validity,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem.to_string()),
    };
    let expires = Timestamp::now().plus(validity);
    Json(json!({
        "url": signed_link(config, &request.labels, &duration, expires),
        "expiresAt": expires.to_string(),
    }))
    .into_response()
}

/// The query of a signed link.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    l: String,
    d: String,
    e: u64,
    s: String,
}

/// Checks a signed link: genuine and not expired.
fn verify(config: &AckConfig, link: &LinkQuery) -> Result<(), ApiError> {
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&link.s);
    let genuine = tag.is_ok_and(|tag| {
        ring::hmac::verify(
            &config.key,
            payload(&link.l, &link.d, link.e).as_bytes(),
            &tag,
        )
        .is_ok()
    });
    if !genuine {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "this acknowledgement link is not genuine (bad signature)".to_owned(),
        ));
    }
    if Timestamp::now().0 / 1000 > link.e {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "this acknowledgement link has expired; ask hale for a new one (`hale ack`)".to_owned(),
        ));
    }
    Ok(())
}

/// What a signed link asks for, read back from its URL and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedLink {
    /// The alert labels the silence matches.
    pub labels: BTreeMap<String, String>,
    /// How long the silence lasts, as written when the link was made.
    pub duration: String,
    /// Until when the link can be used (whole seconds).
    pub expires: Timestamp,
}

/// Why a link's URL does not open.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Not a URL, or its query lacks `l`, `d`, `e` or `s`.
    #[error("not an acknowledgement link: {0}")]
    Unreadable(String),
    /// Forged, tampered with or expired.
    #[error("{0}")]
    Refused(String),
    /// Genuine, but the labels inside do not decode.
    #[error("the link's labels are unreadable")]
    Labels,
}

/// Reads a link made by [`signed_link`] as the server does (the same query parser, the
/// same signature and expiry check): the other half of the round trip, for tests.
///
/// # Errors
/// [`LinkError`]: unreadable, refused, or labels that do not decode.
pub fn open_link(config: &AckConfig, url: &str) -> Result<OpenedLink, LinkError> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e: axum::http::uri::InvalidUri| LinkError::Unreadable(e.to_string()))?;
    let Query(link) =
        Query::<LinkQuery>::try_from_uri(&uri).map_err(|e| LinkError::Unreadable(e.body_text()))?;
    verify(config, &link).map_err(|ApiError(_, why)| LinkError::Refused(why))?;
    let labels = decode_labels(&link.l).ok_or(LinkError::Labels)?;
    Ok(OpenedLink {
        labels,
        duration: link.d,
        expires: Timestamp(link.e.saturating_mul(1000)),
    })
}

/// The link's query, every value URL-encoded: the duration is free text from the request
/// (`1h 30m` has a space, and `&` or `#` would cut the link short).
fn query_string(link: &LinkQuery) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("l", &link.l)
        .append_pair("d", &link.d)
        .append_pair("e", &link.e.to_string())
        .append_pair("s", &link.s)
        .finish()
}

/// `GET /api/v1/ack/link?...`: a signed link, opened. It only asks for confirmation: link
/// scanners and chat unfurlers open every URL in a message, and must not silence anything.
#[utoipa::path(get, path = "/api/v1/ack/link", tag = "alerts", params(("l" = String, Query, description = "Labels"), ("d" = String, Query, description = "Duration"), ("e" = u64, Query, description = "Link expiry"), ("s" = String, Query, description = "Signature")), responses((status = 200, description = "A page asking to confirm", content_type = "text/html"), (status = 403, description = "Forged or expired")))]
pub async fn open(State(state): State<ApiState>, Query(link): Query<LinkQuery>) -> Response {
    let config = match config(&state) {
        Ok(config) => config,
        Err(response) => return response.into_response(),
    };
    if let Err(refused) = verify(config, &link) {
        return refused.into_response();
    }
    let labels = decode_labels(&link.l).unwrap_or_default();
    let matched: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>hale: acknowledge</title>\n<p>Silence alerts matching <b>{}</b> for <b>{}</b>?</p>\n<form method=post action=\"/api/v1/ack/confirm?{}\"><button type=submit>Acknowledge</button></form>\n",
        html_escape(&matched.join(", ")),
        html_escape(&link.d),
        html_escape(&query_string(&link))
    );
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn decode_labels(encoded: &str) -> Option<BTreeMap<String, String>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// `POST /api/v1/ack/confirm?...`: the confirmed signed link creates the silence. The
/// signature is the authorization.
#[utoipa::path(post, path = "/api/v1/ack/confirm", tag = "alerts", params(("l" = String, Query, description = "Labels"), ("d" = String, Query, description = "Duration"), ("e" = u64, Query, description = "Link expiry"), ("s" = String, Query, description = "Signature")), responses((status = 200, description = "Silenced"), (status = 403, description = "Forged or expired")))]
pub async fn confirm(State(state): State<ApiState>, Query(link): Query<LinkQuery>) -> Response {
    let config = match config(&state) {
        Ok(config) => config,
        Err(response) => return response.into_response(),
    };
    if let Err(refused) = verify(config, &link) {
        return refused.into_response();
    }
    let Some(labels) = decode_labels(&link.l) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the link's labels are unreadable".to_owned(),
        );
    };
    let duration = match parse_duration(Some(&link.d), DEFAULT_ACK) {
        Ok(duration) => duration,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem.to_string()),
    };
    match silence(
        config,
        &labels,
        duration,
        "hale ack link",
        "acknowledged from a hale notification link",
    )
    .await
    {
        Ok(id) => (
            StatusCode::OK,
            format!(
                "Acknowledged for {}: silence {id} in Alertmanager.\n",
                link.d
            ),
        )
            .into_response(),
        Err(response) => response.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack_config() -> AckConfig {
        AckConfig {
            alertmanager: "http://127.0.0.1:9".to_owned(),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"test key"),
            public_url: "https://hale.example/".to_owned(),
            http: hale_core::http_client::ClientCache::new().system(),
        }
    }

    /// What the server reads back from a link: the query as axum's `Query` parses it.
    fn opened(link: &str) -> LinkQuery {
        let uri: axum::http::Uri = link.parse().expect("a link is a URI");
        Query::<LinkQuery>::try_from_uri(&uri)
            .expect("the server reads the link's query")
            .0
    }

    #[test]
    fn a_duration_with_url_syntax_round_trips_and_verifies() {
        let config = ack_config();
        let labels = BTreeMap::from([("alertname".to_owned(), "Down & out".to_owned())]);
        let expires = Timestamp::now().plus(Duration::from_secs(60));
        let link = signed_link(&config, &labels, "1h 30m&e=1#x+y", expires);
        assert!(!link.contains(' '), "{link}");
        let query = opened(&link);
        assert_eq!(query.d, "1h 30m&e=1#x+y");
        assert_eq!(query.e, expires.0 / 1000);
        assert!(verify(&config, &query).is_ok());
        assert_eq!(decode_labels(&query.l), Some(labels));
    }

    #[test]
    fn the_confirm_form_carries_the_same_encoded_query() {
        let config = ack_config();
        let labels = BTreeMap::from([("alertname".to_owned(), "Down".to_owned())]);
        let link = signed_link(
            &config,
            &labels,
            "1h 30m",
            Timestamp::now().plus(DEFAULT_ACK),
        );
        let query = opened(&link);
        let again = opened(&format!("/api/v1/ack/confirm?{}", query_string(&query)));
        assert_eq!(again.d, "1h 30m");
        assert!(verify(&config, &again).is_ok());
    }
}
