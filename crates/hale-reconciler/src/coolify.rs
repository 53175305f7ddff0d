//! The `coolifyRestart` and `coolifyRedeploy` remediations: Coolify v4's API.
//!
//! Before queuing anything, hale asks Coolify for the application's recent deployments and
//! does nothing while one is queued or in progress: a deployment that is already running is
//! the remediation, and a second one would only queue behind it. It always POSTs (Coolify
//! 4.2 made the action endpoints POST-only; older versions accept POST too).

use std::time::Duration;

use hale_policy::CoolifyApplication;
use serde::Deserialize;

/// Which Coolify action to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoolifyAction {
    /// `POST /api/v1/applications/{uuid}/restart`: restart the running containers.
    Restart,
    /// `POST /api/v1/deploy?uuid=…&force=false`: build and deploy again.
    Redeploy,
}

/// What Coolify did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoolifyOutcome {
    /// A deployment was queued.
    Queued(String),
    /// Nothing new was queued: the application already has a deployment queued or running
    /// (seen before asking, or Coolify's "Deployment already queued for this commit.").
    Busy(String),
}

/// How long one request to Coolify may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Retries after a 429, a 5xx or a network error; never after 400/401/403/404, which a
/// retry cannot fix (a bad token must not turn into a retry storm).
const RETRIES: u32 = 2;

/// The reply Coolify gives when an identical deployment is already queued.
const ALREADY_QUEUED: &str = "Deployment already queued for this commit.";

/// Restarts or redeploys `app`, unless a deployment of it is already queued or running.
///
/// # Errors
/// A message that says what went wrong and what to fix: no URL or token configured, the
/// token rejected (401, 400) or lacking the `deploy` ability (403), the API disabled, the
/// application unknown (404), the queue full (429) or Coolify unreachable, after retries.
pub async fn remediate(
    app: &CoolifyApplication,
    action: CoolifyAction,
) -> Result<CoolifyOutcome, CoolifyError> {
    // Redirects are not followed: reqwest would turn a redirected POST into a GET (or drop
    // the token), and Coolify would answer 405 or 401 for the wrong reason.
    let client = coolify_client();
    let (base, token) = credentials(app)?;
    let uuid = &app.application_uuid;
    let api = Api {
        client,
        base: &base,
        token: &token,
        uuid,
    };

    let mut note = String::new();
    match api.running_deployment().await {
        Ok(Some(running)) => return Ok(CoolifyOutcome::Busy(running)),
        Ok(None) => {}
        // A token with only the `deploy` ability cannot read deployments: act without the
        // check; Coolify itself refuses to queue a second deployment of the same commit.
        Err(Failure::Refused(status, message)) if status == 403 && is_missing_ability(&message) => {
            note =
                " (could not check for a running deployment: the token lacks the `read` ability)"
                    .to_owned();
        }
        Err(Failure::Refused(status, message)) => {
            return Err(explain(status, &message, app, uuid, &base, Ability::Deploy));
        }
        Err(Failure::Unreachable(error)) => return Err(CoolifyError::Unreachable(error)),
    }

    let (path, query): (String, &[(&str, &str)]) = match action {
        CoolifyAction::Restart => (format!("/api/v1/applications/{uuid}/restart"), &[]),
        CoolifyAction::Redeploy => (
            "/api/v1/deploy".to_owned(),
            &[("uuid", uuid.as_str()), ("force", "false")],
        ),
    };
    let body = api
        .post(&path, query)
        .await
        .map_err(|failure| match failure {
            Failure::Refused(status, message) => {
                explain(status, &message, app, uuid, &base, Ability::Deploy)
            }
            Failure::Unreachable(error) => CoolifyError::Unreachable(error),
        })?;
    let message = queued_message(&body);
    if message == ALREADY_QUEUED {
        // Not an error, and not hale's action either: someone else's deployment is the
        // remediation in progress, exactly as when the check above sees it.
        return Ok(CoolifyOutcome::Busy(format!(
            "Coolify already has a deployment of {uuid} queued for this commit; nothing new queued{note}"
        )));
    }
    Ok(CoolifyOutcome::Queued(format!("Coolify: {message}{note}")))
}

