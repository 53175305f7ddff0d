//! hale's HTTP API, served by `hale run` (default `127.0.0.1:9009`).
//!
//! Read-only for now: health, the policies in force with their generations and
//! Kubernetes-style conditions, their targets, and each policy's recent audit records. The
//! `hale get` and `hale describe` commands are its clients.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /healthz` | `ok` while the process serves |
//! | `GET /api/v1/policies` | `{"kind": "PolicyList", "items": [...], "rejectedFiles": [...]}` |
//! | `GET /api/v1/policies/{name}` | the policy's status plus `events` (its 20 newest audit records) |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hale_core::StatusBoard;
use hale_store::{AuditQuery, Store};
use serde_json::json;

/// How many audit records a policy's detail carries.
const RECENT_EVENTS: usize = 20;

/// What the API reads from.
#[derive(Clone)]
pub struct ApiState {
    /// The controller's status.
    pub status: StatusBoard,
    /// The state store, for audit records.
    pub store: Arc<Store>,
}

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is not a loopback one.
    #[error(
        "refusing to serve the API on {0}: it has no authentication yet, so it listens on loopback only (e.g. 127.0.0.1:9009)"
    )]
    NotLoopback(SocketAddr),
    /// The address cannot be bound.
    #[error("cannot listen on {address}: {source} (pass --listen with a free address)")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Binds `address` (loopback only); port 0 picks a free port.
///
/// # Errors
/// [`ServeError`] when the address is not loopback or is taken.
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    if !address.ip().is_loopback() {
        return Err(ServeError::NotLoopback(address));
    }
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/policies", get(policies))
        .route("/api/v1/policies/{name}", get(policy))
        .fallback(|| async { not_found("no such route; see /api/v1/policies".to_owned()) })
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes.
///
/// # Errors
/// The I/O error that stopped the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

fn not_found(message: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response()
}

async fn policies(State(state): State<ApiState>) -> Response {
    let status = state.status.snapshot();
    Json(json!({
        "kind": "PolicyList",
        "items": status.policies.values().collect::<Vec<_>>(),
        "rejectedFiles": status.rejected_files,
        "dryRun": status.dry_run,
        "lastReload": status.last_reload,
    }))
    .into_response()
}

async fn policy(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let status = state.status.snapshot();
    let Some(policy) = status.policies.get(&name) else {
        let known: Vec<&str> = status.policies.keys().map(String::as_str).collect();
        return not_found(if known.is_empty() {
            format!("no policy named {name:?}: no policy is in force")
        } else {
            format!("no policy named {name:?} (policies: {})", known.join(", "))
        });
    };
    let store = Arc::clone(&state.store);
    let query = AuditQuery {
        policy: Some(name.clone()),
        limit: RECENT_EVENTS,
        ..AuditQuery::default()
    };
    let events = match tokio::task::spawn_blocking(move || store.events(&query)).await {
        Ok(Ok(events)) => events,
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot read the audit log for the API");
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    let mut body = serde_json::to_value(policy).unwrap_or_default();
    body["events"] = serde_json::to_value(events).unwrap_or_default();
    Json(body).into_response()
}
