//! The email sink: SMTP with STARTTLS, implicit TLS, or (for a relay on localhost) none;
//! a login never goes out unencrypted to another host. The TLS trusts the system roots and
//! the Notifier's `email.trust` ([`crate::email_tls`]).

use std::time::Duration;

use hale_policy::{EmailSink, SmtpTls};
use lettre::message::MultiPart;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::error::DeliveryError;
use crate::message::Message;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTML part: the title as a heading, the body's lines, the links as links; every
/// piece escaped, so a container name or an error body cannot add markup or a link.
fn html_body(message: &Message) -> String {
    use crate::markup::html;
    let mut out = format!("<h3>{}</h3>\n<p>", html(&message.title));
    let lines: Vec<String> = message.body.lines().map(html).collect();
    out.push_str(&lines.join("<br>\n"));
    out.push_str("</p>\n");
    for (label, url) in &message.links {
        out.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            html(url),
            html(label)
        ));
    }
    out
}

/// The TLS parameters with the sink's `trust`; a file that cannot be used fails the
/// delivery for good (retrying reads the same file).
fn parameters(email: &EmailSink) -> Result<TlsParameters, DeliveryError> {
    crate::email_tls::tls_parameters(&email.host, &email.trust)
        .map_err(|error| DeliveryError::fatal(hale_core::error_chain(&error)))
}

/// What a failed SMTP conversation says; a certificate the client does not trust also
/// says how to trust it.
fn failure(email: &EmailSink, port: u16, chain: &str) -> String {
    // lettre repeats its cause at each level of the chain; rustls's own words end it
    // ("invalid peer certificate: UnknownIssuer").
    match chain.rfind("invalid peer certificate") {
        Some(at) => format!(
            "SMTP {}:{port}: TLS certificate not trusted ({}); trust its CA with email.trust.caFile, or fix the server's chain",
            email.host,
            &chain[at..]
        ),
        None => format!("SMTP {}:{port}: {chain}", email.host),
    }
}

/// Sends `message` by email: a plain-text part and an HTML part.
///
/// # Errors
/// A [`DeliveryError`]: bad addresses and permanent SMTP replies are final; connection
/// problems and transient (4xx) replies may be retried.
pub async fn send(email: &EmailSink, message: &Message) -> Result<String, DeliveryError> {
    let fatal = |message: String| DeliveryError::fatal(message);
    let from = email.from.parse().map_err(|e| {
        fatal(format!(
            "email `from` {:?} is not an address: {e}",
            email.from
        ))
    })?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(message.title.clone());
    for to in &email.to {
        builder = builder.to(to
            .parse()
            .map_err(|e| fatal(format!("email `to` {to:?} is not an address: {e}")))?);
    }
    let mail = builder
        .multipart(MultiPart::alternative_plain_html(
            message.text(),
            html_body(message),
        ))
        .map_err(|e| fatal(format!("cannot build the email: {e}")))?;

    if email.sends_credentials_in_clear() {
        // Validation refuses such a Notifier; this holds for any other way one is built.
        return Err(fatal(format!(
            "refusing to send the SMTP login unencrypted to {}: set tls: StartTls or tls: Tls (tls: None is for a relay on localhost)",
            email.host
        )));
    }
    let port = email.effective_port();
    // `builder_dangerous` is lettre's builder without TLS; the TLS, with the Notifier's
    // trust, is set here (`starttls_relay`/`relay` would set one that trusts only the
    // default roots).
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.host);
    let transport = match email.tls {
        SmtpTls::StartTls => builder.tls(Tls::Required(parameters(email)?)),
        SmtpTls::Tls => builder.tls(Tls::Wrapper(parameters(email)?)),
        SmtpTls::None => builder,
    };
    let mut transport = transport.port(port).timeout(Some(SMTP_TIMEOUT));
    if let Some(user) = &email.username {
        let password = match &email.password {
            Some(reference) => reference
                .resolve()
                .map_err(|e| fatal(format!("cannot read the SMTP password ({reference}): {e}")))?,
            None => return Err(fatal("an SMTP username needs a password".to_owned())),
        };
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    match transport.build().send(mail).await {
        Ok(response) => Ok(format!("SMTP {}", response.code())),
        Err(error) => Err(DeliveryError {
            message: failure(email, port, &hale_core::error_chain(&error)),
            retryable: !error.is_permanent(),
            retry_after: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::html_body;
    use crate::message::Message;

    fn message() -> Message {
        let event = hale_core::HealEvent::new(
            hale_core::Timestamp::now(),
            hale_core::HealEventKind::ActionFailed,
            "web",
            None,
            "restart failed",
        );
        Message {
            title: "[hale] web".into(),
            body: "Why: restart failed".into(),
            kind: hale_policy::EventKind::Failed,
            event,
            count: 1,
            links: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_login_is_not_sent_in_the_clear_to_another_host() {
        // Port 9 (discard) on a documentation address: were the refusal missing, the send
        // would fail with a connection error instead of this one.
        let email = hale_policy::EmailSink {
            host: "192.0.2.10".into(),
            port: Some(9),
            tls: hale_policy::SmtpTls::None,
            trust: hale_policy::TlsTrust::default(),
            username: Some("hale".into()),
            password: Some(hale_policy::SecretRef {
                from_env: Some("HALE_TEST_UNSET_SMTP_PASSWORD".into()),
                from_file: None,
            }),
            from: "hale@example.com".into(),
            to: vec!["oncall@example.com".into()],
        };
        let refused = super::send(&email, &message()).await.expect_err("refused");
        assert!(!refused.retryable);
        assert!(
            refused.message.contains("unencrypted") && refused.message.contains("tls: StartTls"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn the_html_part_shows_outside_markup_as_text() {
        let event = hale_core::HealEvent::new(
            hale_core::Timestamp::now(),
            hale_core::HealEventKind::ActionFailed,
            "web",
            None,
            "answered <b>500</b> <a href=\"https://evil.example\">here</a>",
        );
        let message = Message {
            title: "[hale] <script>alert(1)</script>".into(),
            body: format!("Why: {}\nNext: tries again", event.reason),
            kind: hale_policy::EventKind::Failed,
            event,
            count: 1,
            links: vec![("Ack".into(), "http://hale.example/ack?a=1&b=\"2\"".into())],
        };
        let html = html_body(&message);
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(!html.contains("https://evil.example\">"), "{html}");
        assert!(html.contains("&lt;b&gt;500&lt;/b&gt;"), "{html}");
        assert!(
            html.contains("<a href=\"http://hale.example/ack?a=1&amp;b=&quot;2&quot;\">Ack</a>"),
            "{html}"
        );
    }
}
