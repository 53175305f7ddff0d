//! hale's HTTP API, served by `hale run` (default `127.0.0.1:9009`).
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /` | version, enabled, dry-run, policies, targets by state, uptime |
//! | `GET /healthz`, `GET /readyz` | liveness; readiness (policies loaded, containers listed) |
//! | `GET /metrics` | Prometheus metrics |
//! | `GET /api/v1/events` | the audit log: `n`, `kind`, `policy`, `target`, `since`, `contains` |
//! | `GET /api/v1/events/stream` | the same as Server-Sent Events, live, with `Last-Event-ID` |
//! | `GET /api/v1/policies[/NAME]` | policies with generations and conditions |
//! | `GET /api/v1/targets[/NAME]` | targets and their states, per policy |
//! | `GET /api/v1/fleet/targets` | fleet mode: every node's targets, and which nodes publish |
//! | `POST /api/v1/policies/NAME/pause`, `.../resume` | token: pause or resume a policy |
//! | `POST /api/v1/targets/NAME/unquarantine`, `.../heal` | token: release; remediate now |
//! | `POST /api/v1/alertmanager` | token: Alertmanager's webhook (payload version 4) |
//! | `POST /api/v1/ack`, `POST /api/v1/ack/link` | token: silence in Alertmanager; mint a signed link |
//! | `GET /api/v1/ack/link?...` | a signed acknowledgement link: asks for confirmation |
//! | `POST /api/v1/ack/confirm?...` | the confirmed link silences (the signature authorizes) |
//!
//! Mutating routes need `Authorization: Bearer <token>` (`--api-token-file`); without a
//! token configured they answer 403; they are rate-limited per client address (429). With
//! a read token (`--api-read-token-file`), the read routes need it or the control token;
//! `/healthz`, `/readyz`, the OpenAPI document and the dashboard's page stay open, and
//! `/metrics` too unless `--metrics-require-token`. Event streams are capped (503 beyond).
//! Request bodies are limited to [`BODY_LIMIT`] (413); JSON that does not fit is a 400.
//! [`serve`] speaks plain HTTP or, with a [`TlsConfig`], HTTPS.

mod ack;
mod auth;
mod body;
mod control;
mod events;
mod fleet_metrics;
mod fleet_view;
mod limits;
mod metrics;
mod openapi;
mod policy_source;
mod redaction;
mod tls;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hale_core::{StatusBoard, Timestamp};
use hale_store::{AuditQuery, Store};
use serde_json::json;

pub use ack::{AckConfig, LinkError, OpenedLink, open_link, signed_link};
pub use auth::{bearer_token, tokens_match};
pub use control::{
    AlertNotice, Control, ControlError, ControlRequest, WebhookError, parse_webhook,
};
pub use fleet_metrics::FLEET_TRANSITIONS;
pub use fleet_view::{FleetTargets, FleetViewError};
pub use limits::{
    ApiLimits, ControlLimiter, DEFAULT_MAX_STREAMS, Peer, RateLimited, StreamSlots,
    StreamsExhausted, TokioClock,
};
pub use metrics::Metrics;
pub use openapi::{ApiDoc, document as openapi_document};
pub use policy_source::PolicyWrites;
pub use tls::{TlsConfig, TlsListener, TlsSetupError};
pub use ui::{ASSETS, INDEX_HTML};

/// How many audit records a policy's detail carries.
const RECENT_EVENTS: usize = 20;

/// The largest request body accepted (an Alertmanager payload with many alerts fits).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What the API reads from and acts through.
#[derive(Clone)]
pub struct ApiState {
    /// The controller's status.
    pub status: StatusBoard,
    /// The state store, for audit records.
    pub store: Arc<Store>,
    /// The audit bus, which feeds the live event stream.
    pub audit: hale_core::AuditBus,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The controller, for control requests and alerts.
    pub control: Arc<dyn Control>,
    /// The bearer token of mutating routes; `None` disables them.
    pub token: Option<String>,
    /// The bearer token of the read routes (the control token reads too); `None` leaves
    /// them open to whoever reaches the port.
    pub read_token: Option<String>,
    /// `/metrics` needs the read or the control token too.
    pub metrics_need_token: bool,
    /// The stream cap and the control rate limit.
    pub guards: Guards,
    /// Acknowledging through Alertmanager, when configured.
    pub ack: Option<AckConfig>,
    /// Where the dashboard's policy imports go, and whether they may be written.
    pub policy_writes: PolicyWrites,
    /// Fleet mode (`--fleet`): where every node's targets are read from; `None` without it.
    pub fleet: Option<Arc<dyn FleetTargets>>,
}

/// The API's limits, shared by every request.
#[derive(Debug, Clone)]
pub struct Guards {
    /// Slots for event streams.
    pub streams: StreamSlots,
    /// The control routes' rate limit.
    pub controls: ControlLimiter,
}

impl Guards {
    /// Guards enforcing `limits`.
    pub fn new(limits: &ApiLimits) -> Self {
        Self {
            streams: StreamSlots::new(limits.max_streams),
            controls: ControlLimiter::new(limits),
        }
    }
}

impl Default for Guards {
    fn default() -> Self {
        Self::new(&ApiLimits::default())
    }
}

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback address without a token.
    #[error(
        "refusing to serve the API on {0} without authentication: pass --api-token-file (and/or --api-read-token-file), or listen on loopback (e.g. 127.0.0.1:9009)"
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

/// Binds `address`; port 0 picks a free port. A non-loopback address needs a token (the
/// control or the read token: either way nothing is served to whoever reaches the port).
///
/// # Errors
/// [`ServeError`] when the address is not loopback and there is no token, or it is taken.
pub async fn bind(
    address: SocketAddr,
    has_token: bool,
) -> Result<tokio::net::TcpListener, ServeError> {
    if !address.ip().is_loopback() && !has_token {
        return Err(ServeError::NotLoopback(address));
    }
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let guarded = Router::new()
        .route("/api/v1/policies/{name}/pause", post(control::pause))
        .route("/api/v1/policies/{name}/resume", post(control::resume))
        .route(
            "/api/v1/targets/{name}/unquarantine",
            post(control::unquarantine),
        )
        .route("/api/v1/targets/{name}/heal", post(control::heal))
        .route("/api/v1/targets/{name}/disable", post(control::disable))
        .route("/api/v1/targets/{name}/enable", post(control::enable))
        .route("/api/v1/policies", post(policy_source::import))
        .route("/api/v1/alertmanager", post(control::alertmanager))
        .route("/api/v1/ack", post(ack::ack))
        .route("/api/v1/ack/link", post(ack::mint))
        // Layers run outside in: the token first, so a flood without it spends nobody's
        // rate budget.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_controls,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let reads = Router::new()
        .route("/", get(overview))
        .route("/api/v1/events", get(events::query))
        .route("/api/v1/events/stream", get(events::stream))
        .route("/api/v1/policies", get(policies))
        .route("/api/v1/policies/export", get(policy_source::export))
        .route("/api/v1/policies/validate", post(policy_source::validate))
        .route("/api/v1/policies/{name}", get(policy))
        .route("/api/v1/policies/{name}/source", get(policy_source::source))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/targets/{name}", get(target))
        .route("/api/v1/fleet/targets", get(fleet_view::targets))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_read,
        ));
    // Signed acknowledgement links: the signature authorizes; confirming is rate-limited
    // like a control.
    let links = Router::new()
        .route("/api/v1/ack/link", get(ack::open))
        .route(
            "/api/v1/ack/confirm",
            post(ack::confirm).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                limits::limit_controls,
            )),
        );
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(metrics).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::require_metrics_token,
            )),
        )
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .merge(reads)
        .merge(links)
        .merge(guarded)
        .merge(ui::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route; see GET /".to_owned()) })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(redaction::redact))
        // Outermost, so that what is compressed is the redacted answer. gzip only for a
        // client that asks (Accept-Encoding), never for the event stream (which must reach
        // the client event by event) nor an answer under 32 bytes: tower-http's defaults.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// Where the API listens: plain TCP, or TLS over it.
pub enum ApiListener {
    /// HTTP.
    Plain(tokio::net::TcpListener),
    /// HTTPS.
    Tls(TlsListener),
}

impl From<tokio::net::TcpListener> for ApiListener {
    fn from(listener: tokio::net::TcpListener) -> Self {
        Self::Plain(listener)
    }
}

impl From<TlsListener> for ApiListener {
    fn from(listener: TlsListener) -> Self {
        Self::Tls(listener)
    }
}

/// Serves the API on `listener` until `shutdown` completes. Each request knows its
/// client's address ([`Peer`]), which the control rate limit is kept by.
///
/// # Errors
/// The I/O error that stopped the server.
pub async fn serve(
    listener: impl Into<ApiListener>,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<Peer>();
    match listener.into() {
        ApiListener::Plain(listener) => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        ApiListener::Tls(listener) => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// An API error: a status and a message, answered as `{"error": message}`.
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// A JSON error body, `{"error": message}`.
pub(crate) fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

#[utoipa::path(get, path = "/", tag = "status", responses((status = 200, description = "Version, enabled, dry-run, counts of policies and targets by state, hale's own health (Docker, reload, notifier queues). Browsers asking for text/html get the dashboard instead.", content_type = "application/json")))]
async fn overview(State(state): State<ApiState>, headers: axum::http::HeaderMap) -> Response {
    if ui::wants_html(&headers) {
        let mut page = ui::page().await;
        page.headers_mut().insert(
            axum::http::header::VARY,
            axum::http::HeaderValue::from_static("Accept"),
        );
        return page;
    }
    let status = state.status.snapshot();
    let mut by_state = std::collections::BTreeMap::<String, usize>::new();
    for policy in status.policies.values() {
        for target in &policy.targets {
            *by_state.entry(target.state.clone()).or_default() += 1;
        }
    }
    let enabled = status
        .policies
        .keys()
        .any(|name| !status.paused.contains(name));
    let circuits_open: Vec<&str> = status
        .policies
        .values()
        .filter(|p| p.circuit_open.is_some())
        .map(|p| p.name.as_str())
        .collect();
    let reload_errors: Vec<String> = status
        .policies
        .values()
        .filter_map(|p| p.rejected.as_ref().map(|why| format!("{}: {why}", p.file)))
        .chain(
            status
                .rejected_files
                .iter()
                .flat_map(|f| f.errors.iter().cloned()),
        )
        .collect();
    let mut response = Json(json!({
        "name": "hale",
        "version": env!("CARGO_PKG_VERSION"),
        "enabled": enabled,
        "dryRun": status.dry_run,
        "policies": status.policies.len(),
        "paused": status.paused,
        "disabled": status.disabled,
        "targets": by_state,
        "circuitsOpen": circuits_open,
        "unselected": status.unselected.len(),
        "generations": status.policies.values().map(|p| (p.name.clone(), p.generation)).collect::<std::collections::BTreeMap<_, _>>(),
        "reloadErrors": reload_errors,
        "notifierQueues": state.metrics.notification_queues(),
        "eventKinds": hale_core::HealEventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "kindFilters": hale_core::kind_filter_names(),
        "controlsEnabled": state.token.is_some(),
        "uiWrites": state.policy_writes.allowed,
        "dockerConnected": status.docker_connected,
        "startedAt": status.started_at,
        "now": Timestamp::now(),
        "uptimeSeconds": Timestamp::now().since(status.started_at).as_secs(),
        "lastReload": status.last_reload,
        "fleet": state.fleet.as_ref().map(|fleet| json!({ "node": fleet.node() })),
    }))
    .into_response();
    response.headers_mut().insert(
        axum::http::header::VARY,
        axum::http::HeaderValue::from_static("Accept"),
    );
    response
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "status", responses((status = 200, description = "Liveness: the process answers", content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "status", responses((status = 200, description = "Ready: policies loaded and containers listed", content_type = "text/plain"), (status = 503, description = "Not ready, with what it waits for", content_type = "text/plain")))]
async fn ready(State(state): State<ApiState>) -> Response {
    let status = state.status.snapshot();
    let mut waiting = Vec::new();
    if status.last_reload.is_none() {
        waiting.push("the policy directory is not loaded yet");
    }
    if !status.docker_synced {
        waiting.push("containers have not been listed yet (is Docker reachable?)");
    }
    if waiting.is_empty() {
        (StatusCode::OK, "ready\n".to_owned()).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", waiting.join("; ")),
        )
            .into_response()
    }
}

/// OpenMetrics for scrapers that ask for it (Prometheus does), the classic text format for
/// everyone else.
#[utoipa::path(get, path = "/metrics", tag = "status", responses((status = 200, description = "Prometheus metrics (OpenMetrics when asked for)", content_type = "text/plain")))]
async fn metrics(State(state): State<ApiState>, headers: axum::http::HeaderMap) -> Response {
    let text = state.metrics.render(&state.status.snapshot());
    let openmetrics = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response()
    } else {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics::to_prometheus_text(&text),
        )
            .into_response()
    }
}

#[utoipa::path(get, path = "/api/v1/targets", tag = "targets", responses((status = 200, description = "Every target of every policy with its state, ladder step, attempts, cooldown and probes; and the containers no policy selects", content_type = "application/json")))]
async fn targets(State(state): State<ApiState>) -> Response {
    let status = state.status.snapshot();
    let items: Vec<serde_json::Value> = status
        .policies
        .values()
        .flat_map(|policy| {
            policy.targets.iter().map(move |target| {
                let mut item = serde_json::to_value(target).unwrap_or_default();
                item["policy"] = json!(policy.name);
                item
            })
        })
        .collect();
    Json(json!({ "kind": "TargetList", "items": items, "unselected": status.unselected }))
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/targets/{name}", tag = "targets", params(("name" = String, Path, description = "Container name, ID prefix, or site:<name>")), responses((status = 200, description = "The target in each policy that watches it, and its recent audit records", content_type = "application/json"), (status = 404, description = "No such target")))]
async fn target(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let status = state.status.snapshot();
    let matches: Vec<serde_json::Value> = status
        .policies
        .values()
        .flat_map(|policy| {
            policy
                .targets
                .iter()
                .filter(|t| t.name == name || (!t.id.is_empty() && t.id.starts_with(&name)))
                .map(move |target| {
                    let mut item = serde_json::to_value(target).unwrap_or_default();
                    item["policy"] = json!(policy.name);
                    item
                })
        })
        .collect();
    if matches.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no target named {name:?} in any policy (see GET /api/v1/targets)"),
        );
    }
    let store = Arc::clone(&state.store);
    let query = AuditQuery {
        target: Some(name),
        limit: RECENT_EVENTS,
        ..AuditQuery::default()
    };
    let events = tokio::task::spawn_blocking(move || store.events(&query))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Json(json!({ "policies": matches, "events": events })).into_response()
}

fn not_found(message: String) -> Response {
    error(StatusCode::NOT_FOUND, message)
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", params(("targets" = Option<bool>, Query, description = "false: leave each policy's targets out (targetCount stays)")), responses((status = 200, description = "The policies in force with generations, conditions, source file:line and targets; rejected files", content_type = "application/json")))]
async fn policies(
    State(state): State<ApiState>,
    axum::extract::Query(shape): axum::extract::Query<PolicyListShape>,
) -> Response {
    let status = state.status.snapshot();
    let items: Vec<serde_json::Value> = status
        .policies
        .values()
        .map(|policy| {
            let mut item = serde_json::to_value(policy).unwrap_or_default();
            item["targetCount"] = json!(policy.targets.len());
            if !shape.targets {
                item["targets"] = json!([]);
            }
            item
        })
        .collect();
    Json(json!({
        "kind": "PolicyList",
        "items": items,
        "rejectedFiles": status.rejected_files,
        "dryRun": status.dry_run,
        "lastReload": status.last_reload,
    }))
    .into_response()
}

/// `?targets=false` leaves each policy's targets out (their count stays): the dashboard
/// reads the targets from `/api/v1/targets` already.
#[derive(Debug, serde::Deserialize)]
struct PolicyListShape {
    #[serde(default = "yes")]
    targets: bool,
}

fn yes() -> bool {
    true
}

#[utoipa::path(get, path = "/api/v1/policies/{name}", tag = "policies", params(("name" = String, Path, description = "The policy")), responses((status = 200, description = "The policy and its recent audit records", content_type = "application/json"), (status = 404, description = "No such policy")))]
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
