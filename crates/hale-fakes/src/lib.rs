//! Test doubles for services that cannot run on a test machine.
//!
//! [`FakeCoolify`] serves the part of Coolify v4's API hale uses, as Coolify documents and
//! implements it (see `shared/reference/coolify-api.md`): bearer tokens with abilities,
//! `401 Unauthenticated.`, `400 Invalid token.`, `403 Missing required permissions`, `403
//! API is disabled.`, `404 Application not found.`, `405` for GET on the POST-only action
//! endpoints, `429` with `Retry-After` when the deployment queue is full, and "Deployment
//! already queued for this commit." when an identical deployment is queued or running.
//!
//! [`FakeDocker`] is an in-memory Docker daemon for tests of the actors (the reconciler's
//! shell under virtual time), so they run without the real one.
//!
//! Not fakes, but real services set up for tests: [`tls::Pki`] (a private CA and its
//! certificates) and [`smtp::SmtpSink`] (aiosmtpd with TLS and AUTH).

mod docker;
pub mod smtp;
pub mod tls;

pub use docker::{DockerCall, FakeDocker};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// A token the fake accepts: `Authorization: Bearer <value>`.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer value, e.g. `1|abc`.
    pub value: String,
    /// Its abilities: `read`, `deploy`, `write`, `root` (all).
    pub abilities: Vec<String>,
    /// Whether it belongs to a team (a token without one gets `400 Invalid token.`).
    pub team: bool,
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `GET`, `POST` ...
    pub method: String,
    /// The path, e.g. `/api/v1/applications/app-1/restart`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// When the fake received it (the test's own clock: the fake runs in the test's
    /// process), so a test can order requests against what it did (stopped Redis, cut a
    /// node off).
    pub at: std::time::Instant,
}

/// A deployment in the fake's queue (Coolify's `ApplicationDeploymentQueue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its UUID.
    pub deployment_uuid: String,
    /// The application's UUID.
    pub application_uuid: String,
    /// `queued`, `in_progress`, `finished`, `failed` or `cancelled-by-user`.
    pub status: String,
    /// True for `/restart`.
    pub restart_only: bool,
    /// True when `force=true` was asked.
    pub force_rebuild: bool,
}

impl Deployment {
    fn running(&self) -> bool {
        self.status == "queued" || self.status == "in_progress"
    }
}

#[derive(Debug, Clone)]
struct Application {
    id: u64,
    name: String,
    /// Coolify's `fqdn`: comma-separated URLs, or `None` (JSON `null`) for no domain.
    fqdn: Option<String>,
}

#[derive(Debug, Default)]
struct World {
    applications: BTreeMap<String, Application>,
    tokens: Vec<Token>,
    api_disabled: bool,
    deployments: Vec<Deployment>,
    /// `/deploy` answers 429 this many more times, with this `Retry-After`.
    queue_full: Option<(u32, u64)>,
    requests: Vec<Recorded>,
    next_id: u64,
}

impl World {
    fn fresh_uuid(&mut self) -> String {
        self.next_id += 1;
        format!("dpl{:021}", self.next_id)
    }

    fn queue(&mut self, application: &str, restart_only: bool, force: bool) -> String {
        let deployment_uuid = self.fresh_uuid();
        self.deployments.push(Deployment {
            deployment_uuid: deployment_uuid.clone(),
            application_uuid: application.to_owned(),
            status: "queued".to_owned(),
            restart_only,
            force_rebuild: force,
        });
        deployment_uuid
    }

    fn already_queued(&self, application: &str) -> bool {
        self.deployments
            .iter()
            .any(|d| d.application_uuid == application && d.running())
    }

    fn to_json(&self, deployment: &Deployment) -> Value {
        let app = self.applications.get(&deployment.application_uuid);
        json!({
            "id": self.deployments.iter().position(|d| d == deployment).unwrap_or(0) + 1,
            "application_id": app.map_or_else(String::new, |a| a.id.to_string()),
            "deployment_uuid": deployment.deployment_uuid,
            "pull_request_id": 0,
            "force_rebuild": deployment.force_rebuild,
            "commit": "HEAD",
            "status": deployment.status,
            "is_webhook": false,
            "is_api": true,
            "restart_only": deployment.restart_only,
            "server_id": 0,
            "server_name": "localhost",
            "application_name": app.map_or("", |a| a.name.as_str()),
            "deployment_url": format!("/project/p/environment/e/application/{}/deployment/{}", deployment.application_uuid, deployment.deployment_uuid),
            "destination_id": "0",
            "only_this_server": false,
            "rollback": false,
            "commit_message": null,
            "created_at": "2026-11-23T10:00:00.000000Z",
            "updated_at": "2026-11-23T10:00:00.000000Z",
        })
    }
}