/// What hale reads of a Coolify application: its name and its domains.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApplicationInfo {
    /// The application's name in Coolify.
    #[serde(default)]
    pub name: String,
    /// Its domains as Coolify stores them: a comma-separated list of URLs
    /// (`https://shop.example.com,http://shop.example.com`), empty when it has none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub fqdn: String,
}

/// Coolify sends `"fqdn": null` for an application without a domain.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads `app` from Coolify (`GET /api/v1/applications/{uuid}`, the `read` ability), with
/// the same client, retries and error wording as the actions.
///
/// # Errors
/// As [`remediate`]: no URL or token, the token refused or lacking `read`, the API
/// disabled, no such application, or Coolify unreachable or answering something that is
/// not an application.
pub async fn application(app: &CoolifyApplication) -> Result<ApplicationInfo, CoolifyError> {
    let (base, token) = credentials(app)?;
    let uuid = &app.application_uuid;
    let api = Api {
        client: coolify_client(),
        base: &base,
        token: &token,
        uuid,
    };
    let path = format!("/api/v1/applications/{uuid}");
    let body =
        api.send(reqwest::Method::GET, &path, &[])
            .await
            .map_err(|failure| match failure {
                Failure::Refused(status, message) => {
                    explain(status, &message, app, uuid, &base, Ability::Read)
                }
                Failure::Unreachable(error) => CoolifyError::Unreachable(error),
            })?;
    serde_json::from_str(&body).map_err(|error| {
        CoolifyError::Unreachable(format!(
            "Coolify answered {base}{path} with something that is not an application ({error})"
        ))
    })
}

/// The client for Coolify: no redirects (see [`remediate`]), connections reused.
fn coolify_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        // Redirects are not followed (the settings' default).
        hale_core::http_client::build_client(&hale_core::http_client::ClientSettings::default())
            .expect("an HTTP client without extra trust builds")
    })
}

/// The instance's base URL, from the site or `COOLIFY_URL`, without a trailing `/` or
/// `/api/v1` (both spellings are common in Coolify's own docs).
/// What every call to Coolify needs first: a well-formed application UUID, the instance's
/// base URL and the resolved token.
fn credentials(app: &CoolifyApplication) -> Result<(String, String), CoolifyError> {
    if let Some(problem) = app.uuid_problem() {
        return Err(CoolifyError::BadUuid {
            uuid: app.application_uuid.clone(),
            problem,
        });
    }
    let base = base_url(app)?;
    let token = app.token.resolve().map_err(|source| CoolifyError::Token {
        reference: app.token.to_string(),
        source,
    })?;
    Ok((base, token))
}

fn base_url(app: &CoolifyApplication) -> Result<String, CoolifyError> {
    let url = match &app.url {
        Some(url) => url.clone(),
        None => std::env::var("COOLIFY_URL").map_err(|_| CoolifyError::NoUrl)?,
    };
    let url = url.trim().trim_end_matches('/');
    Ok(url.strip_suffix("/api/v1").unwrap_or(url).to_owned())
}

/// Why a request did not get a 2xx.
enum Failure {
    /// Coolify answered with this status and `message`.
    Refused(u16, String),
    /// No usable answer (network error, timeout, 5xx or 429 after retries), described.
    Unreachable(String),
}

/// One application on one Coolify instance, with the credentials to talk about it.
struct Api<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
    uuid: &'a str,
}

/// One entry of `GET /api/v1/deployments/applications/{uuid}`.
#[derive(Deserialize)]
struct Deployment {
    #[serde(default)]
    deployment_uuid: String,
    #[serde(default)]
    status: String,
    /// Non-zero for a pull request's preview deployment, which does not touch the
    /// application itself.
    #[serde(default)]
    pull_request_id: i64,
}

