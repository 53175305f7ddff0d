//! Each sink against a local server that records requests and answers the way the real
//! service does, errors included (Slack's `invalid_payload`, Telegram's `{"ok": false}`,
//! Discord's 429 with `retry_after`); the retry policy and the per-sink worker under
//! virtual time; grouping, reminders and recoveries through the actor. Email, through a
//! real SMTP server, is in `email.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use hale_core::{HealEvent, HealEventKind, TargetRef, Timestamp};
use hale_notifier::delivery::{Deliver, Report, retry_delay, spawn_worker};
use hale_notifier::sinks::{DeliveryError, send};
use hale_notifier::{Message, compose};
use hale_policy::{EventKind, NotifierSpec};

/// What the local service received: (path, headers, body).
type Received = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// A local service answering every request with `answer(path, body)`.
async fn service(answer: fn(&str, &str) -> Response) -> (String, Received) {
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

fn event(kind: HealEventKind, target: &str) -> HealEvent {
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

fn message() -> Message {
    compose(
        &event(HealEventKind::ActionStarted, "web-1"),
        EventKind::Remediating,
        1,
        vec![("Acknowledge 2h".into(), "http://hale.example/ack".into())],
    )
}

/// A NotifierSpec from the YAML of a sink (the rest defaulted).
fn spec(yaml: &str) -> NotifierSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

fn secret_file(value: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), value).unwrap();
    file
}

/// The notifier's clock for actor tests under paused time: it follows tokio's, and a
/// ticker (always the nearest timer) makes virtual time advance 10 ms at a time while the
/// loopback HTTP exchanges get real time to happen.
fn virtual_clock() -> hale_core::Clock {
    tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    hale_core::Clock::following_tokio(Timestamp::now())
}

fn ok(_: &str, _: &str) -> Response {
    (StatusCode::OK, "ok").into_response()
}

