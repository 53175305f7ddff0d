//! The Coolify actions against a fake Coolify that follows the documented v4 API, errors
//! included: restart and redeploy, waiting out a running deployment, "already queued",
//! 429 with Retry-After, and clear errors without retries for bad or weak tokens.

use std::time::{Duration, Instant};

use hale_fakes::{APP_UUID, FakeCoolify, GOOD_TOKEN};
use hale_policy::{CoolifyApplication, SecretRef};
use hale_reconciler::{CoolifyAction, CoolifyOutcome, coolify_remediate};

/// The application on `fake`, authenticated with `token` (read from a file, as
/// `fromFile` references are).
struct App {
    app: CoolifyApplication,
    _token_file: tempfile::NamedTempFile,
}

fn app(fake: &FakeCoolify, token: &str, uuid: &str) -> App {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{token}\n")).unwrap();
    App {
        app: CoolifyApplication {
            application_uuid: uuid.to_owned(),
            url: Some(format!("{}/", fake.url())),
            token: SecretRef {
                from_env: None,
                from_file: Some(file.path().to_path_buf()),
            },
        },
        _token_file: file,
    }
}

async fn run(app: &App, action: CoolifyAction) -> Result<CoolifyOutcome, String> {
    coolify_remediate(&app.app, action)
        .await
        .map_err(|error| error.to_string())
}

/// (method, path) of every request the fake received.
fn calls(fake: &FakeCoolify) -> Vec<(String, String)> {
    fake.requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}

fn call(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

#[tokio::test]
async fn restart_checks_for_running_deployments_then_posts_with_the_token() {
    let fake = FakeCoolify::start().await;
    let outcome = run(&app(&fake, GOOD_TOKEN, APP_UUID), CoolifyAction::Restart).await;
    let Ok(CoolifyOutcome::Queued(detail)) = outcome else {
        panic!("expected a queued restart, got {outcome:?}");
    };
    assert!(detail.contains("Restart request queued."), "{detail}");
    assert_eq!(
        calls(&fake),
        [
            call(
                "GET",
                &format!("/api/v1/deployments/applications/{APP_UUID}")
            ),
            call("POST", &format!("/api/v1/applications/{APP_UUID}/restart")),
        ]
    );
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {GOOD_TOKEN}"))),
        "{requests:?}"
    );
    let deployments = fake.deployments();
    assert_eq!(deployments.len(), 1);
    assert!(deployments[0].restart_only);
    assert!(detail.contains(&deployments[0].deployment_uuid), "{detail}");
}

#[tokio::test]
async fn redeploy_posts_to_deploy_without_force() {
    let fake = FakeCoolify::start().await;
    let outcome = run(&app(&fake, GOOD_TOKEN, APP_UUID), CoolifyAction::Redeploy).await;
    let Ok(CoolifyOutcome::Queued(detail)) = outcome else {
        panic!("expected a queued deployment, got {outcome:?}");
    };
    assert!(
        detail.contains("Application shop deployment queued."),
        "{detail}"
    );
    let post = fake.requests().pop().unwrap();
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/api/v1/deploy")
    );
    let query = post.query.unwrap();
    assert!(
        query.contains(&format!("uuid={APP_UUID}")) && query.contains("force=false"),
        "{query}"
    );
    assert!(!fake.deployments()[0].restart_only);
}

#[tokio::test]
async fn nothing_is_sent_while_a_deployment_is_queued_or_in_progress() {
    let fake = FakeCoolify::start().await;
    let app = app(&fake, GOOD_TOKEN, APP_UUID);
    for status in ["queued", "in_progress"] {
        let running = fake.start_deployment(APP_UUID, status);
        for action in [CoolifyAction::Restart, CoolifyAction::Redeploy] {
            let outcome = run(&app, action).await;
            let Ok(CoolifyOutcome::Busy(detail)) = outcome else {
                panic!("expected a skip while {status}, got {outcome:?}");
            };
            assert!(detail.contains(&running), "{detail}");
            assert!(detail.contains(&status.replace('_', " ")), "{detail}");
        }
        fake.finish_deployments();
    }
    assert!(
        calls(&fake).iter().all(|(method, _)| method == "GET"),
        "{:?}",
        calls(&fake)
    );
    assert_eq!(
        fake.deployments().len(),
        2,
        "only the two deployments started by the test"
    );
    // Once they are finished, hale acts again.
    assert!(matches!(
        run(&app, CoolifyAction::Restart).await,
        Ok(CoolifyOutcome::Queued(_))
    ));
}

