//! `GET /api/v1/fleet/targets`: every node's targets, on a node running with `--fleet`.
//!
//! The API knows nothing of Redis: `hale run` hands it a [`FleetTargets`] source that
//! reads the fleet's status keys (bounded, so a silent Redis answers 503 in seconds, never
//! a hung request). Without `--fleet` there is no source and the route answers 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::{ApiState, error};

/// Why the fleet's view could not be read: the message says what failed and how to fix
/// it (never the Redis password).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FleetViewError(pub String);

/// Where the fleet's status view comes from: implemented by `hale run --fleet` over the
/// fleet's Redis.
pub trait FleetTargets: Send + Sync + 'static {
    /// This node's name in the fleet (the overview says it, so the dashboard knows which
    /// of the fleet's targets are its own).
    fn node(&self) -> &str;

    /// Every node's targets, as `{"kind": "FleetTargetList", "nodes": [...], "items":
    /// [...]}` (what `hale get targets --fleet -o json` prints).
    fn targets(
        &self,
    ) -> futures_util::future::BoxFuture<'static, Result<serde_json::Value, FleetViewError>>;
}

/// `GET /api/v1/fleet/targets`.
#[utoipa::path(get, path = "/api/v1/fleet/targets", tag = "targets", responses(
    (status = 200, description = "Fleet mode: every node's targets (each item with its `node`), and which nodes are in the view with when each last published (`stale` after two periods of silence)", content_type = "application/json"),
    (status = 404, description = "Not in fleet mode: this hale runs without --fleet"),
    (status = 503, description = "The fleet's Redis does not answer, or refuses (a wrong password)"),
))]
pub async fn targets(State(state): State<ApiState>) -> Response {
    let Some(fleet) = &state.fleet else {
        return error(
            StatusCode::NOT_FOUND,
            "not in fleet mode: this hale runs without --fleet, so it has no fleet view (see GET /api/v1/targets for its own)".to_owned(),
        );
    };
    match fleet.targets().await {
        Ok(view) => Json(view).into_response(),
        Err(failure) => error(StatusCode::SERVICE_UNAVAILABLE, failure.0),
    }
}
