//! The mutating side of the API: pause/resume, unquarantine, heal, and the Alertmanager
//! webhook receiver (their token check is in `auth`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
#[utoipa::path(post, path = "/api/v1/alertmanager", tag = "alerts", security(("bearer" = [])), request_body(content_type = "application/json", description = "Alertmanager webhook payload, version 4"), responses((status = 200, description = "Accepted"), (status = 400, description = "Not a version 4 payload, or not JSON: where and what was wrong"), (status = 401, description = "Missing or wrong token"), (status = 413, description = "Body over 1 MiB"), (status = 429, description = "Over the control rate limit; Retry-After says when to retry")))]
pub async fn alertmanager(
    State(state): State<ApiState>,
    crate::body::LimitedBody(body): crate::body::LimitedBody,
) -> Response {
    // Read here for the answer that says where the JSON is wrong; checked by the same
    // pure rules the fuzzed parse_webhook applies.
    let webhook: Webhook = match crate::body::parse_json(&body, "an Alertmanager webhook payload") {
        Ok(webhook) => webhook,
        Err(refusal) => return refusal.into_response(),
    };
    match check_webhook(webhook) {
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
    check_webhook(serde_json::from_slice(body)?)
}

/// The rules a parsed webhook must meet: version 4, every alert firing or resolved.
fn check_webhook(webhook: Webhook) -> Result<Vec<AlertNotice>, WebhookError> {
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