type Shared = Arc<Mutex<World>>;

/// A Coolify v4 API on a loopback port. Stops serving when dropped.
pub struct FakeCoolify {
    url: String,
    world: Shared,
    server: JoinHandle<()>,
}

impl Drop for FakeCoolify {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The token [`FakeCoolify::start`] accepts, with the `root` ability.
pub const GOOD_TOKEN: &str = "1|fake-root-token";

/// The application [`FakeCoolify::start`] knows.
pub const APP_UUID: &str = "qgk0w8kk8wg0s4ckgw0wcw8c";

impl FakeCoolify {
    /// Starts the fake with one application ([`APP_UUID`], named `shop`, at
    /// `https://shop.example.com`) and one token ([`GOOD_TOKEN`], ability `root`).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let world: Shared = Arc::default();
        {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            w.applications.insert(
                APP_UUID.to_owned(),
                Application {
                    id: 7,
                    name: "shop".to_owned(),
                    fqdn: Some("https://shop.example.com".to_owned()),
                },
            );
            w.tokens.push(Token {
                value: GOOD_TOKEN.to_owned(),
                abilities: vec!["root".to_owned()],
                team: true,
            });
        }
        let app = axum::Router::new()
            .route("/api/health", get(|| async { "OK" }))
            .route("/api/v1/applications/{uuid}", get(application))
            .route(
                "/api/v1/applications/{uuid}/restart",
                get(post_only).post(restart),
            )
            .route("/api/v1/deploy", get(post_only).post(deploy))
            .route("/api/v1/deployments", get(deployments))
            .route(
                "/api/v1/deployments/applications/{uuid}",
                get(application_deployments),
            )
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"message": "Not found."})),
                )
            })
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&world),
                log_request,
            ))
            .with_state(Arc::clone(&world));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Coolify");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, world, server }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (the API is under `/api/v1`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts another token.
    pub fn add_token(&self, value: &str, abilities: &[&str], team: bool) {
        self.world().tokens.push(Token {
            value: value.to_owned(),
            abilities: abilities.iter().map(|a| (*a).to_owned()).collect(),
            team,
        });
    }

    /// Adds an application (or replaces one) with this name and `fqdn`: Coolify's
    /// comma-separated list of URLs, or `None` for an application without a domain.
    pub fn add_application(&self, uuid: &str, name: &str, fqdn: Option<&str>) {
        let mut world = self.world();
        let id = world.applications.len() as u64 + 8;
        world.applications.insert(
            uuid.to_owned(),
            Application {
                id,
                name: name.to_owned(),
                fqdn: fqdn.map(str::to_owned),
            },
        );
    }

    /// Sets the domains of an application the fake knows (see [`Self::add_application`]).
    pub fn set_fqdn(&self, uuid: &str, fqdn: Option<&str>) {
        if let Some(app) = self.world().applications.get_mut(uuid) {
            app.fqdn = fqdn.map(str::to_owned);
        }
    }

    /// Turns the API off, as the instance setting does.
    pub fn disable_api(&self) {
        self.world().api_disabled = true;
    }

    /// Makes `/deploy` answer `429` with `Retry-After: retry_after` the next `times` times.
    pub fn fill_queue(&self, times: u32, retry_after: u64) {
        self.world().queue_full = Some((times, retry_after));
    }

    /// Starts a deployment as a `git push` would, in `status` (`queued` or `in_progress`);
    /// returns its UUID.
    pub fn start_deployment(&self, application: &str, status: &str) -> String {
        let mut world = self.world();
        let uuid = world.queue(application, false, false);
        if let Some(last) = world.deployments.last_mut() {
            status.clone_into(&mut last.status);
        }
        uuid
    }

    /// Finishes every queued or running deployment.
    pub fn finish_deployments(&self) {
        for deployment in &mut self.world().deployments {
            if deployment.running() {
                "finished".clone_into(&mut deployment.status);
            }
        }
    }

    /// Every deployment, oldest first.
    pub fn deployments(&self) -> Vec<Deployment> {
        self.world().deployments.clone()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.world().requests.clone()
    }
}

async fn log_request(
    State(world): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let recorded = Recorded {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        authorization: request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        at: std::time::Instant::now(),
    };
    world
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests
        .push(recorded);
    next.run(request).await
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

/// Sanctum's and Coolify's middleware, in their order: token, API enabled, ability, team.
/// Returns the refusal, if the request is refused.
fn refusal(world: &World, headers: &HeaderMap, ability: &str) -> Option<Response> {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = presented.and_then(|p| world.tokens.iter().find(|t| t.value == p)) else {
        return Some(message(StatusCode::UNAUTHORIZED, "Unauthenticated."));
    };
    if world.api_disabled {
        return Some(
            (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"success": true, "message": "API is disabled."})),
            )
                .into_response(),
        );
    }
    if !token.abilities.iter().any(|a| a == "root" || a == ability) {
        return Some(message(
            StatusCode::FORBIDDEN,
            &format!("Missing required permissions: {ability}"),
        ));
    }
    if !token.team {
        return Some(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "message": "Invalid token.",
                    "docs": "https://coolify.io/docs/api-reference/authorization",
                })),
            )
                .into_response(),
        );
    }
    None
}

fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

/// Coolify 4.2 made the action endpoints POST-only; a GET gets this.
async fn post_only() -> Response {
    let mut response = message(
        StatusCode::METHOD_NOT_ALLOWED,
        "This endpoint has changed to a POST request.",
    );
    response
        .headers_mut()
        .insert("allow", axum::http::HeaderValue::from_static("POST"));
    response
}

async fn application(
    State(world): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let world = lock(&world);
    if let Some(denied) = refusal(&world, &headers, "read") {
        return denied;
    }
    match world.applications.get(&uuid) {
        Some(app) => axum::Json(json!({
            "uuid": uuid,
            "name": app.name,
            "fqdn": app.fqdn,
            "status": if world.already_queued(&uuid) { "starting:unknown" } else { "running:healthy" },
            "build_pack": "nixpacks",
        }))
        .into_response(),
        None => message(StatusCode::NOT_FOUND, "Application not found."),
    }
}

async fn restart(
    State(world): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Response {
    let mut world = lock(&world);
    if let Some(denied) = refusal(&world, &headers, "deploy") {
        return denied;
    }
    if !world.applications.contains_key(&uuid) {
        return message(StatusCode::NOT_FOUND, "Application not found.");
    }
    if world.already_queued(&uuid) {
        return message(StatusCode::OK, "Deployment already queued for this commit.");
    }
    let deployment_uuid = world.queue(&uuid, true, false);
    axum::Json(json!({
        "message": "Restart request queued.",
        "deployment_uuid": deployment_uuid,
    }))
    .into_response()
}

async fn deploy(
    State(world): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let mut world = lock(&world);
    if let Some(denied) = refusal(&world, &headers, "deploy") {
        return denied;
    }
    let Some(uuids) = query.get("uuid").or_else(|| query.get("tag")) else {
        return message(StatusCode::BAD_REQUEST, "You must provide uuid or tag.");
    };
    if let Some((times, retry_after)) = world.queue_full
        && times > 0
    {
        world.queue_full = (times > 1).then_some((times - 1, retry_after));
        let mut response = message(
            StatusCode::TOO_MANY_REQUESTS,
            "Deployment queue is full. Please try again later.",
        );
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from(retry_after));
        return response;
    }
    let force = query.get("force").is_some_and(|f| f == "true");
    let mut answers = Vec::new();
    for uuid in uuids.split(',').map(str::trim) {
        let Some(app) = world.applications.get(uuid).cloned() else {
            continue;
        };
        let (text, deployment_uuid) = if world.already_queued(uuid) && !force {
            // Coolify answers with a fresh UUID it never stores.
            (
                "Deployment already queued for this commit.".to_owned(),
                world.fresh_uuid(),
            )
        } else {
            (
                format!("Application {} deployment queued.", app.name),
                world.queue(uuid, false, force),
            )
        };
        answers.push(json!({
            "message": text,
            "resource_uuid": uuid,
            "deployment_uuid": deployment_uuid,
        }));
    }
    if answers.is_empty() {
        return message(StatusCode::NOT_FOUND, "No resources found.");
    }
    axum::Json(json!({ "deployments": answers })).into_response()
}

async fn deployments(State(world): State<Shared>, headers: HeaderMap) -> Response {
    let world = lock(&world);
    if let Some(denied) = refusal(&world, &headers, "read") {
        return denied;
    }
    let running: Vec<Value> = world
        .deployments
        .iter()
        .filter(|d| d.running())
        .map(|d| world.to_json(d))
        .collect();
    axum::Json(Value::Array(running)).into_response()
}

async fn application_deployments(
    State(world): State<Shared>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let world = lock(&world);
    if let Some(denied) = refusal(&world, &headers, "read") {
        return denied;
    }
    if !world.applications.contains_key(&uuid) {
        return message(StatusCode::NOT_FOUND, "Application not found.");
    }
    let number = |key: &str, default: usize| {
        query
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mine: Vec<&Deployment> = world
        .deployments
        .iter()
        .rev()
        .filter(|d| d.application_uuid == uuid)
        .collect();
    let page: Vec<Value> = mine
        .iter()
        .skip(number("skip", 0))
        .take(number("take", 10))
        .map(|d| world.to_json(d))
        .collect();
    axum::Json(json!({ "count": mine.len(), "deployments": page })).into_response()
}
