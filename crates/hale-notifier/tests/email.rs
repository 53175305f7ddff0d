//! The email sink against a real SMTP server (aiosmtpd, `hale_fakes::smtp`): the message's
//! headers and parts, and TLS with a private CA made in the test — STARTTLS and implicit
//! TLS trusted through `email.trust.caFile` and refused without it, a client certificate
//! shown to a server that requires one, and unusable trust files named with their field.

use hale_core::http_client::ClientCache;
use hale_core::{HealEvent, HealEventKind, TargetRef, Timestamp};
use hale_fakes::smtp::{SinkConfig, SinkTls, SmtpSink};
use hale_fakes::tls::Pki;
use hale_notifier::sinks::send;
use hale_notifier::{Message, compose};
use hale_policy::{EventKind, NotifierSpec};

fn message() -> Message {
    let mut event = HealEvent::new(
        Timestamp::now(),
        HealEventKind::ActionStarted,
        "web",
        Some(&TargetRef {
            id: "0123456789abcdef".into(),
            name: "web-1".into(),
        }),
        "probe http failed: HTTP 503",
    );
    event.action = Some(hale_policy::Action::Restart);
    compose(
        &event,
        EventKind::Remediating,
        1,
        vec![("Acknowledge 2h".into(), "http://hale.example/ack".into())],
    )
}

/// A NotifierSpec with an email sink to `localhost:port` (the name the test certificate
/// carries) and `extra` fields of the sink (`tls: StartTls, trust: {...}`).
fn email(port: u16, extra: &str) -> NotifierSpec {
    serde_saphyr::from_str(&format!(
        "email: {{host: localhost, port: {port}, {extra}, from: \"hale <hale@example.com>\", to: [oncall@example.com]}}"
    ))
    .unwrap()
}

/// A sink speaking `tls` with the PKI's `localhost` certificate.
fn tls_sink(pki: &Pki, tls: SinkTls, client_ca: bool) -> SmtpSink {
    SmtpSink::start(&SinkConfig {
        tls,
        certificate: Some((pki.file("server.pem"), pki.file("server-key.pem"))),
        client_ca: client_ca.then(|| pki.file("ca.pem")),
        login: None,
    })
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_headers_and_body() {
    let sink = SmtpSink::start(&SinkConfig::default());
    let spec: NotifierSpec = serde_saphyr::from_str(&format!(
        "email: {{host: 127.0.0.1, port: {}, tls: None, from: \"hale <hale@example.com>\", to: [oncall@example.com]}}",
        sink.port()
    ))
    .unwrap();
    let answer = send(&ClientCache::new(), &spec, &message()).await;
    assert!(answer.is_ok(), "{answer:?}");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "one mail delivered");
    let text = &mails[0];
    assert!(text.contains("From: hale <hale@example.com>"), "{text}");
    assert!(text.contains("To: oncall@example.com"), "{text}");
    assert!(text.contains("Subject: [hale] Remediating web-1"), "{text}");
    assert!(text.contains("Why: probe http failed: HTTP 503"), "{text}");
    // A plain part and an HTML part, the HTML with hale's link as a link.
    assert!(text.contains("multipart/alternative"), "{text}");
    assert!(text.contains("Content-Type: text/plain"), "{text}");
    assert!(text.contains("Content-Type: text/html"), "{text}");
    assert!(text.contains("<h3>[hale] Remediating web-1"), "{text}");
    assert!(
        text.contains("href=3D\"http://hale.example/ack\"")
            || text.contains("href=\"http://hale.example/ack\""),
        "{text}"
    );
}