/// The body of `GET /api/v1/deployments/applications/{uuid}`. (Coolify's OpenAPI file
/// says it is a list of applications; the controller returns this.)
#[derive(Deserialize)]
struct History {
    #[serde(default)]
    deployments: Vec<Deployment>,
}

impl Api<'_> {
    /// A description of the application's queued or running deployment, if it has one.
    async fn running_deployment(&self) -> Result<Option<String>, Failure> {
        let path = format!("/api/v1/deployments/applications/{}", self.uuid);
        let body = self
            .send(
                reqwest::Method::GET,
                &path,
                &[("skip", "0"), ("take", "10")],
            )
            .await?;
        let history: History = serde_json::from_str(&body).map_err(|error| {
            Failure::Unreachable(format!(
                "Coolify answered {path} with something that is not a deployment list ({error})"
            ))
        })?;
        Ok(history
            .deployments
            .iter()
            .find(|d| d.pull_request_id == 0 && (d.status == "queued" || d.status == "in_progress"))
            .map(|d| {
                format!(
                    "Coolify deployment {} of {} is {}; not queuing another",
                    d.deployment_uuid,
                    self.uuid,
                    d.status.replace('_', " ")
                )
            }))
    }

    async fn post(&self, path: &str, query: &[(&str, &str)]) -> Result<String, Failure> {
        self.send(reqwest::Method::POST, path, query).await
    }

    /// Sends one request, retrying 429 (as `Retry-After` says), 5xx and network errors.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<String, Failure> {
        let url = format!("{}{path}", self.base);
        let build = || {
            self.client
                .request(method.clone(), &url)
                .query(query)
                .bearer_auth(self.token)
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(REQUEST_TIMEOUT)
        };
        let answer = crate::retry::send(build, RETRIES).await.map_err(|error| {
            Failure::Unreachable(format!("cannot reach Coolify at {url}: {error}"))
        })?;
        let code = answer.status.as_u16();
        if answer.status.is_success() {
            return Ok(answer.body);
        }
        let message = message_of(&answer.body);
        Err(if code == 429 {
            Failure::Unreachable(format!(
                "Coolify's deployment queue is full (HTTP 429: {message}); gave up after {} tries",
                answer.attempts
            ))
        } else if answer.status.is_server_error() {
            Failure::Unreachable(format!(
                "Coolify failed (HTTP {code} from {url}: {message}) {} times",
                answer.attempts
            ))
        } else {
            Failure::Refused(code, message)
        })
    }
}

/// Coolify's errors are `{"message": "..."}`; anything else is quoted, shortened.
fn message_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().chars().take(200).collect())
}

/// The `message` of a successful restart (`{"message": ...}`) or deploy
/// (`{"deployments": [{"message": ...}]}`).
fn queued_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.trim().chars().take(200).collect();
    };
    let text = |v: &serde_json::Value| v.get("message")?.as_str().map(str::to_owned);
    let deployment = value
        .get("deployments")
        .and_then(|list| list.get(0))
        .and_then(|first| {
            let message = text(first)?;
            Some(
                match first.get("deployment_uuid").and_then(|u| u.as_str()) {
                    Some(id) if message != ALREADY_QUEUED => format!("{message} (deployment {id})"),
                    _ => message,
                },
            )
        });
    let restart = || {
        let message = text(&value)?;
        Some(
            match value.get("deployment_uuid").and_then(|u| u.as_str()) {
                Some(id) => format!("{message} (deployment {id})"),
                None => message,
            },
        )
    };
    deployment
        .or_else(restart)
        .unwrap_or_else(|| body.trim().chars().take(200).collect())
}

fn is_missing_ability(message: &str) -> bool {
    message.starts_with("Missing required permissions")
}

