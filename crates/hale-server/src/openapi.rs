//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and served at `/api/v1/openapi.json` (the dashboard renders it at `/docs`).

use std::sync::OnceLock;

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API as documented: every route of [`crate::router`] is listed here, and a test
/// fails when one is not.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hale",
        description = "hale's HTTP API: controller status, targets, policies, the audit log and its live stream, and the token-guarded controls. The CLI (`hale get`, `hale describe`, `hale pause`, ...) and the dashboard read the same routes."
    ),
    paths(
        crate::overview,
        crate::healthz,
        crate::ready,
        crate::metrics,
        crate::targets,
        crate::target,
        crate::fleet_view::targets,
        crate::policies,
        crate::policy,
        crate::policy_source::source,
        crate::policy_source::export,
        crate::policy_source::validate,
        crate::policy_source::import,
        crate::events::query,
        crate::events::stream,
        crate::control::pause,
        crate::control::resume,
        crate::control::unquarantine,
        crate::control::heal,
        crate::control::disable,
        crate::control::enable,
        crate::control::alertmanager,
        crate::ack::ack,
        crate::ack::mint,
        crate::ack::open,
        crate::ack::confirm,
        openapi_json,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "status", description = "The controller and its health"),
        (name = "targets", description = "Containers and sites, and where each stands"),
        (name = "policies", description = "The policies in force, their sources, validation and import"),
        (name = "events", description = "The audit log, queried or streamed live"),
        (name = "controls", description = "What operators ask for; bearer token required"),
        (name = "alerts", description = "Alertmanager: its webhook, and acknowledging alerts as silences"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme the guarded routes name.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token in the file given to `hale run --api-token-file`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "status", responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    Json(document()).into_response()
}

#[cfg(test)]
mod tests {
    use super::document;

    /// Every `.route("PATH", METHOD(...))` written in this crate's sources.
    fn routes_in_source() -> Vec<(String, String)> {
        let sources = [
            include_str!("lib.rs"),
            include_str!("ui.rs"),
            include_str!("policy_source.rs"),
        ];
        let mut routes = Vec::new();
        for source in sources {
            for piece in source.split(".route(").skip(1) {
                let Some(piece) = piece.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some((path, rest)) = piece.split_once('"') else {
                    continue;
                };
                let rest = rest.trim_start_matches([',', ' ', '\n']);
                for method in ["get", "post", "put", "delete"] {
                    if rest.starts_with(&format!("{method}(")) {
                        routes.push((method.to_owned(), path.to_owned()));
                    }
                }
            }
        }
        routes
    }

    /// The dashboard's own pages and assets: HTML and JavaScript for browsers, not API.
    const NOT_API: [&str; 4] = ["/ui", "/ui/", "/ui/{asset}", "/docs"];

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let routes = routes_in_source();
        assert!(routes.len() > 20, "found only {routes:?}");
        let mut missing = Vec::new();
        for (method, path) in routes {
            if NOT_API.contains(&path.as_str()) {
                continue;
            }
            if document["paths"][&path][&method].is_null() {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        assert!(
            missing.is_empty(),
            "routes missing from the OpenAPI document (add #[utoipa::path] to the handler and list it in ApiDoc): {missing:?}"
        );
    }

    #[test]
    fn guarded_routes_name_the_bearer_scheme() {
        let document = document();
        assert_eq!(
            document["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let heal = &document["paths"]["/api/v1/targets/{name}/heal"]["post"];
        assert_eq!(heal["security"][0]["bearer"], serde_json::json!([]));
    }
}
