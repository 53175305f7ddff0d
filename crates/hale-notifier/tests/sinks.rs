//! Each sink against a local server that records requests and answers the way the real
//! service does, errors included (Slack's `invalid_payload`, Telegram's `{"ok": false}`,
//! Discord's 429 with `retry_after`), outside text that must not ping or disguise a link,
//! and a private CA. The retry policy and the worker are in `delivery.rs`; grouping,
//! reminders and routes through the actor in `grouping.rs`; email, through a real SMTP
//! server, in `email.rs`.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use hale_core::HealEventKind;
use hale_notifier::sinks::send;
use hale_notifier::{Message, compose};
use hale_policy::EventKind;

use common::*;

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
