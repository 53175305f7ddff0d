//! The mutating side of the API: bearer-token auth, pause/resume, unquarantine, heal, and
//! the Alertmanager webhook receiver.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::{ApiState, error};

/// Why a control request did not work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// No such policy or target.
    NotFound(String),
    /// The request conflicts with the target's state (e.g. healing a quarantined target).
    Conflict(String),
    /// The controller cannot answer now (restarting, shutting down).
    Unavailable(String),
}

impl ControlError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound(message) => error(StatusCode::NOT_FOUND, message),
            Self::Conflict(message) => error(StatusCode::CONFLICT, message),
            Self::Unavailable(message) => error(StatusCode::SERVICE_UNAVAILABLE, message),
        }
    }
}

/// What an operator asks the controller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlRequest {
    /// Pause (`true`) or resume a policy.
    Pause {
        /// The policy.
        policy: String,
        /// Pause or resume.
        paused: bool,
    },
    /// Release a quarantined target (in one policy, or every policy).
    Unquarantine {
        /// Target name or ID prefix.
        target: String,
        /// Only this policy.
        policy: Option<String>,
    },
    /// Turn healing of one target off (`true`) or back on, in every policy, persistently.
    Disable {
        /// Target name or ID prefix.
        target: String,
        /// Off or on.
        disabled: bool,
    },
    /// Remediate a target now, whatever its state (the next rung of its ladder).
    Heal {
        /// Target name or ID prefix.
        target: String,
        /// Only this policy.
        policy: Option<String>,
    },
}

/// One alert of an Alertmanager webhook (payload version 4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertNotice {
    /// `firing` or `resolved`.
    pub status: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// Alertmanager's identity of the alert.
    #[serde(default)]
    pub fingerprint: String,
    /// When it started firing (RFC 3339).
    #[serde(default)]
    pub starts_at: String,
}

/// The webhook body (payload version 4); fields hale does not use are ignored.
#[derive(Debug, Deserialize)]
struct Webhook {
    version: String,
    alerts: Vec<AlertNotice>,
}

/// The controller, as the API sees it: implemented by `hale run` over its actors.
pub trait Control: Send + Sync + 'static {
    /// Carries out a request; `Ok` says what was done.
    fn request(
        &self,
        request: ControlRequest,
    ) -> futures_util::future::BoxFuture<'static, Result<String, ControlError>>;

    /// Hands over alerts from Alertmanager (fire and forget: the receiver answers at once).
    fn alerts(&self, alerts: Vec<AlertNotice>);
}

