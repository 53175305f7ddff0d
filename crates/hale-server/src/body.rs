//! Request bodies: at most [`crate::BODY_LIMIT`] bytes (413 beyond), and JSON that does not
//! fit answered 400 with where and what was wrong; each refusal in the API's JSON error
//! shape, as every other answer.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::{ApiError, BODY_LIMIT, error};

/// A body of at most [`BODY_LIMIT`] bytes.
pub(crate) struct LimitedBody(pub Bytes);

/// A UTF-8 text body (a policy's YAML) of at most [`BODY_LIMIT`] bytes.
pub(crate) struct TextBody(pub String);

/// A JSON body deserialized into `T`.
pub(crate) struct JsonBody<T>(pub T);

fn too_large() -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is over the limit of {BODY_LIMIT} bytes"),
    )
}

/// The refusal of a body that could not be read: 413 over the limit, 400 otherwise.
fn unreadable(rejection: BytesRejection) -> Response {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    error(
        status,
        format!("cannot read the request body: {}", rejection.body_text()),
    )
}

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A declared length over the limit is refused before a byte is read: the limit
        // alone would wait for the first chunk of a body that may never come.
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
            return Err(too_large());
        }
        Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(unreadable)
    }
}

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let LimitedBody(bytes) = LimitedBody::from_request(request, state).await?;
        String::from_utf8(bytes.to_vec())
            .map(Self)
            .map_err(|problem| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "the request body is not UTF-8 text (invalid byte at offset {})",
                        problem.utf8_error().valid_up_to()
                    ),
                )
            })
    }
}

/// Parses `bytes` as a `T`; the error names the field path and what was wrong.
///
/// # Errors
/// A 400 saying where the JSON stopped fitting.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let refuse = |at: String, problem: serde_json::Error| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not {what}{at}: {problem}"),
        )
    };
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|problem| {
        let path = problem.path().to_string();
        let at = if path == "." || path.is_empty() {
            String::new()
        } else {
            format!(" at {path}")
        };
        refuse(at, problem.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|problem| refuse(String::new(), problem))?;
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let LimitedBody(bytes) = LimitedBody::from_request(request, state).await?;
        parse_json(&bytes, "the JSON this route takes")
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_json;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        labels: std::collections::BTreeMap<String, String>,
        duration: String,
    }

    async fn message(refusal: crate::ApiError) -> (u16, String) {
        let response = axum::response::IntoResponse::into_response(refusal);
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("a body");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        (
            status,
            value["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    #[tokio::test]
    async fn garbage_is_refused_with_where_and_what() {
        let (status, text) =
            message(parse_json::<Shape>(b"{not json", "x").expect_err("garbage")).await;
        assert_eq!(status, 400);
        assert!(text.contains("key must be a string"), "{text}");

        let wrong_type = br#"{"labels": {"a": 1}, "duration": "2h"}"#;
        let (status, text) =
            message(parse_json::<Shape>(wrong_type, "x").expect_err("a number")).await;
        assert_eq!(status, 400);
        assert!(text.contains("at labels.a"), "{text}");

        let trailing = br#"{"labels": {}, "duration": "2h"} trailing"#;
        let (_, text) = message(parse_json::<Shape>(trailing, "x").expect_err("trailing")).await;
        assert!(text.contains("trailing"), "{text}");

        assert!(parse_json::<Shape>(br#"{"labels": {}, "duration": "2h"}"#, "x").is_ok());
    }
}
