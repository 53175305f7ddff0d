//! Every answer of the API passes through the process's redactor before it is sent, so no
//! route (a status reason, a policy, the metrics, an error) can hand out a secret.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

/// Redacts the answer to `request`. Minting an acknowledgement link (`POST
/// /api/v1/ack/link`, behind the token) is the one answer left as it is: the signed link's
/// query is what the caller asked for.
pub async fn redact(request: Request, next: Next) -> Response {
    let mints_link = request.method() == Method::POST && request.uri().path() == "/api/v1/ack/link";
    let response = next.run(request).await;
    if mints_link {
        return response;
    }
    redact_answer(response).await
}

/// Redacts the body of `response`. The event stream is left alone: it carries audit
/// records, which are redacted when they are written, and it must not be buffered.
async fn redact_answer(response: Response) -> Response {
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streaming {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    match hale_core::redact::redact(text) {
        std::borrow::Cow::Borrowed(_) => Response::from_parts(parts, Body::from(bytes)),
        std::borrow::Cow::Owned(clean) => {
            // The length changed; an entity tag computed over the old body still names
            // the same state, so it stays.
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(clean))
        }
    }
}
