//! A loopback HTTP server that records what it is sent: the webhook and notifier sink of
//! the end-to-end tests.

use std::sync::{Arc, Mutex};

/// One request a [`recorder`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request path, e.g. `/hook`.
    pub path: String,
    /// Its headers.
    pub headers: axum::http::HeaderMap,
    /// Its body.
    pub body: String,
}

/// A loopback HTTP server that records every POST (any path) and answers `status`; returns
/// its base URL and what it received. Serves on `runtime` until the runtime is dropped.
pub fn recorder(
    runtime: &tokio::runtime::Runtime,
    status: u16,
) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let received: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let store = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::post(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let store = Arc::clone(&store);
                async move {
                    store.lock().unwrap().push(Recorded {
                        path: uri.path().to_owned(),
                        headers,
                        body,
                    });
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            },
        ),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}
