//! The email sink: SMTP with STARTTLS, implicit TLS, or (for a relay on localhost) none.

use std::time::Duration;

use hale_policy::{EmailSink, SmtpTls};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::message::Message;
use crate::sinks::DeliveryError;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `message` by email.
///
/// # Errors
/// A [`DeliveryError`]: bad addresses and permanent SMTP replies are final; connection
/// problems and transient (4xx) replies may be retried.
pub async fn send(email: &EmailSink, message: &Message) -> Result<String, DeliveryError> {
    let fatal = |message: String| DeliveryError {
        message,
        retryable: false,
        retry_after: None,
    };
    let from = email.from.parse().map_err(|e| {
        fatal(format!(
            "email `from` {:?} is not an address: {e}",
            email.from
        ))
    })?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(message.title.clone())
        .header(ContentType::TEXT_PLAIN);
    for to in &email.to {
        builder = builder.to(to
            .parse()
            .map_err(|e| fatal(format!("email `to` {to:?} is not an address: {e}")))?);
    }
    let mail = builder
        .body(message.text())
        .map_err(|e| fatal(format!("cannot build the email: {e}")))?;

    let port = email.effective_port();
    let transport = match email.tls {
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&email.host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&email.host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &email.host,
        )),
    }
    .map_err(|e| fatal(format!("SMTP server {}: {e}", email.host)))?;
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
            message: format!(
                "SMTP {}:{port}: {}",
                email.host,
                hale_core::error_chain(&error)
            ),
            retryable: !error.is_permanent(),
            retry_after: None,
        }),
    }
}