/// Requires `Authorization: Bearer <token>` on the routes it wraps: 403 when no token is
/// configured (the control API is off), 401 when the header is missing or wrong.
pub async fn require_token(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = &state.token else {
        return error(
            StatusCode::FORBIDDEN,
            "the control API is disabled: start `hale run` with --api-token-file to enable it"
                .to_owned(),
        );
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <the --api-token-file token>)"
                .to_owned(),
        );
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    if let Some(refusal) = cross_origin(&headers) {
        return error(StatusCode::FORBIDDEN, refusal);
    }
    next.run(request).await
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

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` are accepted, as every HTTP client may send
/// them.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Compares without revealing, through timing, how much of a secret matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Optional `?policy=` of the target routes.
#[derive(Debug, Default, Deserialize)]
pub struct PolicyFilter {
    policy: Option<String>,
}

async fn run(state: &ApiState, request: ControlRequest) -> Response {
    match state.control.request(request).await {
        Ok(done) => Json(json!({ "result": done })).into_response(),
        Err(failure) => failure.into_response(),
    }
}

/// `POST /api/v1/policies/{name}/pause`.
#[utoipa::path(post, path = "/api/v1/policies/{name}/pause", tag = "controls", security(("bearer" = [])), params(("name" = String, Path, description = "The policy")), responses((status = 200, description = "Paused: assessed, nothing decided until resumed"), (status = 401, description = "Missing or wrong token"), (status = 403, description = "The control API is off, or a cross-origin request"), (status = 404, description = "No such policy")))]
pub async fn pause(State(state): State<ApiState>, Path(policy): Path<String>) -> Response {
    run(
        &state,
        ControlRequest::Pause {
            policy,
            paused: true,
        },
    )
    .await
}

/// `POST /api/v1/policies/{name}/resume`.
#[utoipa::path(post, path = "/api/v1/policies/{name}/resume", tag = "controls", security(("bearer" = [])), params(("name" = String, Path, description = "The policy")), responses((status = 200, description = "Resumed"), (status = 401, description = "Missing or wrong token"), (status = 404, description = "No such policy")))]
pub async fn resume(State(state): State<ApiState>, Path(policy): Path<String>) -> Response {
    run(
        &state,
        ControlRequest::Pause {
            policy,
            paused: false,
        },
    )
    .await
}

/// `POST /api/v1/targets/{id}/unquarantine[?policy=]`.
#[utoipa::path(post, path = "/api/v1/targets/{name}/unquarantine", tag = "controls", security(("bearer" = [])), params(("name" = String, Path, description = "Target name or ID prefix"), ("policy" = Option<String>, Query, description = "Only in this policy")), responses((status = 200, description = "Released"), (status = 401, description = "Missing or wrong token"), (status = 404, description = "Not quarantined")))]
pub async fn unquarantine(
    State(state): State<ApiState>,
    Path(target): Path<String>,
    axum::extract::Query(filter): axum::extract::Query<PolicyFilter>,
) -> Response {
    let request = ControlRequest::Unquarantine {
        target,
        policy: filter.policy,
    };
    run(&state, request).await
}

/// `POST /api/v1/targets/{id}/heal[?policy=]`.
#[utoipa::path(post, path = "/api/v1/targets/{name}/heal", tag = "controls", security(("bearer" = [])), params(("name" = String, Path, description = "Target name or ID prefix"), ("policy" = Option<String>, Query, description = "Only in this policy")), responses((status = 200, description = "Healing now: the next rung of its ladder"), (status = 401, description = "Missing or wrong token"), (status = 404, description = "No such target"), (status = 409, description = "Quarantined, paused, disabled, or an action is running")))]
pub async fn heal(
    State(state): State<ApiState>,
    Path(target): Path<String>,
    axum::extract::Query(filter): axum::extract::Query<PolicyFilter>,
) -> Response {
    let request = ControlRequest::Heal {
        target,
        policy: filter.policy,
    };
    run(&state, request).await
}

/// `POST /api/v1/targets/{id}/disable`: healing of the target off, in every policy.
#[utoipa::path(post, path = "/api/v1/targets/{name}/disable", tag = "controls", security(("bearer" = [])), params(("name" = String, Path, description = "Target name or ID prefix")), responses((status = 200, description = "Healing of the target is off in every policy (persisted)"), (status = 401, description = "Missing or wrong token"), (status = 404, description = "No such target")))]
pub async fn disable(State(state): State<ApiState>, Path(target): Path<String>) -> Response {
    let request = ControlRequest::Disable {
        target,
        disabled: true,
    };
    run(&state, request).await
}

/// `POST /api/v1/targets/{id}/enable`: healing of the target back on.
#[utoipa::path(post, path = "/api/v1/targets/{name}/enable", tag = "controls", security(("bearer" = [])), params(("name" = String, Path, description = "Target name or ID prefix")), responses((status = 200, description = "Healing of the target is back on"), (status = 401, description = "Missing or wrong token"), (status = 404, description = "No such target")))]
pub async fn enable(State(state): State<ApiState>, Path(target): Path<String>) -> Response {
    let request = ControlRequest::Disable {
        target,
        disabled: false,
    };
    run(&state, request).await
}

/// `POST /api/v1/alertmanager`: Alertmanager's webhook. Alerts only select policies and
/// targets; nothing in a payload is ever run or used as a command.
#[utoipa::path(post, path = "/api/v1/alertmanager", tag = "alerts", security(("bearer" = [])), request_body(content_type = "application/json", description = "Alertmanager webhook payload, version 4"), responses((status = 200, description = "Accepted"), (status = 400, description = "Not a version 4 payload"), (status = 401, description = "Missing or wrong token")))]
pub async fn alertmanager(State(state): State<ApiState>, body: axum::body::Bytes) -> Response {
    match parse_webhook(&body) {
        Ok(alerts) => {
            let count = alerts.len();
            state.control.alerts(alerts);
            Json(json!({ "accepted": count })).into_response()
        }
        Err(problem) => error(StatusCode::BAD_REQUEST, problem.to_string()),
    }
}

/// Why a webhook body was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not JSON of the webhook's shape.
    #[error("not an Alertmanager webhook payload: {0}")]
    Unreadable(#[from] serde_json::Error),
    /// A payload version other than 4.
    #[error("unsupported webhook payload version {0:?}: hale reads version \"4\"")]
    Version(String),
    /// An alert neither firing nor resolved.
    #[error("alert status {0:?} is neither \"firing\" nor \"resolved\"")]
    Status(String),
}

/// Reads an Alertmanager webhook body (payload version 4) into its alerts: pure, so the
/// receiver's parsing is tested (and fuzzed) without a server.
///
/// # Errors
/// [`WebhookError`]: not the webhook's JSON, another version, or an unknown alert status.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<AlertNotice>, WebhookError> {
    let webhook: Webhook = serde_json::from_slice(body)?;
    if webhook.version != "4" {
        return Err(WebhookError::Version(webhook.version));
    }
    if let Some(bad) = webhook
        .alerts
        .iter()
        .find(|a| a.status != "firing" && a.status != "resolved")
    {
        return Err(WebhookError::Status(bad.status.clone()));
    }
    Ok(webhook.alerts)
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, cross_origin};
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
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
