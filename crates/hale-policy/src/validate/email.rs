//! The rules of the email sink: addresses, the login, and no login in the clear.

use super::Checker;
use crate::notifier::{EmailSink, Notifier, SmtpTls};

/// Addresses that look like addresses, a login with both halves, a login that never
/// crosses the network unencrypted, and a `trust` block that is whole and has TLS to apply
/// to.
pub(super) fn check_email(c: &mut Checker<'_, Notifier>, email: &EmailSink) {
    if email.host.trim().is_empty() {
        c.error("spec.email.host", "must not be empty");
    }
    if email.to.is_empty() {
        c.error("spec.email.to", "needs at least one recipient");
    }
    for (i, address) in email.to.iter().enumerate() {
        if !address.contains('@') {
            c.error(
                format!("spec.email.to[{i}]"),
                format!("{address:?} is not an email address"),
            );
        }
    }
    if !email.from.contains('@') {
        c.error(
            "spec.email.from",
            format!("{:?} is not an email address", email.from),
        );
    }
    match (&email.username, &email.password) {
        (Some(_), None) => c.error("spec.email.password", "a username needs a password"),
        (None, Some(_)) => c.error("spec.email.username", "a password needs a username"),
        (Some(_), Some(password)) => c.secret("spec.email.password", password),
        (None, None) => {}
    }
    if email.sends_credentials_in_clear() {
        c.error(
            "spec.email.tls",
            format!(
                "tls: None would send the SMTP user name and password unencrypted to {:?}: use tls: StartTls (port 587) or tls: Tls (port 465); tls: None is for a relay on this machine (localhost, 127.0.0.1, ::1)",
                email.host
            ),
        );
    }
    // The same rules as every other `tls` block: a certificate with its key, no empty path.
    c.tls("spec.email.trust", &email.trust);
    if email.tls == SmtpTls::None && !email.trust.is_default() {
        c.warning(
            "spec.email.trust",
            "trust has no effect with tls: None (nothing is encrypted, no certificate is checked): use tls: StartTls or tls: Tls, or remove trust",
        );
    }
}