#[tokio::test]
async fn already_queued_is_not_an_error_and_a_deploy_only_token_skips_the_check() {
    let fake = FakeCoolify::start().await;
    fake.add_token("2|deploy-only", &["deploy"], true);
    let app = app(&fake, "2|deploy-only", APP_UUID);
    fake.start_deployment(APP_UUID, "in_progress");
    for action in [CoolifyAction::Restart, CoolifyAction::Redeploy] {
        let outcome = run(&app, action).await;
        let Ok(CoolifyOutcome::Busy(detail)) = outcome else {
            panic!("expected \"already queued\" to be a skip, not an error: {outcome:?}");
        };
        assert!(detail.contains("already has a deployment"), "{detail}");
        assert!(detail.contains("lacks the `read` ability"), "{detail}");
    }
    assert_eq!(fake.deployments().len(), 1, "nothing new was queued");
}

#[tokio::test]
async fn a_full_queue_is_retried_as_retry_after_says_then_reported() {
    let fake = FakeCoolify::start().await;
    let app = app(&fake, GOOD_TOKEN, APP_UUID);
    fake.fill_queue(1, 1);
    let started = Instant::now();
    let outcome = run(&app, CoolifyAction::Redeploy).await;
    assert!(
        matches!(outcome, Ok(CoolifyOutcome::Queued(_))),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let posts = || calls(&fake).iter().filter(|(m, _)| m == "POST").count();
    assert_eq!(posts(), 2);

    fake.finish_deployments();
    fake.fill_queue(10, 1);
    let error = run(&app, CoolifyAction::Redeploy).await.unwrap_err();
    assert!(error.contains("deployment queue is full"), "{error}");
    assert!(error.contains("HTTP 429"), "{error}");
    assert_eq!(posts(), 2 + 3, "one try and two retries, no more");
}

#[tokio::test]
async fn a_bad_token_is_one_request_and_a_clear_error() {
    let fake = FakeCoolify::start().await;
    let app = app(&fake, "9|wrong", APP_UUID);
    let error = run(&app, CoolifyAction::Redeploy).await.unwrap_err();
    assert!(error.contains("rejected the API token"), "{error}");
    assert!(error.contains("HTTP 401: Unauthenticated."), "{error}");
    assert!(
        error.contains("file:"),
        "names where the token comes from: {error}"
    );
    assert_eq!(
        fake.requests().len(),
        1,
        "no retry storm: {:?}",
        calls(&fake)
    );
}

#[tokio::test]
async fn weak_teamless_and_disabled_access_get_their_own_messages() {
    let fake = FakeCoolify::start().await;
    fake.add_token("3|read-only", &["read"], true);
    fake.add_token("4|no-team", &["root"], false);
    let error = run(&app(&fake, "3|read-only", APP_UUID), CoolifyAction::Restart)
        .await
        .unwrap_err();
    assert!(error.contains("give it `deploy`"), "{error}");
    assert!(
        error.contains("Missing required permissions: deploy"),
        "{error}"
    );

    let error = run(&app(&fake, "4|no-team", APP_UUID), CoolifyAction::Restart)
        .await
        .unwrap_err();
    assert!(error.contains("must belong to a team"), "{error}");

    let error = run(
        &app(&fake, GOOD_TOKEN, "no-such-app"),
        CoolifyAction::Restart,
    )
    .await
    .unwrap_err();
    assert!(error.contains("has no application no-such-app"), "{error}");
    assert!(error.contains("HTTP 404"), "{error}");

    fake.disable_api();
    let error = run(&app(&fake, GOOD_TOKEN, APP_UUID), CoolifyAction::Restart)
        .await
        .unwrap_err();
    assert!(error.contains("API is disabled"), "{error}");
    assert!(fake.deployments().is_empty());
}

#[tokio::test]
async fn the_fake_answers_get_on_action_endpoints_like_coolify_4_2() {
    let fake = FakeCoolify::start().await;
    hale_core::http_client::install_crypto_provider();
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/applications/{APP_UUID}/restart",
            fake.url()
        ))
        .bearer_auth(GOOD_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn an_application_uuid_that_would_change_the_path_or_query_sends_nothing() {
    let fake = FakeCoolify::start().await;
    for uuid in ["../../servers", "u1,u2", "a b"] {
        for action in [CoolifyAction::Restart, CoolifyAction::Redeploy] {
            let outcome = run(&app(&fake, GOOD_TOKEN, uuid), action).await;
            let Err(message) = outcome else {
                panic!("{uuid:?} must be refused, got {outcome:?}");
            };
            assert!(message.contains("no request was sent"), "{message}");
        }
    }
    assert!(calls(&fake).is_empty(), "{:?}", calls(&fake));
}
