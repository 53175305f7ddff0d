//! Loopback servers that record what they are sent: the webhook and notifier sink of the
//! end-to-end tests, and one that hangs up on every request.

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

/// A loopback TCP server that reads each request's head (request line and headers), keeps
/// it, and hangs up without answering: the client sees a connection error, as from a
/// service that went away mid-request. Returns its port and the heads, in order.
pub fn hang_up() -> (u16, Arc<Mutex<Vec<String>>>) {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let store = Arc::clone(&heads);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => head.extend_from_slice(&buffer[..read]),
                }
            }
            store
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            // `stream` is dropped here: the connection closes without an answer.
        }
    });
    (port, heads)
}
