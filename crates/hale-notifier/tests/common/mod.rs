//! What the notifier's tests share: a local service that records requests, a sample
//! audit record and message, a sink's spec from YAML, a secret file, and the virtual clock.

#![allow(dead_code)] // each test binary uses its own part of it

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hale_core::{HealEvent, HealEventKind, TargetRef, Timestamp};
use hale_notifier::{Message, compose};
use hale_policy::{EventKind, NotifierSpec};

/// What the local service received: (path, headers, body).
pub type Received = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// A local service answering every request with `answer(path, body)`.
pub async fn service(answer: fn(&str, &str) -> Response) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::post(
                move |State(received): State<Received>,
                      Path(path): Path<String>,
                      headers: HeaderMap,
                      body: String| async move {
                    received
                        .lock()
                        .unwrap()
                        .push((path.clone(), headers, body.clone()));
                    answer(&path, &body)
                },
            ),
        )
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

pub fn event(kind: HealEventKind, target: &str) -> HealEvent {
    let mut event = HealEvent::new(
        Timestamp::now(),
        kind,
        "web",
        Some(&TargetRef {
            id: "0123456789abcdef".into(),
            name: target.into(),
        }),
        "probe http failed: HTTP 503",
    );
    event.action = Some(hale_policy::Action::Restart);
    event
}

pub fn message() -> Message {
    compose(
        &event(HealEventKind::ActionStarted, "web-1"),
        EventKind::Remediating,
        1,
        vec![("Acknowledge 2h".into(), "http://hale.example/ack".into())],
    )
}

/// A NotifierSpec from the YAML of a sink (the rest defaulted).
pub fn spec(yaml: &str) -> NotifierSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

pub fn secret_file(value: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), value).unwrap();
    file
}

/// The notifier's clock for actor tests under paused time: it follows tokio's, and a
/// ticker (always the nearest timer) makes virtual time advance 10 ms at a time while the
/// loopback HTTP exchanges get real time to happen.
pub fn virtual_clock() -> hale_core::Clock {
    tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    hale_core::Clock::following_tokio(Timestamp::now())
}

pub fn ok(_: &str, _: &str) -> Response {
    (StatusCode::OK, "ok").into_response()
}