#[tokio::test]
async fn starttls_to_a_server_of_a_private_ca_is_trusted_with_trust_ca_file_and_refused_without() {
    let pki = Pki::new();
    let sink = tls_sink(&pki, SinkTls::StartTls, false);
    let clients = ClientCache::new();
    let trusted = email(
        sink.port(),
        &format!(
            "tls: StartTls, trust: {{caFile: {}}}",
            pki.file("ca.pem").display()
        ),
    );
    let answer = send(&clients, &trusted, &message()).await;
    assert!(answer.is_ok(), "{answer:?}");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "the mail was delivered over STARTTLS");
    assert!(
        mails[0].contains("Subject: [hale] Remediating web-1"),
        "{}",
        mails[0]
    );

    // The system roots alone do not know the private CA: the handshake fails on the
    // certificate, the message says how to trust it, and nothing is delivered.
    let untrusted = email(sink.port(), "tls: StartTls");
    let error = send(&clients, &untrusted, &message()).await.unwrap_err();
    assert!(
        error.message.contains("certificate") && error.message.contains("email.trust.caFile"),
        "{}",
        error.message
    );
    assert_eq!(sink.mails().len(), 1, "nothing more was delivered");
}

#[tokio::test]
async fn implicit_tls_is_trusted_with_trust_ca_file_and_refused_without() {
    let pki = Pki::new();
    let sink = tls_sink(&pki, SinkTls::Implicit, false);
    let clients = ClientCache::new();
    let trusted = email(
        sink.port(),
        &format!(
            "tls: Tls, trust: {{caFile: {}}}",
            pki.file("ca.pem").display()
        ),
    );
    let answer = send(&clients, &trusted, &message()).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(sink.mails().len(), 1, "the mail was delivered over TLS");
    let error = send(&clients, &email(sink.port(), "tls: Tls"), &message())
        .await
        .unwrap_err();
    assert!(error.message.contains("certificate"), "{}", error.message);
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate_gets_cert_file_and_key_file() {
    let pki = Pki::new();
    let sink = tls_sink(&pki, SinkTls::StartTls, true);
    let clients = ClientCache::new();
    let ca = pki.file("ca.pem");
    let with_client = email(
        sink.port(),
        &format!(
            "tls: StartTls, trust: {{caFile: {}, certFile: {}, keyFile: {}}}",
            ca.display(),
            pki.file("client.pem").display(),
            pki.file("client-key.pem").display()
        ),
    );
    let answer = send(&clients, &with_client, &message()).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        sink.mails().len(),
        1,
        "delivered with the client certificate"
    );

    let without = email(
        sink.port(),
        &format!("tls: StartTls, trust: {{caFile: {}}}", ca.display()),
    );
    assert!(
        send(&clients, &without, &message()).await.is_err(),
        "the server requires a client certificate"
    );
    assert_eq!(sink.mails().len(), 1, "nothing delivered without one");
}

#[tokio::test]
async fn unusable_trust_files_fail_for_good_naming_the_field_and_the_file() {
    // Nothing listens on port 9 (discard): the files are read before any connection, so
    // the errors below are about them.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let error = send(
        &ClientCache::new(),
        &email(
            9,
            &format!("tls: StartTls, trust: {{caFile: {}}}", missing.display()),
        ),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(!error.retryable, "{error:?}");
    assert!(
        error.message.contains(&format!(
            "cannot read spec.email.trust.caFile {}",
            missing.display()
        )),
        "{}",
        error.message
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let error = send(
        &ClientCache::new(),
        &email(
            9,
            &format!("tls: Tls, trust: {{caFile: {}}}", garbage.display()),
        ),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(
        error.message.contains(&format!(
            "spec.email.trust.caFile {} holds no PEM certificate",
            garbage.display()
        )),
        "{}",
        error.message
    );

    let pki = Pki::new();
    let error = send(
        &ClientCache::new(),
        &email(
            9,
            &format!(
                "tls: StartTls, trust: {{certFile: {}, keyFile: {}}}",
                pki.file("client.pem").display(),
                garbage.display()
            ),
        ),
        &message(),
    )
    .await
    .unwrap_err();
    assert!(
        error
            .message
            .contains(&format!("spec.email.trust.keyFile {}", garbage.display())),
        "{}",
        error.message
    );
}
