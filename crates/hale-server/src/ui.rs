//! The dashboard: one page of HTML, JavaScript and CSS embedded in the binary (no CDN, no
//! build step: it works on an air-gapped host), served at `/ui/`, at `/` to browsers, and
//! at `/docs` (the API reference). It reads the same `/api/v1` the CLI uses.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::ApiState;

/// The page.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");

/// The page's scripts (ES modules, one per view) and style sheet, by file name.
pub const ASSETS: [(&str, &str, &str); 10] = [
    ("app.js", JS, include_str!("../assets/app.js")),
    ("core.js", JS, include_str!("../assets/core.js")),
    ("decision.js", JS, include_str!("../assets/decision.js")),
    ("overview.js", JS, include_str!("../assets/overview.js")),
    ("targets.js", JS, include_str!("../assets/targets.js")),
    ("target.js", JS, include_str!("../assets/target.js")),
    ("console.js", JS, include_str!("../assets/console.js")),
    ("policies.js", JS, include_str!("../assets/policies.js")),
    ("docs.js", JS, include_str!("../assets/docs.js")),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// Only this origin's scripts, styles and connections; never framed (clickjacking a
/// control button); no referrer (a target name in a URL stays here).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The dashboard's routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(page))
        .route("/ui/{asset}", get(file))
        .route("/docs", get(page))
}

/// True when the client asks for HTML before JSON: a browser opening `/`.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let position = |kind: &str| accept.find(kind);
    match (position("text/html"), position("application/json")) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        _ => false,
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change with the binary: revalidate rather than show an old page.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The page (every view is drawn by the script).
pub(crate) async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, body)) => asset(content_type, body),
        None => crate::error(
            axum::http::StatusCode::NOT_FOUND,
            format!("no dashboard file {name:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::wants_html;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn browsers_get_the_page_and_json_clients_the_overview() {
        // What chromium and firefox send for a page.
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&HeaderMap::new()));
        assert!(!wants_html(&accept("application/json, text/html")));
    }
}