#[tokio::test]
async fn each_sink_sends_its_services_format() {
    let (url, received) = service(|path, _| {
        if path.contains("sendMessage") {
            return (StatusCode::OK, r#"{"ok":true,"result":{"message_id":1}}"#).into_response();
        }
        if path.starts_with("discord") {
            return StatusCode::NO_CONTENT.into_response();
        }
        ok(path, "")
    })
    .await;
    let client = hale_core::http_client::ClientCache::new();
    let slack = secret_file(&format!("{url}/slack/T000/B000/XXXX"));
    let discord = secret_file(&format!("{url}/discord/123/abc"));
    let telegram = secret_file("123456:ABC-DEF");
    let ntfy_token = secret_file("tk_secret");
    let specs = [
        format!("webhook: {{url: \"{url}/hook\"}}"),
        format!(
            "slack: {{webhookUrl: {{fromFile: {}}}}}",
            slack.path().display()
        ),
        format!(
            "discord: {{webhookUrl: {{fromFile: {}}}, username: halebot}}",
            discord.path().display()
        ),
        format!(
            "telegram: {{botToken: {{fromFile: {}}}, chatId: \"-100123\", apiUrl: \"{url}\"}}",
            telegram.path().display()
        ),
        format!(
            "ntfy: {{url: \"{url}/alerts\", priority: 4, tags: [warning], token: {{fromFile: {}}}}}",
            ntfy_token.path().display()
        ),
    ];
    for yaml in &specs {
        let result = send(&client, &spec(yaml), &message()).await;
        assert!(result.is_ok(), "{yaml}: {result:?}");
    }
    let received = received.lock().unwrap().clone();
    let json = |i: usize| serde_json::from_str::<serde_json::Value>(&received[i].2).unwrap();

    assert_eq!(received[0].0, "hook");
    assert_eq!(json(0)["event"]["kind"], "action_started");
    assert!(
        json(0)["title"]
            .as_str()
            .unwrap()
            .contains("Remediating web-1")
    );

    assert_eq!(received[1].0, "slack/T000/B000/XXXX");
    assert!(
        json(1)["text"]
            .as_str()
            .unwrap()
            .contains("Remediating web-1")
    );
    assert_eq!(
        json(1)["blocks"][1]["elements"][0]["url"],
        "http://hale.example/ack"
    );

    assert_eq!(json(2)["username"], "halebot");
    assert!(
        json(2)["content"]
            .as_str()
            .unwrap()
            .contains("Why: probe http failed")
    );

    assert_eq!(received[3].0, "bot123456:ABC-DEF/sendMessage");
    assert_eq!(json(3)["chat_id"], "-100123");

    let ntfy = &received[4];
    assert_eq!(ntfy.0, "alerts");
    assert!(
        ntfy.1["title"]
            .to_str()
            .unwrap()
            .contains("Remediating web-1")
    );
    assert_eq!(ntfy.1["priority"], "4");
    assert_eq!(ntfy.1["tags"], "warning");
    assert_eq!(ntfy.1["authorization"], "Bearer tk_secret");
    assert!(
        ntfy.1["actions"]
            .to_str()
            .unwrap()
            .starts_with("view, Acknowledge 2h, http://hale.example/ack")
    );
}

#[tokio::test]
async fn each_services_refusals_are_read_and_judged_retryable_or_not() {
    let (url, _) = service(|path, _| match path {
        p if p.starts_with("slack") => (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
        p if p.contains("sendMessage") => (
            StatusCode::BAD_REQUEST,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        )
            .into_response(),
        p if p.starts_with("discord") => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            r#"{"message":"You are being rate limited.","retry_after":0.5,"global":false}"#,
        )
            .into_response(),
        _ => (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
    })
    .await;
    let client = hale_core::http_client::ClientCache::new();
    let slack = secret_file(&format!("{url}/slack/T/B/SECRETPART"));
    let error = send(
        &client,
        &spec(&format!(
            "slack: {{webhookUrl: {{fromFile: {}}}}}",
            slack.path().display()
        )),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(
        error.message.contains("invalid_payload") && !error.retryable,
        "{error:?}"
    );

    let telegram = secret_file("999:SECRETTOKEN");
    let error = send(
        &client,
        &spec(&format!(
            "telegram: {{botToken: {{fromFile: {}}}, chatId: \"1\", apiUrl: \"{url}\"}}",
            telegram.path().display()
        )),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(
        error.message.contains("chat not found") && !error.retryable,
        "{error:?}"
    );
    assert!(!error.message.contains("SECRETTOKEN"));

    let discord = secret_file(&format!("{url}/discord/1/tok"));
    let error = send(
        &client,
        &spec(&format!(
            "discord: {{webhookUrl: {{fromFile: {}}}}}",
            discord.path().display()
        )),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert_eq!(
        error.retry_after,
        Some(Duration::from_millis(500)),
        "the body's retry_after wins"
    );

    let error = send(
        &client,
        &spec(&format!("webhook: {{url: \"{url}/hook\"}}")),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(
        error.retryable && error.message.contains("HTTP 502"),
        "{error:?}"
    );

    // Nothing listens: the error says so without the secret URL.
    let dead = secret_file("http://127.0.0.1:1/services/T/B/SECRETPART");
    let error = send(
        &client,
        &spec(&format!(
            "slack: {{webhookUrl: {{fromFile: {}}}}}",
            dead.path().display()
        )),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(error.retryable, "{error:?}");
    assert!(
        !error.message.contains("SECRETPART"),
        "a secret leaked: {error:?}"
    );
}

#[test]
fn retries_back_off_exponentially_honour_retry_after_and_stop() {
    let transient = DeliveryError {
        message: "HTTP 503".into(),
        retryable: true,
        retry_after: None,
    };
    let delays: Vec<_> = (1..=5).map(|a| retry_delay(a, &transient)).collect();
    assert_eq!(
        delays,
        [1, 2, 4, 8]
            .map(|s| Some(Duration::from_secs(s)))
            .into_iter()
            .chain([None])
            .collect::<Vec<_>>()
    );
    let asked = DeliveryError {
        retry_after: Some(Duration::from_secs(7)),
        ..transient.clone()
    };
    assert_eq!(retry_delay(1, &asked), Some(Duration::from_secs(7)));
    let greedy = DeliveryError {
        retry_after: Some(Duration::from_secs(3600)),
        ..transient.clone()
    };
    assert_eq!(
        retry_delay(1, &greedy),
        Some(Duration::from_secs(60)),
        "capped"
    );
    let fatal = DeliveryError {
        retryable: false,
        ..transient
    };
    assert_eq!(retry_delay(1, &fatal), None);
}

/// Fails the first `failures` attempts (retryable), then succeeds; or never answers.
struct Scripted {
    failures: Mutex<u32>,
    hang: bool,
    attempts_at: Mutex<Vec<tokio::time::Instant>>,
}

impl Deliver for Scripted {
    fn deliver<'a>(&'a self, _: &'a Message) -> BoxFuture<'a, Result<String, DeliveryError>> {
        Box::pin(async move {
            self.attempts_at
                .lock()
                .unwrap()
                .push(tokio::time::Instant::now());
            if self.hang {
                std::future::pending::<()>().await;
            }
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(DeliveryError {
                    message: "HTTP 503".into(),
                    retryable: true,
                    retry_after: None,
                });
            }
            Ok("ok".into())
        })
    }
}

fn scripted(failures: u32, hang: bool) -> Arc<Scripted> {
    Arc::new(Scripted {
        failures: Mutex::new(failures),
        hang,
        attempts_at: Mutex::default(),
    })
}

/// Where a worker's reports go in a test.
type Reporter = Arc<dyn Fn(Report) + Send + Sync>;

/// Collected reports, and the function that collects them.
fn collector() -> (Arc<Mutex<Vec<Report>>>, Reporter) {
    let reports: Arc<Mutex<Vec<Report>>> = Arc::default();
    let sink = Arc::clone(&reports);
    (reports, Arc::new(move |r| sink.lock().unwrap().push(r)))
}

#[tokio::test(start_paused = true)]
async fn the_worker_retries_on_schedule_and_a_dead_sink_delays_no_other() {
    let flaky = scripted(2, false);
    let dead = scripted(0, true);
    let (reports, report) = collector();
    let (flaky_box, _a) = spawn_worker(flaky.clone(), 60, 10, Arc::clone(&report));
    let (dead_box, _b) = spawn_worker(dead.clone(), 60, 10, report);
    let start = tokio::time::Instant::now();
    dead_box.push(message());
    flaky_box.push(message());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attempts: Vec<Duration> = flaky
        .attempts_at
        .lock()
        .unwrap()
        .iter()
        .map(|t| *t - start)
        .collect();
    assert_eq!(
        attempts,
        [0, 1, 3].map(Duration::from_secs),
        "1 s then 2 s backoff"
    );
    assert!(reports.lock().unwrap().contains(&Report::Delivered {
        title: message().title,
        attempts: 3
    }));
    assert_eq!(
        dead.attempts_at.lock().unwrap().len(),
        1,
        "the dead sink is still on its first try"
    );
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_allows_a_burst_then_paces_and_a_full_queue_drops_the_oldest() {
    let sink = scripted(0, false);
    let (reports, report) = collector();
    // 2 per minute: a burst of 2, then one every 30 s; room for 2 waiting.
    let (outbox, _task) = spawn_worker(sink.clone(), 2, 2, report);
    let start = tokio::time::Instant::now();
    for i in 0..6 {
        let mut m = message();
        m.title = format!("m{i}");
        outbox.push(m);
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_secs(100)).await;
    let times: Vec<u64> = sink
        .attempts_at
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - start).as_secs())
        .collect();
    // m0 and m1 go at once (the bucket starts full), m2 waits in the worker for a token,
    // m3 and m4 fill the queue, and m5 pushes out the oldest waiting one, m3.
    assert_eq!(times, [0, 0, 30, 60, 90], "a burst, then the rate");
    let reports = reports.lock().unwrap();
    assert!(
        reports.contains(&Report::Dropped { title: "m3".into() }),
        "{reports:?}"
    );
    assert_eq!(
        reports.last(),
        Some(&Report::Delivered {
            title: "m5".into(),
            attempts: 1
        }),
        "{reports:?}"
    );
    assert!(reports.contains(&Report::QueueDepth(2)), "{reports:?}");
}

/// A message whose outside parts (target name, reason, signal) carry chat markup.
fn hostile() -> Message {
    let mut event = event(HealEventKind::ActionFailed, "web-<!here>");
    event.reason = "webhook answered 500: <!channel> @everyone <https://evil.example|click here> [your dashboard](https://evil.example) <b>x</b>".into();
    compose(
        &event,
        EventKind::Failed,
        1,
        vec![(
            "Acknowledge 2h".into(),
            "http://hale.example/ack?a=1&b=2".into(),
        )],
    )
}

#[tokio::test]
async fn outside_text_cannot_ping_a_channel_or_disguise_a_link_in_any_sink() {
    let (url, received) = service(|path, _| {
        if path.contains("sendMessage") {
            return (StatusCode::OK, r#"{"ok":true,"result":{"message_id":1}}"#).into_response();
        }
        ok(path, "")
    })
    .await;
    let client = hale_core::http_client::ClientCache::new();
    let slack = secret_file(&format!("{url}/slack/T000/B000/XXXX"));
    let discord = secret_file(&format!("{url}/discord/123/abc"));
    let telegram = secret_file("123456:ABC-DEF");
    for yaml in [
        format!(
            "slack: {{webhookUrl: {{fromFile: {}}}}}",
            slack.path().display()
        ),
        format!(
            "discord: {{webhookUrl: {{fromFile: {}}}}}",
            discord.path().display()
        ),
        format!(
            "telegram: {{botToken: {{fromFile: {}}}, chatId: \"1\", apiUrl: \"{url}\"}}",
            telegram.path().display()
        ),
    ] {
        let result = send(&client, &spec(&yaml), &hostile()).await;
        assert!(result.is_ok(), "{yaml}: {result:?}");
    }
    let received = received.lock().unwrap().clone();
    let json = |i: usize| serde_json::from_str::<serde_json::Value>(&received[i].2).unwrap();

    // Slack: no control sequence survives in the preview or the block; the button keeps
    // hale's own link.
    let slack = json(0);
    for text in [&slack["text"], &slack["blocks"][0]["text"]["text"]] {
        let text = text.as_str().unwrap();
        assert!(
            !text.contains('<') && !text.contains('>'),
            "Slack would ping or show a disguised link: {text}"
        );
        assert!(text.contains("web-&lt;!here&gt;"), "{text}");
    }
    let block = slack["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        block.contains("&lt;!channel&gt; @everyone &lt;https://evil.example|click here&gt;"),
        "{block}"
    );
    assert_eq!(
        slack["blocks"][1]["elements"][0]["url"],
        "http://hale.example/ack?a=1&b=2"
    );

    // Discord: mentions off for the whole message, markdown escaped, hale's link intact.
    let discord = json(1);
    assert_eq!(
        discord["allowed_mentions"],
        serde_json::json!({"parse": []})
    );
    let content = discord["content"].as_str().unwrap();
    assert!(
        content.contains(r"\[your dashboard\]\(https://evil.example\)")
            && content.contains(r"\@everyone"),
        "{content}"
    );
    assert!(
        content.ends_with("Acknowledge 2h: http://hale.example/ack?a=1&b=2"),
        "{content}"
    );

    // Telegram: plain text, no parse mode that would read markup.
    let telegram = json(2);
    assert!(telegram.get("parse_mode").is_none(), "{telegram}");
    assert!(telegram["text"].as_str().unwrap().contains("<!channel>"));
}

#[tokio::test(start_paused = true)]
async fn repeats_are_folded_lasting_states_are_reminded_and_recoveries_follow_trouble() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n  groupWindow: 1s\n  minReminderInterval: 2s\n  rateLimit: 600\n"
    ))
    .unwrap();
    let policy: hale_policy::HealPolicy = serde_saphyr::from_str(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  notify: [{notifier: team, on: [Failed, Quarantined]}]\n",
    )
    .unwrap();
    let recorded: Arc<Mutex<Vec<HealEvent>>> = Arc::default();
    let record = Arc::clone(&recorded);
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![policy]),
        notifiers: Arc::new(vec![notifier]),
        default_route: None,
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(move |e| record.lock().unwrap().push(e)),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(|_, _| {}),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    let send = |e: HealEvent| {
        actor
            .cast(hale_notifier::NotifierMsg::Event(Box::new(e)))
            .unwrap()
    };
    let titles = || -> Vec<String> {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, body)| {
                serde_json::from_str::<serde_json::Value>(body).unwrap()["message"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    // Five failures of one target in a burst: one message now, one folded after the window.
    for _ in 0..5 {
        send(event(HealEventKind::ActionFailed, "web-1"));
    }
    // Not routed: neither Remediating nor a Recovered of a target nobody was told about.
    send(event(HealEventKind::ActionStarted, "web-1"));
    send(event(HealEventKind::Recovered, "web-2"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.lock().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let seen = titles();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].contains("4 more Failed"), "{seen:?}");

    // Quarantined: told at once, reminded every 2 s while it lasts, then the recovery is
    // told (sendOnResolved) and reminders stop.
    send(event(HealEventKind::Quarantined, "web-1"));
    tokio::time::sleep(Duration::from_millis(4600)).await;
    let reminders = titles().iter().filter(|t| t.contains("reminder")).count();
    assert!(reminders >= 1, "{:?}", titles());
    send(event(HealEventKind::Recovered, "web-1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let count = titles().len();
    assert!(
        titles().last().unwrap().contains("Next: nothing"),
        "{:?}",
        titles()
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(titles().len(), count, "no reminder after recovery");
    assert!(recorded.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn nothing_folded_is_sent_after_the_quarantine_that_closed_the_episode() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n  groupWindow: 1s\n  minReminderInterval: 1h\n"
    ))
    .unwrap();
    let policy: hale_policy::HealPolicy = serde_saphyr::from_str(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  notify: [{notifier: team, on: [Remediating, Failed, Quarantined]}]\n",
    )
    .unwrap();
    let metrics: Arc<Mutex<Vec<(String, hale_notifier::NotificationMetric)>>> = Arc::default();
    let seen = Arc::clone(&metrics);
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![policy]),
        notifiers: Arc::new(vec![notifier]),
        default_route: None,
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(|_| {}),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(move |notifier, metric| {
            seen.lock().unwrap().push((notifier.to_owned(), metric));
        }),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    // A flapping target: remediated three times, then given up on, within one window.
    for kind in [
        HealEventKind::ActionStarted,
        HealEventKind::ActionStarted,
        HealEventKind::ActionStarted,
        HealEventKind::Quarantined,
    ] {
        actor
            .cast(hale_notifier::NotifierMsg::Event(Box::new(event(
                kind, "web-1",
            ))))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let titles: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["title"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles[0].contains("Remediating web-1"), "{titles:?}");
    assert!(
        titles[1].contains("Gave up on web-1"),
        "the quarantine is the last word, no \"2 such events ... tries again\" after it: {titles:?}"
    );
    let metrics = metrics.lock().unwrap();
    let delivered = metrics
        .iter()
        .filter(|(n, m)| n == "team" && *m == hale_notifier::NotificationMetric::Delivered)
        .count();
    assert_eq!(delivered, 2, "{metrics:?}");
    assert_eq!(
        metrics.last(),
        Some(&(
            "team".to_owned(),
            hale_notifier::NotificationMetric::Delivered
        )),
        "{metrics:?}"
    );
    assert!(metrics.contains(&(
        "team".to_owned(),
        hale_notifier::NotificationMetric::QueueDepth(0)
    )));
}

#[tokio::test(start_paused = true)]
async fn a_flapping_target_is_told_once_then_in_one_digest_that_ends_on_its_latest_state() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: team}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n  groupWindow: 1s\n"
    ))
    .unwrap();
    let policy: hale_policy::HealPolicy = serde_saphyr::from_str(
        "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  notify: [{notifier: team}]\n",
    )
    .unwrap();
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![policy]),
        notifiers: Arc::new(vec![notifier]),
        default_route: None,
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(|_| {}),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(|_, _| {}),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    // Restarted, recovered, failing again, three times within the window.
    for _ in 0..3 {
        for kind in [HealEventKind::ActionStarted, HealEventKind::Recovered] {
            let mut e = event(kind, "web-1");
            e.time = Timestamp::now();
            actor
                .cast(hale_notifier::NotifierMsg::Event(Box::new(e)))
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let bodies: Vec<serde_json::Value> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| serde_json::from_str(body).unwrap())
        .collect();
    let titles: Vec<&str> = bodies
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(titles[0].contains("Remediating web-1"), "{titles:?}");
    assert!(titles[1].contains("Recovered"), "{titles:?}");
    assert!(
        titles[2].contains("Recovered"),
        "the digest tells the latest state: {titles:?}"
    );
    let digest = bodies[2]["message"].as_str().unwrap();
    assert!(
        digest.contains("2 more Remediating, 2 more Recovered")
            && digest.contains("the target is flapping"),
        "{digest}"
    );
}

#[tokio::test(start_paused = true)]
async fn policies_without_routes_use_the_default_notifier_and_others_do_not() {
    let (url, received) = service(ok).await;
    let notifier: hale_policy::Notifier = serde_saphyr::from_str(&format!(
        "apiVersion: hale.dev/v1alpha1\nkind: Notifier\nmetadata: {{name: oncall}}\nspec:\n  webhook: {{url: \"{url}/hook\"}}\n"
    ))
    .unwrap();
    let policy = |name: &str, routes: &str| -> hale_policy::HealPolicy {
        serde_saphyr::from_str(&format!(
            "apiVersion: hale.dev/v1alpha1\nkind: HealPolicy\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: x}}}}\n{routes}"
        ))
        .unwrap()
    };
    let args = hale_notifier::NotifierArgs {
        policies: Arc::new(vec![
            policy("web", ""),
            policy("db", "  notify: [{notifier: oncall, on: [Quarantined]}]\n"),
            policy(
                "twice",
                "  notify: [{notifier: oncall, on: [Remediating]}, {notifier: oncall}]\n",
            ),
        ]),
        notifiers: Arc::new(vec![notifier]),
        default_route: Some("oncall".into()),
        links: Arc::new(|_| Vec::new()),
        record: Arc::new(|_| {}),
        http: hale_core::http_client::ClientCache::new(),
        metrics: Arc::new(|_, _| {}),
        clock: virtual_clock(),
    };
    let (actor, _handle) = ractor::Actor::spawn(None, hale_notifier::NotifierActor, args)
        .await
        .unwrap();
    let mut web = event(HealEventKind::ActionStarted, "web-1");
    web.policy = "web".into();
    let mut db = event(HealEventKind::ActionStarted, "db-1");
    db.policy = "db".into();
    let mut twice = event(HealEventKind::ActionStarted, "api-1");
    twice.policy = "twice".into();
    for e in [web, db, twice] {
        actor
            .cast(hale_notifier::NotifierMsg::Event(Box::new(e)))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let policies: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["event"]["policy"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        policies,
        ["web", "twice"],
        "web has no routes (default), db routes only Quarantined, twice's two routes to one notifier send once"
    );
}

#[tokio::test]
async fn a_notifier_reaches_an_https_service_signed_by_a_private_ca_with_tls_ca_file() {
    let pki = hale_fakes::tls::Pki::new();
    let (port, requests) = pki.serve(true).await;
    let clients = hale_core::http_client::ClientCache::new();
    let trusted = spec(&format!(
        "webhook: {{url: \"https://localhost:{port}/notify\"}}\ntls: {{caFile: {}, certFile: {}, keyFile: {}}}",
        pki.file("ca.pem").display(),
        pki.file("client.pem").display(),
        pki.file("client-key.pem").display()
    ));
    let answer = send(&clients, &trusted, &message()).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        requests.lock().unwrap().as_slice(),
        ["POST /notify HTTP/1.1"]
    );

    // Without the CA the certificate is refused; without the client certificate, the
    // server refuses.
    let no_ca = spec(&format!(
        "webhook: {{url: \"https://localhost:{port}/notify\"}}"
    ));
    let error = send(&clients, &no_ca, &message()).await.unwrap_err();
    assert!(error.message.contains("certificate"), "{}", error.message);
    let no_client = spec(&format!(
        "webhook: {{url: \"https://localhost:{port}/notify\"}}\ntls: {{caFile: {}}}",
        pki.file("ca.pem").display()
    ));
    assert!(send(&clients, &no_client, &message()).await.is_err());
    assert_eq!(
        requests.lock().unwrap().len(),
        1,
        "only the first got through"
    );
}