/// Why a Coolify action failed, worded as what the operator has to fix.
#[derive(Debug, thiserror::Error)]
pub enum CoolifyError {
    /// The application UUID would change the request's path or query; nothing was sent.
    #[error("coolify.applicationUuid {uuid:?} {problem}; no request was sent")]
    BadUuid {
        /// The UUID as configured.
        uuid: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Neither the site nor the environment names the Coolify instance.
    #[error("no Coolify URL: set `coolify.url` on the site, or COOLIFY_URL in hale's environment")]
    NoUrl,
    /// The token's secret could not be read.
    #[error("cannot read the Coolify token ({reference}): {source}")]
    Token {
        /// Where the token is read from (never the token).
        reference: String,
        /// Why it could not be read.
        source: hale_policy::SecretError,
    },
    /// Coolify answered, and refused: `fix` says what to change.
    #[error("{fix} (HTTP {status}: {message})")]
    Refused {
        /// What the operator has to fix.
        fix: String,
        /// The HTTP status.
        status: u16,
        /// Coolify's own message.
        message: String,
    },
    /// No usable answer after retries (network, timeouts, 5xx, a full queue), described.
    #[error("{0}")]
    Unreachable(String),
}

/// The token ability a request needs: an action's `deploy`, or the `read` of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ability {
    Deploy,
    Read,
}

/// Turns a refusal into what the operator has to fix.
fn explain(
    status: u16,
    message: &str,
    app: &CoolifyApplication,
    uuid: &str,
    base: &str,
    ability: Ability,
) -> CoolifyError {
    let ability_name = match ability {
        Ability::Deploy => "deploy",
        Ability::Read => "read",
    };
    let fix = match status {
        401 => format!(
            "Coolify rejected the API token; check the token in {} (create one under Keys & Tokens)",
            app.token
        ),
        400 if message.contains("token") => format!(
            "Coolify says the token in {} is invalid: it must belong to a team",
            app.token
        ),
        403 if is_missing_ability(message) => format!(
            "the token in {} lacks an ability this request needs; give it `{ability_name}` (or `root`)",
            app.token
        ),
        403 => "Coolify's API is disabled; enable it in Coolify's settings".to_owned(),
        404 if ability == Ability::Read => format!("Coolify at {base} has no application {uuid}"),
        404 => {
            format!("Coolify at {base} has no application {uuid}; check coolify.applicationUuid")
        }
        405 => format!("Coolify at {base} refused the method; is this a Coolify v4 instance?"),
        300..=399 => format!(
            "Coolify at {base} redirects; set coolify.url (or COOLIFY_URL) to the address it redirects to, usually https://"
        ),
        _ => "Coolify refused the request".to_owned(),
    };
    CoolifyError::Refused {
        fix,
        status,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queued_message_is_read_from_both_reply_shapes() {
        assert_eq!(
            queued_message(r#"{"message":"Restart request queued.","deployment_uuid":"d1"}"#),
            "Restart request queued. (deployment d1)"
        );
        assert_eq!(
            queued_message(
                r#"{"deployments":[{"message":"Application web deployment queued.","resource_uuid":"a","deployment_uuid":"d2"}]}"#
            ),
            "Application web deployment queued. (deployment d2)"
        );
        assert_eq!(
            queued_message(
                r#"{"deployments":[{"message":"Deployment already queued for this commit.","resource_uuid":"a","deployment_uuid":"never-stored"}]}"#
            ),
            ALREADY_QUEUED
        );
        assert_eq!(
            queued_message(r#"{"message":"Deployment already queued for this commit."}"#),
            ALREADY_QUEUED
        );
    }

    #[test]
    fn base_urls_lose_trailing_slashes_and_the_api_prefix() {
        let app = |url: &str| CoolifyApplication {
            application_uuid: "a".into(),
            url: Some(url.into()),
            token: hale_policy::SecretRef {
                from_env: Some("COOLIFY_TOKEN".into()),
                from_file: None,
            },
        };
        assert_eq!(
            base_url(&app("https://c.example/")).unwrap(),
            "https://c.example"
        );
        assert_eq!(
            base_url(&app("https://c.example/api/v1")).unwrap(),
            "https://c.example"
        );
    }
}
