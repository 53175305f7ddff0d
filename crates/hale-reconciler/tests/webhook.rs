//! The webhook action against a real HTTP server on loopback: retries on 5xx and 429
//! (honouring Retry-After), no retry on other 4xx, templated bodies, secret headers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hale_policy::WebhookAction;
use hale_reconciler::{WebhookContext, send_webhook};

/// What the server received, and the statuses it answers with, in order.
#[derive(Default)]
struct Script {
    answers: Vec<(u16, Option<&'static str>)>,
    received: Vec<(Instant, HeaderMap, String)>,
}

type Shared = Arc<Mutex<Script>>;

async fn hook(State(script): State<Shared>, headers: HeaderMap, body: String) -> impl IntoResponse {
    let mut script = script.lock().unwrap();
    script.received.push((Instant::now(), headers, body));
    let (status, retry_after) = if script.answers.is_empty() {
        (200, None)
    } else {
        script.answers.remove(0)
    };
    let mut response = (StatusCode::from_u16(status).unwrap(), "answer").into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.parse().unwrap());
    }
    response
}

async fn server(answers: Vec<(u16, Option<&'static str>)>) -> (String, Shared) {
    let script: Shared = Arc::new(Mutex::new(Script {
        answers,
        received: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(Arc::clone(&script));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, script)
}

fn webhook(yaml_fields: &str, url: &str) -> WebhookAction {
    serde_saphyr::from_str(&format!("url: {url}\n{yaml_fields}")).unwrap()
}

fn context() -> WebhookContext {
    WebhookContext {
        policy: "web".into(),
        target: "shop-1".into(),
        target_id: "0123abcd".into(),
        reason: "probe http failed: HTTP 503".into(),
    }
}

#[tokio::test]
async fn a_successful_post_carries_the_templated_body_and_secret_header() {
    let (url, script) = server(vec![]).await;
    let secret_dir = tempfile::tempdir().unwrap();
    let token = secret_dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let action = webhook(
        &format!(
            "headers: [{{name: Authorization, valueFrom: {{fromFile: {}}}}}]\nbody: '{{\"target\": \"{{{{target}}}}\", \"why\": \"{{{{reason}}}}\"}}'\n",
            token.display()
        ),
        &url,
    );
    let result = send_webhook(
        &hale_core::http_client::ClientCache::new(),
        &action,
        &context(),
    )
    .await
    .map_err(|error| error.to_string());
    assert_eq!(result, Ok("HTTP 200".to_owned()));
    let script = script.lock().unwrap();
    let (_, headers, body) = &script.received[0];
    assert_eq!(headers["authorization"], "s3cret");
    assert_eq!(headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["target"], "shop-1");
    assert_eq!(body["why"], "probe http failed: HTTP 503");
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let (url, script) = server(vec![(503, None), (502, None)]).await;
    let action = webhook("retries: 3\n", &url);
    let result = send_webhook(
        &hale_core::http_client::ClientCache::new(),
        &action,
        &context(),
    )
    .await
    .map_err(|error| error.to_string());
    assert_eq!(result, Ok("HTTP 200".to_owned()));
    assert_eq!(script.lock().unwrap().received.len(), 3);
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let (url, script) = server(vec![(429, Some("2"))]).await;
    let action = webhook("retries: 1\n", &url);
    let result = send_webhook(
        &hale_core::http_client::ClientCache::new(),
        &action,
        &context(),
    )
    .await
    .map_err(|error| error.to_string());
    assert_eq!(result, Ok("HTTP 200".to_owned()));
    let script = script.lock().unwrap();
    let gap = script.received[1].0 - script.received[0].0;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
}

#[tokio::test]
async fn a_client_error_is_final_and_reported() {
    let (url, script) = server(vec![(404, None)]).await;
    let action = webhook("retries: 3\n", &url);
    let result = send_webhook(
        &hale_core::http_client::ClientCache::new(),
        &action,
        &context(),
    )
    .await
    .map_err(|error| error.to_string());
    assert_eq!(result, Err(format!("HTTP 404 from {url}: answer")));
    assert_eq!(script.lock().unwrap().received.len(), 1);
}

#[tokio::test]
async fn retries_run_out() {
    let (url, script) = server(vec![(500, None), (500, None), (500, None)]).await;
    let action = webhook("retries: 1\n", &url);
    let result = send_webhook(
        &hale_core::http_client::ClientCache::new(),
        &action,
        &context(),
    )
    .await
    .map_err(|error| error.to_string());
    assert_eq!(result, Err(format!("HTTP 500 from {url}: answer")));
    assert_eq!(script.lock().unwrap().received.len(), 2);
}

#[tokio::test]
async fn an_https_webhook_signed_by_a_private_ca_is_reached_with_tls_ca_file_only() {
    let pki = hale_fakes::tls::Pki::new();
    let (port, requests) = pki.serve(false).await;
    let url = format!("https://localhost:{port}/hook");
    let clients = hale_core::http_client::ClientCache::new();

    let trusted = webhook(
        &format!(
            "retries: 0\ntls: {{caFile: {}}}\n",
            pki.file("ca.pem").display()
        ),
        &url,
    );
    let answer = send_webhook(&clients, &trusted, &context()).await;
    assert_eq!(answer.unwrap(), "HTTP 200");
    assert_eq!(requests.lock().unwrap().as_slice(), ["POST /hook HTTP/1.1"]);

    let untrusted = webhook("retries: 0\n", &url);
    let error = send_webhook(&clients, &untrusted, &context())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(requests.lock().unwrap().len(), 1, "no request got through");
}
